//! Known implementation quirks, each on a model of the implementation (a
//! preset that reports its IIDR and behaves as its errata say): with the
//! driver's quirk in force the workload runs clean; with the same quirk
//! ignored through `QuirkOverrides::ignore`, the model shows what goes
//! wrong (the GIC reading stale or out-of-bounds memory, MSIs lost or
//! delivered while disabled, register writes ignored).

use crate::support::*;
use gicv3_its::{
    DeviceId, EventId, Its, ItsConfig, ItsError, LpiDomain, LpiDomainConfig, QuirkOverrides,
    Quirks, WaitFor, WaitPolicy,
};
use gicv3_its_model::{
    CommandError, GicrRegister, GitsRegister, ItsModel, MemoryFault, ModelConfig, MsiError,
    RedistributorPower, THUNDERX_IIDR, Translation, Violation,
};

/// The workload with the same overrides on the ITS and the LPI domain.
fn run_with(config: ModelConfig, quirks: QuirkOverrides, events: u32) -> Outcome {
    let (its_config, domain_config) = with_overrides(quirks);
    run(config, its_config, domain_config, events)
}

/// The ITS read a command slot it was never given: a non-coherent GIC's
/// view of memory the CPU wrote but did not clean (poison).
fn read_an_uncleaned_command(outcome: &Outcome) -> bool {
    outcome.caught(|v| {
        matches!(
            v,
            Violation::Command {
                error: CommandError::Undecodable,
                ..
            }
        )
    })
}

/// Rockchip RK3588 (erratum 3588001): GITS_IIDR and GICR_IIDR 0x0201743b,
/// shareable attributes accepted (the fields keep them) but no snooping.
/// The quirk makes the driver ask for non-shareable, non-cacheable memory
/// and clean every write; the registers alone would not tell it to.
#[test]
fn rk3588_accepts_shareable_attributes_but_does_not_snoop() {
    run_with(ModelConfig::rk3588(), QuirkOverrides::default(), 4).assert_clean();

    // Ignored on both sides: the ITS reads commands the CPU never cleaned.
    let without = run_with(ModelConfig::rk3588(), ignoring(Quirks::NON_COHERENT), 4);
    assert!(read_an_uncleaned_command(&without), "{without:#?}");

    // Ignored on the redistributors only: the ITS works, but the tables the
    // GIC sees are not the ones the CPU wrote: pending tables that are not
    // zero under PTZ = 1, and a disabled LPI that still arrives.
    let its_config = ItsConfig::default();
    let domain_config = LpiDomainConfig {
        quirks: ignoring(Quirks::NON_COHERENT),
        ..LpiDomainConfig::default()
    };
    let without = run(ModelConfig::rk3588(), its_config, domain_config, 4);
    assert!(
        uncleaned_pending_tables_only(&without.violations),
        "{without:#?}"
    );
    assert!(
        without
            .wrong_deliveries
            .iter()
            .any(|wrong| wrong.starts_with("MSI of disabled")),
        "{without:#?}"
    );
}

/// The caller forces a quirk the IIDR does not reveal: a `dma-noncoherent`
/// GIC with QEMU's plain IIDR whose Shareability fields stick.
#[test]
fn a_forced_non_coherent_quirk_works_on_a_plain_iidr() {
    let config = || ModelConfig {
        iidr: 0x0000_043b,
        ..ModelConfig::rk3588()
    };
    run_with(config(), forcing(Quirks::NON_COHERENT), 4).assert_clean();
    let without = run_with(config(), QuirkOverrides::default(), 4);
    assert!(read_an_uncleaned_command(&without), "{without:#?}");
}

/// Qualcomm QDF2400 (erratum 0065): GITS_IIDR 0x00001070; GITS_TYPER says
/// 8-byte ITT entries, the ITS uses 16. Without the quirk a 64-event ITT is
/// allocated with 512 bytes and the ITS walks 1024.
#[test]
fn qdf2400_itt_entries_are_16_bytes_whatever_gits_typer_says() {
    run_with(ModelConfig::qdf2400(), QuirkOverrides::default(), 64).assert_clean();

    let without = run_with(
        ModelConfig::qdf2400(),
        ignoring(Quirks::ITT_ENTRY_16_BYTES),
        64,
    );
    assert!(
        matches!(
            without.error,
            Some(("map_device", ItsError::CommandStalled { .. }))
        ),
        "{without:#?}"
    );
    assert!(
        without.caught(|v| matches!(
            v,
            Violation::Memory(MemoryFault {
                len: 1024,
                what: "ITT",
                ..
            })
        )),
        "{without:#?}"
    );
}

