//! Memory attributes, base-register read-back and cleaning, on models of
//! GICs that do not snoop the CPU's caches or do not implement what the
//! driver writes. None of these is a quirk the caller can switch off: each
//! test's doc comment says what the driver did before, and where a
//! configuration reproduces that, the test runs it and shows it fail.

use crate::support::room;
use crate::support::*;
use gicv3_its::{
    CollectionId, DeviceId, DmaMemory, DmaRegion, EventId, ItsConfig, ItsError, LpiDomainConfig,
    MemoryAttributes, ProcessorNumber,
};
use gicv3_its_model::{Coherency, GicrRegister, GitsRegister, ItsModel, ModelConfig, MsiError};

/// QEMU's IIDR (no quirk applies), a GIC that does not snoop.
fn non_coherent(shareable: bool) -> ModelConfig {
    ModelConfig {
        iidr: 0x0000_043b,
        coherency: Coherency::NonCoherent,
        shareable,
        ..ModelConfig::default()
    }
}

fn non_cacheable_its() -> ItsConfig {
    ItsConfig {
        attributes: MemoryAttributes::NonCacheable,
        ..ItsConfig::default()
    }
}

/// Shareability (bits \[11:10\]) and InnerCache of a base register value;
/// `cache_shift` is 59 for the GITS registers, 7 for the GICR ones.
fn attributes(value: u64, cache_shift: u32) -> (u64, u64) {
    (value >> 10 & 3, value >> cache_shift & 7)
}

/// A GIC that keeps shareable attributes in its registers but does not
/// snoop, whose caller says so (`attributes: NonCacheable` for the ITS and
/// the LPI domain): the LPI tables are programmed non-shareable and
/// non-cacheable, every property byte is cleaned, and LPIs configured
/// later (disabled, enabled again) behave.
///
/// The driver used to program the LPI tables Inner Shareable write-back
/// whatever the configuration said (only the ITS's tables followed it). On
/// this GIC that reads back as written, so nothing was cleaned and the
/// GIC kept seeing the property table as allocated: the same run with the
/// domain asking for Inner Shareable write-back shows it, a disabled LPI
/// still arriving.
#[test]
fn lpi_tables_follow_the_configured_attributes() {
    let domain_config = LpiDomainConfig {
        attributes: MemoryAttributes::NonCacheable,
        ..LpiDomainConfig::default()
    };
    let model = ItsModel::new(non_coherent(true));
    let mut its = bring_up(&model, non_cacheable_its(), domain_config).unwrap();
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    assert_no_violations(&model);
    for index in 0..4 {
        let gicr = model.gicr(index);
        assert_eq!(
            attributes(gicr.read_register(GicrRegister::Propbaser), 7),
            (0, 1)
        );
        assert_eq!(
            attributes(gicr.read_register(GicrRegister::Pendbaser), 7),
            (0, 1)
        );
    }

    let old = run(
        non_coherent(true),
        non_cacheable_its(),
        LpiDomainConfig::default(),
        4,
    );
    // The pending tables zeroed without a clean read as non-zero to the GIC.
    assert!(uncleaned_pending_tables_only(&old.violations), "{old:#?}");
    assert!(
        old.wrong_deliveries
            .iter()
            .any(|wrong| wrong.starts_with("MSI of disabled")),
        "{old:#?}"
    );
}

/// A GIC that does not snoop, where redistributor 0's Shareability reads 0
/// and the others' keep what is written. Redistributor 0 is initialised
/// first, so the domain cleans from then on; the later ones answer
/// "shareable" but must not stop it, for they share the property table:
/// disabling an LPI (a property byte, then INV) still reaches the GIC.
///
/// The driver used to take each redistributor's own answer as the policy
/// for the whole table, so redistributor 1 answering Inner Shareable
/// turned cleaning off again and the disabled LPI still arrived. (No
/// configuration of today's driver does that; it asks every later
/// redistributor for the attributes in force, non-cacheable, and the
/// registers below show it.)
#[test]
fn once_one_redistributor_needs_cleaning_every_one_does() {
    let config = ModelConfig {
        non_shareable_redistributors: vec![0],
        ..non_coherent(true)
    };
    let model = ItsModel::new(config);
    let mut its = bring_up(&model, non_cacheable_its(), LpiDomainConfig::default()).unwrap();
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    assert_no_violations(&model);
    for index in 0..4 {
        let propbaser = model.gicr(index).read_register(GicrRegister::Propbaser);
        assert_eq!(attributes(propbaser, 7), (0, 1), "redistributor {index}");
    }
}

