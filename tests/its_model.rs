//! The driver against the software ITS model: probe on every configuration,
//! mapping, the queue under pressure, save and restore, and bad input. Every
//! test judges by what the model's tables hold and by the violations it
//! recorded, not by what the driver believes.

mod support;

use gicv3_its::registers::{GICR_CTLR, GITS_BASER, GITS_CBASER, RegisterFrame};
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use gicv3_its::{
    ItsCommand, ItsConfig, ItsError, ItsState, LpiDomain, LpiDomainConfig, WaitFor, WaitPolicy,
};
use gicv3_its_model::{
    Coherency, Consumption, ItsModel, ModelConfig, MsiError, PageSizes, Quiescence,
};
use std::collections::BTreeMap;
use support::*;

// ---------------------------------------------------------------- probe

#[test]
fn probe_on_qemu_like_its_uses_a_two_level_device_table() {
    let (model, mut its) = setup(ModelConfig::default());
    let features = its.features();
    assert_eq!(features.typer, 0x1f_0001_efb1);
    assert_eq!(features.device_id_bits, 16);
    assert_eq!(features.itt_entry_size, 12);
    assert!(!features.pta);
    assert_eq!(its.max_device_id(), DeviceId(0xffff));
    // 2^16 DTEs of 8 bytes would be 512 KiB flat, over the one-page default
    // bound: a 64 KiB level-1 page, and level-2 pages as devices come.
    assert_eq!(its.memory_use().device_table, 64 * 1024);
    its.map_device(DeviceId(0x10), 1).unwrap();
    assert_eq!(its.memory_use().device_table, 128 * 1024);
    assert_no_violations(&model);
}

#[test]
fn a_larger_flat_bound_keeps_the_device_table_flat() {
    let config = ItsConfig {
        max_flat_device_table_bytes: 1 << 20,
        ..ItsConfig::default()
    };
    let (model, mut its) = setup_with(ModelConfig::default(), config);
    assert_eq!(its.memory_use().device_table, 512 * 1024);
    its.map_device(DeviceId(0xffff), 1).unwrap();
    assert_eq!(its.memory_use().device_table, 512 * 1024);
    assert_no_violations(&model);
}

#[test]
fn probe_sizes_device_table_from_devbits() {
    for devbits in [16, 20, 32] {
        let config = ModelConfig {
            devbits,
            ..ModelConfig::default()
        };
        let (model, mut its) = setup(config);
        let max = its.max_device_id();
        assert_eq!(u64::from(max.0), (1u64 << devbits) - 1, "devbits {devbits}");
        // The largest DeviceID maps and translates.
        its.map_device(max, 2).unwrap();
        let lpi = its.map_event(max, EventId(1), CollectionId(0)).unwrap();
        assert_eq!(model.translate(max, EventId(1)).map(|t| t.intid), Some(lpi));
        if devbits > 16 {
            // Two-level: the level-1 table plus one 64 KiB level-2 page.
            let use_ = its.memory_use();
            assert!(use_.device_table < 16 << 20, "{use_:?}");
        }
        assert_model_matches_registry(&model, &its);
        assert_no_violations(&model);
    }
}

