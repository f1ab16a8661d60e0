//! Pending tables on any number of CPUs, however they are numbered, and
//! the tables a previous owner leaves in use where EnableLPIs cannot be
//! cleared: adopted where they lie in memory reserved for them (as Linux
//! adopts them), refused elsewhere.

use crate::support::room;
use crate::support::*;
use gicv3_its::{
    CollectionId, DeviceId, DmaRegion, DmaRequest, EventId, IntId, ItsConfig, ItsError, LpiConfig,
    LpiDomainConfig, ProcessorNumber,
};
use gicv3_its_model::{Coherency, GicrRegister, ItsModel, ModelConfig, ModelMemory, Translation};

const PROPBASER_INNER_SHAREABLE_WB: u64 = 1 << 10 | 7 << 7;
const PENDBASER_INNER_SHAREABLE_WB: u64 = 1 << 10 | 7 << 7;

/// A two-chip GIC-600 server: 64 CPUs numbered 0 to 31 and 0x40 to 0x5f.
/// The default domain gives each a pending table of its own when it comes
/// (it used to have room for processor numbers below 8), all above 4 GiB
/// where the memory is, and each CPU takes its LPIs.
#[test]
fn sixty_four_cpus_on_two_chips_get_a_pending_table_each() {
    let model = ItsModel::new(ModelConfig::gic600_server());
    let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
    let domain = its.domain().clone();
    assert_eq!(room::redistributors(&domain).len(), 64);
    let mut tables = std::collections::BTreeSet::new();
    for index in 0..64 {
        let pendbaser = model.gicr(index).read_register(GicrRegister::Pendbaser);
        let table = pendbaser & 0x000f_ffff_ffff_0000;
        assert!(table >= 512 << 30, "above 4 GiB, where the memory is");
        assert!(
            tables.insert(table),
            "redistributor {index}: a table of its own"
        );
    }
    // The property table and 64 pending tables of 8 KiB, nothing more.
    assert_eq!(domain.table_bytes(), (65536 - 8192) + 64 * 8192);

    // An event on the last CPU of chip 1 (processor number 0x5f).
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(63))
        .unwrap();
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)),
        Ok(Translation {
            intid: lpi,
            icid: CollectionId(63),
            processor: 63
        })
    );
    assert_eq!(model.take_pending(63), [lpi]);
    assert_no_violations(&model);
}

/// A fixed region, laid out by processor number, holds the pending tables
/// of the processor numbers it was sized for, its last slot included; the
/// next one is refused, and its LPIs stay off: on a GIC-600 server the
/// first CPU of chip 1 (0x40) past a region for chip 0's 32, and on QEMU's
/// numbering processor 3 past a region of three.
#[test]
fn a_fixed_region_holds_the_processor_numbers_it_was_sized_for() {
    for (config, slots, refused) in [
        (ModelConfig::gic600_server(), 32, 0x40),
        (ModelConfig::default(), 3, 3),
    ] {
        let model = ItsModel::new(config);
        let config = LpiDomainConfig::default();
        let region = allocate(&model, config.region_bytes(slots));
        let domain = room::domain_with_region(model.memory(), region, config).unwrap();
        for index in 0..slots {
            domain.init_redistributor(&model.gicr(index), 0).unwrap();
        }
        assert_eq!(
            domain.init_redistributor(&model.gicr(slots), 0),
            Err(ItsError::NoPendingTable {
                processor_number: ProcessorNumber(refused),
                tables: slots
            })
        );
        assert_eq!(model.gicr(slots).read_register(GicrRegister::Ctlr) & 1, 0);
        assert_no_violations(&model);
    }
}

/// `bytes` of the model's memory, 64 KiB aligned.
fn allocate(model: &ItsModel, bytes: usize) -> DmaRegion {
    let mut memory: ModelMemory = model.memory();
    gicv3_its::DmaMemory::allocate_zeroed(&mut memory, DmaRequest::new(bytes, 65536)).unwrap()
}