/// Cavium ThunderX pass 1 (erratum 22375): GITS_IIDR 0xa100034c, any
/// revision; GITS_TYPER says 24 DeviceID bits, the ITS decodes 20. With the
/// quirk DeviceIDs from 2^20 are refused; without it, DeviceID 0x10_0010
/// lands on DeviceID 0x10's entry and takes its MSIs.
#[test]
fn thunderx_decodes_only_20_device_id_bits() {
    for revision in [0x0000, 0x1000, 0xf000] {
        let config = ModelConfig {
            iidr: THUNDERX_IIDR | revision,
            ..ModelConfig::thunderx()
        };
        let model = ItsModel::new(config.clone());
        let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
        assert_eq!(its.max_device_id(), DeviceId(0xf_ffff));
        assert_eq!(
            its.map_device(DeviceId(0x10_0010), 1),
            Err(ItsError::DeviceIdOutOfRange {
                device_id: DeviceId(0x10_0010),
                max: DeviceId(0xf_ffff),
            })
        );
        exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
        assert_no_violations(&model);

        // 24313 stays in force: only the DeviceID quirk is ignored.
        let model = ItsModel::new(config);
        let its_config = ItsConfig {
            quirks: ignoring(Quirks::DEVICE_ID_20_BITS),
            ..ItsConfig::default()
        };
        let mut its = bring_up(&model, its_config, LpiDomainConfig::default()).unwrap();
        assert_eq!(its.max_device_id(), DeviceId(0xff_ffff));
        its.map_device(DeviceId(0x10), 1).unwrap();
        let mine = its
            .map_event(DeviceId(0x10), EventId(0), gicv3_its::CollectionId(0))
            .unwrap();
        its.map_device(DeviceId(0x10_0010), 1).unwrap();
        let other = its
            .map_event(DeviceId(0x10_0010), EventId(0), gicv3_its::CollectionId(1))
            .unwrap();
        // Device 0x10's MSI arrives as the other device's LPI, on its CPU.
        let stolen = model.send_msi(DeviceId(0x10), EventId(0)).unwrap();
        assert_eq!((stolen.intid, stolen.processor), (other, 1));
        assert_ne!(mine, other);
        assert!(model.violations().iter().any(|v| matches!(
            v,
            Violation::Command {
                error: CommandError::DeviceAlreadyMapped(0x10_0010),
                ..
            }
        )));
        std::mem::forget(its);
    }
}

/// Cavium ThunderX pass 1 (erratum 24313): the ITS ignores the memory
/// attributes of its tables; the model (and the driver) take it as an ITS
/// that does not snoop, beside redistributors that do.
#[test]
fn thunderx_its_ignores_memory_attributes() {
    run_with(ModelConfig::thunderx(), QuirkOverrides::default(), 4).assert_clean();
    let its_config = ItsConfig {
        quirks: ignoring(Quirks::NON_COHERENT),
        ..ItsConfig::default()
    };
    let without = run(
        ModelConfig::thunderx(),
        its_config,
        LpiDomainConfig::default(),
        4,
    );
    assert!(read_an_uncleaned_command(&without), "{without:#?}");
}

