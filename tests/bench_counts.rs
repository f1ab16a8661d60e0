//! The deterministic half of the save/restore benchmark as ordinary tests
//! on the ITS model, so that a regression in what save and restore make the
//! hardware do fails CI: commands, doorbells, completion waits and polls,
//! how they grow, the registry's heap and the table memory. No timing.
//!
//! The workload (fake DeviceIDs from 0x100, four collections on four
//! redistributors, the floor's command lists) is the benchmark's own,
//! `crates/bench-workload`.

extern crate alloc;

#[path = "../benches/support/heap.rs"]
mod heap;
use bench_workload as workload;

use gicv3_its::{
    Batching, Its, ItsConfig, LpiDomain, LpiDomainConfig, ProcessorNumber, QueueStats,
};
use gicv3_its_model::{ItsModel, ModelConfig, ModelGits, ModelMemory, PageSizes};
use heap::{CountingAllocator, Uncounted};
use std::collections::BTreeMap;
use workload::{COLLECTIONS, Counts, FLAT_DEVICE_TABLE_BYTES, Geometry, TableBytes};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

type BenchIts = Its<Uncounted<ModelGits>, Uncounted<ModelMemory>>;

/// The model's redistributors: one collection on each.
const REDISTRIBUTORS: u64 = 4;
/// Slots of the driver's default queue.
const SLOTS: u64 = 2048;

fn model_config() -> ModelConfig {
    ModelConfig {
        redistributors: (0..REDISTRIBUTORS)
            .map(|i| 0x080a_0000 + i * 0x2_0000)
            .collect(),
        ..ModelConfig::default()
    }
}

fn its_config(batching: Batching) -> ItsConfig {
    ItsConfig {
        batching,
        // A flat Device table, as the floor writes its commands against the
        // tables the driver left, and save gives level-2 pages back.
        max_flat_device_table_bytes: FLAT_DEVICE_TABLE_BYTES,
        ..ItsConfig::default()
    }
}

/// LPI tables for the model's redistributors, at 16 LPI bits.
fn domain_config() -> LpiDomainConfig {
    LpiDomainConfig {
        ..LpiDomainConfig::default()
    }
}

/// A driver on `model` with its redistributors and collections set up.
fn probe(model: &ItsModel, config: ItsConfig) -> BenchIts {
    probe_with(model, config, domain_config())
}

fn probe_with(model: &ItsModel, config: ItsConfig, domain_config: LpiDomainConfig) -> BenchIts {
    let domain = LpiDomain::new(Uncounted(model.memory()), domain_config).expect("LPI domain");
    for (index, &rd_base) in model.config().redistributors.iter().enumerate() {
        domain
            .init_redistributor(&Uncounted(model.gicr(index)), rd_base)
            .expect("init redistributor");
    }
    let mut its = Its::probe(
        Uncounted(model.gits()),
        Uncounted(model.memory()),
        &domain,
        config,
    )
    .expect("probe");
    workload::map_collections(&mut its, |icid| {
        ProcessorNumber(icid.0 % REDISTRIBUTORS as u16)
    })
    .expect("collections");
    its
}

/// A model and a driver with `devices` x `events` mapped.
fn mapped(devices: u32, events: u32, config: ItsConfig) -> (ItsModel, BenchIts) {
    mapped_with(devices, events, config, domain_config())
}

fn mapped_with(
    devices: u32,
    events: u32,
    config: ItsConfig,
    domain_config: LpiDomainConfig,
) -> (ItsModel, BenchIts) {
    let model = ItsModel::new(model_config());
    let mut its = probe_with(&model, config, domain_config);
    workload::map_devices(&mut its, 0, devices, events).expect("map devices");
    workload::map_events(&mut its, 0, devices, events).expect("map events");
    (model, its)
}

/// What the model processed, by command name, and its CREADR reads.
fn model_counts(model: &ItsModel) -> (BTreeMap<&'static str, u64>, u64) {
    let stats = model.stats();
    (stats.commands, stats.polls)
}

