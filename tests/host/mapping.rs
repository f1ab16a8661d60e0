//! Mapping devices, events and collections, and moving them: each checked by
//! what the model translates and delivers.

use crate::support::*;
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use gicv3_its::{ItsCommand, ItsError, LpiConfig};
use gicv3_its_model::{ModelConfig, MsiError};

#[test]
fn map_event_translates_and_delivers_the_lpi() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 4).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(2), CollectionId(1))
        .unwrap();
    assert!(lpi.is_lpi());
    let record = its.registry().device(DeviceId(0x10)).unwrap();
    assert_eq!(record.device_id(), DeviceId(0x10));
    assert_eq!(record.event_count(), 4);
    // Four 12-byte ITEs, in one 256-byte aligned block.
    assert_eq!(record.itt_bytes(), 256);
    assert_eq!(its.registry().itt_bytes(), 256);
    assert_eq!(its.allocated_lpis(), 1);
    assert_eq!(its.domain().allocated_lpis(), 1);
    let t = model.send_msi(DeviceId(0x10), EventId(2)).unwrap();
    assert_eq!((t.intid, t.icid, t.processor), (lpi, CollectionId(1), 1));
    assert_eq!(model.take_pending(1), vec![lpi]);
    // INT and CLEAR.
    its.send_int(DeviceId(0x10), EventId(2)).unwrap();
    assert_eq!(model.pending(1), vec![lpi]);
    its.clear(DeviceId(0x10), EventId(2)).unwrap();
    assert!(model.pending(1).is_empty());
    // Disable through the property table + INV: the LPI is not delivered.
    its.configure_event(DeviceId(0x10), EventId(2), 0x40, false)
        .unwrap();
    assert_eq!(its.domain().config(lpi), Some(LpiConfig::new(0x40, false)));
    assert!(model.send_msi(DeviceId(0x10), EventId(2)).is_err());
    assert!(model.take_pending(1).is_empty());
    its.configure_event(DeviceId(0x10), EventId(2), 0x40, true)
        .unwrap();
    model.send_msi(DeviceId(0x10), EventId(2)).unwrap();
    assert_eq!(model.take_pending(1), vec![lpi]);
    assert_no_violations(&model);
}

#[test]
fn configure_events_rewrites_every_property_byte_then_one_invall_per_collection() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 4).unwrap();
    let events = [
        (DeviceId(0x10), EventId(0), CollectionId(1)),
        (DeviceId(0x10), EventId(1), CollectionId(1)),
        (DeviceId(0x10), EventId(2), CollectionId(2)),
    ];
    for (device, event, icid) in events {
        its.map_event(device, event, icid).unwrap();
    }
    let list: Vec<(DeviceId, EventId)> = events.iter().map(|&(d, e, _)| (d, e)).collect();
    let before = model.command_log().len();
    its.configure_events(&list, 0x40, false).unwrap();
    let sent = model.command_log()[before..].to_vec();
    assert!(sent.iter().all(|c| !matches!(c, ItsCommand::Inv { .. })));
    let invalls: Vec<CollectionId> = sent
        .iter()
        .filter_map(|c| match c {
            ItsCommand::Invall { icid } => Some(*icid),
            _ => None,
        })
        .collect();
    assert_eq!(invalls, [CollectionId(1), CollectionId(2)]);
    for &(device, event) in &list {
        assert!(matches!(
            model.send_msi(device, event),
            Err(MsiError::LpiDisabled(_))
        ));
    }
    its.configure_events(&list, 0x40, true).unwrap();
    for &(device, event) in &list {
        model.send_msi(device, event).unwrap();
    }
    assert_eq!(model.take_pending(1).len(), 2);
    assert_eq!(model.take_pending(2).len(), 1);
    // One unmapped event: an error, and nothing written.
    let before = model.command_log().len();
    assert_eq!(
        its.configure_events(&[list[0], (DeviceId(0x10), EventId(3))], 0x40, false),
        Err(ItsError::EventNotMapped {
            device_id: DeviceId(0x10),
            event_id: EventId(3)
        })
    );
    assert_eq!(model.command_log().len(), before);
    model.send_msi(list[0].0, list[0].1).unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn move_event_and_move_collections_retarget_pending_lpis() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 2).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    its.send_int(DeviceId(0x10), EventId(0)).unwrap();
    its.move_event(DeviceId(0x10), EventId(0), CollectionId(2))
        .unwrap();
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(0))
            .unwrap()
            .processor,
        2
    );
    assert_eq!(model.pending(2), vec![lpi], "pending state moves with MOVI");
    assert!(model.pending(0).is_empty());
    // CPU 2 goes offline: its collections move to CPU 3 with what is pending.
    its.move_collections(ProcessorNumber(2), ProcessorNumber(3))
        .unwrap();
    assert_eq!(
        its.registry()
            .collections()
            .find(|(icid, _)| *icid == CollectionId(2))
            .map(|(_, r)| r.processor_number()),
        Some(ProcessorNumber(3))
    );
    assert_eq!(
        model
            .translate(DeviceId(0x10), EventId(0))
            .unwrap()
            .processor,
        3
    );
    assert_eq!(model.pending(3), vec![lpi]);
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn unmap_frees_itts_lpis_and_table_state() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x1f), 1).unwrap(); // the level-2 page for 0x20 too
    let before = model.stats().bytes_allocated;
    its.map_device(DeviceId(0x20), 32).unwrap();
    let lpis: Vec<IntId> = (0..32)
        .map(|e| {
            its.map_event(DeviceId(0x20), EventId(e), CollectionId(0))
                .unwrap()
        })
        .collect();
    its.unmap_event(DeviceId(0x20), EventId(5)).unwrap();
    assert_eq!(model.translate(DeviceId(0x20), EventId(5)), None);
    assert!(model.translate(DeviceId(0x20), EventId(6)).is_some());
    its.unmap_device(DeviceId(0x20)).unwrap();
    assert_eq!(model.valid_device_ids(), vec![DeviceId(0x1f)]);
    assert_eq!(model.stats().bytes_allocated, before, "ITT given back");
    // Every LPI is free again, and disabled in the property table: an MSI
    // to a fresh mapping of the same LPI number is not delivered early.
    assert_eq!(its.allocated_lpis(), 0);
    assert_eq!(lpis.len(), 32);
    assert_no_violations(&model);
}

