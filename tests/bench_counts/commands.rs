//! What save and restore make the hardware do, counted: commands,
//! doorbells, completion waits, and the floor's batches.

use super::*;

#[test]
fn teardown_is_one_command_per_device_and_collection_and_one_sync_per_redistributor() {
    for (devices, events) in POINTS {
        let (model, mut its) = mapped(devices, events, its_config(Batching::Batched));
        let r = round(&model, &mut its);
        let n = u64::from(devices);
        let c = u64::from(COLLECTIONS);
        // MAPD V=0 drops a device's events with it (5.3.9): no DISCARD.
        assert_eq!(
            r.saved,
            names(&[("MAPD", n), ("MAPC", c), ("SYNC", REDISTRIBUTORS)]),
            "{devices}x{events}"
        );
        assert_eq!(
            r.save,
            Counts {
                commands: n + c + REDISTRIBUTORS,
                doorbells: 1,
                completion_waits: 1,
                polls: 1,
            },
            "{devices}x{events}"
        );
    }
}

#[test]
fn replay_invalidates_with_invall_per_collection_not_inv_per_event() {
    for (devices, events) in POINTS {
        let (model, mut its) = mapped(devices, events, its_config(Batching::Batched));
        let r = round(&model, &mut its);
        let n = u64::from(devices);
        let mappings = n * u64::from(events);
        let c = u64::from(COLLECTIONS);
        assert_eq!(
            r.restored,
            names(&[
                ("MAPC", c),
                ("MAPD", n),
                ("MAPTI", mappings),
                ("INVALL", c),
                ("SYNC", REDISTRIBUTORS),
            ]),
            "{devices}x{events}: no INV"
        );
        assert_eq!(r.restore.commands, 2 * c + n + mappings + REDISTRIBUTORS);
        assert_eq!(r.restore.completion_waits, 1, "{devices}x{events}");
    }
}

#[test]
fn doorbells_are_one_per_full_queue_plus_one_per_completion_point() {
    // The default queue, and a 128-slot one that wraps many times.
    for queue_bytes in [64 * 1024, 4096] {
        let slots = (queue_bytes / 32) as u64;
        for (devices, events) in POINTS {
            let config = ItsConfig {
                queue_bytes,
                ..its_config(Batching::Batched)
            };
            let (model, mut its) = mapped(devices, events, config);
            let r = round(&model, &mut its);
            for (op, counts) in [("save", r.save), ("restore", r.restore)] {
                let bound = counts.commands.div_ceil(slots - 1) + 1;
                assert!(
                    counts.doorbells <= bound,
                    "{devices}x{events} {op}, {slots} slots: {} doorbells > {bound}",
                    counts.doorbells
                );
                // The model (like QEMU) consumes inside the CWRITER write:
                // every wait, for room or for completion, is one CREADR read.
                assert_eq!(counts.polls, counts.doorbells, "{devices}x{events} {op}");
            }
            assert_eq!(r.model_polls, r.save.polls + r.restore.polls);
        }
    }
}

#[test]
fn one_at_a_time_rings_and_waits_once_per_command() {
    for (devices, events) in [(1, 1), (16, 8), (256, 32)] {
        let (model, mut its) = mapped(devices, events, its_config(Batching::OneAtATime));
        let r = round(&model, &mut its);
        for (op, counts) in [("save", r.save), ("restore", r.restore)] {
            assert_eq!(counts.doorbells, counts.commands, "{devices}x{events} {op}");
            assert_eq!(counts.polls, counts.commands, "{devices}x{events} {op}");
            // One wait per command, and the operation's final one, which
            // finds nothing left to publish.
            assert_eq!(
                counts.completion_waits,
                counts.commands + 1,
                "{devices}x{events} {op}"
            );
        }
        // The same commands as batched.
        let (batched_model, mut batched) = mapped(devices, events, its_config(Batching::Batched));
        let b = round(&batched_model, &mut batched);
        assert_eq!(
            (r.saved, r.restored),
            (b.saved, b.restored),
            "{devices}x{events}"
        );
    }
}

