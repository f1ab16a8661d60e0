//! Known implementation quirks, each on a model of the implementation (a
//! preset that reports its IIDR and behaves as its errata say): with the
//! driver's quirk in force the workload runs clean; with the same quirk
//! ignored through `QuirkOverrides::ignore`, the model shows what goes
//! wrong (the GIC reading stale or out-of-bounds memory, MSIs lost or
//! delivered while disabled, register writes ignored).

use crate::support::room;
use crate::support::*;
use gicv3_its::quirks::{QuirkOverrides, Quirks};
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{DeviceId, EventId, ItsConfig, ItsError, LpiDomainConfig, WaitFor};
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

/// The machine compatibles of a Rock 5B (an RK3588) and of a Quartz64
/// (an RK3566): the caller names the platform.
const RK3588: [&str; 2] = ["radxa,rock-5b", "rockchip,rk3588"];
const RK3566: [&str; 2] = ["pine64,quartz64-a", "rockchip,rk3566"];

/// Rockchip RK3588 (erratum 3588001): shareable attributes accepted (the
/// fields keep them) but no snooping. The caller names the machine; the
/// quirk makes the driver ask for non-shareable, non-cacheable memory and
/// clean every write. Its GIC-600's IIDR (0x0201743b, Arm's own) alone
/// does not bring it.
#[test]
fn rk3588_accepts_shareable_attributes_but_does_not_snoop() {
    let named = QuirkOverrides::for_machine(RK3588);
    run_with(ModelConfig::rk3588(), named, 4).assert_clean();

    // Not named: the ITS reads commands the CPU never cleaned.
    let without = run_with(ModelConfig::rk3588(), QuirkOverrides::default(), 4);
    assert!(read_an_uncleaned_command(&without), "{without:#?}");

    // Named on the ITS only: the ITS works, but the tables the
    // redistributors see are not the ones the CPU wrote: pending tables
    // that are not zero under PTZ = 1, and a disabled LPI that still
    // arrives.
    let its_config = ItsConfig {
        quirks: named,
        ..ItsConfig::default()
    };
    let without = run(
        ModelConfig::rk3588(),
        its_config,
        LpiDomainConfig::default(),
        4,
    );
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

/// A GIC-600 server reports the RK3588's IIDR, snoops, and has all its
/// memory above 4 GiB: neither Rockchip quirk may fire on it (they used to
/// on the IIDR alone, and refused every table with "the GIC cannot be
/// given memory").
#[test]
fn a_gic600_server_is_no_rockchip() {
    let model = ItsModel::new(ModelConfig::gic600_server());
    let mut its = bring_up(&model, ItsConfig::default(), LpiDomainConfig::default()).unwrap();
    assert_eq!(its.features().quirks, Quirks::empty());
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    // No cleaning: the tables stayed shareable and cacheable.
    assert_eq!(model.stats().cleans, 0);
    assert_no_violations(&model);
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

/// Rockchip RK3566/RK3568 (erratum 3568002): the GIC reaches only the low
/// 4 GiB, on a board with memory on both sides of it whose allocator hands
/// out high memory first. Named, the quirk makes the driver ask for memory
/// below 4 GiB, and everything works; not named, what the driver gets lies
/// above, and the GIC's accesses (which lose the high address bits) miss.
#[test]
fn rk3568_asks_for_memory_below_4_gib() {
    let named = QuirkOverrides::for_machine(RK3566);
    assert_eq!(named.force, Quirks::BELOW_4GIB | Quirks::NON_COHERENT);
    let model = ItsModel::new(ModelConfig::rk3568());
    let (its_config, domain_config) = with_overrides(named);
    let mut its = bring_up(&model, its_config, domain_config).unwrap();
    exercise(&model, &mut its, DeviceId(0x10), 4).assert_clean();
    let allocations = model.live_allocations();
    assert!(!allocations.is_empty());
    for (phys, size) in allocations {
        assert!(phys + size as u64 <= 1 << 32, "{size} bytes at {phys:#x}");
    }
    assert_no_violations(&model);

    let without = run_with(ModelConfig::rk3568(), QuirkOverrides::default(), 4);
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
    assert!(without.error.is_some(), "{without:#?}");
}

/// Rockchip RK3568 once the memory below 4 GiB is used up: an ITT or a
/// level-2 Device table page is refused as out of memory (asked for below
/// 4 GiB, where there is none), and a memory provider that ignores the
/// limit gets what it hands out above refused and given back. The device
/// stays unmapped either way.
#[test]
fn rk3568_memory_below_4_gib_runs_out() {
    let model = ItsModel::new(ModelConfig::rk3568());
    let (its_config, domain_config) = with_overrides(QuirkOverrides::for_machine(RK3566));
    let mut its = bring_up(&model, its_config, domain_config).unwrap();
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
            matches!(result, Err(ItsError::OutOfMemory { .. })),
            "{device_id:?}: {result:?}, {:?}",
            model.violations()
        );
        assert_eq!(model.stats().bytes_allocated, before, "nothing kept");
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
        memory.give_back(filler);
    }
}