#[test]
fn two_level_table_allocates_level2_pages_on_demand() {
    let config = ModelConfig {
        devbits: 20,
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    let before = its.memory_use().device_table;
    its.map_device(DeviceId(0x1), 1).unwrap();
    let one_page = its.memory_use().device_table - before;
    assert_eq!(one_page, 65536);
    // Same level-2 page (8192 DTEs of 8 bytes per 64 KiB page).
    its.map_device(DeviceId(0x2), 1).unwrap();
    assert_eq!(its.memory_use().device_table - before, one_page);
    // Another page.
    its.map_device(DeviceId(0x8_0000), 1).unwrap();
    assert_eq!(its.memory_use().device_table - before, 2 * one_page);
    assert_eq!(
        model.valid_device_ids(),
        vec![DeviceId(0x1), DeviceId(0x2), DeviceId(0x8_0000)]
    );
    assert_no_violations(&model);
}

#[test]
fn without_indirect_support_the_flat_table_caps_device_ids() {
    let config = ModelConfig {
        devbits: 24,
        indirect: false,
        ..ModelConfig::default()
    };
    let its_config = ItsConfig {
        max_flat_device_table_bytes: 1 << 20,
        ..ItsConfig::default()
    };
    let (model, mut its) = setup_with(config, its_config);
    // 1 MiB flat bound / 8-byte DTEs = 2^17 devices.
    assert_eq!(its.max_device_id(), DeviceId((1 << 17) - 1));
    assert_eq!(
        its.map_device(DeviceId(1 << 17), 1),
        Err(ItsError::DeviceIdOutOfRange {
            device_id: DeviceId(1 << 17),
            max: DeviceId((1 << 17) - 1)
        })
    );
    assert_no_violations(&model);
}

#[test]
fn page_size_negotiation_falls_back_to_what_the_its_accepts() {
    for (pages, expected_table) in [
        (
            PageSizes {
                size_4k: true,
                size_16k: false,
                size_64k: false,
            },
            4096usize,
        ),
        (
            PageSizes {
                size_4k: true,
                size_16k: true,
                size_64k: false,
            },
            16384,
        ),
    ] {
        let config = ModelConfig {
            page_sizes: pages,
            devbits: 8,
            ..ModelConfig::default()
        };
        let (model, mut its) = setup(config);
        // 256 DTEs of 8 bytes: 2 KiB, rounded up to one page.
        assert_eq!(its.memory_use().device_table, expected_table);
        its.map_device(DeviceId(7), 4).unwrap();
        its.map_event(DeviceId(7), EventId(3), CollectionId(1))
            .unwrap();
        assert_model_matches_registry(&model, &its);
        assert_no_violations(&model);
    }
}

#[test]
fn pta_1_addresses_redistributors_by_physical_address() {
    let config = ModelConfig {
        pta: true,
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    assert!(its.features().pta);
    its.map_device(DeviceId(0x10), 2).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(3))
        .unwrap();
    let t = model.translate(DeviceId(0x10), EventId(0)).unwrap();
    assert_eq!(t.processor, 3);
    let mapc = model
        .command_log()
        .into_iter()
        .find(|c| {
            matches!(
                c,
                ItsCommand::Mapc {
                    icid: CollectionId(3),
                    ..
                }
            )
        })
        .unwrap();
    assert_eq!(
        mapc,
        ItsCommand::Mapc {
            icid: CollectionId(3),
            rdbase: model.rdbase(3),
            valid: true
        }
    );
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn hardware_collections_work_without_a_collection_table() {
    let config = ModelConfig {
        hcc: 4,
        collection_table: false,
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    its.map_device(DeviceId(1), 1).unwrap();
    its.map_event(DeviceId(1), EventId(0), CollectionId(2))
        .unwrap();
    assert_eq!(
        model.translate(DeviceId(1), EventId(0)).unwrap().processor,
        2
    );
    assert_eq!(
        its.map_collection(CollectionId(4), ProcessorNumber(0)),
        Err(ItsError::CollectionOutOfRange {
            icid: CollectionId(4),
            max: CollectionId(3)
        })
    );
    assert_no_violations(&model);
}

#[test]
fn non_coherent_gic_gets_cleaned_memory() {
    // The model's GIC reads its own view of memory, poisoned until the CPU
    // cleans it: any table, ITT, queue slot or LPI byte the driver forgot to
    // clean shows up as a violation or a wrong translation.
    let config = ModelConfig {
        coherency: Coherency::NonCoherent,
        shareable: false,
        devbits: 20,
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    for device in 0..4 {
        its.map_device(DeviceId(device * 0x1_0000), 8).unwrap();
        for event in 0..8 {
            its.map_event(
                DeviceId(device * 0x1_0000),
                EventId(event),
                CollectionId((event % 4) as u16),
            )
            .unwrap();
        }
    }
    its.save().unwrap();
    assert!(model.mappings().is_empty());
    its.restore().unwrap();
    assert_model_matches_registry(&model, &its);
    let msi = model.send_msi(DeviceId(0x3_0000), EventId(5)).unwrap();
    assert_eq!(
        Some(msi.intid),
        its.registry()
            .event(DeviceId(0x3_0000), EventId(5))
            .map(|m| m.intid())
    );
    assert_no_violations(&model);
}

#[test]
fn an_its_that_never_quiesces_is_a_timeout() {
    let model = ItsModel::new(ModelConfig::default());
    let mut its = probe(&model, ItsConfig::default());
    model.reconfigure(|c| c.quiescence = Quiescence::Never);
    let small = ItsConfig {
        wait: WaitPolicy {
            poll_budget: 100,
            ..WaitPolicy::default()
        },
        ..ItsConfig::default()
    };
    assert_eq!(
        gicv3_its::Its::probe(model.gits(), model.memory(), its.domain(), small).err(),
        Some(ItsError::Timeout {
            waiting_for: WaitFor::Quiescent,
            polls: 100
        })
    );
    assert_eq!(
        its.save(),
        Err(ItsError::Timeout {
            waiting_for: WaitFor::Quiescent,
            polls: 1_000_000
        })
    );
}

// ---------------------------------------------------------------- mapping

#[test]
fn map_event_translates_and_delivers_the_lpi() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 4).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(2), CollectionId(1))
        .unwrap();
    assert!(lpi.is_lpi());
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
            .map(|(_, r)| r.processor_number),
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

// ---------------------------------------------------------------- queue

#[test]
fn queue_wraps_around_and_batches_doorbells() {
    let its_config = ItsConfig {
        queue_bytes: 4096, // 128 slots
        ..ItsConfig::default()
    };
    let (model, mut its) = setup_with(ModelConfig::default(), its_config);
    its.map_device(DeviceId(1), 512).unwrap();
    for event in 0..300 {
        its.map_event(DeviceId(1), EventId(event), CollectionId(0))
            .unwrap(); // MAPTI + INV + SYNC: 3 slots each
    }
    assert!(
        its.queue_stats().commands > 128 * 2,
        "wrapped at least twice"
    );
    assert_model_matches_registry(&model, &its);
    // Save and restore 300 events through a 128-slot ring: the replay
    // publishes only when the ring is full (127 usable slots) plus once at
    // the end.
    its.save().unwrap();
    let before = its.queue_stats();
    its.restore().unwrap();
    let after = its.queue_stats();
    let commands = after.commands - before.commands;
    // 4 MAPC + 1 MAPD + 300 MAPTI + 4 INVALL + 4 SYNC.
    assert_eq!(commands, 313);
    assert_eq!(after.doorbells - before.doorbells, commands.div_ceil(127));
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn a_queue_that_wraps_on_a_gic_that_does_not_snoop_is_cleaned_across_the_end() {
    // Every batch published after the ring wraps lies in two pieces, the
    // end of the ring and its start: both must reach the ITS.
    let config = ModelConfig {
        coherency: Coherency::NonCoherent,
        shareable: false,
        ..ModelConfig::default()
    };
    let its_config = ItsConfig {
        queue_bytes: 4096, // 128 slots
        ..ItsConfig::default()
    };
    let (model, mut its) = setup_with(config, its_config);
    its.map_device(DeviceId(1), 256).unwrap();
    for event in 0..100 {
        let (cleaned, commands) = (model.stats().bytes_cleaned, its.queue_stats().commands);
        its.map_event(DeviceId(1), EventId(event), CollectionId(0))
            .unwrap();
        // Each new command slot is cleaned once, in one piece or two,
        // and nothing more of the ring; one byte more is the LPI's
        // property byte.
        let commands = its.queue_stats().commands - commands;
        assert_eq!(
            model.stats().bytes_cleaned - cleaned,
            commands * 32 + 1,
            "event {event}"
        );
    }
    assert!(
        its.queue_stats().commands > 128 * 2,
        "wrapped at least twice"
    );
    for event in 0..100 {
        model.send_msi(DeviceId(1), EventId(event)).unwrap();
    }
    assert_eq!(model.take_pending(0).len(), 100);
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn a_full_queue_waits_for_the_its_instead_of_overwriting() {
    // The ITS consumes one command per CREADR read: the ring fills and the
    // driver must wait for room each time, never overwrite unread slots.
    let its_config = ItsConfig {
        queue_bytes: 4096,
        ..ItsConfig::default()
    };
    let (model, mut its) = setup_with(ModelConfig::default(), its_config);
    model.reconfigure(|c| {
        c.consumption = Consumption::Asynchronous {
            commands_per_creadr_read: 1,
        }
    });
    its.map_device(DeviceId(1), 256).unwrap();
    for event in 0..200 {
        its.map_event(DeviceId(1), EventId(event), CollectionId(1))
            .unwrap();
    }
    its.save().unwrap();
    its.restore().unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn an_its_that_stops_consuming_is_a_timeout_then_recovered() {
    let its_config = ItsConfig {
        wait: WaitPolicy {
            poll_budget: 1000,
            ..WaitPolicy::default()
        },
        ..ItsConfig::default()
    };
    let (model, mut its) = setup_with(ModelConfig::default(), its_config);
    its.map_device(DeviceId(1), 4).unwrap();
    its.map_event(DeviceId(1), EventId(0), CollectionId(0))
        .unwrap();
    model.reconfigure(|c| c.consumption = Consumption::Never);
    assert_eq!(
        its.map_event(DeviceId(1), EventId(1), CollectionId(0)),
        Err(ItsError::Timeout {
            waiting_for: WaitFor::CommandCompletion,
            polls: 1000
        })
    );
    assert_eq!(its.state(), ItsState::NeedsRecovery);
    assert_eq!(
        its.map_event(DeviceId(1), EventId(2), CollectionId(0)),
        Err(ItsError::NeedsRecovery)
    );
    assert_eq!(
        its.registry().event(DeviceId(1), EventId(1)),
        None,
        "failed mapping not recorded"
    );
    model.reconfigure(|c| c.consumption = Consumption::Synchronous);
    its.recover().unwrap();
    assert_eq!(its.state(), ItsState::Active);
    assert_model_matches_registry(&model, &its);
    assert_eq!(
        model.translate(DeviceId(1), EventId(1)),
        None,
        "the half-done MAPTI is gone"
    );
    its.map_event(DeviceId(1), EventId(1), CollectionId(0))
        .unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn a_stalled_command_is_reported_with_the_command_and_recovered() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x30), 8).unwrap();
    for event in 0..4 {
        its.map_event(DeviceId(0x30), EventId(event), CollectionId(0))
            .unwrap();
    }
    let processed = model.command_log().len() as u64;
    // The next command (the MAPD of device 0x31) stalls.
    model.reconfigure(|c| c.stall_on_command = Some(processed + 1));
    let error = its.map_device(DeviceId(0x31), 2).unwrap_err();
    match error {
        ItsError::CommandStalled { command, .. } => assert!(
            matches!(
                command,
                Some(ItsCommand::Mapd {
                    device_id: DeviceId(0x31),
                    valid: true,
                    ..
                })
            ),
            "{command:?}"
        ),
        other => panic!("expected a stall, got {other:?}"),
    }
    assert!(its.registry().device(DeviceId(0x31)).is_none());
    model.reconfigure(|c| c.stall_on_command = None);
    its.recover().unwrap();
    assert_model_matches_registry(&model, &its);
    its.map_device(DeviceId(0x31), 2).unwrap();
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

// ---------------------------------------------------------------- save/restore

fn populate(its: &mut ModelIts, devices: u32, events: u32) {
    for d in 0..devices {
        let device_id = 0x100 + d * 8;
        its.map_device(DeviceId(device_id), events).unwrap();
        for e in 0..events {
            its.map_event(
                DeviceId(device_id),
                EventId(e),
                CollectionId(((d + e) % 4) as u16),
            )
            .unwrap();
        }
    }
}

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

    its.restore().unwrap();
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
    its.restore().unwrap();
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
    its.restore().unwrap();
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
    its.restore().unwrap();
    assert_eq!(model.take_pending(1), vec![lpi]);
    assert_no_violations(&model);
}

#[test]
fn pending_lpis_are_dropped_by_a_power_cycle() {
    let (model, mut its, lpi) = pending_at_save();
    model.reset();
    init_redistributors(&model, its.domain());
    its.restore().unwrap();
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
    its.restore().unwrap();
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
    assert!(!collection_1.mapped);
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
    its.restore().unwrap();
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
    its.restore().unwrap();
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
    its.restore().unwrap();
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
    its.restore().unwrap();
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
    its.restore().unwrap();
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
    image.restore().unwrap();
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

// ---------------------------------------------------------------- LPI tables

/// A kernel that adopts the LPI tables a previous kernel left (EnableLPIs
/// cannot be cleared) also inherits what the redistributors cached of them.
fn adopted_after_a_previous_kernel_used_lpi_8192_on_cpu_1() -> (ItsModel, ModelIts) {
    let config = ModelConfig {
        sticky_enable_lpis: true,
        redistributors: vec![0x080a_0000, 0x080c_0000],
        ..ModelConfig::default()
    };
    let model = ItsModel::new(config);
    let domain_config = LpiDomainConfig::default();
    let bytes = domain_config.region_bytes(2);
    let mut memory = model.memory();
    let agreed = gicv3_its::DmaMemory::allocate_zeroed(&mut memory, bytes, 65536).unwrap();
    let (virt, phys) = (agreed.virt(), agreed.phys());
    let mut previous = probe_with_region(&model, agreed, domain_config);
    previous
        .map_collection(CollectionId(1), ProcessorNumber(1))
        .unwrap();
    previous.map_device(DeviceId(0x20), 1).unwrap();
    let lpi = previous
        .map_event(DeviceId(0x20), EventId(0), CollectionId(1))
        .unwrap();
    assert_eq!(lpi, IntId(8192));
    // Delivered on CPU 1, whose redistributor now caches "enabled".
    model.send_msi(DeviceId(0x20), EventId(0)).unwrap();
    assert_eq!(model.take_pending(1), vec![lpi]);
    std::mem::forget(previous); // handed over without a teardown

    // SAFETY: the model memory the previous kernel used, which nothing
    // writes any more (its driver is forgotten).
    let same = unsafe { gicv3_its::DmaRegion::new(virt, phys, bytes) };
    let its = probe_with_region(&model, same, domain_config);
    assert!(its.domain().redistributors().iter().all(|r| r.adopted));
    (model, its)
}

/// A driver with its own LPI domain in `region`, every redistributor
/// initialised, and no collection mapped.
fn probe_with_region(
    model: &ItsModel,
    region: gicv3_its::DmaRegion,
    config: LpiDomainConfig,
) -> ModelIts {
    let domain = LpiDomain::with_region(model.memory(), region, config).unwrap();
    init_redistributors(model, &domain);
    gicv3_its::Its::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap()
}

#[test]
fn mapping_a_collection_drops_what_its_redistributor_cached_before() {
    let (model, mut its) = adopted_after_a_previous_kernel_used_lpi_8192_on_cpu_1();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_collection(CollectionId(1), ProcessorNumber(1))
        .unwrap();
    its.map_device(DeviceId(0x10), 1).unwrap();
    // The same LPI, on CPU 0 first, then disabled there (INV reaches CPU 0).
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    assert_eq!(lpi, IntId(8192));
    its.configure_event(DeviceId(0x10), EventId(0), 0xa0, false)
        .unwrap();
    // Moved to CPU 1, whose redistributor cached 8192 as enabled for the
    // previous kernel: the INVALL after MAPC dropped that, so the disabled
    // LPI stays disabled.
    its.move_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)),
        Err(MsiError::LpiDisabled(lpi))
    );
    assert_no_violations(&model);
}

#[test]
fn sticky_enable_lpis_adopts_agreed_tables_and_refuses_others() {
    let config = ModelConfig {
        sticky_enable_lpis: true,
        redistributors: vec![0x080a_0000],
        ..ModelConfig::default()
    };
    let model = ItsModel::new(config);
    let domain_config = LpiDomainConfig::default();
    let region_bytes = domain_config.region_bytes(1);
    let mut memory = model.memory();
    let agreed = gicv3_its::DmaMemory::allocate_zeroed(&mut memory, region_bytes, 65536).unwrap();
    let (agreed_virt, agreed_phys) = (agreed.virt(), agreed.phys());
    let first_domain = LpiDomain::with_region(model.memory(), agreed, domain_config).unwrap();
    first_domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    let mut first = gicv3_its::Its::probe(
        model.gits(),
        model.memory(),
        &first_domain,
        ItsConfig::default(),
    )
    .unwrap();
    // The domain refuses to release a redistributor under a live ITS.
    assert_eq!(
        first_domain.release_redistributor(&model.gicr(0)),
        Err(ItsError::ItsStillActive { active: 1 })
    );
    first.save().unwrap();
    assert!(
        !first_domain.release_redistributor(&model.gicr(0)).unwrap(),
        "sticky"
    );

    std::mem::forget(first);
    std::mem::forget(first_domain);

    // The same region, as the next kernel is told: adopted, and LPIs work.
    // SAFETY: `agreed_virt` is the model memory the first driver used; that
    // driver is forgotten, so nothing else writes it.
    let same = unsafe { gicv3_its::DmaRegion::new(agreed_virt, agreed_phys, region_bytes) };
    let next_domain = LpiDomain::with_region(model.memory(), same, domain_config).unwrap();
    next_domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    assert!(next_domain.redistributors()[0].adopted);
    let mut next = gicv3_its::Its::probe(
        model.gits(),
        model.memory(),
        &next_domain,
        ItsConfig::default(),
    )
    .unwrap();
    next.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    next.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = next
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)).unwrap().intid,
        lpi
    );
    assert_eq!(model.take_pending(0), vec![lpi]);
    next.save().unwrap();
    std::mem::forget(next);

    // A kernel with other tables is refused, with what it found.
    let other = LpiDomain::new(model.memory(), domain_config).unwrap();
    match other.init_redistributor(&model.gicr(0), 0x080a_0000) {
        Err(ItsError::LpiTablesLocked { propbaser, .. }) => {
            assert_eq!(propbaser & 0x000f_ffff_ffff_f000, agreed_phys)
        }
        other => panic!("expected LpiTablesLocked, got {other:?}"),
    }
    assert!(
        model.violations().is_empty(),
        "PROPBASER never written while EnableLPIs = 1: {:?}",
        model.violations()
    );
}

