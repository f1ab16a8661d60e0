//! Save and restore: nothing mapped while saved, exactly the same
//! translations after, on the same or other CPUs, after a reset, with
//! allocations failing part-way, and over what a boot kernel left.

use crate::support::*;
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use gicv3_its::{ItsCommand, ItsConfig, ItsError, ItsState};
use gicv3_its_model::{ItsModel, ModelConfig};
use std::collections::BTreeMap;

#[test]
fn save_leaves_no_valid_dte_or_cte_and_restore_replays_exactly() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 6, 5);
    let before = model.mappings();
    assert_eq!(before.len(), 30);

    its.save().unwrap();
    assert_eq!(its.state(), ItsState::Saved);
    assert!(model.held_itts().is_empty(), "no device held after save");
    assert!(
        model.valid_device_ids().is_empty(),
        "no valid DTE after save"
    );
    assert!(
        model.valid_collections().is_empty(),
        "no valid CTE after save"
    );
    assert!(model.mappings().is_empty());
    assert!(
        model.send_msi(DeviceId(0x100), EventId(0)).is_err(),
        "nothing translates"
    );
    its.save().unwrap(); // idempotent

    let _ = its.restore().unwrap();
    assert_eq!(its.state(), ItsState::Active);
    assert_eq!(
        model.mappings(),
        before,
        "the same translations, nothing else"
    );
    assert_model_matches_registry(&model, &its);
    assert_eq!(its.restore(), Err(ItsError::NotSaved));
    assert_no_violations(&model);
}

#[test]
fn teardown_and_replay_command_counts() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 10, 3);
    let start = its.queue_stats();
    its.save().unwrap();
    let saved = its.queue_stats();
    // One MAPD V=0 per device, one MAPC V=0 per collection, one SYNC per
    // redistributor, one doorbell, one wait. No DISCARD per event.
    assert_eq!(saved.commands - start.commands, 10 + 4 + 4);
    assert_eq!(saved.doorbells - start.doorbells, 1);
    assert_eq!(saved.completion_waits - start.completion_waits, 1);
    let _ = its.restore().unwrap();
    let restored = its.queue_stats();
    // MAPC x4, MAPD x10, MAPTI x30, INVALL x4, SYNC x4; no INV per event.
    assert_eq!(restored.commands - saved.commands, 4 + 10 + 30 + 4 + 4);
    assert_eq!(restored.doorbells - saved.doorbells, 1);
    assert_eq!(restored.completion_waits - saved.completion_waits, 1);
    let log = model.command_log();
    let tail = &log[log.len() - 52..];
    assert!(!tail.iter().any(|c| matches!(c, ItsCommand::Inv { .. })));
    assert_no_violations(&model);
}

#[test]
fn restore_after_a_system_reset() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 3, 4);
    let before = model.mappings();
    its.save().unwrap();
    model.reset(); // power cycle: registers reset, memory kept
    init_redistributors(&model, its.domain());
    let _ = its.restore().unwrap();
    assert_eq!(model.mappings(), before);
    let lpi = its
        .registry()
        .event(DeviceId(0x108), EventId(2))
        .unwrap()
        .intid();
    assert_eq!(
        model.send_msi(DeviceId(0x108), EventId(2)).unwrap().intid,
        lpi
    );
    assert_no_violations(&model);
}

/// An LPI made pending (its MSI arrived) but not yet taken when the ITS is
/// saved, on CPU 1.
fn pending_at_save() -> (ItsModel, ModelIts, IntId) {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
    assert_eq!(model.pending(1), vec![lpi]);
    its.save().unwrap();
    its.domain().save().unwrap();
    (model, its, lpi)
}

#[test]
fn pending_lpis_survive_an_in_memory_handover() {
    let (model, mut its, lpi) = pending_at_save();
    // No reset: the redistributors still run on the domain's tables, so
    // initialising them changes nothing and the LPI stays pending.
    init_redistributors(&model, its.domain());
    let _ = its.restore().unwrap();
    assert_eq!(model.take_pending(1), vec![lpi]);
    assert_no_violations(&model);
}

