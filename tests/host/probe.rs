//! Probe: tables sized and negotiated on every configuration, what a previous
//! kernel left disabled first, failures that leave nothing behind.

use crate::support::room;
use crate::support::*;
use gicv3_its::registers::{GITS_BASER, RegisterFrame};
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{CollectionId, DeviceId, EventId, ProcessorNumber};
use gicv3_its::{ItsCommand, ItsConfig, ItsError, WaitFor};
use gicv3_its_model::{
    Coherency, CommandError, ItsModel, ModelConfig, MsiError, PageSizes, Quiescence, TableKind,
};

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

/// Without two-level tables (GITS_BASERn.Indirect RAZ/WI) the flat Device
/// table grows past the caller's preferred bound (64 KiB, 8192 DeviceIDs)
/// to what GITS_TYPER.Devbits asks, up to the 256 pages GITS_BASERn.Size
/// can describe: 16 MiB of 64 KiB pages, 2^21 DeviceIDs of 8 bytes.
#[test]
fn without_indirect_support_the_flat_table_grows_to_the_page_limit() {
    for (devbits, capacity) in [(16, 1u32 << 16), (24, 1 << 21)] {
        let config = ModelConfig {
            devbits,
            indirect: false,
            ..ModelConfig::default()
        };
        let (model, mut its) = setup(config);
        assert_eq!(
            its.max_device_id(),
            DeviceId(capacity - 1),
            "{devbits} bits"
        );
        assert_eq!(
            its.memory_use().device_table,
            capacity as usize * 8,
            "{devbits} bits"
        );
        // A PCI requester ID beyond the first 32 buses.
        its.map_device(DeviceId(0x2100), 1).unwrap();
        its.map_device(DeviceId(capacity - 1), 1).unwrap();
        assert_eq!(
            its.map_device(DeviceId(capacity), 1),
            Err(ItsError::DeviceIdOutOfRange {
                device_id: DeviceId(capacity),
                max: DeviceId(capacity - 1)
            })
        );
        assert_eq!(
            model.valid_device_ids(),
            [DeviceId(0x2100), DeviceId(capacity - 1)]
        );
        assert_no_violations(&model);
    }
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
    let _ = its.restore().unwrap();
    assert_model_matches_registry(&model, &its);
    let msi = model.send_msi(DeviceId(0x3_0000), EventId(5)).unwrap();
    assert_eq!(
        Some(msi.intid),
        its.registry()
            .event(DeviceId(0x3_0000), EventId(5))
            .map(|m| m.intid())
    );
    // Devices never mapped find an invalid DTE (beside a mapped one) or an
    // invalid level-1 entry, not poison the CPU never cleaned.
    assert_eq!(
        model.send_msi(DeviceId(0x3_0001), EventId(0)),
        Err(MsiError::Untranslatable(CommandError::DeviceNotMapped(
            0x3_0001
        )))
    );
    assert!(matches!(
        model.send_msi(DeviceId(0x8_0000), EventId(0)),
        Err(MsiError::Untranslatable(CommandError::NoTableEntry(
            TableKind::Devices,
            0x8_0000
        )))
    ));
    assert_no_violations(&model);
}

#[test]
fn a_device_table_exactly_at_the_flat_bound_stays_flat() {
    // 2^13 DeviceIDs of 8-byte DTEs: 64 KiB, the default bound.
    let config = ModelConfig {
        devbits: 13,
        ..ModelConfig::default()
    };
    let (model, its) = setup(config);
    assert!(
        !model
            .gits()
            .read(GITS_BASER[0])
            .is_set(GITS_BASER::Indirect)
    );
    assert_eq!(its.memory_use().device_table, 64 << 10);
    assert_eq!(its.max_device_id(), DeviceId((1 << 13) - 1));
}

#[test]
fn a_level_1_table_is_at_most_256_pages() {
    // With 4 KiB pages a level-1 table of 256 pages has 2^17 entries, each
    // for a 4 KiB page of 512 DTEs: 2^26 DeviceIDs, fewer than the ITS's 32
    // bits. GITS_BASERn.Size cannot describe more.
    let config = ModelConfig {
        devbits: 32,
        page_sizes: PageSizes {
            size_4k: true,
            size_16k: false,
            size_64k: false,
        },
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    assert!(
        model
            .gits()
            .read(GITS_BASER[0])
            .is_set(GITS_BASER::Indirect)
    );
    assert_eq!(its.memory_use().device_table, 256 * 4096);
    assert_eq!(its.max_device_id(), DeviceId((1 << 26) - 1));
    its.map_device(DeviceId((1 << 26) - 1), 1).unwrap();
    its.map_event(DeviceId((1 << 26) - 1), EventId(0), CollectionId(0))
        .unwrap();
    assert!(model.send_msi(DeviceId((1 << 26) - 1), EventId(0)).is_ok());
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
        room::probe(model.gits(), model.memory(), its.domain(), small).err(),
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

#[test]
fn collection_ids_are_bounded_by_cidbits() {
    // GITS_TYPER.CIL = 1, CIDbits = 3: 16 collections.
    let config = ModelConfig {
        cid_bits: Some(4),
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    assert_eq!(its.features().collection_id_bits, 4);
    its.map_collection(CollectionId(15), ProcessorNumber(0))
        .unwrap();
    assert_eq!(
        its.map_collection(CollectionId(16), ProcessorNumber(0)),
        Err(ItsError::CollectionOutOfRange {
            icid: CollectionId(16),
            max: CollectionId(15)
        })
    );
    assert_no_violations(&model);
}