/// Rockchip RK3568 (erratum 3568002): the same IIDR as the RK3588; the GIC
/// reaches only the low 4 GiB, and the platform's memory lies above. With
/// the quirk the driver refuses that memory, gives it back and leaves
/// nothing Valid; without it, every access the GIC makes misses.
#[test]
fn rk3568_reaches_only_the_low_4_gib() {
    let model = ItsModel::new(ModelConfig::rk3568());
    let domain = LpiDomain::new(model.memory(), LpiDomainConfig::default()).unwrap();
    let region = 1 << 32;
    assert_eq!(
        domain.init_redistributor(&model.gicr(0), 0x080a_0000),
        Err(ItsError::UnencodableAddress { phys: region })
    );
    let gicr = model.gicr(0);
    assert_eq!(gicr.read_register(GicrRegister::Ctlr) & 1, 0);
    assert_eq!(gicr.read_register(GicrRegister::Propbaser), 0);
    let before = model.stats().bytes_allocated;
    let probed = Its::probe(model.gits(), model.memory(), &domain, ItsConfig::default());
    assert!(matches!(
        probed.err(),
        Some(ItsError::UnencodableAddress { phys }) if phys >= 1 << 32
    ));
    assert_nothing_valid(&model);
    assert_eq!(model.stats().bytes_allocated, before, "memory given back");
    assert_no_violations(&model);

    // Ignored: the driver programs addresses above 4 GiB, which the GIC's
    // accesses cannot carry: the tables it reads lie 4 GiB lower.
    let without = run_with(ModelConfig::rk3568(), ignoring(Quirks::BELOW_4GIB), 4);
    assert!(
        without.caught(|v| matches!(
            v,
            Violation::Memory(MemoryFault {
                address,
                what: "LPI property table",
                ..
            }) if *address < 1 << 32
        )),
        "{without:#?}"
    );
    assert!(
        without.caught(|v| matches!(
            v,
            Violation::Memory(MemoryFault {
                what: "command queue",
                ..
            })
        )),
        "{without:#?}"
    );
    assert!(without.error.is_some(), "{without:#?}");
}

/// Rockchip RK3568 with memory on both sides of 4 GiB: the driver uses
/// what lies below, and refuses and gives back an ITT or a level-2 Device
/// table page that lands above, leaving the device unmapped.
#[test]
fn rk3568_memory_above_4_gib_is_refused_as_it_comes() {
    let model = ItsModel::new(ModelConfig {
        arena_phys_base: (1 << 32) - (2 << 20),
        ..ModelConfig::rk3568()
    });
    let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
    its.map_device(DeviceId(0x10), 1).unwrap();
    let lpi = its
        .map_event(DeviceId(0x10), EventId(0), gicv3_its::CollectionId(0))
        .unwrap();
    let fillers = fill_below(&model, 1 << 32);
    let before = model.stats().bytes_allocated;
    // An ITT (the level-2 page of DeviceIDs 0..8191 is there already), then
    // a level-2 page.
    for device_id in [DeviceId(0x11), DeviceId(0x8000)] {
        let result = its.map_device(device_id, 4);
        assert!(
            matches!(result, Err(ItsError::UnencodableAddress { phys }) if phys >= 1 << 32),
            "{device_id:?}: {result:?}, {:?}",
            model.violations()
        );
        assert_eq!(model.stats().bytes_allocated, before, "given back");
    }
    assert_eq!(model.valid_device_ids(), [DeviceId(0x10)]);
    assert_eq!(its.registry().devices().count(), 1);
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)).map(|t| t.intid),
        Ok(lpi)
    );
    assert_no_violations(&model);
    let mut memory = model.memory();
    for filler in fillers {
        gicv3_its::DmaMemory::deallocate(&mut memory, filler);
    }
}

/// Allocates every free byte of the model's memory below `limit`.
fn fill_below(model: &ItsModel, limit: u64) -> Vec<gicv3_its::DmaRegion> {
    let mut memory = model.memory();
    let mut fillers = Vec::new();
    let mut size = 1 << 20;
    while size >= 64 {
        match gicv3_its::DmaMemory::allocate_zeroed(&mut memory, size, 64) {
            Some(region) if region.phys() + size as u64 <= limit => fillers.push(region),
            Some(region) => {
                gicv3_its::DmaMemory::deallocate(&mut memory, region);
                size /= 2;
            }
            None => size /= 2,
        }
    }
    fillers
}