#[test]
fn save_and_restore_grow_linearly_with_the_mappings() {
    // Per added device, exactly the same number of commands, doorbells only
    // as the queue fills, and one CREADR read per doorbell: the work per
    // mapping does not grow with the number of mappings.
    let events = 32;
    let model = ItsModel::new(model_config());
    let mut its = probe(&model, its_config(Batching::Batched));
    let mut have = 0;
    let mut last: Option<(u32, Round)> = None;
    for devices in [64, 128, 256, 512, 1024] {
        workload::map_devices(&mut its, have, devices, events).expect("map devices");
        workload::map_events(&mut its, have, devices, events).expect("map events");
        have = devices;
        let r = round(&model, &mut its);
        let fixed = 2 * u64::from(COLLECTIONS) + REDISTRIBUTORS;
        assert_eq!(
            r.restore.commands - fixed,
            u64::from(devices) * (1 + u64::from(events))
        );
        assert_eq!(
            r.save.commands - u64::from(COLLECTIONS) - REDISTRIBUTORS,
            u64::from(devices)
        );
        assert_eq!(
            r.restore.doorbells,
            r.restore.commands.div_ceil(SLOTS - 1),
            "{devices} devices"
        );
        assert_eq!(r.restore.polls, r.restore.doorbells);
        if let Some((before, previous)) = last {
            let added = u64::from(devices - before);
            assert_eq!(
                (r.restore.commands - previous.restore.commands) / added,
                1 + u64::from(events)
            );
            assert_eq!((r.save.commands - previous.save.commands) / added, 1);
        }
        last = Some((devices, r));
    }
}

#[test]
fn the_floor_sends_the_drivers_commands_in_full_queue_batches() {
    // The floor's command lists are the driver's, command for command, and
    // it rings once per full queue.
    let (devices, events) = (256, 32);
    let (model, mut its) = mapped(devices, events, its_config(Batching::Batched));
    let r = round(&model, &mut its);

    let floor_model = ItsModel::new(model_config());
    let floor_its = probe(&floor_model, its_config(Batching::Batched));
    let mut memory = Uncounted(floor_model.memory());
    let mut floor = workload::Floor::install(
        Uncounted(floor_model.gits()),
        &mut memory,
        workload::QUEUE_BYTES,
        1000,
    )
    .expect("floor");
    let itt_bytes = floor_its.itt_bytes(events).expect("ITT size");
    let mut plan = workload::FloorPlan::new(
        &mut memory,
        itt_bytes,
        devices,
        events,
        floor.slots() - 1,
        |icid| floor_model.rdbase(usize::from(icid.0) % REDISTRIBUTORS as usize),
    )
    .expect("plan");
    let before = floor_model.stats().commands;
    let [save, restore] =
        workload::time_floor(&mut floor, &mut plan, &memory, 2, &|| 0).expect("floor runs");
    let after = floor_model.stats().commands;
    assert!(
        floor_model.violations().is_empty(),
        "{:?}",
        floor_model.violations()
    );
    assert_eq!(save.0.commands, r.save.commands);
    assert_eq!(restore.0.commands, r.restore.commands);
    assert_eq!(restore.0.doorbells, restore.0.commands.div_ceil(SLOTS - 1));
    assert_eq!(restore.0.polls, restore.0.doorbells);
    // Two rounds of the driver's commands, by name.
    let mut expected = BTreeMap::new();
    for (&name, &count) in r.saved.iter().chain(&r.restored) {
        *expected.entry(name).or_insert(0) += 2 * count;
    }
    for (name, count) in expected {
        assert_eq!(processed(&before, &after, name), count, "{name}");
    }
    // Nothing stays mapped after the floor's save.
    assert!(floor_model.mappings().is_empty());
    plan.release(&mut memory);
}

#[test]
fn batching_can_be_switched_between_operations() {
    // One driver, both ways in turn: what the benchmark does on a target
    // with a single ITS, so that the two modes are timed side by side.
    let (model, mut its) = mapped(16, 8, its_config(Batching::Batched));
    let batched = round(&model, &mut its);
    its.set_batching(Batching::OneAtATime);
    let one_at_a_time = round(&model, &mut its);
    its.set_batching(Batching::Batched);
    let again = round(&model, &mut its);
    assert_eq!(batched.restore.doorbells, 1);
    assert_eq!(
        one_at_a_time.restore.doorbells,
        one_at_a_time.restore.commands
    );
    assert_eq!(one_at_a_time.restore.commands, batched.restore.commands);
    assert_eq!(again.restore, batched.restore);
    assert_eq!(again.save, batched.save);
}