#[test]
fn collection_event_counts_follow_map_move_and_unmap() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 4).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(1))
        .unwrap();
    its.map_event(DeviceId(0x10), EventId(1), CollectionId(1))
        .unwrap();
    its.move_event(DeviceId(0x10), EventId(0), CollectionId(2))
        .unwrap();
    assert_eq!(
        its.unmap_collection(CollectionId(1)),
        Err(ItsError::CollectionInUse {
            icid: CollectionId(1),
            events: 1
        })
    );
    its.unmap_event(DeviceId(0x10), EventId(1)).unwrap();
    its.unmap_collection(CollectionId(1)).unwrap();
    assert_eq!(
        its.unmap_collection(CollectionId(2)),
        Err(ItsError::CollectionInUse {
            icid: CollectionId(2),
            events: 1
        })
    );
    its.unmap_device(DeviceId(0x10)).unwrap();
    its.unmap_collection(CollectionId(2)).unwrap();
    assert!(!model.valid_collections().contains_key(&CollectionId(1)));
    assert!(!model.valid_collections().contains_key(&CollectionId(2)));
    assert_no_violations(&model);
}

#[test]
fn probe_map_save_restore_on_every_model_configuration() {
    let base = ModelConfig::default;
    let configurations: Vec<(&str, ModelConfig)> = vec![
        ("qemu-like", base()),
        (
            "asynchronous",
            ModelConfig {
                consumption: Consumption::Asynchronous {
                    commands_per_creadr_read: 2,
                },
                ..base()
            },
        ),
        (
            "slow quiescence and RWP",
            ModelConfig {
                quiescence: Quiescence::AfterReads(7),
                rwp_reads: 5,
                ..base()
            },
        ),
        (
            "sticky EnableLPIs",
            ModelConfig {
                sticky_enable_lpis: true,
                ..base()
            },
        ),
        (
            "non-shareable",
            ModelConfig {
                coherency: Coherency::NonCoherent,
                shareable: false,
                ..base()
            },
        ),
        (
            "PTA=1",
            ModelConfig {
                pta: true,
                ..base()
            },
        ),
        ("HCC=2 with a table", ModelConfig { hcc: 2, ..base() }),
        (
            "CIL=0",
            ModelConfig {
                cid_bits: None,
                ..base()
            },
        ),
        (
            "Devbits 20",
            ModelConfig {
                devbits: 20,
                ..base()
            },
        ),
        (
            "Devbits 32",
            ModelConfig {
                devbits: 32,
                ..base()
            },
        ),
        (
            "4K pages only",
            ModelConfig {
                page_sizes: PageSizes {
                    size_4k: true,
                    size_16k: false,
                    size_64k: false,
                },
                devbits: 20,
                ..base()
            },
        ),
        (
            "16-byte ITT entries",
            ModelConfig {
                itt_entry_size: 16,
                ..base()
            },
        ),
    ];
    for (name, config) in configurations {
        let (model, mut its) = setup(config);
        for device_id in [0x0, 0x10, 0xfff0] {
            its.map_device(DeviceId(device_id), 3).unwrap();
            for event in 0..3 {
                its.map_event(
                    DeviceId(device_id),
                    EventId(event),
                    CollectionId((event % 4) as u16),
                )
                .unwrap();
            }
        }
        let before = model.mappings();
        assert_eq!(before.len(), 9, "{name}");
        its.save().unwrap();
        assert!(model.mappings().is_empty(), "{name}");
        assert!(model.valid_collections().is_empty(), "{name}");
        its.restore().unwrap();
        assert_eq!(model.mappings(), before, "{name}");
        let lpi = its
            .registry()
            .event(DeviceId(0xfff0), EventId(2))
            .unwrap()
            .intid();
        assert_eq!(
            model
                .send_msi(DeviceId(0xfff0), EventId(2))
                .map(|t| t.intid),
            Ok(lpi),
            "{name}"
        );
        assert_no_violations(&model);
    }
}