/// A redistributor that answers non-shareable for its property table only
/// (GICR_PENDBASER keeps Inner Shareable) and does not snoop: the property
/// bytes the driver writes from then on must be cleaned, so one register's
/// answer is enough to make the domain clean. Deciding on both registers'
/// answers together left the property bytes uncleaned, and a disabled LPI
/// arrived.
#[test]
fn a_property_table_alone_answering_non_shareable_means_cleaning() {
    let config = ModelConfig {
        non_shareable_property_tables: vec![0, 1, 2, 3],
        ..non_coherent(true)
    };
    let model = ItsModel::new(config);
    let mut its = bring_up(&model, non_cacheable_its(), LpiDomainConfig::default()).unwrap();
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    assert_no_violations(&model);
    // GICR_PENDBASER keeps what it accepted, as under Linux (each register
    // answers for itself); every write is cleaned all the same.
    let pendbaser = model.gicr(0).read_register(GicrRegister::Pendbaser);
    assert_eq!(attributes(pendbaser, 7), (1, 7));
    assert!(model.stats().cleans > 0);
}

/// A GIC whose Shareability fields keep Inner Shareable but whose
/// InnerCache reads Non-cacheable, and which does not snoop: shareable but
/// non-cacheable memory is not coherent, so the driver rewrites every base
/// register non-shareable, non-cacheable and cleans what it writes.
///
/// The driver used to compare only Shareability (as Linux does): it read
/// Inner Shareable back, took the memory as coherent and cleaned nothing,
/// so the ITS read command slots the CPU had not cleaned.
#[test]
fn a_non_cacheable_answer_to_a_cacheable_request_means_cleaning() {
    let config = ModelConfig {
        fixed_inner_cache: Some(1),
        ..non_coherent(true)
    };
    let model = ItsModel::new(config);
    let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    assert_no_violations(&model);
    let gits = model.gits();
    assert_eq!(
        attributes(gits.read_register(GitsRegister::Cbaser), 59),
        (0, 1)
    );
    assert_eq!(
        attributes(gits.read_register(GitsRegister::Baser(0)), 59),
        (0, 1)
    );
    assert_eq!(
        attributes(gits.read_register(GitsRegister::Baser(1)), 59),
        (0, 1)
    );
    let propbaser = model.gicr(0).read_register(GicrRegister::Propbaser);
    assert_eq!(attributes(propbaser, 7), (0, 1));
}

/// A GIC whose base registers implement 32 address bits, on memory above
/// 4 GiB: each register reads back truncated, which the driver refuses
/// with `RegisterRefused` (the LPI tables at init_redistributor, the ITS's
/// tables at probe), leaving nothing Valid and giving probe's memory back.
///
/// The driver used to check only Shareability after the write (as Linux
/// does), so the GIC would have used the truncated addresses: tables and a
/// queue 4 GiB lower, in memory that is not theirs.
#[test]
fn address_bits_the_gic_does_not_implement_are_refused() {
    let config = ModelConfig {
        register_address_bits: 32,
        bus_address_bits: 32,
        arena_phys_base: 1 << 32,
        ..ModelConfig::default()
    };
    let model = ItsModel::new(config.clone());
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    match domain.init_redistributor(&model.gicr(0), 0x080a_0000) {
        Err(ItsError::RegisterRefused {
            register: "GICR_PROPBASER",
            wrote,
            read,
        }) => assert_eq!(read, wrote & 0xffff_ffff),
        other => panic!("expected GICR_PROPBASER refused, got {other:?}"),
    }
    assert_eq!(model.gicr(0).read_register(GicrRegister::Ctlr) & 1, 0);
    let before = model.stats().bytes_allocated;
    let probed = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default());
    assert!(matches!(
        probed.err(),
        Some(ItsError::RegisterRefused {
            register: "GITS_BASER0",
            ..
        })
    ));
    assert_its_holds_nothing(&model);
    assert_eq!(model.stats().bytes_allocated, before);
    assert_no_violations(&model);

    // Memory across 4 GiB: the LPI tables and the ITS's tables below, the
    // command queue from 4 GiB on. The queue is refused after both tables
    // were programmed Valid; they are invalidated before the memory goes
    // back.
    let model = ItsModel::new(ModelConfig {
        arena_phys_base: (1 << 32) - (2 << 20),
        ..config
    });
    let domain = room::domain(model.memory(), LpiDomainConfig::default()).unwrap();
    init_redistributors(&model, &domain);
    // Probe allocates two 64 KiB tables, then the 64 KiB queue: leave room
    // below 4 GiB for the two tables only.
    let fillers = fill_below_but(&model, 1 << 32, 2);
    let before = model.stats().bytes_allocated;
    let probed = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default());
    assert!(
        matches!(
            probed.as_ref().err(),
            Some(ItsError::RegisterRefused {
                register: "GITS_CBASER",
                ..
            })
        ),
        "{:?}",
        probed.err()
    );
    assert_its_holds_nothing(&model);
    assert_eq!(model.stats().bytes_allocated, before);
    assert_no_violations(&model);
    for filler in fillers {
        model.memory().give_back(filler);
    }
}