/// What a previous owner (another kernel, with a layout of its own) leaves
/// on a GIC whose EnableLPIs cannot be cleared: redistributor `index` runs
/// on the property table `property` (`id_bits` INTID bits, LPIs 8192 and
/// 8193 enabled in it) and the pending table at `pending`, with LPI 8193
/// pending in it.
fn left_running(
    model: &ItsModel,
    index: usize,
    property: &DmaRegion,
    pending: &DmaRegion,
    id_bits: u64,
) {
    // SAFETY: bytes of the two tables, memory of the test's that the
    // previous owner wrote: two configuration bytes, and INTID 8193's bit.
    unsafe {
        property.virt().as_ptr().write(0xa3);
        property.virt().as_ptr().add(1).write(0xa3);
        *pending.virt().as_ptr().add(8193 / 8) |= 1 << (8193 % 8);
    }
    let gicr = model.gicr(index);
    gicr.write_register(
        GicrRegister::Propbaser,
        property.phys() | PROPBASER_INNER_SHAREABLE_WB | (id_bits - 1),
    );
    gicr.write_register(
        GicrRegister::Pendbaser,
        pending.phys() | PENDBASER_INNER_SHAREABLE_WB,
    );
    gicr.write_register(GicrRegister::Ctlr, 1);
}

/// A region reserved for LPI tables, holding a previous owner's tables
/// where it put them: a 15-bit property table at 1 MiB into the region,
/// redistributor 0's pending table at 1 MiB + 64 KiB.
struct Reserved {
    region: DmaRegion,
    property: DmaRegion,
    pending: DmaRegion,
}

/// `len` bytes at `offset` into `region`, as a region of their own.
fn part(region: &DmaRegion, offset: usize, len: usize) -> DmaRegion {
    // SAFETY: a part of the region, which the test only reads and writes
    // through such views before handing the region over.
    unsafe {
        DmaRegion::new(
            core::ptr::NonNull::new(region.virt().as_ptr().add(offset)).unwrap(),
            region.phys() + offset as u64,
            len,
        )
    }
}

fn reserved(model: &ItsModel) -> Reserved {
    let region = allocate(model, 2 << 20);
    Reserved {
        property: part(&region, 1 << 20, (1 << 15) - 8192),
        pending: part(&region, (1 << 20) + 65536, 4096),
        region,
    }
}

fn sticky(redistributors: usize) -> ModelConfig {
    ModelConfig {
        sticky_enable_lpis: true,
        redistributors: (0..redistributors as u64)
            .map(|i| 0x080a_0000 + i * 0x2_0000)
            .collect(),
        ..ModelConfig::default()
    }
}

/// EnableLPIs stuck on a previous owner's tables inside the reserved
/// region: the domain adopts them where they are, with the ID bits
/// GICR_PROPBASER says (15, not its own 16: it has allocated nothing yet),
/// resets the property table (the previous owner's enabled LPI 8192 is
/// disabled), keeps the pending table as it is (LPI 8193 still pending),
/// and gives the other redistributor, whose LPIs were off, a pending table
/// of its own that crosses none of the adopted ones.
#[test]
fn tables_a_previous_owner_left_in_reserved_memory_are_adopted() {
    let model = ItsModel::new(sticky(2));
    let reserved = reserved(&model);
    left_running(&model, 0, &reserved.property, &reserved.pending, 15);
    assert_eq!(model.pending(0), [IntId(8193)]);
    let domain =
        room::domain_with_region(model.memory(), reserved.region, LpiDomainConfig::default())
            .unwrap();
    assert_eq!(
        domain.init_redistributor(&model.gicr(0), 0x080a_0000),
        Ok(ProcessorNumber(0))
    );
    assert_eq!(domain.id_bits(), 15);
    assert!(domain.redistributor(ProcessorNumber(0)).unwrap().adopted);
    assert_eq!(domain.config(IntId(8192)), Some(LpiConfig::DISABLED));
    assert_eq!(domain.config(IntId(8193)), Some(LpiConfig::DISABLED));
    assert_eq!(model.pending(0), [IntId(8193)], "kept running");
    // The registers were left alone.
    let gicr0 = model.gicr(0);
    assert_eq!(
        gicr0.read_register(GicrRegister::Propbaser) & 0x000f_ffff_ffff_f000,
        reserved.property.phys()
    );
    assert_eq!(
        gicr0.read_register(GicrRegister::Pendbaser) & 0x000f_ffff_ffff_0000,
        reserved.pending.phys()
    );

    // Redistributor 1 was off: programmed with the adopted property table
    // and its slot of the region's layout, clear of the adopted tables.
    domain
        .init_redistributor(&model.gicr(1), 0x080c_0000)
        .unwrap();
    let gicr1 = model.gicr(1);
    assert_eq!(
        gicr1.read_register(GicrRegister::Propbaser) & 0x000f_ffff_ffff_f01f,
        reserved.property.phys() | 14
    );
    let pending1 = gicr1.read_register(GicrRegister::Pendbaser) & 0x000f_ffff_ffff_0000;
    let adopted = reserved.property.phys()..reserved.pending.phys() + 4096;
    assert!(
        !adopted.contains(&pending1),
        "{pending1:#x} in {adopted:x?}"
    );

    // The domain works on the adopted tables.
    let mut its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(1), ProcessorNumber(1))
        .unwrap();
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
    assert_eq!(model.take_pending(1), [lpi]);
    assert_no_violations(&model);
}