#[test]
fn unmap_device_discards_pending_lpis_before_they_are_reused() {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 2).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    its.send_int(DeviceId(0x10), EventId(0)).unwrap();
    assert_eq!(model.pending(0), vec![lpi]);
    its.unmap_device(DeviceId(0x10)).unwrap();
    // DISCARD cleared the pending state (5.3.5); MAPD V=0 alone would not.
    assert!(model.pending(0).is_empty());
    let log = model.command_log();
    let discard = log
        .iter()
        .position(|c| {
            matches!(
                c,
                ItsCommand::Discard {
                    device_id: DeviceId(0x10),
                    event_id: EventId(0)
                }
            )
        })
        .expect("DISCARD sent");
    let mapd = log
        .iter()
        .rposition(|c| {
            matches!(
                c,
                ItsCommand::Mapd {
                    device_id: DeviceId(0x10),
                    valid: false,
                    ..
                }
            )
        })
        .expect("MAPD V=0 sent");
    assert!(discard < mapd);
    assert_no_violations(&model);
}

#[test]
fn save_sends_one_mapd_v0_per_device_with_its_recorded_itt_and_mapc_v0() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 3, 2);
    let expected_mapd: Vec<ItsCommand> = its
        .registry()
        .devices()
        .map(|(device_id, record)| ItsCommand::Mapd {
            device_id,
            size: 0,
            itt_address: record.itt_address(),
            valid: false,
        })
        .collect();
    let before = model.command_log().len();
    its.save().unwrap();
    let teardown = &model.command_log()[before..];
    let mapd: Vec<ItsCommand> = teardown
        .iter()
        .filter(|c| matches!(c, ItsCommand::Mapd { .. }))
        .copied()
        .collect();
    assert_eq!(mapd, expected_mapd, "what the ITS consumed");
    let mapc_v0 = teardown
        .iter()
        .filter(|c| matches!(c, ItsCommand::Mapc { valid: false, .. }))
        .count();
    assert_eq!(mapc_v0, 4);
}

