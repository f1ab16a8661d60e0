//! The command queue under pressure: wrapping, batching, a full ring, an
//! ITS that stops consuming or stalls.

use crate::support::*;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{CollectionId, DeviceId, EventId};
use gicv3_its::{ItsCommand, ItsConfig, ItsError, ItsState, WaitFor};
use gicv3_its_model::{Coherency, Consumption, ModelConfig};

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
    let _ = its.restore().unwrap();
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
    let _ = its.restore().unwrap();
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

/// The ITT of a MAPD the ITS stalled on is kept from everyone until the
/// ITS can refer to it no more: a save (which disables the ITS) gives it
/// back as `recover` does, so that a second failed MAPD after a save and a
/// restore loses neither.
#[test]
fn the_itt_of_a_stalled_mapd_goes_back_at_the_save_that_follows() {
    let (model, mut its) = setup(ModelConfig::default());
    let before = model.live_allocations().len();
    for device in [0x31, 0x32] {
        let processed = model.command_log().len() as u64;
        model.reconfigure(|c| c.stall_on_command = Some(processed + 1));
        assert!(matches!(
            its.map_device(DeviceId(device), 2),
            Err(ItsError::CommandStalled { .. })
        ));
        assert_eq!(its.state(), ItsState::NeedsRecovery);
        // Its ITT (and the Device table's level-2 page for it) kept while
        // the ITS may use them.
        assert!(model.live_allocations().len() > before);
        model.reconfigure(|c| c.stall_on_command = None);
        its.save().unwrap();
        assert_eq!(
            model.live_allocations().len(),
            before,
            "given back by the save"
        );
        assert_eq!(its.restore().unwrap().deferred_collections, 0);
        assert_eq!(its.state(), ItsState::Active);
    }
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}