/// EnableLPIs stuck on tables outside the memory reserved for them (or
/// with no reserved memory at all, `LpiDomain::new`): refused, and nothing
/// of the domain's is written to the redistributor.
#[test]
fn tables_outside_reserved_memory_are_refused() {
    let model = ItsModel::new(sticky(1));
    let elsewhere = allocate(&model, 1 << 20);
    left_running(&model, 0, &elsewhere, &part(&elsewhere, 65536, 8192), 16);
    let before = (
        model.gicr(0).read_register(GicrRegister::Propbaser),
        model.gicr(0).read_register(GicrRegister::Pendbaser),
    );
    let locked = Err(ItsError::LpiTablesLocked {
        processor_number: ProcessorNumber(0),
        propbaser: before.0,
        pendbaser: before.1,
    });
    let allocated = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    assert_eq!(allocated.init_redistributor(&model.gicr(0), 0), locked);
    let region = allocate(&model, 1 << 20);
    let fixed =
        room::domain_with_region(model.memory(), region, LpiDomainConfig::default()).unwrap();
    assert_eq!(fixed.init_redistributor(&model.gicr(0), 0), locked);
    assert!(room::redistributors(&fixed).is_empty());
    assert_eq!(
        (
            model.gicr(0).read_register(GicrRegister::Propbaser),
            model.gicr(0).read_register(GicrRegister::Pendbaser)
        ),
        before
    );
    assert_no_violations(&model);
}

/// A pending table that crosses the property table is no table a GIC
/// could have used: refused even inside the reserved region.
#[test]
fn a_pending_table_across_the_property_table_is_refused() {
    let model = ItsModel::new(sticky(1));
    let reserved = reserved(&model);
    // 15-bit property table: 24 KiB from 1 MiB; a pending table at 1 MiB.
    let across = part(&reserved.region, 1 << 20, 4096);
    left_running(&model, 0, &reserved.property, &across, 15);
    let domain =
        room::domain_with_region(model.memory(), reserved.region, LpiDomainConfig::default())
            .unwrap();
    assert!(matches!(
        domain.init_redistributor(&model.gicr(0), 0),
        Err(ItsError::LpiTablesLocked { .. })
    ));
    assert_eq!(domain.id_bits(), 16, "nothing adopted");
}

