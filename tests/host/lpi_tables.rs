//! The LPI property and pending tables: adopted when EnableLPIs is sticky,
//! what redistributors cached before, and the tables on every model
//! configuration.

use crate::support::room;
use crate::support::*;
use gicv3_its::registers::{GICR_CTLR, GITS_BASER, GITS_CBASER, RegisterFrame};
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use gicv3_its::{ItsCommand, ItsConfig, ItsError, LpiDomainConfig, RedistributorInfo};
use gicv3_its_model::{
    Coherency, Consumption, ItsModel, ModelConfig, MsiError, PageSizes, Quiescence,
};

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
    let agreed = gicv3_its::DmaMemory::allocate_zeroed(
        &mut memory,
        gicv3_its::DmaRequest::new(bytes, 65536),
    )
    .unwrap();
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
    room::forget(previous); // handed over without a teardown

    // SAFETY: the model memory the previous kernel used, which nothing
    // writes any more (its driver is forgotten).
    let same = unsafe { gicv3_its::DmaRegion::new(virt, phys, bytes) };
    let its = probe_with_region(&model, same, domain_config);
    assert!(room::redistributors(its.domain()).iter().all(|r| r.adopted));
    (model, its)
}

/// A driver with its own LPI domain in `region`, every redistributor
/// initialised, and no collection mapped.
fn probe_with_region(
    model: &ItsModel,
    region: gicv3_its::DmaRegion,
    config: LpiDomainConfig,
) -> ModelIts {
    let domain = room::domain_with_region(model.memory(), region, config).unwrap();
    init_redistributors(model, &domain);
    room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap()
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
    let agreed = gicv3_its::DmaMemory::allocate_zeroed(
        &mut memory,
        gicv3_its::DmaRequest::new(region_bytes, 65536),
    )
    .unwrap();
    let (agreed_virt, agreed_phys) = (agreed.virt(), agreed.phys());
    let first_domain = room::domain_with_region(model.memory(), agreed, domain_config).unwrap();
    first_domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    let mut first = room::probe(
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

    room::forget(first);
    room::forget(first_domain);

    // The same region, as the next kernel is told: adopted, and LPIs work.
    // SAFETY: `agreed_virt` is the model memory the first driver used; that
    // driver is forgotten, so nothing else writes it.
    let same = unsafe { gicv3_its::DmaRegion::new(agreed_virt, agreed_phys, region_bytes) };
    let next_domain = room::domain_with_region(model.memory(), same, domain_config).unwrap();
    next_domain
        .init_redistributor(&model.gicr(0), 0x080a_0000)
        .unwrap();
    assert!(room::redistributors(&next_domain)[0].adopted);
    let mut next = room::probe(
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
    room::forget(next);

    // A kernel with other tables is refused, with what it found.
    let other = room::domain(model.memory(), domain_config).unwrap();
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
        let _ = its.restore().unwrap();
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
    let lpi_tables = its.memory_use().lpi_tables;
    drop(its);
    assert!(model.mappings().is_empty());
    assert!(model.valid_device_ids().is_empty());
    assert!(model.valid_collections().is_empty());
    // The ITTs, the tables (level-2 pages included) and the queue went
    // back; the LPI tables stay with the domain.
    assert_eq!(
        model.stats().bytes_allocated,
        lpi_tables,
        "everything but the LPI tables given back"
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
    let _ = its.restore().unwrap();
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
    let _ = its.restore().unwrap();
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
            room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()),
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
        room::domain(model.memory(), LpiDomainConfig::default()),
        Err(ItsError::OutOfMemory { .. })
    ));
    model.fail_allocations(false);
    assert_no_violations(&model);
}

#[test]
fn a_misaligned_lpi_region_is_refused() {
    let model = ItsModel::new(ModelConfig::default());
    let mut memory = model.memory();
    let region = gicv3_its::DmaMemory::allocate_zeroed(
        &mut memory,
        gicv3_its::DmaRequest::new(4 << 20, 65536),
    )
    .unwrap();
    // SAFETY: a sub-range of a live model allocation, used only here.
    let shifted = unsafe {
        gicv3_its::DmaRegion::new(
            std::ptr::NonNull::new(region.virt().as_ptr().add(4096)).unwrap(),
            region.phys() + 4096,
            (4 << 20) - 4096,
        )
    };
    let refused = room::domain_with_region(memory, shifted, LpiDomainConfig::default())
        .err()
        .unwrap();
    assert_eq!(
        refused.error,
        ItsError::UnencodableAddress {
            phys: region.phys() + 4096
        }
    );
}

#[test]
fn the_domain_knows_each_redistributor_it_initialised() {
    let (model, mut its) = setup(ModelConfig::default());
    let domain = its.domain().clone();
    let rd_base = model.config().redistributors[1];
    let expected = RedistributorInfo {
        processor_number: ProcessorNumber(1),
        rd_base,
        adopted: false,
        ready: true,
    };
    assert_eq!(domain.redistributor(ProcessorNumber(1)), Some(expected));
    assert_eq!(room::redistributors(&domain).len(), 4);
    assert_eq!(domain.redistributor(ProcessorNumber(9)), None);
    // Saved, the domain no longer counts on the redistributor's tables.
    its.save().unwrap();
    domain.save().unwrap();
    assert_eq!(
        domain.redistributor(ProcessorNumber(1)),
        Some(RedistributorInfo {
            ready: false,
            ..expected
        })
    );
}

#[test]
fn a_domain_over_a_given_region_rewrites_its_property_table_and_zeroes_pending_tables_on_use() {
    // With EnableLPIs sticky, a redistributor keeps using the pending table
    // a previous kernel gave it in the region; the property table is the
    // domain's to rewrite (every LPI disabled), the pending tables are not
    // touched before init_redistributor takes each over.
    let model = ItsModel::new(ModelConfig::default());
    let config = LpiDomainConfig::default();
    let bytes = config.region_bytes(1);
    let mut memory = model.memory();
    let region = gicv3_its::DmaMemory::allocate_zeroed(
        &mut memory,
        gicv3_its::DmaRequest::new(bytes, 65536),
    )
    .unwrap();
    let virt = region.virt();
    // SAFETY: the region just allocated, `bytes` long, not yet given away.
    unsafe { virt.as_ptr().write_bytes(0x5a, bytes) };
    let domain = room::domain_with_region(model.memory(), region, config).unwrap();
    let property_bytes = (1usize << domain.id_bits()) - 8192;
    // SAFETY: the domain's region, read while nothing writes it.
    let seen = unsafe { std::slice::from_raw_parts(virt.as_ptr(), bytes) };
    assert!(
        seen[..property_bytes].iter().all(|&b| b & 1 == 0),
        "every LPI disabled"
    );
    assert!(
        seen[property_bytes..].iter().all(|&b| b == 0x5a),
        "beyond the property table, the region is as it was"
    );
    let debug = format!("{domain:?}");
    assert!(
        debug.starts_with("LpiDomain { id_bits: 16, allocated: 0"),
        "{debug}"
    );
    // Taking a redistributor over zeroes its pending table first, as
    // GICR_PENDBASER.PTZ = 1 promises (the model checks).
    let rd_base = model.config().redistributors[0];
    domain.init_redistributor(&model.gicr(0), rd_base).unwrap();
    assert_no_violations(&model);
}
