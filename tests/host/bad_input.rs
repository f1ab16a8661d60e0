//! Bad input and misuse: each is a typed error that changes neither the
//! registry nor what the ITS holds (checked on the model after every call).

use crate::support::room;
use crate::support::*;
use gicv3_its::{CollectionId, DeviceId, EventId, LpiDomainConfig, ProcessorNumber};
use gicv3_its::{ItsConfig, ItsError};
use gicv3_its_model::{ItsModel, ModelConfig};

/// Runs `f`, expects `expected`, and checks that the registry and the model
/// are exactly as before.
fn rejects(
    model: &ItsModel,
    its: &mut ModelIts,
    expected: ItsError,
    f: impl FnOnce(&mut ModelIts) -> Result<(), ItsError>,
) {
    let registry_before = registry_view(its);
    let devices_before: Vec<DeviceId> = its.registry().devices().map(|(id, _)| id).collect();
    let model_before = model.mappings();
    let commands_before = model.command_log().len();
    let lpis_before = its.allocated_lpis();
    let memory_before = model.stats().bytes_allocated;
    assert_eq!(f(its), Err(expected));
    assert_eq!(registry_view(its), registry_before);
    assert_eq!(
        its.registry()
            .devices()
            .map(|(id, _)| id)
            .collect::<Vec<_>>(),
        devices_before
    );
    assert_eq!(model.mappings(), model_before);
    assert_eq!(
        model.command_log().len(),
        commands_before,
        "no command sent"
    );
    assert_eq!(its.allocated_lpis(), lpis_before);
    assert_eq!(
        model.stats().bytes_allocated,
        memory_before,
        "nothing leaked"
    );
    assert_no_violations(model);
}

fn populated() -> (ItsModel, ModelIts) {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DeviceId(0x10), 4).unwrap();
    its.map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    (model, its)
}

#[test]
fn device_id_beyond_devbits() {
    let (model, mut its) = populated();
    rejects(
        &model,
        &mut its,
        ItsError::DeviceIdOutOfRange {
            device_id: DeviceId(0x1_0000),
            max: DeviceId(0xffff),
        },
        |its| its.map_device(DeviceId(0x1_0000), 1),
    );
    rejects(
        &model,
        &mut its,
        ItsError::DeviceIdOutOfRange {
            device_id: DeviceId(u32::MAX),
            max: DeviceId(0xffff),
        },
        |its| its.map_device(DeviceId(u32::MAX), 1),
    );
}

#[test]
fn device_id_beyond_a_capped_table() {
    let model = ItsModel::new(ModelConfig::default());
    let config = ItsConfig {
        device_id_bits: 8,
        ..ItsConfig::default()
    };
    let mut its = probe(&model, config);
    rejects(
        &model,
        &mut its,
        ItsError::DeviceIdOutOfRange {
            device_id: DeviceId(256),
            max: DeviceId(255),
        },
        |its| its.map_device(DeviceId(256), 1),
    );
}

#[test]
fn too_many_or_zero_events() {
    let (model, mut its) = populated();
    // ID_bits = 16: at most 65536 events.
    rejects(
        &model,
        &mut its,
        ItsError::EventCountOutOfRange {
            requested: 65537,
            max: 65536,
        },
        |its| its.map_device(DeviceId(0x20), 65537),
    );
    rejects(
        &model,
        &mut its,
        ItsError::EventCountOutOfRange {
            requested: 0,
            max: 65536,
        },
        |its| its.map_device(DeviceId(0x20), 0),
    );
}

/// With 32 EventID bits a device may ask for more events than a 32-bit
/// power of two holds: its ITT is sized for 2^32 entries (and the memory
/// for it is not there).
#[test]
fn an_itt_for_more_than_2_to_the_31_events() {
    let (model, mut its) = setup(ModelConfig {
        event_id_bits: 32,
        ..ModelConfig::default()
    });
    let entry = model.config().itt_entry_size;
    let all = (1usize << 32) * entry;
    assert_eq!(its.itt_bytes(u32::MAX), Ok(all));
    assert_eq!(its.itt_bytes((1 << 31) + 1), Ok(all));
    assert_eq!(its.itt_bytes(1 << 31), Ok(all / 2));
    assert!(matches!(
        its.map_device(DeviceId(0x20), u32::MAX),
        Err(ItsError::OutOfMemory { .. })
    ));
    assert_eq!(its.registry().devices().count(), 0);
    assert_no_violations(&model);
}