#[test]
fn pending_lpis_are_dropped_by_a_power_cycle() {
    let (model, mut its, lpi) = pending_at_save();
    model.reset();
    init_redistributors(&model, its.domain());
    let _ = its.restore().unwrap();
    // The documented contract: gone, and the driver of the device checks it.
    assert_eq!(model.pending(1), vec![]);
    // The mapping itself is back.
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)).unwrap().intid,
        lpi
    );
    assert_no_violations(&model);
}

#[test]
fn collections_wait_for_their_redistributors_after_a_restore() {
    let (model, mut its, lpi) = pending_at_save();
    model.reset();
    // Only CPU 0 is back when the ITS is restored (the others come online
    // later): devices and events are replayed, collections only where the
    // redistributor is ready; no MAPC or SYNC reaches the others.
    its.domain()
        .init_redistributor(&model.gicr(0), model.config().redistributors[0])
        .unwrap();
    // What was replayed, and what waits, is what restore returns.
    let devices = its.registry().devices().count();
    assert_eq!(
        its.restore(),
        Ok(gicv3_its::Restored {
            devices,
            events: its.registry().mappings().count(),
            collections: 1,
            deferred_collections: 3,
        })
    );
    assert_eq!(
        model.valid_collections(),
        BTreeMap::from([(CollectionId(0), 0)])
    );
    let collection_1 = its
        .registry()
        .collections()
        .find(|(icid, _)| *icid == CollectionId(1))
        .unwrap()
        .1;
    assert!(!collection_1.is_live());
    // Its event is mapped, but translates to nothing until CPU 1 is back.
    assert!(model.mappings().contains_key(&(DeviceId(0x10), EventId(0))));
    assert!(model.send_msi(DeviceId(0x10), EventId(0)).is_err());
    // Typed errors for the wrong order.
    assert_eq!(
        its.restore_collections(ProcessorNumber(1)),
        Err(ItsError::RedistributorNotReady {
            processor_number: ProcessorNumber(1)
        })
    );
    assert_eq!(
        its.move_event(DeviceId(0x10), EventId(0), CollectionId(0)),
        Err(ItsError::CollectionDeferred {
            icid: CollectionId(1),
            processor_number: ProcessorNumber(1)
        })
    );
    // CPU 1 comes online.
    its.domain()
        .init_redistributor(&model.gicr(1), model.config().redistributors[1])
        .unwrap();
    its.restore_collections(ProcessorNumber(1)).unwrap();
    assert_eq!(
        model
            .send_msi(DeviceId(0x10), EventId(0))
            .unwrap()
            .processor,
        1
    );
    assert_eq!(model.take_pending(1), vec![lpi]);
    for cpu in 2..4u16 {
        its.domain()
            .init_redistributor(
                &model.gicr(usize::from(cpu)),
                model.config().redistributors[usize::from(cpu)],
            )
            .unwrap();
        its.restore_collections(ProcessorNumber(cpu)).unwrap();
    }
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn move_collection_moves_one_collection_and_refuses_an_offline_cpu() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 2).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    its.map_event(DeviceId(0x10), EventId(1), CollectionId(2))
        .unwrap();
    // Collection 1 goes to CPU 3 (say CPU 1 is going offline); collection
    // 2, on another CPU, stays where it is.
    its.move_collection(CollectionId(1), ProcessorNumber(3))
        .unwrap();
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(0))
            .unwrap()
            .processor,
        3
    );
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(1))
            .unwrap()
            .processor,
        2
    );
    // After a resume where CPU 3 is not back yet, moving onto it is
    // refused, with nothing changed.
    its.save().unwrap();
    its.domain().save().unwrap();
    for cpu in 0..3 {
        its.domain()
            .init_redistributor(&model.gicr(cpu), model.config().redistributors[cpu])
            .unwrap();
    }
    let _ = its.restore().unwrap();
    assert_eq!(
        its.move_collection(CollectionId(2), ProcessorNumber(3)),
        Err(ItsError::RedistributorNotReady {
            processor_number: ProcessorNumber(3)
        })
    );
    assert_eq!(
        its.move_collection(CollectionId(2), ProcessorNumber(9)),
        Err(ItsError::UnknownRedistributor {
            processor_number: ProcessorNumber(9)
        })
    );
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(1))
            .unwrap()
            .processor,
        2
    );
    assert_no_violations(&model);
}

