//! The memory save and restore need: the registry's heap, the tables'
//! architectural minimum, and the heap save, restore and the event calls do
//! not need.

use super::*;

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
        let collections = usize::from(COLLECTIONS) * 24;
        assert!(
            estimate - collections <= 16 * mappings + 64 * n,
            "{devices}x{events}: estimated {estimate}"
        );
        // Measured: mapping an event allocates nothing (its slot came with
        // the device).
        assert_eq!(by_events, 0, "{devices}x{events}");
        let measured = by_devices as usize;
        // The device records sit in one sorted list, 48 bytes each, and the
        // event slots in one pool, 8 bytes each, both with at most a
        // quarter spare: within the 64 bytes per device and 10 per
        // event.
        assert!(
            measured <= 60 * n + 10 * mappings,
            "{devices}x{events}: {measured} bytes of heap"
        );
        assert!(
            measured >= 48 * n + 8 * mappings,
            "{devices}x{events}: {measured} bytes of heap is less than the records"
        );
    }
    // Per event slot, from the difference between 32 and 1 events: 8
    // bytes, with at most a quarter spare.
    let (one, _, _, _) = registry_growth(1024, 1);
    let (many, _, _, _) = registry_growth(1024, 32);
    let per_slot = (many - one) as f64 / (1024.0 * 31.0);
    assert!((8.0..=10.0).contains(&per_slot), "{per_slot} bytes a slot");
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

    // Growing: never more than 60 bytes per device (a record is 48, with at
    // most a quarter spare) and 10 per event slot (8), and a number of
    // reallocations of the device list and the event pool that grows with
    // the logarithm of the devices, not with them.
    let mut growths = 0;
    for index in 0..1024 {
        let before = estimate(&its);
        workload::map_devices(&mut its, index, index + 1, 1).unwrap();
        let held = check(&its, "after a map");
        let mapped = index as isize + 1;
        assert!(held <= 70 * mapped, "{mapped} devices: {held}");
        growths += usize::from(estimate(&its) != before);
    }
    assert!(
        (2..=80).contains(&growths),
        "{growths} reallocations of the device list and the event pool"
    );

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
        assert!(held <= 2 * (48 + 8) * left, "{left} devices: {held}");
        if estimate(&its) != before {
            assert!(estimate(&its) < before, "an unmap only shrinks");
            shrinks += 1;
            let shrunk = estimate(&its);
            workload::map_devices(&mut its, index, index + 1, 1).unwrap();
            assert_eq!(estimate(&its), shrunk, "spare room after a shrink");
            its.unmap_device(gicv3_its::DeviceId(workload::FIRST_DEVICE_ID + index))
                .unwrap();
        }
    }
    assert!(
        (2..=40).contains(&shrinks),
        "{shrinks} reallocations to unmap"
    );
}