/// Allocates every free byte of the model's memory below `limit` but
/// `pages` 64 KiB pages (64 KiB aligned); returns the fillers.
fn fill_below_but(model: &ItsModel, limit: u64, pages: usize) -> Vec<gicv3_its::DmaRegion> {
    let mut memory = model.memory();
    let below = |size, align| gicv3_its::DmaRequest {
        max_address: limit - 1,
        ..gicv3_its::DmaRequest::new(size, align)
    };
    let mut fillers = Vec::new();
    while let Some(page) = memory.allocate_zeroed(below(65536, 65536)) {
        fillers.push(page);
    }
    let kept: Vec<_> = fillers.split_off(fillers.len() - pages);
    let mut size = 65536;
    while size >= 64 {
        match memory.allocate_zeroed(below(size, 64)) {
            Some(region) => fillers.push(region),
            None => size /= 2,
        }
    }
    for page in kept {
        memory.give_back(page);
    }
    fillers
}

/// No GITS_CBASER or GITS_BASERn Valid and the ITS disabled.
fn assert_its_holds_nothing(model: &ItsModel) {
    let gits = model.gits();
    let valid = 1 << 63;
    assert_eq!(gits.read_register(GitsRegister::Cbaser) & valid, 0);
    for n in 0..8 {
        assert_eq!(gits.read_register(GitsRegister::Baser(n)) & valid, 0);
    }
    assert_eq!(gits.read_register(GitsRegister::Ctlr) & 1, 0);
    assert!(model.valid_device_ids().is_empty());
}

/// LPI tables a previous kernel left on a GIC whose EnableLPIs cannot be
/// cleared, and which does not snoop: the next kernel adopts them and
/// rewrites the property table (every LPI it has not mapped disabled),
/// then must clean all of it, for the GIC still sees the previous kernel's
/// bytes. Here the previous kernel left LPI 8292 enabled and pending on
/// CPU 0; the next kernel never maps it, so CPU 0 must not take it once the
/// redistributor reloads its configuration (INVALL after MAPC).
///
/// The driver used to adopt the tables without cleaning them: the GIC kept
/// the previous kernel's enabled byte and CPU 0 took 8292, an LPI nobody
/// owns.
#[test]
fn adopted_tables_are_cleaned_whole() {
    let model = ItsModel::new(ModelConfig {
        sticky_enable_lpis: true,
        coherency: Coherency::NonCoherent,
        shareable: false,
        redistributors: vec![0x080a_0000],
        ..ModelConfig::default()
    });
    let domain_config = LpiDomainConfig::default();
    let bytes = domain_config.region_bytes(1);
    let agreed = model
        .memory()
        .allocate_zeroed(gicv3_its::DmaRequest::new(bytes, 65536))
        .unwrap();
    let (virt, phys) = (agreed.virt(), agreed.phys());

    // The previous kernel: 128 events on LPIs 8192..8319, all enabled;
    // event 100's MSI is still pending when it hands over.
    let previous = room::domain_with_region(model.memory(), agreed, domain_config).unwrap();
    init_redistributors(&model, &previous);
    let mut its = room::probe(
        model.gits(),
        model.memory(),
        &previous,
        ItsConfig::default(),
    )
    .unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    its.map_device(DeviceId(0x20), 128).unwrap();
    for event in 0..128 {
        its.map_event(DeviceId(0x20), EventId(event), CollectionId(0))
            .unwrap();
    }
    let left = model.send_msi(DeviceId(0x20), EventId(100)).unwrap().intid;
    assert_eq!(left.0, 8292);
    its.save().unwrap();
    previous.save().unwrap();
    assert!(!previous.release_redistributor(&model.gicr(0)).unwrap());
    // It jumps to the next kernel: none of its code runs again.
    room::forget(its);
    room::forget(previous);
    assert_eq!(model.pending(0), [left]);

    // The next kernel, told the same region.
    // SAFETY: the model memory the previous kernel's domain used; that
    // domain is gone and nothing else writes it.
    let same = unsafe { DmaRegion::new(virt, phys, bytes) };
    let next = room::domain_with_region(model.memory(), same, domain_config).unwrap();
    init_redistributors(&model, &next);
    assert!(room::redistributors(&next)[0].adopted);
    let mut its = room::probe(model.gits(), model.memory(), &next, ItsConfig::default()).unwrap();
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    assert_eq!(model.take_pending(0), []);
    assert_eq!(model.pending(0), [left]);

    // Its own LPIs work.
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), CollectionId(0))
        .unwrap();
    assert_eq!(lpi.0, 8192);
    assert!(model.send_msi(DeviceId(0x10), EventId(0)).is_ok());
    assert_eq!(model.take_pending(0), [lpi]);
    assert_eq!(
        model.send_msi(DeviceId(0x20), EventId(100)),
        Err(MsiError::Untranslatable(
            gicv3_its_model::CommandError::DeviceNotMapped(0x20)
        ))
    );
    assert_no_violations(&model);
}