/// A memory provider that ignores the address limit: what it hands out
/// above 4 GiB is refused and given back, leaving nothing Valid.
#[test]
fn memory_above_the_limit_is_refused_and_given_back() {
    let model = ItsModel::new(ModelConfig::rk3568());
    let memory = Unlimited(model.memory());
    let forced = LpiDomainConfig {
        quirks: forcing(Quirks::BELOW_4GIB),
        ..LpiDomainConfig::default()
    };
    assert!(matches!(
        room::domain(memory.clone(), forced).err(),
        Some(ItsError::UnencodableAddress { phys }) if phys >= 1 << 32
    ));
    assert_eq!(model.stats().bytes_allocated, 0, "given back");
    let domain = room::domain(memory.clone(), LpiDomainConfig::default()).unwrap();
    let probed = room::probe(
        model.gits(),
        memory,
        &domain,
        ItsConfig {
            quirks: forcing(Quirks::BELOW_4GIB),
            ..ItsConfig::default()
        },
    );
    let before = model.stats().bytes_allocated;
    assert!(matches!(
        probed.err(),
        Some(ItsError::UnencodableAddress { phys }) if phys >= 1 << 32
    ));
    assert_nothing_valid(&model);
    assert_eq!(model.stats().bytes_allocated, before, "given back");
    assert_no_violations(&model);
}

/// The model's memory, deaf to [`gicv3_its::DmaRequest::max_address`]: it
/// places every allocation as if there were no limit.
#[derive(Clone)]
struct Unlimited(gicv3_its_model::ModelMemory);

// SAFETY: forwards to the model's memory, which keeps its guarantees; only
// the address limit (not a safety property) is dropped.
unsafe impl gicv3_its::DmaMemory for Unlimited {
    fn allocate_zeroed(&mut self, request: gicv3_its::DmaRequest) -> Option<gicv3_its::DmaRegion> {
        self.0.allocate_zeroed(gicv3_its::DmaRequest {
            max_address: u64::MAX,
            ..request
        })
    }
    fn deallocate(&mut self, region: gicv3_its::DmaRegion, request: gicv3_its::DmaRequest) {
        self.0.deallocate(
            region,
            gicv3_its::DmaRequest {
                max_address: u64::MAX,
                ..request
            },
        )
    }
    fn clean_invalidate_to_poc(&self, virt: core::ptr::NonNull<u8>, len: usize) {
        self.0.clean_invalidate_to_poc(virt, len)
    }
}

/// Allocates every free byte of the model's memory below `limit`.
fn fill_below(model: &ItsModel, limit: u64) -> Vec<gicv3_its::DmaRegion> {
    let mut memory = model.memory();
    let mut fillers = Vec::new();
    let mut size = 1 << 20;
    while size >= 64 {
        let request = gicv3_its::DmaRequest {
            max_address: limit - 1,
            ..gicv3_its::DmaRequest::new(size, 64)
        };
        match gicv3_its::DmaMemory::allocate_zeroed(&mut memory, request) {
            Some(region) => fillers.push(region),
            None => size /= 2,
        }
    }
    fillers
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
        let _ = its.restore().unwrap();
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
    let domain = room::domain(model.memory(), config).unwrap();
    assert_eq!(
        domain.init_redistributor(&model.gicr(0), 0x080a_0000),
        Err(ItsError::Timeout {
            waiting_for: WaitFor::RedistributorPower,
            polls: 1000
        })
    );
    assert!(room::redistributors(&domain).is_empty());
    assert_eq!(
        model.send_msi(DeviceId(0x10), EventId(0)),
        Err(MsiError::ItsDisabled)
    );
    assert_no_violations(&model);
}

/// Socionext SynQuacer: devices reach the ITS through a pre-ITS window
/// (`socionext,synquacer-pre-its = <base size>`), which carries the
/// DeviceID in the address: each device's doorbell is its own, and
/// DeviceIDs are limited to what the window holds (a 256 KiB window, 16
/// bits, on an ITS that says 20).
#[test]
fn synquacer_devices_write_their_msis_through_the_pre_its_window() {
    let config = ModelConfig {
        devbits: 20,
        ..ModelConfig::default()
    };
    let window = gicv3_its::Doorbell::PreIts {
        base: 0x5800_0000,
        size: 1 << 18,
    };
    let (model, mut its) = setup_with(
        config.clone(),
        ItsConfig {
            doorbell: Some(window),
            ..ItsConfig::default()
        },
    );
    assert_eq!(its.max_device_id(), DeviceId(0xffff));
    assert_eq!(its.doorbell(DeviceId(0)), Ok(0x5800_0000));
    assert_eq!(its.doorbell(DeviceId(0x10)), Ok(0x5800_0040));
    assert_eq!(its.doorbell(DeviceId(0xffff)), Ok(0x5803_fffc));
    let beyond = Err(ItsError::DeviceIdOutOfRange {
        device_id: DeviceId(0x1_0000),
        max: DeviceId(0xffff),
    });
    assert_eq!(its.doorbell(DeviceId(0x1_0000)), beyond);
    assert_eq!(its.map_device(DeviceId(0x1_0000), 1), beyond.map(|_| ()));
    assert_no_violations(&model);

    // Everywhere else: GITS_TRANSLATER, 64 KiB + 0x40 into the ITS, for
    // every device; and no doorbell at all if probe was not told.
    let (_, its) = setup_with(
        config.clone(),
        ItsConfig {
            doorbell: Some(gicv3_its::Doorbell::Translater {
                its_base: 0x0808_0000,
            }),
            ..ItsConfig::default()
        },
    );
    assert_eq!(its.max_device_id(), DeviceId(0xf_ffff));
    assert_eq!(its.doorbell(DeviceId(0x10)), Ok(0x0809_0040));
    assert_eq!(its.doorbell(DeviceId(0x7_0000)), Ok(0x0809_0040));
    let (_, its) = setup(config);
    assert_eq!(its.doorbell(DeviceId(0x10)), Err(ItsError::NoDoorbell));
}