/// Commands by name processed between two snapshots.
fn processed(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
    name: &str,
) -> u64 {
    after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
}

/// One save and one restore: their counts, and the commands the model saw
/// in each, by name.
struct Round {
    save: Counts,
    restore: Counts,
    saved: BTreeMap<&'static str, u64>,
    restored: BTreeMap<&'static str, u64>,
    /// CREADR reads the model saw in save and restore together.
    model_polls: u64,
}

fn round(model: &ItsModel, its: &mut BenchIts) -> Round {
    let count = |before: QueueStats, after: QueueStats| Counts::between(before, after);
    let (m0, p0) = model_counts(model);
    let s0 = its.queue_stats();
    its.save().expect("save");
    let (m1, _) = model_counts(model);
    let s1 = its.queue_stats();
    let _ = its.restore().expect("restore");
    let (m2, p2) = model_counts(model);
    let s2 = its.queue_stats();
    let by_name = |before: &BTreeMap<_, _>, after: &BTreeMap<_, _>| {
        after
            .keys()
            .map(|&name| (name, processed(before, after, name)))
            .filter(|&(_, n)| n > 0)
            .collect()
    };
    assert!(model.violations().is_empty(), "{:?}", model.violations());
    Round {
        save: count(s0, s1),
        restore: count(s1, s2),
        saved: by_name(&m0, &m1),
        restored: by_name(&m1, &m2),
        model_polls: p2 - p0,
    }
}

fn names(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().filter(|&(_, n)| n > 0).collect()
}

const POINTS: [(u32, u32); 6] = [(1, 1), (16, 8), (256, 1), (256, 32), (1024, 8), (1024, 32)];

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

/// Heap the driver's mapping calls add, measured by counting allocations
/// (the model's own are left out): (after map_device, after map_event).
fn registry_growth(devices: u32, events: u32) -> (isize, isize, BenchIts, ItsModel) {
    let model = ItsModel::new(model_config());
    let mut its = probe(&model, its_config(Batching::Batched));
    let before = heap::live();
    workload::map_devices(&mut its, 0, devices, events).expect("map devices");
    let after_devices = heap::live();
    workload::map_events(&mut its, 0, devices, events).expect("map events");
    let after_events = heap::live();
    (
        after_devices - before,
        after_events - after_devices,
        its,
        model,
    )
}

#[test]
fn registry_overhead_per_device_and_per_event() {
    for (devices, events) in [(256, 1), (1024, 1), (256, 32), (1024, 32)] {
        let (by_devices, by_events, its, _model) = registry_growth(devices, events);
        let n = devices as usize;
        let mappings = n * events as usize;
        // The driver's own accounting meets the budget: 16 bytes per
        // event and 64 per device.
        let estimate = its.memory_use().registry;
        let collections = usize::from(COLLECTIONS) * 16;
        assert!(
            estimate - collections <= 16 * mappings + 64 * n,
            "{devices}x{events}: estimated {estimate}"
        );
        // Measured: mapping an event allocates nothing (its slot came with
        // the device), and a slot is 8 bytes.
        assert_eq!(by_events, 0, "{devices}x{events}");
        let measured = by_devices as usize;
        // The device records sit in one sorted list, 48 bytes each with at
        // most a quarter spare: within the 64 bytes per device.
        assert!(
            measured <= 64 * n + 8 * mappings,
            "{devices}x{events}: {measured} bytes of heap"
        );
    }
    // Per event slot, from the difference between 32 and 1 events.
    let (one, _, _, _) = registry_growth(1024, 1);
    let (many, _, _, _) = registry_growth(1024, 32);
    assert_eq!((many - one) as usize, 1024 * 31 * 8);
}

/// The registry's own estimate of its heap (`MemoryUse::registry`).
fn estimate(its: &BenchIts) -> isize {
    its.memory_use().registry as isize
}