#[test]
fn an_event_mapped_onto_a_collection_not_yet_mapped_arrives_once_it_is() {
    let (model, mut its, _) = pending_at_save();
    model.reset();
    its.domain()
        .init_redistributor(&model.gicr(0), model.config().redistributors[0])
        .unwrap();
    let _ = its.restore().unwrap();
    // Collection 2 waits for CPU 2: MAPTI onto it is allowed (no INV, no
    // SYNC), and the event translates to nothing yet.
    its.map_device(DeviceId(0x18), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x18), EventId(0), CollectionId(2))
        .unwrap();
    assert!(model.send_msi(DeviceId(0x18), EventId(0)).is_err());
    // MAPC and INVALL when CPU 2 is ready: delivered.
    its.domain()
        .init_redistributor(&model.gicr(2), model.config().redistributors[2])
        .unwrap();
    its.restore_collections(ProcessorNumber(2)).unwrap();
    model.send_msi(DeviceId(0x18), EventId(0)).unwrap();
    assert_eq!(model.take_pending(2), vec![lpi]);
    assert_no_violations(&model);
}

#[test]
fn a_cpu_going_offline_takes_its_collections_elsewhere_first() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 1).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    its.move_collections(ProcessorNumber(1), ProcessorNumber(0))
        .unwrap();
    its.domain().offline(ProcessorNumber(1)).unwrap();
    // Nothing may be mapped onto, or moved to, the offline CPU.
    assert_eq!(
        its.map_collection(CollectionId(9), ProcessorNumber(1)),
        Err(ItsError::RedistributorNotReady {
            processor_number: ProcessorNumber(1)
        })
    );
    assert_eq!(
        its.move_collection(CollectionId(1), ProcessorNumber(1)),
        Err(ItsError::RedistributorNotReady {
            processor_number: ProcessorNumber(1)
        })
    );
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(0))
            .unwrap()
            .processor,
        0
    );
    // Back online: its collection goes home.
    its.domain()
        .init_redistributor(&model.gicr(1), model.config().redistributors[1])
        .unwrap();
    its.move_collection(CollectionId(1), ProcessorNumber(1))
        .unwrap();
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(0))
            .unwrap()
            .processor,
        1
    );
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn restore_collections_maps_only_that_cpus_deferred_collections() {
    // Collections 0..4 on CPUs 0..4; after a resume only CPU 0 is back.
    let (model, mut its) = setup(ModelConfig::default());
    its.save().unwrap();
    its.domain().save().unwrap();
    model.reset();
    its.domain()
        .init_redistributor(&model.gicr(0), model.config().redistributors[0])
        .unwrap();
    let _ = its.restore().unwrap();
    its.domain()
        .init_redistributor(&model.gicr(1), model.config().redistributors[1])
        .unwrap();
    its.restore_collections(ProcessorNumber(1)).unwrap();
    // CPUs 2 and 3 are not back: their collections stay waiting.
    assert_eq!(
        model.valid_collections(),
        BTreeMap::from([(CollectionId(0), 0), (CollectionId(1), 1)])
    );
    assert_no_violations(&model);
}