#[test]
fn a_full_heap_is_a_typed_error_that_changes_nothing() {
    let model = ItsModel::new(model_config());
    let mut its = probe(&model, its_config(Batching::Batched));
    let (mut pool_refused, mut list_refused) = (0, 0);
    for index in 0..200u32 {
        let device = gicv3_its::DeviceId(workload::FIRST_DEVICE_ID + index);
        let mapped = index as usize;
        // The heap is asked first for the event pool's growth, if it is
        // full, then for the device list's: each by a quarter (at least
        // one). Refusing the first or the second allocation refuses one of
        // them, or none if neither had to grow.
        let pool_growth = (mapped / 4).max(1) * 8;
        let list_growth = (mapped / 4).max(1) * 48;
        for fail_after in [0, 1] {
            let dtes = heap::uncounted(|| model.valid_device_ids());
            let (estimate_before, heap_before) = (estimate(&its), heap::live());
            heap::fail_after(Some(fail_after));
            let result = its.map_device(device, 1);
            heap::fail_after(None);
            match result {
                Err(gicv3_its::ItsError::OutOfMemory { size }) if size == pool_growth => {
                    pool_refused += 1;
                }
                Err(gicv3_its::ItsError::OutOfMemory { size }) if size == list_growth => {
                    list_refused += 1;
                }
                Ok(()) => {
                    its.unmap_device(device).unwrap();
                    continue;
                }
                other => panic!("{mapped} devices, fail after {fail_after}: {other:?}"),
            }
            // Refused: the device is not recorded, the ITS holds nothing of
            // it, and what the heap holds is what the registry reports
            // (spare room the pool gained before the list was refused
            // included).
            assert!(its.registry().device(device).is_none());
            let now = heap::uncounted(|| model.valid_device_ids());
            assert_eq!(now, dtes, "the ITS unchanged");
            assert_eq!(
                estimate(&its) - estimate_before,
                heap::live() - heap_before,
                "{mapped} devices mapped"
            );
        }
        its.map_device(device, 1).unwrap();
    }
    assert!(pool_refused >= 10, "{pool_refused}");
    assert!(list_refused >= 10, "{list_refused}");
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
fn restore_needs_no_heap() {
    // A kernel resuming from hibernation may have little heap free (the
    // example's heap hands out at most 1 MiB at a time), so restore builds
    // no list, of commands, collections or redistributors: it writes the
    // commands to the ring as it walks the registry, whatever is mapped.
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
    assert_eq!((small, large), (0, 0), "restore's transient heap (bytes)");
}

#[test]
fn save_needs_no_heap() {
    // The same for the save hooks: a handover's save sends a DISCARD per
    // event, and builds no list of them either.
    for handover in [false, true] {
        let transient_heap = |devices, events| {
            let (model, mut its) = mapped(devices, events, its_config(Batching::Batched));
            let before = heap::live();
            heap::reset_peak();
            if handover {
                its.save_for_handover().expect("save for handover");
            } else {
                its.save().expect("save");
            }
            assert!(model.violations().is_empty());
            heap::peak() - before
        };
        assert_eq!(
            (transient_heap(16, 8), transient_heap(1024, 32)),
            (0, 0),
            "the transient heap of save (handover: {handover})"
        );
    }
}

#[test]
fn unmapping_and_configuring_build_no_list_of_events() {
    // Per device and per batch of events: what these allocate for a moment
    // does not grow with the events (a device of 2048 MSI-X vectors, a
    // batch of all of them).
    let transient_heap = |events: u32| {
        let (model, mut its) = mapped(2, events, its_config(Batching::Batched));
        let device = gicv3_its::DeviceId(workload::FIRST_DEVICE_ID);
        let batch: Vec<(gicv3_its::DeviceId, gicv3_its::EventId)> = (0..events)
            .map(|event| (device, gicv3_its::EventId(event)))
            .collect();
        let before = heap::live();
        heap::reset_peak();
        its.configure_events(&batch, 0xa0, true).expect("configure");
        let configuring = heap::peak() - before;
        heap::reset_peak();
        let before = heap::live();
        its.unmap_device(device).expect("unmap");
        let unmapping = heap::peak() - before;
        assert!(model.violations().is_empty());
        (configuring, unmapping)
    };
    assert_eq!(transient_heap(8), transient_heap(2048));
}

/// The first initialisation of a redistributor records it, its pending
/// table and the region that holds the table: a heap that refuses any of
/// the three refuses the initialisation before anything changes (no
/// pending table allocated, the redistributor not ready).
#[test]
fn a_heap_that_refuses_a_redistributor_record_changes_nothing() {
    let mut outcomes = Vec::new();
    for fail_after in 0..4 {
        let model = ItsModel::new(model_config());
        let domain = LpiDomain::new(Uncounted(model.memory()), domain_config()).unwrap();
        let allocations = heap::uncounted(|| model.live_allocations());
        let rd_base = model.config().redistributors[0];
        heap::fail_after(Some(fail_after));
        let result = domain.init_redistributor(&Uncounted(model.gicr(0)), rd_base);
        heap::fail_after(None);
        if result.is_err() {
            let now = heap::uncounted(|| model.live_allocations());
            assert_eq!(
                now, allocations,
                "fail after {fail_after}: no pending table"
            );
            assert!(
                domain
                    .redistributor(gicv3_its::ProcessorNumber(0))
                    .is_none()
            );
        }
        outcomes.push(result.map(|_| ()));
    }
    let refused = Err(gicv3_its::ItsError::OutOfMemory { size: 0 });
    let sizes: Vec<_> = outcomes
        .iter()
        .map(|outcome| match outcome {
            Err(gicv3_its::ItsError::OutOfMemory { .. }) => refused,
            other => *other,
        })
        .collect();
    // The redistributor's record, its pending table's, its region's.
    assert_eq!(sizes, [refused, refused, refused, Ok(())]);
}

/// A domain and an ITS in storage of the caller's use no heap at all, for
/// their records or anything else, from the domain's creation to a save
/// and a restore.
#[test]
fn drivers_in_storage_use_no_heap() {
    use gicv3_its::{DomainStorage, ItsStorage, lpi_bitmap_words};
    type Storage = DomainStorage<Uncounted<ModelMemory>, 8, 2, { lpi_bitmap_words(16) }>;
    let model = ItsModel::new(model_config());
    let (domain_storage, its_storage) = heap::uncounted(|| {
        let domain: &'static Storage = Box::leak(Box::new(DomainStorage::new()));
        let its: &'static ItsStorage<64, 1024, 8, 4> = Box::leak(Box::new(ItsStorage::new()));
        (domain, its)
    });
    let before = heap::live();
    let domain =
        LpiDomain::new_in(domain_storage, Uncounted(model.memory()), domain_config()).unwrap();
    for (index, &rd_base) in model.config().redistributors.iter().enumerate() {
        domain
            .init_redistributor(&Uncounted(model.gicr(index)), rd_base)
            .unwrap();
    }
    let config = its_config(Batching::Batched);
    let mut its = Its::probe_sharing(Uncounted(model.gits()), &domain, config).unwrap();
    its.use_storage(its_storage).unwrap();
    for cpu in 0..COLLECTIONS {
        its.map_collection(gicv3_its::CollectionId(cpu), ProcessorNumber(cpu))
            .unwrap();
    }
    workload::map_devices(&mut its, 0, 32, 8).unwrap();
    workload::map_events(&mut its, 0, 32, 8).unwrap();
    its.save().unwrap();
    domain.save().unwrap();
    for (index, &rd_base) in model.config().redistributors.iter().enumerate() {
        domain
            .init_redistributor(&Uncounted(model.gicr(index)), rd_base)
            .unwrap();
    }
    let restored = its.restore().unwrap();
    assert_eq!((restored.devices, restored.events), (32, 256));
    assert_eq!(heap::live(), before, "heap held by drivers in storage");
    assert_eq!(its.memory_use().registry, 0);
    assert!(heap::uncounted(|| model.violations()).is_empty());
}