#[test]
fn dropping_the_driver_leaves_the_its_holding_nothing() {
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 2, 2);
    let use_ = its.memory_use();
    // Save gives back the level-2 page; the drop then the ITTs.
    let freed = use_.itts + (use_.device_table - 65536);
    let allocated = model.stats().bytes_allocated;
    drop(its);
    assert!(model.mappings().is_empty());
    assert!(model.valid_device_ids().is_empty());
    assert!(model.valid_collections().is_empty());
    assert_eq!(
        model.stats().bytes_allocated,
        allocated - freed,
        "ITTs and level-2 pages given back"
    );
    assert_no_violations(&model);
}

#[test]
fn a_redistributor_turned_off_by_someone_else_is_enabled_again() {
    // A boot kernel released the redistributor before jumping into this
    // kernel's image: EnableLPIs = 0, PROPBASER and PENDBASER still
    // pointing at the shared tables. Initialising it again must turn its
    // LPIs back on, not take it for one already running on them.
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    its.save().unwrap();
    its.domain().save().unwrap();
    let gicr = model.gicr(0);
    gicr.modify(GICR_CTLR, GICR_CTLR::EnableLPIs::CLEAR);
    its.domain()
        .init_redistributor(&gicr, model.config().redistributors[0])
        .unwrap();
    assert!(gicr.read(GICR_CTLR).is_set(GICR_CTLR::EnableLPIs));
    its.restore().unwrap();
    model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
    assert_eq!(model.take_pending(0), vec![lpi]);
    assert_no_violations(&model);
}