#[test]
fn the_registry_reports_its_heap_exactly_and_grows_and_shrinks_in_bounded_steps() {
    let model = ItsModel::new(model_config());
    let mut its = probe(&model, its_config(Batching::Batched));
    let (heap_before, estimate_before) = (heap::live(), estimate(&its));
    let check = |its: &BenchIts, what: &str| {
        // The estimate is the heap the driver really holds.
        let held = heap::live() - heap_before;
        assert_eq!(estimate(its) - estimate_before, held, "{what}");
        held
    };

    // Growing: never more than 64 bytes per device (a record is 48, with at
    // most a quarter spare), and a number of reallocations of the device
    // list that grows with the logarithm of the devices, not with them. A
    // map adds 8 bytes (one event slot) unless the list grew.
    let mut growths = 0;
    for index in 0..1024 {
        let before = estimate(&its);
        workload::map_devices(&mut its, index, index + 1, 1).unwrap();
        let held = check(&its, "after a map");
        let slots = 8 * (index as isize + 1);
        assert!(
            held - slots <= 64 * (index as isize + 1),
            "{} devices: {held}",
            index + 1
        );
        growths += usize::from(estimate(&its) - before != 8);
    }
    assert!(growths <= 40, "{growths} reallocations of the device list");

    // Shrinking: at most twice the records of the devices left, again in a
    // logarithmic number of steps, and with room to spare after each step,
    // so that mapping a device again does not reallocate at once.
    let mut shrinks = 0;
    for index in (100..1024).rev() {
        let before = estimate(&its);
        its.unmap_device(gicv3_its::DeviceId(workload::FIRST_DEVICE_ID + index))
            .unwrap();
        let held = check(&its, "after an unmap");
        let left = index as isize;
        assert!(held - 8 * left <= 2 * 48 * left, "{left} devices: {held}");
        if before - estimate(&its) > 8 {
            shrinks += 1;
            let list = estimate(&its);
            workload::map_devices(&mut its, index, index + 1, 1).unwrap();
            assert_eq!(estimate(&its), list + 8, "spare room after a shrink");
            its.unmap_device(gicv3_its::DeviceId(workload::FIRST_DEVICE_ID + index))
                .unwrap();
        }
    }
    assert!(
        (1..=20).contains(&shrinks),
        "{shrinks} reallocations to unmap"
    );
}

#[test]
fn a_full_heap_is_a_typed_error_that_changes_nothing() {
    let model = ItsModel::new(model_config());
    let mut its = probe(&model, its_config(Batching::Batched));
    let mut growth_refused = 0;
    for index in 0..200u32 {
        let device = gicv3_its::DeviceId(workload::FIRST_DEVICE_ID + index);
        let mapped = index as usize;
        // The first allocation is the event slots (8 bytes for one event),
        // the second, if the device list is full, its growth by a quarter.
        for (fail_after, size) in [(0, 8), (1, (mapped / 4).max(1) * 48)] {
            let dtes = heap::uncounted(|| model.valid_device_ids());
            let held = heap::live();
            heap::fail_after(Some(fail_after));
            let result = its.map_device(device, 1);
            heap::fail_after(None);
            match result {
                Err(gicv3_its::ItsError::OutOfMemory { size: reported }) => {
                    assert_eq!(reported, size, "{mapped} devices mapped");
                    growth_refused += usize::from(fail_after == 1);
                }
                // Only the second failure can miss: the list had room.
                Ok(()) if fail_after == 1 => {
                    its.unmap_device(device).unwrap();
                }
                other => panic!("{mapped} devices, fail after {fail_after}: {other:?}"),
            }
            assert_eq!(heap::live(), held, "nothing kept of a refused map");
            let now = heap::uncounted(|| model.valid_device_ids());
            assert_eq!(now, dtes, "the ITS unchanged");
        }
        its.map_device(device, 1).unwrap();
    }
    assert!(growth_refused >= 10, "{growth_refused}");
}