#[test]
fn each_collection_adds_the_same_registry_heap() {
    let model = gicv3_its_model::ItsModel::new(ModelConfig::default());
    let mut its = probe(&model, gicv3_its::ItsConfig::default());
    let mut estimates = vec![its.memory_use().registry];
    for cpu in 0..4 {
        its.map_collection(CollectionId(cpu), ProcessorNumber(cpu))
            .unwrap();
        estimates.push(its.memory_use().registry);
    }
    let steps: Vec<usize> = estimates.windows(2).map(|w| w[1] - w[0]).collect();
    // A map entry: the ID and its record, 16 to 64 bytes each (the list
    // grows by a quarter, so by one entry while it holds fewer than 8).
    #[cfg(feature = "alloc")]
    {
        assert!(steps.iter().all(|&step| step == steps[0]), "{estimates:?}");
        assert!((16..=64).contains(&steps[0]), "{estimates:?}");
    }
    // Without the heap the records live in the caller's storage.
    #[cfg(not(feature = "alloc"))]
    assert!(estimates.iter().all(|&bytes| bytes == 0), "{steps:?}");
}

#[test]
fn move_event_syncs_the_redistributors_it_moves_between() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_collection(CollectionId(4), ProcessorNumber(2))
        .unwrap();
    its.map_device(DeviceId(0x10), 1).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    let movi = |icid| ItsCommand::Movi {
        device_id: DeviceId(0x10),
        event_id: EventId(0),
        icid,
    };
    let sync = |cpu| ItsCommand::Sync {
        rdbase: model.rdbase(cpu),
    };
    // From CPU 0 to CPU 2: both redistributors, once each.
    let before = model.command_log().len();
    its.move_event(DeviceId(0x10), EventId(0), CollectionId(2))
        .unwrap();
    assert_eq!(
        model.command_log()[before..],
        [movi(CollectionId(2)), sync(0), sync(2)]
    );
    // Between two collections of CPU 2: one SYNC.
    let before = model.command_log().len();
    its.move_event(DeviceId(0x10), EventId(0), CollectionId(4))
        .unwrap();
    assert_eq!(
        model.command_log()[before..],
        [movi(CollectionId(4)), sync(2)]
    );
    assert_no_violations(&model);
}