#[test]
fn move_collections_moves_only_the_collections_of_that_cpu() {
    let (model, mut its) = setup(ModelConfig::default());
    its.move_collections(ProcessorNumber(1), ProcessorNumber(0))
        .unwrap();
    assert_eq!(
        model.valid_collections(),
        BTreeMap::from([
            (CollectionId(0), 0),
            (CollectionId(1), 0),
            (CollectionId(2), 2),
            (CollectionId(3), 3)
        ])
    );
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn a_collection_is_unmapped_after_its_cpu_went_offline() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 1).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(2))
        .unwrap();
    // The event leaves for CPU 0, then CPU 2 goes offline before anyone
    // unmaps its collection.
    its.move_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    its.domain().offline(ProcessorNumber(2)).unwrap();
    let syncs = |model: &ItsModel| {
        model
            .command_log()
            .iter()
            .filter(|c| matches!(c, ItsCommand::Sync { .. }))
            .count()
    };
    let syncs_before = syncs(&model);
    its.unmap_collection(CollectionId(2)).unwrap();
    assert!(!model.valid_collections().contains_key(&CollectionId(2)));
    assert!(
        its.registry()
            .collections()
            .all(|(icid, _)| icid != CollectionId(2))
    );
    // No SYNC went to the offline redistributor.
    assert_eq!(syncs(&model), syncs_before);
    model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
    assert_eq!(model.take_pending(0).len(), 1);
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn restore_on_different_hardware_is_refused() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 1, 1);
    its.save().unwrap();
    model.reconfigure(|c| c.iidr = 0x0200_043b);
    assert!(matches!(
        its.restore(),
        Err(ItsError::HardwareMismatch {
            saved_iidr: 0x0100_043b,
            found_iidr: 0x0200_043b,
            ..
        })
    ));
    assert_eq!(its.state(), ItsState::Saved);
    assert!(model.mappings().is_empty());
    model.reconfigure(|c| c.iidr = 0x0100_043b);
    let _ = its.restore().unwrap();
    assert_model_matches_registry(&model, &its);
}

#[test]
fn allocation_failure_mid_restore_is_resumable() {
    // Two-level device table: save gives the level-2 pages back, restore
    // needs them again; fail the second one.
    let config = ModelConfig {
        devbits: 20,
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    for device_id in [0x1, 0x2_0000, 0x4_0000] {
        its.map_device(DeviceId(device_id), 2).unwrap();
        its.map_event(DeviceId(device_id), EventId(1), CollectionId(0))
            .unwrap();
    }
    let before = model.mappings();
    its.save().unwrap();
    model.fail_allocations_after(1);
    assert_eq!(its.restore(), Err(ItsError::OutOfMemory { size: 65536 }));
    assert_eq!(its.state(), ItsState::Restoring);
    assert_eq!(
        its.unreplayed_devices().collect::<Vec<_>>(),
        vec![DeviceId(0x2_0000), DeviceId(0x4_0000)]
    );
    // What was replayed is live and consistent; the rest translates nothing.
    assert_model_matches_registry(&model, &its);
    assert_eq!(model.valid_device_ids(), vec![DeviceId(0x1)]);
    assert_eq!(its.map_device(DeviceId(0x9), 1), Err(ItsError::Saved));
    model.fail_allocations(false);
    let _ = its.restore().unwrap();
    assert_eq!(model.mappings(), before);
    assert_no_violations(&model);
}

#[test]
fn restore_replaces_mappings_a_boot_kernel_left_behind() {
    // The seed's scenario: the image kernel saved; a boot kernel then used
    // the ITS with its own ITTs and did NOT tear down; the image kernel
    // resumes and restores. Afterwards only the image kernel's mappings
    // exist, at the ITT addresses its registry recorded.
    let model = ItsModel::new(ModelConfig::default());
    let mut image = probe(&model, ItsConfig::default());
    image
        .map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    image.map_device(DeviceId(0x10), 2).unwrap();
    image
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    let expected = model.mappings();
    image.save().unwrap();

    model.reset();
    let mut boot = probe(&model, ItsConfig::default());
    boot.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    boot.map_device(DeviceId(0x10), 8).unwrap();
    boot.map_device(DeviceId(0x18), 1).unwrap(); // a device the image never knew
    boot.map_event(DeviceId(0x18), EventId(0), CollectionId(0))
        .unwrap();
    std::mem::forget(boot); // jumps into the image without saving

    // As KVM would, the ITS still holds the boot kernel's devices, and
    // would save state into their ITTs.
    assert!(model.held_itts().contains_key(&DeviceId(0x18)));
    init_redistributors(&model, image.domain());
    let _ = image.restore().unwrap();
    assert_eq!(model.mappings(), expected);
    // Restore dropped them (Device BASER Valid = 0) before replaying: only
    // the image kernel's device is held, at its own ITT.
    let held: Vec<(DeviceId, u64)> = model.held_itts().into_iter().collect();
    assert_eq!(
        held,
        vec![(
            DeviceId(0x10),
            image
                .registry()
                .device(DeviceId(0x10))
                .unwrap()
                .itt_address()
        )]
    );
    assert_eq!(model.valid_device_ids(), vec![DeviceId(0x10)]);
    assert!(
        model.send_msi(DeviceId(0x18), EventId(0)).is_err(),
        "the foreign device translates nothing"
    );
    let itt = image
        .registry()
        .device(DeviceId(0x10))
        .unwrap()
        .itt_address();
    let mapd = model
        .command_log()
        .into_iter()
        .rev()
        .find(|c| {
            matches!(
                c,
                ItsCommand::Mapd {
                    device_id: DeviceId(0x10),
                    valid: true,
                    ..
                }
            )
        })
        .unwrap();
    assert!(matches!(mapd, ItsCommand::Mapd { itt_address, .. } if itt_address == itt));
}

/// `recover` brings an ITS back whatever state it was in, a saved one too:
/// the LPI domain then counts it as holding live mappings again, so the
/// domain is not saved under it.
#[test]
fn a_recovered_its_counts_as_active_in_its_domain() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 2, 2);
    its.save().unwrap();
    its.recover().unwrap();
    assert_eq!(its.state(), gicv3_its::ItsState::Active);
    assert_eq!(
        its.domain().save(),
        Err(ItsError::ItsStillActive { active: 1 })
    );
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