#[test]
fn after_save_the_its_names_none_of_our_memory() {
    // A saved ITS is handed to whoever comes next (a boot kernel's image,
    // Linux): neither its queue nor a table may still be described as
    // valid, or a hypervisor's or the next kernel's view of the ITS would
    // reach into memory this kernel reuses.
    let (model, mut its) = setup(ModelConfig::default());
    populate(&mut its, 4, 2);
    let frame = model.gits();
    assert!(frame.read(GITS_CBASER).is_set(GITS_CBASER::Valid));
    its.save().unwrap();
    assert!(
        !frame.read(GITS_CBASER).is_set(GITS_CBASER::Valid),
        "GITS_CBASER left Valid"
    );
    for register in GITS_BASER {
        assert!(
            !frame.read(register).is_set(GITS_BASER::Valid),
            "{register:?} left Valid"
        );
    }
    // Restore describes them again.
    its.restore().unwrap();
    assert!(frame.read(GITS_CBASER).is_set(GITS_CBASER::Valid));
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn a_failed_probe_gives_back_its_memory_and_leaves_nothing_valid() {
    let model = ItsModel::new(ModelConfig::default());
    let domain = new_domain(&model, LpiDomainConfig::default());
    // Allocations: Device table, Collection table, queue.
    for fail_after in 0..3 {
        model.fail_allocations_after(fail_after);
        let before = model.stats().bytes_allocated;
        assert!(matches!(
            gicv3_its::Its::probe(model.gits(), model.memory(), &domain, ItsConfig::default()),
            Err(ItsError::OutOfMemory { .. })
        ));
        assert_eq!(
            model.stats().bytes_allocated,
            before,
            "after {fail_after} allocations"
        );
        for register in GITS_BASER {
            let baser = model.gits().read(register);
            assert!(!baser.is_set(GITS_BASER::Valid), "{register:?} left Valid");
        }
    }
    // The LPI domain's own allocation.
    model.fail_allocations_after(0);
    assert!(matches!(
        LpiDomain::new(model.memory(), LpiDomainConfig::default()),
        Err(ItsError::OutOfMemory { .. })
    ));
    model.fail_allocations(false);
    assert_no_violations(&model);
}

#[test]
fn a_misaligned_lpi_region_is_refused() {
    let model = ItsModel::new(ModelConfig::default());
    let mut memory = model.memory();
    let region = gicv3_its::DmaMemory::allocate_zeroed(&mut memory, 4 << 20, 65536).unwrap();
    // SAFETY: a sub-range of a live model allocation, used only here.
    let shifted = unsafe {
        gicv3_its::DmaRegion::new(
            std::ptr::NonNull::new(region.virt().as_ptr().add(4096)).unwrap(),
            region.phys() + 4096,
            (4 << 20) - 4096,
        )
    };
    let refused = LpiDomain::with_region(memory, shifted, LpiDomainConfig::default())
        .err()
        .unwrap();
    assert_eq!(
        refused.error,
        ItsError::UnencodableAddress {
            phys: region.phys() + 4096
        }
    );
}