#[test]
fn event_id_beyond_the_itt() {
    let (model, mut its) = populated();
    let expected = ItsError::EventIdOutOfRange {
        device_id: DeviceId(0x10),
        event_id: EventId(4),
        events: 4,
    };
    rejects(&model, &mut its, expected, |its| {
        its.map_event(DeviceId(0x10), EventId(4), CollectionId(0))
            .map(|_| ())
    });
    rejects(&model, &mut its, expected, |its| {
        its.unmap_event(DeviceId(0x10), EventId(4))
    });
    rejects(&model, &mut its, expected, |its| {
        its.send_int(DeviceId(0x10), EventId(4))
    });
}

#[test]
fn lpi_space_exhausted() {
    let model = ItsModel::new(ModelConfig::default());
    let domain = new_domain(
        &model,
        LpiDomainConfig {
            id_bits: 14, // 8192 LPIs
            ..LpiDomainConfig::default()
        },
    );
    let mut its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_device(DeviceId(1), 8192).unwrap();
    for event in 0..8192 {
        its.map_event(DeviceId(1), EventId(event), CollectionId(0))
            .unwrap();
    }
    its.map_device(DeviceId(2), 1).unwrap();
    rejects(
        &model,
        &mut its,
        ItsError::LpiSpaceExhausted { requested: 1 },
        |its| {
            its.map_event(DeviceId(2), EventId(0), CollectionId(0))
                .map(|_| ())
        },
    );
}

#[test]
fn mapped_twice() {
    let (model, mut its) = populated();
    rejects(
        &model,
        &mut its,
        ItsError::DeviceAlreadyMapped {
            device_id: DeviceId(0x10),
        },
        |its| its.map_device(DeviceId(0x10), 2),
    );
    rejects(
        &model,
        &mut its,
        ItsError::EventAlreadyMapped {
            device_id: DeviceId(0x10),
            event_id: EventId(0),
        },
        |its| {
            its.map_event(DeviceId(0x10), EventId(0), CollectionId(1))
                .map(|_| ())
        },
    );
    rejects(
        &model,
        &mut its,
        ItsError::CollectionAlreadyMapped {
            icid: CollectionId(0),
        },
        |its| its.map_collection(CollectionId(0), ProcessorNumber(1)),
    );
}

#[test]
fn unmapping_what_is_not_mapped() {
    let (model, mut its) = populated();
    rejects(
        &model,
        &mut its,
        ItsError::DeviceNotMapped {
            device_id: DeviceId(0x11),
        },
        |its| its.unmap_device(DeviceId(0x11)),
    );
    rejects(
        &model,
        &mut its,
        ItsError::EventNotMapped {
            device_id: DeviceId(0x10),
            event_id: EventId(1),
        },
        |its| its.unmap_event(DeviceId(0x10), EventId(1)),
    );
    rejects(
        &model,
        &mut its,
        ItsError::DeviceNotMapped {
            device_id: DeviceId(0x11),
        },
        |its| its.unmap_event(DeviceId(0x11), EventId(0)),
    );
    rejects(
        &model,
        &mut its,
        ItsError::CollectionNotMapped {
            icid: CollectionId(9),
        },
        |its| its.unmap_collection(CollectionId(9)),
    );
    rejects(
        &model,
        &mut its,
        ItsError::CollectionInUse {
            icid: CollectionId(0),
            events: 1,
        },
        |its| its.unmap_collection(CollectionId(0)),
    );
}