/// Every SYNC of a save, a restore, an unmap and a batch of event changes
/// goes to a redistributor that holds one of the collections concerned,
/// each once (5.3.23): four CPUs, one collection each, events on all.
#[test]
fn syncs_go_once_to_each_redistributor_concerned() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 4, 4);
    let every_cpu: Vec<u64> = processor_numbers(&model).map(|p| u64::from(p.0)).collect();
    let syncs_of = |model: &ItsModel, from: usize| -> Vec<u64> {
        model.command_log()[from..]
            .iter()
            .filter_map(|command| match command {
                ItsCommand::Sync { rdbase } => Some(rdbase.field()),
                _ => None,
            })
            .collect()
    };

    let start = model.command_log().len();
    its.save().expect("save");
    assert_eq!(syncs_of(&model, start), every_cpu, "save");
    let start = model.command_log().len();
    let _ = its.restore().expect("restore");
    assert_eq!(syncs_of(&model, start), every_cpu, "restore");

    // The first device's events are on collections 0..4, ICID i on CPU i.
    let device = DeviceId(0x100);
    let events: Vec<(DeviceId, EventId)> = its
        .registry()
        .device(device)
        .expect("the first device")
        .events()
        .map(|(event_id, _)| (device, event_id))
        .collect();
    let mut concerned: Vec<u64> = events
        .iter()
        .filter_map(|&(d, e)| its.registry().event(d, e))
        .map(|mapping| u64::from(mapping.icid().0))
        .collect();
    concerned.sort_unstable();
    concerned.dedup();
    let start = model.command_log().len();
    its.configure_events(&events, 0x80, true)
        .expect("configure");
    assert_eq!(syncs_of(&model, start), concerned, "configure_events");
    let start = model.command_log().len();
    its.unmap_device(device).expect("unmap");
    assert_eq!(syncs_of(&model, start), concerned, "unmap_device");
    assert_no_violations(&model);
}