/// Two redistributors stuck on two property tables: the first is adopted,
/// the second cannot be (one property table is shared by all).
#[test]
fn a_second_property_table_is_a_conflict() {
    let model = ItsModel::new(sticky(2));
    let reserved = reserved(&model);
    left_running(&model, 0, &reserved.property, &reserved.pending, 15);
    // Redistributor 1: another property table, 512 KiB into the region.
    let other = part(&reserved.region, 512 << 10, (1 << 15) - 8192);
    let other_pending = part(&reserved.region, 1536 << 10, 4096);
    left_running(&model, 1, &other, &other_pending, 15);
    let domain =
        room::domain_with_region(model.memory(), reserved.region, LpiDomainConfig::default())
            .unwrap();
    domain.init_redistributor(&model.gicr(0), 0).unwrap();
    assert_eq!(
        domain.init_redistributor(&model.gicr(1), 0),
        Err(ItsError::LpiPropertyTableConflict {
            processor_number: ProcessorNumber(1),
            propbaser: model.gicr(1).read_register(GicrRegister::Propbaser),
        })
    );
    assert_no_violations(&model);
}

/// Adopted tables keep the attributes whoever programmed them chose: on a
/// GIC that does not snoop, a previous owner that asked for non-shareable
/// memory leaves registers that say so, and every write the domain makes
/// is cleaned; one that found them coherent leaves registers that say so,
/// and nothing is cleaned.
#[test]
fn adopted_tables_keep_the_attributes_they_were_programmed_with() {
    for (property, pending, coherency, cleaned) in [
        (0u64, 0u64, Coherency::NonCoherent, true),
        (
            PROPBASER_INNER_SHAREABLE_WB,
            PENDBASER_INNER_SHAREABLE_WB,
            Coherency::Coherent,
            false,
        ),
        // Either register non-shareable is enough to clean.
        (PROPBASER_INNER_SHAREABLE_WB, 0, Coherency::Coherent, true),
        (0, PENDBASER_INNER_SHAREABLE_WB, Coherency::Coherent, true),
    ] {
        // A GIC that does not snoop says so: Shareability reads 0.
        let model = ItsModel::new(ModelConfig {
            coherency,
            shareable: coherency == Coherency::Coherent,
            ..sticky(1)
        });
        let reserved = reserved(&model);
        let gicr = model.gicr(0);
        gicr.write_register(
            GicrRegister::Propbaser,
            reserved.property.phys() | property | 14,
        );
        gicr.write_register(GicrRegister::Pendbaser, reserved.pending.phys() | pending);
        gicr.write_register(GicrRegister::Ctlr, 1);
        model.take_violations(); // the GIC read tables nobody cleaned
        let domain =
            room::domain_with_region(model.memory(), reserved.region, LpiDomainConfig::default())
                .unwrap();
        let before = model.stats().cleans;
        domain.init_redistributor(&gicr, 0).unwrap();
        assert_eq!(model.stats().cleans > before, cleaned, "{coherency:?}");
        // The reset property table is what the GIC sees: LPI 8192, which
        // the previous owner had not enabled either, stays disabled when
        // an ITS maps an event to it and disables it.
        let mut its =
            room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
        its.map_collection(CollectionId(0), ProcessorNumber(0))
            .unwrap();
        its.map_device(DeviceId(0x10), 1).unwrap();
        let lpi = its
            .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
            .unwrap();
        model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
        assert_eq!(model.take_pending(0), [lpi], "{coherency:?}");
        assert_no_violations(&model);
    }
}