#[test]
fn collection_for_a_cpu_that_does_not_exist() {
    let (model, mut its) = populated();
    rejects(
        &model,
        &mut its,
        ItsError::UnknownRedistributor {
            processor_number: ProcessorNumber(7),
        },
        |its| its.map_collection(CollectionId(7), ProcessorNumber(7)),
    );
    rejects(
        &model,
        &mut its,
        ItsError::CollectionOutOfRange {
            icid: CollectionId(64),
            max: CollectionId(63),
        },
        |its| its.map_collection(CollectionId(64), ProcessorNumber(0)),
    );
    rejects(
        &model,
        &mut its,
        ItsError::CollectionNotMapped {
            icid: CollectionId(5),
        },
        |its| {
            its.map_event(DeviceId(0x10), EventId(1), CollectionId(5))
                .map(|_| ())
        },
    );
}

#[test]
fn anything_while_saved() {
    let (model, mut its) = populated();
    its.save().unwrap();
    for call in [
        |its: &mut ModelIts| its.map_device(DeviceId(0x20), 1),
        |its: &mut ModelIts| its.unmap_device(DeviceId(0x10)),
        |its: &mut ModelIts| {
            its.map_event(DeviceId(0x10), EventId(1), CollectionId(0))
                .map(|_| ())
        },
        |its: &mut ModelIts| its.unmap_event(DeviceId(0x10), EventId(0)),
        |its: &mut ModelIts| its.move_event(DeviceId(0x10), EventId(0), CollectionId(1)),
        |its: &mut ModelIts| its.map_collection(CollectionId(5), ProcessorNumber(1)),
        |its: &mut ModelIts| its.send_int(DeviceId(0x10), EventId(0)),
    ] {
        rejects(&model, &mut its, ItsError::Saved, call);
    }
}

#[test]
fn restore_without_save() {
    let (model, mut its) = populated();
    rejects(&model, &mut its, ItsError::NotSaved, |its| {
        its.restore().map(|_| ())
    });
}

#[test]
fn allocation_failure_when_mapping() {
    let (model, mut its) = populated();
    model.fail_allocations(true);
    rejects(
        &model,
        &mut its,
        ItsError::OutOfMemory { size: 256 },
        |its| its.map_device(DeviceId(0x20), 2),
    );
}

#[test]
fn lpi_region_too_small() {
    let model = ItsModel::new(ModelConfig::default());
    let mut memory = model.memory();
    let region = gicv3_its::DmaMemory::allocate_zeroed(
        &mut memory,
        gicv3_its::DmaRequest::new(65536, 65536),
    )
    .unwrap();
    let phys = region.phys();
    let config = LpiDomainConfig::default();
    let Err(refused) = room::domain_with_region(memory, region, config) else {
        panic!("a 64 KiB region holds no property table and pending table at 16 bits");
    };
    assert_eq!(
        refused.error,
        ItsError::LpiRegionTooSmall {
            size: 65536,
            needed: config.region_bytes(1),
        }
    );
    // The region comes back to the caller, untouched.
    assert_eq!(refused.region.phys(), phys);
}

#[test]
fn out_of_range_configuration_values_are_clamped_not_trusted() {
    let model = ItsModel::new(ModelConfig::default());
    let config = ItsConfig {
        queue_bytes: 0,
        collections: 0,
        ..ItsConfig::default()
    };
    let domain = new_domain(
        &model,
        LpiDomainConfig {
            id_bits: 2,
            ..LpiDomainConfig::default()
        },
    );
    assert_eq!(domain.id_bits(), 14);
    let mut its = room::probe(model.gits(), model.memory(), &domain, config).unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_device(DeviceId(1), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(1), EventId(0), CollectionId(0))
        .unwrap();
    assert_eq!(model.send_msi(DeviceId(1), EventId(0)).unwrap().intid, lpi);
    assert_eq!(its.memory_use().queue, 4096);
    assert_no_violations(&model);
}

#[test]
fn the_largest_event_count_is_checked_without_overflow() {
    let model = ItsModel::new(ModelConfig {
        event_id_bits: 32,
        ..ModelConfig::default()
    });
    let mut its = probe(&model, ItsConfig::default());
    // 2^32 events would need a 48 GiB ITT: refused as memory, not a panic.
    assert!(matches!(
        its.map_device(DeviceId(1), u32::MAX),
        Err(ItsError::OutOfMemory { .. })
    ));
    assert!(its.registry().device(DeviceId(1)).is_none());
}