/// A caller that knows the GIC reaches only the low 4 GiB (a forced
/// quirk) has the LPI tables refused before any redistributor is touched,
/// and the region `LpiDomain::new` allocated for them goes back. (It used
/// to be dropped with the refusal, never given back.)
#[test]
fn an_lpi_region_a_forced_quirk_refuses_is_given_back() {
    let model = ItsModel::new(ModelConfig::rk3568());
    let forced = LpiDomainConfig {
        quirks: forcing(Quirks::BELOW_4GIB),
        ..LpiDomainConfig::default()
    };
    assert_eq!(
        LpiDomain::new(model.memory(), forced).err(),
        Some(ItsError::UnencodableAddress { phys: 1 << 32 })
    );
    assert_eq!(model.stats().bytes_allocated, 0, "LPI region given back");
    assert_nothing_valid(&model);
    assert_no_violations(&model);
}

/// No GITS_CBASER or GITS_BASERn Valid, the ITS disabled, no
/// redistributor with EnableLPIs = 1.
fn assert_nothing_valid(model: &ItsModel) {
    let gits = model.gits();
    let valid = 1 << 63;
    assert_eq!(gits.read_register(GitsRegister::Cbaser) & valid, 0);
    for n in 0..8 {
        assert_eq!(gits.read_register(GitsRegister::Baser(n)) & valid, 0);
    }
    assert_eq!(gits.read_register(GitsRegister::Ctlr) & 1, 0);
    for index in 0..model.config().redistributors.len() {
        assert_eq!(model.gicr(index).read_register(GicrRegister::Ctlr) & 1, 0);
    }
}

/// Arm GIC-600 (GICR_IIDR ProductID 0x02, Arm 0x43b), GIC-600AE (0x03) and
/// GIC-700 (0x04), any variant and revision: the redistributors start
/// powered down and init_redistributor powers each up through GICR_PWRR,
/// after a power cycle too. Without the quirk the LPI registers ignore the
/// driver's writes.
#[test]
fn gic600_and_gic700_redistributors_are_powered_up() {
    for iidr in [0x0200_043b, 0x0201_143b, 0x0300_043b, 0x0400_043b] {
        let config = ModelConfig {
            iidr,
            ..ModelConfig::gic600()
        };
        run_with(config.clone(), QuirkOverrides::default(), 4).assert_clean();

        // Across a power cycle: powered down again, powered up again.
        let model = ItsModel::new(config.clone());
        let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
        its.map_device(DeviceId(0x10), 1).unwrap();
        let lpi = its
            .map_event(DeviceId(0x10), EventId(0), gicv3_its::CollectionId(3))
            .unwrap();
        its.save().unwrap();
        its.domain().save().unwrap();
        model.reset();
        init_redistributors(&model, its.domain());
        its.restore().unwrap();
        assert_eq!(
            model.send_msi(DeviceId(0x10), EventId(0)),
            Ok(Translation {
                intid: lpi,
                icid: gicv3_its::CollectionId(3),
                processor: 3
            })
        );
        assert_no_violations(&model);

        let without = run_with(config, ignoring(Quirks::REDISTRIBUTOR_POWER), 4);
        assert!(
            matches!(
                without.error,
                Some((
                    "init_redistributor",
                    ItsError::RegisterRefused {
                        register: "GICR_PROPBASER",
                        read: 0,
                        ..
                    }
                ))
            ),
            "{without:#?}"
        );
        assert_eq!(
            without.violations,
            [Violation::RedistributorPoweredDown(
                0,
                GicrRegister::Propbaser
            )]
        );
    }
}

/// A redistributor whose power group never comes up is a timeout, within
/// the wait's bound, and its LPIs stay off.
#[test]
fn a_redistributor_that_never_powers_up_is_a_timeout() {
    let model = ItsModel::new(ModelConfig {
        redistributor_power: Some(RedistributorPower {
            never_powers_up: true,
            ..RedistributorPower::default()
        }),
        ..ModelConfig::gic600()
    });
    let config = LpiDomainConfig {
        wait: WaitPolicy {
            poll_budget: 1000,
            ..WaitPolicy::default()
        },
        ..LpiDomainConfig::default()
    };
    let domain = LpiDomain::new(model.memory(), config).unwrap();
    assert_eq!(
        domain.init_redistributor(&model.gicr(0), 0x080a_0000),
        Err(ItsError::Timeout {
            waiting_for: WaitFor::RedistributorPower,
            polls: 1000
        })
    );
    assert!(domain.redistributors().is_empty());
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)),
        Err(MsiError::ItsDisabled)
    );
    assert_no_violations(&model);
}
