//! The driver on KVM's emulated ITS ([`ModelConfig::kvm`]), where it
//! departs from the spec's other choices: Quiescent only when GITS_CREADR
//! equals GITS_CWRITER, commands only while enabled, Enabled refused
//! without valid tables, errors skipped, devices held until their table is
//! invalidated, and a save of the VM that writes the held devices' entries
//! into guest memory.

use crate::support::room;
use crate::support::*;
use gicv3_its::registers::{
    GITS_CBASER, GITS_CREADR, GITS_CTLR, GITS_CTLR_RO, GITS_CWRITER, ReadOnlyFields, RegisterFrame,
};
use gicv3_its::tock_registers::LocalRegisterCopy;
use gicv3_its::{
    CollectionId, DeviceId, EventId, ItsConfig, ItsError, ItsState, LpiDomainConfig,
    ProcessorNumber,
};
use gicv3_its_model::{GitsRegister, ItsModel, ModelConfig, SavedWrite};

/// A previous owner left KVM's ITS disabled with commands queued that it
/// never processed (GITS_CWRITER ahead of GITS_CREADR): KVM reports
/// Quiescent only once they meet, so a driver that just waits times out.
/// The driver discards them (CWRITER back to CREADR) and probes.
#[test]
fn a_disabled_its_with_commands_queued_is_quiesced() {
    let model = ItsModel::new(ModelConfig::kvm());
    let gits = model.gits();
    // A queue, three commands' worth of CWRITER, never enabled.
    let mut memory = model.memory();
    let queue = gicv3_its::DmaMemory::allocate_zeroed(
        &mut memory,
        gicv3_its::DmaRequest::new(65536, 65536),
    )
    .unwrap();
    gits.write_fields(
        GITS_CBASER,
        GITS_CBASER::Valid::SET
            + GITS_CBASER::Size.val(15)
            + GITS_CBASER::Physical_Address.val(queue.phys() >> 12),
    );
    gits.write(GITS_CWRITER, LocalRegisterCopy::new(3 * 32));
    assert!(
        !gits
            .read(GITS_CTLR)
            .read_only()
            .is_set(GITS_CTLR_RO::Quiescent)
    );

    let mut its = probe(&model, ItsConfig::default());
    assert_eq!(
        gits.read(GITS_CWRITER).get(),
        0,
        "the driver's own queue, empty"
    );
    assert_eq!(gits.read(GITS_CREADR).get(), 0);
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    assert!(model.command_log().len() >= 2, "the driver's commands only");
    assert_no_violations(&model);
    drop(its);
    model.memory().give_back(queue);
}

/// `gicv3_its::takeover::quiesce` alone, as a kernel runs it on every ITS before
/// enabling any redistributor's LPIs: the ITS a previous owner left
/// enabled, mapping a device, stops translating at once, and drops what it
/// held.
#[test]
fn quiesce_stops_an_its_a_previous_owner_left_running() {
    let model = ItsModel::new(ModelConfig::kvm());
    let mut previous = probe(&model, ItsConfig::default());
    previous
        .map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    previous.map_device(DeviceId(0x10), 1).unwrap();
    previous
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    std::mem::forget(previous);
    assert!(model.send_msi(DeviceId(0x10), EventId(0)).is_ok());
    model.take_pending(0);

    gicv3_its::takeover::quiesce(&model.gits(), gicv3_its::wait::WaitPolicy::default()).unwrap();
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)),
        Err(gicv3_its_model::MsiError::ItsDisabled)
    );
    assert!(model.held_itts().is_empty(), "KVM dropped the devices");
    assert!(
        model.kvm_save_tables().is_empty(),
        "a VM save writes nothing"
    );
    assert_no_violations(&model);
}

/// While the driver runs, a save of the VM writes only into the driver's
/// own tables and ITTs; after `save` (every table invalidated), nothing.
#[test]
fn a_vm_save_writes_only_what_the_driver_owns_and_nothing_once_saved() {
    let (model, mut its) = setup(ModelConfig::kvm());
    populate(&mut its, 4, 3);
    let itts: Vec<(u64, usize)> = its
        .registry()
        .devices()
        .map(|(_, record)| (record.itt_address(), record.itt_bytes()))
        .collect();
    let writes = model.kvm_save_tables();
    let in_itt = |write: &SavedWrite| {
        itts.iter().any(|&(itt, bytes)| {
            (itt..itt + bytes as u64).contains(&write.address)
                && write.address + write.len as u64 <= itt + bytes as u64
        })
    };
    assert_eq!(writes.iter().filter(|w| w.what == "ITT").count(), 12);
    assert!(writes.iter().filter(|w| w.what == "ITT").all(in_itt));
    assert_eq!(
        writes.iter().filter(|w| w.what == "device table").count(),
        4
    );
    // Four collections and a terminator.
    assert_eq!(
        writes
            .iter()
            .filter(|w| w.what == "collection table")
            .count(),
        5
    );
    assert_no_violations(&model);

    its.save().unwrap();
    assert_eq!(model.kvm_save_tables(), []);
    its.domain().save().unwrap();
    init_redistributors(&model, its.domain());
    let _ = its.restore().unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

/// GITS_CTLR.Enabled that does not stick (KVM refuses it without valid
/// tables; here an ITS that never enables) is a typed error: probe gives
/// its memory back and leaves nothing Valid, restore stays saved.
#[test]
fn an_its_that_refuses_to_enable_is_an_error() {
    let model = ItsModel::new(ModelConfig {
        enable_ignored: true,
        ..ModelConfig::kvm()
    });
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    init_redistributors(&model, &domain);
    let before = model.stats().bytes_allocated;
    let probed = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default());
    assert_eq!(probed.err(), Some(ItsError::EnableRefused));
    assert_eq!(model.stats().bytes_allocated, before, "memory given back");
    let valid = 1 << 63;
    assert_eq!(model.gits().read_register(GitsRegister::Cbaser) & valid, 0);
    for n in 0..8 {
        assert_eq!(
            model.gits().read_register(GitsRegister::Baser(n)) & valid,
            0
        );
    }

    let (model, mut its) = setup(ModelConfig::kvm());
    its.save().unwrap();
    model.reconfigure(|config| config.enable_ignored = true);
    assert_eq!(its.restore(), Err(ItsError::EnableRefused));
    assert_eq!(its.state(), ItsState::Saved);
    model.reconfigure(|config| config.enable_ignored = false);
    let _ = its.restore().unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

/// A GICv4 ITS left enabled with GITS_CTLR.ImDe set: quiescing clears both,
/// as Linux does.
#[test]
fn quiescing_clears_imde_too() {
    let model = ItsModel::new(ModelConfig {
        vpe_table: true,
        ..ModelConfig::default()
    });
    let gits = model.gits();
    gits.write_fields(GITS_CTLR, GITS_CTLR::Enabled::SET + GITS_CTLR::ImDe::SET);
    assert!(gits.read(GITS_CTLR).is_set(GITS_CTLR::ImDe));
    let _its = probe(&model, ItsConfig::default());
    assert!(!gits.read(GITS_CTLR).is_set(GITS_CTLR::ImDe));
    assert_no_violations(&model);
}
