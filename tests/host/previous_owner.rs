//! What a previous owner of the ITS left behind, and what probe makes of it:
//! a kernel that kexecs into ours (Linux tears nothing down), a boot kernel
//! that jumps into a hibernation image without saving, a GICv4 kernel that
//! left its vPE table. The model behaves like KVM's emulated ITS: mapped
//! devices live on until their table's GITS_BASERn is written with
//! Valid = 0, and memory that a Valid base register describes is the ITS's
//! (under KVM it is written when the VM is saved: the seed's corruption).

use crate::support::room;
use crate::support::*;
use gicv3_its::registers::{GITS_BASER, GITS_BASER_RO, GITS_CBASER, ReadOnlyFields, RegisterFrame};
use gicv3_its::{CollectionId, DeviceId, DmaMemory, EventId, ProcessorNumber};
use gicv3_its::{ItsConfig, ItsError, ItsState, LpiDomainConfig};
use gicv3_its_model::{ItsModel, ModelConfig, Quiescence, Violation};

/// A kernel that probed, mapped a device with an event and a collection,
/// and then left without saving (a kexec, or a jump into an image).
fn previous_owner_leaves(model: &ItsModel) {
    let mut previous = probe(model, ItsConfig::default());
    previous
        .map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    previous.map_device(DeviceId(0x10), 1).unwrap();
    previous
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    assert!(model.held_itts().contains_key(&DeviceId(0x10)));
    std::mem::forget(previous);
}

/// Describes a vPE table at `table` in GITS_BASER2, Valid, as a GICv4
/// kernel would.
fn leave_vpe_table(model: &ItsModel, table: &gicv3_its::DmaRegion) {
    model.gits().write_fields(
        GITS_BASER[2],
        GITS_BASER::Valid::SET
            + GITS_BASER::Page_Size.val(2)
            + GITS_BASER::Physical_Address.val(table.phys() >> 12),
    );
}

/// Every GITS_BASERn and GITS_CBASER reads Valid = 0.
fn assert_nothing_valid(model: &ItsModel, when: &str) {
    let gits = model.gits();
    assert!(
        !gits.read(GITS_CBASER).is_set(GITS_CBASER::Valid),
        "GITS_CBASER left Valid {when}"
    );
    for register in GITS_BASER {
        let baser = gits.read(register);
        assert!(
            !baser.is_set(GITS_BASER::Valid),
            "{register:?} left Valid {when}"
        );
    }
}

#[test]
fn an_enabled_its_left_by_a_previous_kernel_is_disabled_before_reprogramming() {
    let model = ItsModel::new(ModelConfig {
        quiescence: Quiescence::AfterReads(5),
        ..ModelConfig::default()
    });
    previous_owner_leaves(&model);
    // Probe must disable the ITS and wait for quiescence before touching
    // CBASER/BASERn (the model records a violation if not); BASERn
    // Valid = 0 drops what the old tables held.
    let second = probe(&model, ItsConfig::default());
    assert!(model.mappings().is_empty());
    assert!(model.held_itts().is_empty(), "no device survives probe");
    assert!(model.send_msi(DeviceId(0x10), EventId(0)).is_err());
    assert_eq!(second.state(), ItsState::Active);
    assert_no_violations(&model);
}

#[test]
fn a_probe_that_fails_after_a_kexec_leaves_nothing_of_the_previous_owner_valid() {
    // Allocations of a probe: Device table, Collection table, queue. Each
    // failure comes after probe wrote nothing of its own, so what it must
    // leave is what Valid = 0 everywhere gives: no device, no queue, no
    // table of the previous owner is the ITS's any more.
    for fail_after in 0..3 {
        let model = ItsModel::new(ModelConfig::default());
        previous_owner_leaves(&model);
        let domain = new_domain(&model, LpiDomainConfig::default());
        model.fail_allocations_after(fail_after);
        let probed = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default());
        assert!(matches!(probed, Err(ItsError::OutOfMemory { .. })));
        model.fail_allocations(false);
        let when = format!("by a probe failing after {fail_after} allocations");
        assert_nothing_valid(&model, &when);
        assert!(model.held_itts().is_empty(), "a device survived {when}");
    }
}

#[test]
fn probe_takes_a_vpe_table_the_previous_owner_left_away_from_the_its() {
    // A GICv4 kernel used GITS_BASER2 for its vPE table and kexecs into
    // ours, which knows nothing of vPEs. Until BASER2 is written with
    // Valid = 0 the table's memory is the ITS's; once probe ran, our kernel
    // may hand that memory out again.
    let model = ItsModel::new(ModelConfig {
        vpe_table: true,
        ..ModelConfig::default()
    });
    let gits = model.gits();
    let vpe_baser = GITS_BASER[2];
    assert!(
        gits.read(vpe_baser)
            .read_only()
            .matches_all(GITS_BASER_RO::Type::VPEs)
    );
    let mut memory = model.memory();
    let table = memory
        .allocate_zeroed(gicv3_its::DmaRequest::new(65536, 65536))
        .unwrap();
    leave_vpe_table(&model, &table);
    assert!(gits.read(vpe_baser).is_set(GITS_BASER::Valid));
    previous_owner_leaves(&model);

    let _its = probe(&model, ItsConfig::default());
    assert!(!gits.read(vpe_baser).is_set(GITS_BASER::Valid));
    memory.give_back(table);
    assert_no_violations(&model);
}