/// A redistributor found running on exactly the domain's tables (a boot
/// kernel and the image it resumes, given the same region, on a GIC where
/// EnableLPIs can be cleared) is left running: an LPI pending in it stays
/// pending. Turning it off and on again would have zeroed its pending
/// table for nothing.
#[test]
fn a_redistributor_on_exactly_the_domains_tables_keeps_its_pending_lpis() {
    let model = ItsModel::new(ModelConfig {
        redistributors: vec![0x080a_0000],
        ..ModelConfig::default()
    });
    let config = LpiDomainConfig::default();
    let region = allocate(&model, config.region_bytes(1));
    let (virt, phys, size) = (region.virt(), region.phys(), region.size());
    let first = room::domain_with_region(model.memory(), region, config).unwrap();
    first
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    let mut its = room::probe(model.gits(), model.memory(), &first, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    its.configure_event(DeviceId(0x10), EventId(0), 0xa0, false)
        .unwrap();
    // Pending, held back while disabled.
    model.send_msi(DeviceId(0x10), EventId(0)).unwrap_err();
    assert_eq!(model.pending(0), [lpi]);
    its.save().unwrap();
    first.save().unwrap();
    room::forget(its);
    room::forget(first);

    // SAFETY: the region the first domain used, forgotten with it.
    let same = unsafe { DmaRegion::new(virt, phys, size) };
    let second = room::domain_with_region(model.memory(), same, config).unwrap();
    second
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    assert!(second.redistributor(ProcessorNumber(0)).unwrap().adopted);
    assert_eq!(model.pending(0), [lpi], "still pending");
    assert_no_violations(&model);
}

/// A handover to another kernel that keeps the redistributors as they are
/// (EnableLPIs cannot be cleared; the next kernel adopts the tables): an
/// LPI left pending would fire in the next kernel for whatever it maps to
/// that INTID. `save_for_handover` discards every event's pending LPI;
/// `save`, for a resume on the same redistributors, keeps it.
#[test]
fn a_handover_leaves_no_lpi_pending_for_the_next_kernel() {
    for handover in [false, true] {
        let model = ItsModel::new(sticky(2));
        let (mut its, lpi) = with_a_pending_lpi(&model);
        if handover {
            its.save_for_handover().unwrap();
            assert_eq!(model.pending(1), []);
        } else {
            its.save().unwrap();
            assert_eq!(model.pending(1), [lpi]);
        }
        its.domain().save().unwrap();
        // Either way, a restore replays the mapping.
        init_redistributors(&model, its.domain());
        let _ = its.restore().unwrap();
        its.configure_event(DeviceId(0x10), EventId(0), 0xa0, true)
            .unwrap();
        model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
        assert_eq!(model.take_pending(1), [lpi]);
        assert_no_violations(&model);
    }
}

/// A driver with one event on CPU 1 whose LPI is pending (held back while
/// disabled).
fn with_a_pending_lpi(model: &ItsModel) -> (ModelIts, IntId) {
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    init_redistributors(model, &domain);
    let mut its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(1), ProcessorNumber(1))
        .unwrap();
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    its.configure_event(DeviceId(0x10), EventId(0), 0xa0, false)
        .unwrap();
    model.send_msi(DeviceId(0x10), EventId(0)).unwrap_err();
    assert_eq!(model.pending(1), [lpi]);
    (its, lpi)
}

/// A resumed kernel (LPIs allocated, events mapped) on a GIC whose
/// EnableLPIs cannot be cleared, after a power cycle, finds its
/// redistributor running on the tables a boot kernel with another layout
/// put in the same reserved region: it adopts them, the property table
/// moves there with every allocated LPI's configuration, the allocator
/// keeps what it handed out, and the restored events work.
#[test]
fn a_resumed_kernel_adopts_a_boot_kernels_layout_and_keeps_its_lpis() {
    let model = ItsModel::new(sticky(1));
    let region = allocate(&model, 2 << 20);
    let (boot_property, boot_pending) = (
        part(&region, 1 << 20, 65536 - 8192),
        part(&region, (1 << 20) + 65536, 8192),
    );
    let domain =
        room::domain_with_region(model.memory(), region, LpiDomainConfig::default()).unwrap();
    init_redistributors(&model, &domain);
    let mut its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_device(DeviceId(0x10), 2).unwrap();
    let lpis: Vec<IntId> = (0..2)
        .map(|event| {
            its.map_event(DeviceId(0x10), EventId(event), CollectionId(0))
                .unwrap()
        })
        .collect();
    its.save().unwrap();
    domain.save().unwrap();

    // Power cycle; the boot kernel, whose layout differs, leaves LPIs on.
    model.reset();
    left_running(&model, 0, &boot_property, &boot_pending, 16);
    domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    assert_eq!(
        model.gicr(0).read_register(GicrRegister::Propbaser) & 0x000f_ffff_ffff_f000,
        boot_property.phys(),
        "adopted where the boot kernel put it"
    );
    assert_eq!(domain.allocated_lpis(), 2);
    for &lpi in &lpis {
        assert_eq!(domain.config(lpi), Some(LpiConfig::new(0xa0, true)));
    }
    assert_eq!(domain.config(IntId(8194)), Some(LpiConfig::DISABLED));
    let _ = its.restore().unwrap();
    // The boot kernel left its LPI 8193 pending (it did not discard it, as
    // save_for_handover would have): it fires now that 8193 is enabled.
    assert_eq!(model.take_pending(0), [IntId(8193)]);
    for (event, &lpi) in lpis.iter().enumerate() {
        model
            .send_msi(DeviceId(0x10), EventId(event as u32))
            .unwrap();
        assert_eq!(model.take_pending(0), [lpi]);
    }
    its.map_device(DeviceId(0x20), 1).unwrap();
    let next = its
        .map_event(DeviceId(0x20), EventId(0), CollectionId(0))
        .unwrap();
    assert!(
        !lpis.contains(&next),
        "the allocator kept what it handed out"
    );
    assert_no_violations(&model);
}