#[test]
fn table_memory_is_the_architectural_minimum() {
    // 64 KiB pages (the driver's first choice), DeviceID bits covering the
    // benchmark's DeviceIDs (0x100..0x500 fit in one page of DTEs).
    for (devices, events) in POINTS {
        let lpi_id_bits = (8192 + u64::from(devices * events))
            .next_power_of_two()
            .ilog2()
            .max(14);
        let config = ItsConfig {
            device_id_bits: 13,
            ..its_config(Batching::Batched)
        };
        let lpis = LpiDomainConfig {
            id_bits: lpi_id_bits,
            ..domain_config()
        };
        let (model, its) = mapped_with(devices, events, config, lpis);
        let geometry = Geometry::read(&model.gits(), its.features());
        assert_eq!(geometry.page_size, 65536);
        let driver = TableBytes::of(its.memory_use());
        let minimum = TableBytes::minimum(geometry, devices, events, REDISTRIBUTORS as usize);
        assert_eq!(
            driver.device_table, minimum.device_table,
            "{devices}x{events}"
        );
        assert_eq!(
            driver.collection_table, minimum.collection_table,
            "{devices}x{events}"
        );
        assert_eq!(driver.itts, minimum.itts, "{devices}x{events}");
        // The LPI tables: the property table and one pending table per
        // redistributor, each allocated on its own (a pending table 64 KiB
        // aligned, as PENDBASER holds address bits [51:16]: padding the
        // allocator may use for something else).
        let property = (1usize << lpi_id_bits) - 8192;
        let pending = (1usize << lpi_id_bits) / 8;
        assert_eq!(
            minimum.lpi_tables,
            property + REDISTRIBUTORS as usize * pending
        );
        assert_eq!(driver.lpi_tables, minimum.lpi_tables, "{devices}x{events}");
    }
    // 4 KiB pages: 256 devices' DTEs (0x100..0x200) fit in one 4 KiB page.
    let model = ItsModel::new(ModelConfig {
        page_sizes: PageSizes {
            size_4k: true,
            size_16k: false,
            size_64k: false,
        },
        ..model_config()
    });
    let mut its = probe(
        &model,
        ItsConfig {
            device_id_bits: 9,
            ..its_config(Batching::Batched)
        },
    );
    workload::map_devices(&mut its, 0, 256, 8).expect("map devices");
    workload::map_events(&mut its, 0, 256, 8).expect("map events");
    let geometry = Geometry::read(&model.gits(), its.features());
    assert_eq!(geometry.page_size, 4096);
    let driver = TableBytes::of(its.memory_use());
    let minimum = TableBytes::minimum(geometry, 256, 8, REDISTRIBUTORS as usize);
    assert_eq!(driver.device_table, minimum.device_table);
    assert_eq!(driver.collection_table, minimum.collection_table);
    assert_eq!(driver.itts, minimum.itts);
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
fn restore_streams_its_commands_so_its_heap_does_not_grow_with_the_mappings() {
    // A kernel resuming from hibernation may have little heap free (the
    // example's heap hands out at most 1 MiB at a time), so restore builds
    // no list of its commands: it writes them to the ring as it walks the
    // registry. What it does allocate (the collections to map and the SYNC
    // targets) depends on the collections alone, so 64 times the devices
    // and 4 times the events cost not one byte more.
    let transient_heap = |devices, events| {
        let (model, mut its) = mapped(devices, events, its_config(Batching::Batched));
        its.save().expect("save");
        let before = heap::live();
        heap::reset_peak();
        let restored = its.restore().expect("restore");
        assert_eq!(restored.devices, devices as usize);
        assert!(model.violations().is_empty());
        heap::peak() - before
    };
    let small = transient_heap(16, 8);
    let large = transient_heap(1024, 32);
    assert_eq!(small, large, "restore's transient heap (bytes)");
    // And it is small: the collections' commands, not the mappings'.
    let per_collection = 4 * core::mem::size_of::<gicv3_its::ItsCommand>();
    assert!(
        (small as usize) <= usize::from(COLLECTIONS) * per_collection,
        "{small} bytes for {COLLECTIONS} collections"
    );
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