#[test]
fn the_model_counts_a_valid_vpe_table_as_the_its_memory() {
    // The check above means something: freeing what a Valid vPE table
    // describes is a violation.
    let model = ItsModel::new(ModelConfig {
        vpe_table: true,
        ..ModelConfig::default()
    });
    let mut memory = model.memory();
    let table = memory
        .allocate_zeroed(gicv3_its::DmaRequest::new(65536, 65536))
        .unwrap();
    leave_vpe_table(&model, &table);
    memory.give_back(table);
    assert!(matches!(
        model.take_violations().as_slice(),
        [Violation::DeallocatedInUse(_, "ITS table")]
    ));
}

/// The order a kernel that takes over a GIC follows: every ITS quiesced
/// before any redistributor's LPIs are enabled. Out of order, an ITS a
/// previous owner left enabled (a kexec from Linux) translates a device's
/// MSI into the pending table just enabled, for an LPI the new kernel
/// never configured: it fires once the new kernel enables that LPI for
/// something else. In order, the MSI is dropped.
#[test]
fn every_its_is_quiesced_before_any_redistributor_takes_lpis() {
    for quiesced_first in [false, true] {
        let model = ItsModel::new(ModelConfig::default());
        previous_owner_leaves(&model);
        // The next kernel boots: all its redistributors are off.
        for index in 0..4 {
            model
                .gicr(index)
                .write_register(gicv3_its_model::GicrRegister::Ctlr, 0);
        }
        if quiesced_first {
            gicv3_its::takeover::quiesce(&model.gits(), gicv3_its::wait::WaitPolicy::default())
                .unwrap();
        }
        let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
        init_redistributors(&model, &domain);
        // The previous owner's device raises its MSI.
        let _ = model.send_msi(DeviceId(0x10), EventId(0));
        let pending = model.pending(0);
        if quiesced_first {
            assert_eq!(pending, [], "dropped by a disabled ITS");
        } else {
            assert_eq!(pending, [gicv3_its::IntId(8192)], "a stray LPI");
        }
        let _its =
            room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    }
}

/// The LPI whose bit a previous owner left set in its pending table.
const LEFT_PENDING: u32 = 8200;

/// A previous owner's redistributor 0 with LPIs enabled (16 ID bits) on
/// tables in memory our kernel sees as free, LPI 8200 pending. Returns the
/// pending table's address.
fn leave_lpis_enabled(model: &ItsModel) -> u64 {
    use gicv3_its::DmaRequest;
    use gicv3_its_model::GicrRegister as R;
    let mut memory = model.memory();
    let pending = memory
        .allocate_zeroed(DmaRequest::new(65536, 65536))
        .unwrap();
    let property = memory
        .allocate_zeroed(DmaRequest::new(65536, 65536))
        .unwrap();
    // SAFETY: inside `pending` (8 KiB of it hold 16 bits of INTIDs).
    unsafe {
        let byte = LEFT_PENDING as usize / 8;
        pending
            .virt()
            .as_ptr()
            .add(byte)
            .write(1 << (LEFT_PENDING % 8));
    }
    memory.clean_invalidate_to_poc(pending.virt(), pending.size());
    let gicr = model.gicr(0);
    gicr.write_register(R::Propbaser, property.phys() | 15);
    gicr.write_register(R::Pendbaser, pending.phys());
    gicr.write_register(R::Ctlr, 1);
    assert_eq!(model.pending(0), [gicv3_its::IntId(LEFT_PENDING)]);
    let phys = pending.phys();
    // The previous owner is gone: its memory is free for our kernel.
    memory.give_back(pending);
    memory.give_back(property);
    model.take_violations();
    phys
}

/// The order a kernel that takes over a GIC follows: every redistributor's
/// LPIs stopped before the kernel allocates memory. Clearing EnableLPIs
/// makes the redistributor write its pending state back into the previous
/// owner's pending table; in order, that memory is still unused (and the
/// write is the model's only fault, outside every allocation). Out of
/// order, the kernel's data was allocated there first (here a page of its
/// own), and the write-back overwrites it when `init_redistributor` clears
/// EnableLPIs.
#[test]
fn every_redistributor_stops_its_lpis_before_the_kernel_allocates_memory() {
    for stopped_first in [false, true] {
        let model = ItsModel::new(ModelConfig::default());
        let left_table = leave_lpis_enabled(&model);
        gicv3_its::takeover::quiesce(&model.gits(), gicv3_its::wait::WaitPolicy::default())
            .unwrap();
        if stopped_first {
            let stopped = gicv3_its::takeover::stop_lpis(
                &model.gicr(0),
                gicv3_its::wait::WaitPolicy::default(),
            );
            assert_eq!(stopped, Ok(true));
            assert!(matches!(
                model.take_violations().as_slice(),
                [Violation::Memory(fault)]
                    if fault.address == left_table + 1024 && fault.what == "LPI pending table"
            ));
        }
        // The kernel's own data: 0xff everywhere.
        let mut memory = model.memory();
        let data = memory
            .allocate_zeroed(gicv3_its::DmaRequest::new(65536, 4096))
            .unwrap();
        assert_eq!(data.phys(), left_table, "the same memory, handed out again");
        // SAFETY: the whole of `data`, which this test holds.
        unsafe { core::ptr::write_bytes(data.virt().as_ptr(), 0xff, data.size()) };
        memory.clean_invalidate_to_poc(data.virt(), data.size());
        let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
        init_redistributors(&model, &domain);
        // SAFETY: inside `data`.
        let kept = unsafe { data.virt().as_ptr().add(2048).read_volatile() };
        if stopped_first {
            assert_eq!(kept, 0xff, "the kernel's data intact");
            assert_no_violations(&model);
        } else {
            assert_eq!(kept, 0, "the kernel's data overwritten by the write-back");
        }
        memory.give_back(data);
    }
}