/// A redistributor a previous owner turned off a moment ago (GICR_CTLR.RWP
/// still 1): its base registers are written only once RWP reads 0.
#[test]
fn base_registers_wait_for_a_previous_owners_enable_lpis_change() {
    let model = ItsModel::new(ModelConfig {
        rwp_reads: 5,
        redistributors: vec![0x080a_0000],
        ..ModelConfig::default()
    });
    let elsewhere = allocate(&model, 1 << 20);
    left_running(&model, 0, &elsewhere, &part(&elsewhere, 65536, 8192), 16);
    let gicr = model.gicr(0);
    while gicr.read_register(GicrRegister::Ctlr) & 0b1000 != 0 {}
    gicr.write_register(GicrRegister::Ctlr, 0);
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    domain.init_redistributor(&gicr, 0x080a_0000).unwrap();
    assert_no_violations(&model);
}

/// A redistributor whose re-initialisation fails (here its EnableLPIs
/// change never completes) no longer counts as ready: nothing maps a
/// collection onto it.
#[test]
fn a_redistributor_whose_init_fails_is_not_ready() {
    let (model, mut its) = setup(ModelConfig::default());
    let domain = its.domain().clone();
    // Someone else turns its LPIs off; turning them on again never ends.
    model.gicr(3).write_register(GicrRegister::Ctlr, 0);
    model.reconfigure(|config| config.rwp_reads = u32::MAX);
    assert!(matches!(
        domain.init_redistributor(&model.gicr(3), 0),
        Err(ItsError::Timeout { .. })
    ));
    assert!(!domain.redistributor(ProcessorNumber(3)).unwrap().ready);
    its.unmap_collection(CollectionId(3)).unwrap();
    assert_eq!(
        its.map_collection(CollectionId(3), ProcessorNumber(3)),
        Err(ItsError::RedistributorNotReady {
            processor_number: ProcessorNumber(3)
        })
    );
}

/// A domain of 14 ID bits that adopts a previous owner's 15-bit tables
/// takes their ID bits (it has allocated nothing yet), and with them twice
/// the LPIs: the last 15-bit LPI can be mapped and is delivered.
#[test]
fn adopted_tables_with_more_id_bits_bring_their_lpis() {
    let model = ItsModel::new(sticky(1));
    let reserved = reserved(&model);
    left_running(&model, 0, &reserved.property, &reserved.pending, 15);
    let config = LpiDomainConfig {
        id_bits: 14,
        ..LpiDomainConfig::default()
    };
    let domain = room::domain_with_region(model.memory(), reserved.region, config).unwrap();
    assert_eq!(domain.id_bits(), 14);
    domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    assert_eq!(domain.id_bits(), 15);
    let mut its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_device(DeviceId(1), 1).unwrap();
    let last = IntId((1 << 15) - 1);
    its.map_event_to_lpi(DeviceId(1), EventId(0), CollectionId(0), last)
        .unwrap();
    its.configure_event(DeviceId(1), EventId(0), 0xa0, true)
        .unwrap();
    assert_eq!(model.send_msi(DeviceId(1), EventId(0)).unwrap().intid, last);
    assert!(model.pending(0).contains(&last));
}
