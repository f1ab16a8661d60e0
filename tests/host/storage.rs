//! The driver's bookkeeping in storage the caller gives (`ItsStorage`,
//! `DomainStorage`), the only way without the `alloc` feature: a full store
//! refuses with `StorageFull` and changes nothing, save and restore need no
//! room, and a storage serves one driver.

use crate::support::room;
use crate::support::{
    ModelIts, assert_model_matches_registry, assert_no_violations, init_redistributors,
    processor_numbers,
};
use gicv3_its::{
    Bookkeeping, CollectionId, DeviceId, DomainStorage, EventId, Its, ItsConfig, ItsError,
    ItsStorage, LpiDomain, LpiDomainConfig, ProcessorNumber, lpi_bitmap_words,
};
use gicv3_its_model::{ItsModel, ModelConfig, ModelMemory};

fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

fn full(store: Bookkeeping, capacity: usize) -> Result<(), ItsError> {
    Err(ItsError::StorageFull { store, capacity })
}

/// A model with its four redistributors initialised, and an ITS probed on
/// it (with no room of its own yet without `alloc`).
fn bare_its(model: &ItsModel) -> ModelIts {
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    init_redistributors(model, &domain);
    Its::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap()
}

#[test]
fn a_full_store_refuses_a_map_and_changes_nothing() {
    let model = ItsModel::new(ModelConfig::default());
    let mut its = bare_its(&model);
    // Two devices, eight event slots between them, four collections.
    its.use_storage(leak(ItsStorage::<2, 8, 4, 1>::new()))
        .unwrap();
    let cpus: Vec<ProcessorNumber> = processor_numbers(&model).collect();
    for (icid, cpu) in cpus.iter().enumerate() {
        its.map_collection(CollectionId(icid as u16), *cpu).unwrap();
    }
    its.map_device(DeviceId(1), 4).unwrap();
    its.map_device(DeviceId(2), 2).unwrap();
    for (device, events) in [(1, 4), (2, 2)] {
        for event in 0..events {
            its.map_event(
                DeviceId(device),
                EventId(event),
                CollectionId(event as u16 % 4),
            )
            .unwrap();
        }
    }
    let itts = its.memory_use().itts;
    let refused = |its: &mut ModelIts, result: Result<(), ItsError>, wanted| {
        assert_eq!(result, wanted);
        assert_eq!(its.memory_use().itts, itts, "the ITT given back");
        assert_eq!(model.valid_device_ids(), [DeviceId(1), DeviceId(2)]);
        assert_model_matches_registry(&model, its);
        assert_no_violations(&model);
    };
    // Six slots in use: three more are refused.
    let result = its.map_device(DeviceId(3), 3);
    refused(&mut its, result, full(Bookkeeping::Events, 8));
    its.unmap_device(DeviceId(2)).unwrap();
    its.map_device(DeviceId(3), 2).unwrap();
    // Room for its event, none for a third device.
    let result = its.map_device(DeviceId(4), 1);
    assert_eq!(result, full(Bookkeeping::Devices, 2));
    assert!(its.registry().device(DeviceId(4)).is_none());
    // The events of the device mapped into the room freed: its own.
    its.map_event(DeviceId(3), EventId(1), CollectionId(1))
        .unwrap();
    assert_eq!(its.registry().device(DeviceId(3)).unwrap().event_count(), 2);
    assert_eq!(
        its.registry()
            .event(DeviceId(1), EventId(3))
            .unwrap()
            .icid(),
        CollectionId(3),
        "the first device's events kept their slots"
    );
    assert_model_matches_registry(&model, &its);

    // Save and restore need no room: everything comes back.
    its.save().unwrap();
    assert!(model.valid_device_ids().is_empty());
    for (index, rd_base) in model.config().redistributors.iter().enumerate() {
        its.domain()
            .init_redistributor(&model.gicr(index), *rd_base)
            .unwrap();
    }
    let restored = its.restore().unwrap();
    assert_eq!((restored.devices, restored.collections), (2, 4));
    assert_eq!(model.valid_device_ids(), [DeviceId(1), DeviceId(3)]);
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

#[test]
fn a_full_collection_list_refuses_the_mapc() {
    let model = ItsModel::new(ModelConfig::default());
    let mut its = bare_its(&model);
    its.use_storage(leak(ItsStorage::<1, 1, 1, 1>::new()))
        .unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    let commands = model.command_log().len();
    assert_eq!(
        its.map_collection(CollectionId(1), ProcessorNumber(1)),
        full(Bookkeeping::Collections, 1)
    );
    assert_eq!(model.command_log().len(), commands, "nothing sent");
    assert_eq!(model.valid_collections().len(), 1);
}

#[test]
fn a_storage_serves_one_driver_for_good() {
    let model = ItsModel::new(ModelConfig::default());
    let storage = leak(ItsStorage::<4, 4, 4, 4>::new());
    let mut its = bare_its(&model);
    assert!(!storage.is_claimed());
    its.use_storage(storage).unwrap();
    assert!(storage.is_claimed());
    assert_eq!(its.use_storage(storage), Err(ItsError::StorageClaimed));
    drop(its);
    let mut next = bare_its(&model);
    assert_eq!(next.use_storage(storage), Err(ItsError::StorageClaimed));
}

/// With the heap, storage given later takes what is recorded, or refuses
/// and leaves it where it is.
#[cfg(feature = "alloc")]
#[test]
fn storage_given_later_takes_what_is_recorded_or_nothing() {
    let model = ItsModel::new(ModelConfig::default());
    let mut its = bare_its(&model);
    for (icid, cpu) in processor_numbers(&model).enumerate() {
        its.map_collection(CollectionId(icid as u16), cpu).unwrap();
    }
    crate::support::populate(&mut its, 3, 4);
    assert!(its.memory_use().registry > 0);
    let small = leak(ItsStorage::<3, 11, 4, 4>::new());
    assert_eq!(its.use_storage(small), full(Bookkeeping::Events, 11));
    assert!(!small.is_claimed(), "nothing claimed on a refusal");
    assert_eq!(its.registry().devices().count(), 3);
    its.use_storage(leak(ItsStorage::<3, 16, 4, 4>::new()))
        .unwrap();
    assert_eq!(its.memory_use().registry, 0, "nothing left on the heap");
    assert_model_matches_registry(&model, &its);
    assert_eq!(
        its.map_device(DeviceId(0x200), 1),
        full(Bookkeeping::Devices, 3)
    );
    its.save().unwrap();
    init_redistributors(&model, its.domain());
    assert_eq!(its.restore().unwrap().deferred_collections, 0);
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

type SmallDomain = DomainStorage<ModelMemory, 2, 1, { lpi_bitmap_words(16) }>;

#[test]
fn a_domain_refuses_a_redistributor_it_has_no_room_for() {
    let model = ItsModel::new(ModelConfig::default());
    let storage: &'static SmallDomain = leak(DomainStorage::new());
    let domain = LpiDomain::new_in(storage, model.memory(), LpiDomainConfig::default()).unwrap();
    let rd_bases = model.config().redistributors;
    for (index, rd_base) in rd_bases.iter().enumerate().take(2) {
        domain
            .init_redistributor(&model.gicr(index), *rd_base)
            .unwrap();
    }
    // Again: it has its record already.
    domain
        .init_redistributor(&model.gicr(1), rd_bases[1])
        .unwrap();
    let third = ProcessorNumber(model.config().processor_number(2));
    assert_eq!(
        domain.init_redistributor(&model.gicr(2), rd_bases[2]),
        Err(ItsError::StorageFull {
            store: Bookkeeping::Redistributors,
            capacity: 2
        })
    );
    assert!(domain.redistributor(third).is_none());
    assert_eq!(room::redistributors(&domain).len(), 2);
    assert_eq!(
        domain.table_bytes(),
        56 * 1024 + 2 * 8192,
        "no pending table for it"
    );
    assert_no_violations(&model);
}

#[test]
fn a_domain_refuses_a_second_its_it_has_no_room_for() {
    let model = ItsModel::new(ModelConfig {
        its_count: 2,
        ..ModelConfig::default()
    });
    let storage: &'static SmallDomain = leak(DomainStorage::new());
    let domain = LpiDomain::new_in(storage, model.memory(), LpiDomainConfig::default()).unwrap();
    let first = Its::probe(
        model.its(0).gits(),
        model.memory(),
        &domain,
        ItsConfig::default(),
    )
    .unwrap();
    let allocations = model.live_allocations();
    let second = Its::probe(
        model.its(1).gits(),
        model.memory(),
        &domain,
        ItsConfig::default(),
    );
    assert_eq!(
        second.err(),
        Some(ItsError::StorageFull {
            store: Bookkeeping::Itses,
            capacity: 1
        })
    );
    assert_eq!(model.live_allocations(), allocations, "nothing allocated");
    // Once the first is gone, its room serves another.
    drop(first);
    Its::probe(
        model.its(1).gits(),
        model.memory(),
        &domain,
        ItsConfig::default(),
    )
    .unwrap();
}

#[test]
fn a_domain_storage_too_small_or_taken_is_refused_before_anything_is_allocated() {
    let model = ItsModel::new(ModelConfig::default());
    let narrow: &'static DomainStorage<ModelMemory, 4, 1, { lpi_bitmap_words(14) }> =
        leak(DomainStorage::new());
    let config = LpiDomainConfig {
        id_bits: 15,
        ..LpiDomainConfig::default()
    };
    let allocations = model.live_allocations();
    assert_eq!(
        LpiDomain::new_in(narrow, model.memory(), config).err(),
        Some(ItsError::StorageFull {
            store: Bookkeeping::LpiBitmap,
            capacity: lpi_bitmap_words(14)
        })
    );
    assert!(!narrow.is_claimed());
    assert_eq!(model.live_allocations(), allocations);
    // 14 bits fit; the storage then holds that domain for good.
    let config = LpiDomainConfig {
        id_bits: 14,
        ..LpiDomainConfig::default()
    };
    let domain = LpiDomain::new_in(narrow, model.memory(), config).unwrap();
    assert_eq!(domain.id_bits(), 14);
    assert!(narrow.is_claimed());
    let allocations = model.live_allocations();
    assert_eq!(
        LpiDomain::new_in(narrow, model.memory(), config).err(),
        Some(ItsError::StorageClaimed)
    );
    assert_eq!(model.live_allocations(), allocations, "nothing kept");
}

#[test]
fn lpi_bitmap_words_cover_every_lpi() {
    assert_eq!(lpi_bitmap_words(14), 8192 / 64);
    assert_eq!(lpi_bitmap_words(16), (65536 - 8192) / 64);
    assert_eq!(lpi_bitmap_words(24), ((1 << 24) - 8192) / 64);
    // Clamped as the domain clamps its ID bits.
    assert_eq!(lpi_bitmap_words(0), lpi_bitmap_words(14));
    assert_eq!(lpi_bitmap_words(13), lpi_bitmap_words(14));
    assert_eq!(lpi_bitmap_words(25), lpi_bitmap_words(24));
    assert_eq!(lpi_bitmap_words(u32::MAX), lpi_bitmap_words(24));
}

/// 64 KiB aligned memory of the model's, for a fixed region.
fn region(model: &ItsModel, bytes: usize) -> gicv3_its::DmaRegion {
    let mut memory: ModelMemory = model.memory();
    gicv3_its::DmaMemory::allocate_zeroed(&mut memory, gicv3_its::DmaRequest::new(bytes, 65536))
        .unwrap()
}

#[test]
fn a_fixed_region_domain_in_storage_gives_everything_back_when_refused() {
    let model = ItsModel::new(ModelConfig::default());
    let config = LpiDomainConfig::default();
    let bytes = config.region_bytes(4);
    let narrow: &'static DomainStorage<ModelMemory, 4, 1, { lpi_bitmap_words(14) }> =
        leak(DomainStorage::new());
    // The bitmap: too small for 16 bits. The region comes back whole.
    let refused = LpiDomain::with_region_in(narrow, model.memory(), region(&model, bytes), config)
        .err()
        .unwrap();
    assert_eq!(
        refused.error,
        ItsError::StorageFull {
            store: Bookkeeping::LpiBitmap,
            capacity: lpi_bitmap_words(14)
        }
    );
    assert_eq!(refused.region.size(), bytes);
    assert!(!narrow.is_claimed());
    // A region too small: refused as without storage, nothing claimed.
    let storage: &'static SmallDomain = leak(DomainStorage::new());
    let refused = LpiDomain::with_region_in(storage, model.memory(), region(&model, 65536), config)
        .err()
        .unwrap();
    assert!(matches!(refused.error, ItsError::LpiRegionTooSmall { .. }));
    assert!(!storage.is_claimed());
    // Room enough: the domain lays its tables out in the region.
    let domain =
        LpiDomain::with_region_in(storage, model.memory(), region(&model, bytes), config).unwrap();
    assert!(storage.is_claimed());
    domain
        .init_redistributor(&model.gicr(0), model.config().redistributors[0])
        .unwrap();
    assert_eq!(domain.table_bytes(), bytes, "no table allocated beside it");
    // Taken now.
    let refused = LpiDomain::with_region_in(storage, model.memory(), region(&model, bytes), config)
        .err()
        .unwrap();
    assert_eq!(refused.error, ItsError::StorageClaimed);
    assert_eq!(refused.region.size(), bytes);
}

/// With the heap, the pages of a two-level Device table move into the
/// storage too, if it has room for them.
#[cfg(feature = "alloc")]
#[test]
fn storage_given_later_takes_the_device_table_pages_or_nothing() {
    let model = ItsModel::new(ModelConfig {
        devbits: 20,
        ..ModelConfig::default()
    });
    let mut its = bare_its(&model);
    // Two level-2 pages: DeviceIDs in different 64 KiB pages of 8-byte
    // entries.
    its.map_device(DeviceId(1), 1).unwrap();
    its.map_device(DeviceId(0x4_0000), 1).unwrap();
    let one_page = leak(ItsStorage::<4, 4, 4, 1>::new());
    assert_eq!(its.use_storage(one_page), full(Bookkeeping::TablePages, 1));
    assert!(!one_page.is_claimed());
    its.use_storage(leak(ItsStorage::<4, 4, 4, 2>::new()))
        .unwrap();
    // A third page has no room; the device is not mapped.
    assert_eq!(
        its.map_device(DeviceId(0x8_0000), 1),
        full(Bookkeeping::TablePages, 2)
    );
    assert_eq!(model.valid_device_ids(), [DeviceId(1), DeviceId(0x4_0000)]);
    its.map_device(DeviceId(2), 1).unwrap();
    assert_no_violations(&model);
}