/// On a GIC that does not snoop, the CPU may hold lines of the tables the
/// ITS writes (refilled by speculation while a device was mapped), which go
/// stale when the ITS unmaps it: a hibernation image read through the
/// caches holds DTEs and CTEs that are valid, and a resumed kernel would
/// put them back for the ITS to find (a device it unmapped, whose ITT it
/// gave back). `save` rewrites such tables from the CPU (zeroed, cleaned
/// and invalidated), so the image holds what the ITS holds: nothing.
#[test]
fn stale_cache_lines_of_the_its_tables_do_not_survive_hibernation() {
    let config = ModelConfig {
        coherency: Coherency::NonCoherent,
        shareable: false,
        // A flat Device table, which lives on across save and restore.
        indirect: false,
        ..ModelConfig::default()
    };
    let (model, mut its) = setup(config);
    for device in [0x10, 0x20] {
        its.map_device(DeviceId(device), 1).unwrap();
        its.map_event(DeviceId(device), EventId(0), CollectionId(0))
            .unwrap();
    }
    its.map_collection(CollectionId(9), ProcessorNumber(1))
        .unwrap();
    // The CPU's caches fill with the valid entries; then the ITS unmaps.
    model.refill_cpu_caches();
    its.unmap_device(DeviceId(0x10)).unwrap();
    its.unmap_collection(CollectionId(9)).unwrap();
    its.save().unwrap();
    its.domain().save().unwrap();

    let image = model.hibernation_image();
    model.reset();
    model.restore_hibernation_image(&image);
    init_redistributors(&model, its.domain());
    let _ = its.restore().unwrap();
    assert_eq!(model.valid_device_ids(), [DeviceId(0x20)]);
    assert!(!model.valid_collections().contains_key(&CollectionId(9)));
    assert_model_matches_registry(&model, &its);
    assert_no_violations(&model);
}

/// One redistributor whose base registers read non-shareable (it does not
/// snoop), on a GIC whose others do: every write is cleaned from then on,
/// but the other redistributors' GICR_PROPBASERs still agree with the
/// first one's (those of a GICR_TYPER.CommonLPIAff group must hold one
/// value while EnableLPIs = 1): asking the later ones for non-cacheable
/// memory because one answered so would leave them disagreeing.
#[test]
fn property_base_registers_agree_across_redistributors() {
    let config = ModelConfig {
        non_shareable_redistributors: vec![1],
        ..ModelConfig::default()
    };
    let model = ItsModel::new(config);
    let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    let propbaser = |index| model.gicr(index).read_register(GicrRegister::Propbaser);
    assert_eq!(attributes(propbaser(0), 7), (1, 7));
    assert_eq!(propbaser(2), propbaser(0));
    assert_eq!(propbaser(3), propbaser(0));
    // The one that cannot: what it answered.
    assert_eq!(attributes(propbaser(1), 7), (0, 1));
    assert!(model.stats().cleans > 0);
    assert_no_violations(&model);
}
