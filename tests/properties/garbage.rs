//! Whatever a previous owner left: the model starts in a random state that
//! a kernel before ours could leave (ITSes enabled or not, queues with
//! unconsumed commands or stalled, base registers valid on random memory,
//! redistributors running on random tables with EnableLPIs sticky or not,
//! vPEs resident, memory full of old tables), sometimes on top of a kernel
//! like ours that handed over without a teardown. Our kernel then boots in
//! the documented order. It must never panic or hang, and either
//! translates MSIs exactly as mapped (before and after a save and restore)
//! with the GIC touching only memory it was given, or stops with a typed
//! error the state explains: a redistributor whose EnableLPIs cannot be
//! cleared, running on tables our kernel cannot adopt.

use crate::cases;
use crate::support::room;
use crate::support::*;
use gicv3_its::registers::{GICR_PENDBASER, GICR_PROPBASER, GITS_BASER, GITS_CBASER};
use gicv3_its::takeover;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{Bookkeeping, ItsConfig, ItsError, LpiDomainConfig, ProcessorNumber};
use gicv3_its::{CollectionId, DeviceId, DmaMemory, DmaRegion, DmaRequest, EventId};
use gicv3_its_model::{
    Consumption, GicrRegister as R, GicrVlpiRegister as V, GitsRegister as G, ItsModel,
    ModelConfig, Quiescence, Translation, Violation, VirtualLpis,
};
use proptest::prelude::*;

/// Where a previous owner's base register points.
#[derive(Clone, Copy, Debug)]
enum Place {
    /// A 4 KiB page of the model's memory (free when our kernel boots, or
    /// handed out to it later).
    Memory(u32),
    /// A 4 KiB page of the region reserved for LPI tables (the model's
    /// memory if our kernel has none).
    Reserved(u32),
    /// Any physical address.
    Anywhere(u64),
}

/// One thing a previous owner did to the hardware or left in memory.
#[derive(Clone, Debug)]
enum Left {
    ItsCtlr {
        its: usize,
        enabled: bool,
    },
    Cbaser {
        its: usize,
        bits: u64,
        at: Place,
        valid: bool,
    },
    Cwriter {
        its: usize,
        value: u64,
    },
    Baser {
        its: usize,
        n: usize,
        bits: u64,
        at: Place,
        valid: bool,
    },
    EnableLpis {
        rd: usize,
        enable: bool,
    },
    Propbaser {
        rd: usize,
        bits: u64,
        at: Place,
    },
    Pendbaser {
        rd: usize,
        bits: u64,
        at: Place,
    },
    Vpendbaser {
        rd: usize,
        bits: u64,
        at: Place,
        valid: bool,
    },
    PowerUp {
        rd: usize,
    },
    /// Old table contents (random words, some shaped like valid level-1
    /// entries pointing into memory) at a page of the reserved region.
    Scribble {
        page: u32,
        words: Vec<u64>,
    },
}

/// The hardware, what happened before our kernel, and whether our kernel
/// (and the one before, if it was like ours) reserves memory for the LPI
/// tables.
#[derive(Clone, Debug)]
struct Handover {
    config: ModelConfig,
    /// A kernel like ours ran first, mapped events, left LPIs pending and
    /// handed over without a teardown (kexec).
    kernel_like_ours: bool,
    /// Our kernel gives `LpiDomain::with_region` a reserved region.
    reserved_region: bool,
    /// Old contents of free memory: (4 KiB page, words).
    old_memory: Vec<(u32, Vec<u64>)>,
    left: Vec<Left>,
}

const ARENA: usize = 16 << 20;
const PAGES: u32 = (ARENA >> 12) as u32;
const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        3 => (0..PAGES).prop_map(Place::Memory),
        3 => (0u32..64).prop_map(Place::Reserved),
        1 => any::<u64>().prop_map(Place::Anywhere),
    ]
}

fn valid() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.75)
}

fn left() -> impl Strategy<Value = Left> {
    let its = 0usize..2;
    let rd = 0usize..4;
    prop_oneof![
        2 => (its.clone(), any::<bool>())
            .prop_map(|(its, enabled)| Left::ItsCtlr { its, enabled }),
        2 => (its.clone(), any::<u64>(), place(), valid())
            .prop_map(|(its, bits, at, valid)| Left::Cbaser { its, bits, at, valid }),
        2 => (its.clone(), prop_oneof![3 => (0u64..0x8000).prop_map(|o| o << 5), 1 => any::<u64>()])
            .prop_map(|(its, value)| Left::Cwriter { its, value }),
        3 => (its, 0usize..8, any::<u64>(), place(), valid())
            .prop_map(|(its, n, bits, at, valid)| Left::Baser { its, n, bits, at, valid }),
        2 => (rd.clone(), prop::bool::weighted(0.7))
            .prop_map(|(rd, enable)| Left::EnableLpis { rd, enable }),
        2 => (rd.clone(), any::<u64>(), place())
            .prop_map(|(rd, bits, at)| Left::Propbaser { rd, bits, at }),
        2 => (rd.clone(), any::<u64>(), place())
            .prop_map(|(rd, bits, at)| Left::Pendbaser { rd, bits, at }),
        1 => (rd.clone(), any::<u64>(), place(), valid())
            .prop_map(|(rd, bits, at, valid)| Left::Vpendbaser { rd, bits, at, valid }),
        1 => rd.prop_map(|rd| Left::PowerUp { rd }),
        1 => (0u32..64, words())
            .prop_map(|(page, words)| Left::Scribble { page, words }),
    ]
}

/// Old table contents: random words and level-1 entries (Valid, an address
/// in memory).
fn words() -> impl Strategy<Value = Vec<u64>> {
    let level1 = (0..PAGES)
        .prop_map(|page| 1 << 63 | (gicv3_its_model::ARENA_PHYS_BASE + (u64::from(page) << 12)));
    prop::collection::vec(prop_oneof![any::<u64>(), level1], 1..64)
}

fn hardware() -> impl Strategy<Value = ModelConfig> {
    let base = prop_oneof![
        Just(ModelConfig::default()),
        Just(ModelConfig::kvm()),
        Just(ModelConfig::gic600()),
        Just(ModelConfig::gicv41_after_kvm_host()),
    ];
    let quiescence = prop_oneof![
        (0u32..5).prop_map(Quiescence::AfterReads),
        Just(Quiescence::WhenQueueEmpty),
    ];
    let consumption = prop_oneof![
        Just(Consumption::Synchronous),
        (1usize..4).prop_map(|commands_per_creadr_read| Consumption::Asynchronous {
            commands_per_creadr_read
        }),
    ];
    (
        base,
        1usize..=2,
        any::<bool>(),
        0u32..3,
        prop::option::of((quiescence, consumption, any::<bool>())),
        any::<bool>(),
        prop::option::of((any::<bool>(), 0u32..3)),
    )
        .prop_map(
            |(base, its_count, sticky, rwp_reads, behaviour, sparse, vpes)| {
                let mut config = ModelConfig {
                    its_count,
                    sticky_enable_lpis: sticky,
                    rwp_reads,
                    arena_size: ARENA,
                    ..base
                };
                if let Some((quiescence, consumption, memory_errors_stall)) = behaviour {
                    config.quiescence = quiescence;
                    config.consumption = consumption;
                    config.memory_errors_stall = memory_errors_stall;
                }
                if sparse {
                    // Two chips of a GIC-600, five bits of core number each.
                    config.processor_numbers = vec![0, 1, 0x20, 0x21];
                }
                if config.virtual_lpis.is_none()
                    && let Some((v4_1, dirty_reads)) = vpes
                {
                    config.virtual_lpis = Some(VirtualLpis {
                        v4_1,
                        dirty_reads,
                        left_resident: true,
                    });
                }
                config
            },
        )
}

fn handover() -> impl Strategy<Value = Handover> {
    (
        hardware(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((0..PAGES, words()), 0..4),
        prop::collection::vec(left(), 0..24),
    )
        .prop_map(
            |(config, kernel_like_ours, reserved_region, old_memory, left)| Handover {
                config,
                kernel_like_ours,
                // The same kernel reserves the same memory.
                reserved_region: reserved_region || kernel_like_ours,
                old_memory,
                left,
            },
        )
}

/// The memory reserved for LPI tables, which every kernel booted on the
/// machine is given.
#[derive(Clone, Copy)]
struct Reserved {
    virt: core::ptr::NonNull<u8>,
    phys: u64,
    size: usize,
}

impl Reserved {
    fn region(&self) -> DmaRegion {
        // SAFETY: model memory allocated for the reservation and never
        // given back; only one kernel at a time uses it (the one before
        // ours was forgotten).
        unsafe { DmaRegion::new(self.virt, self.phys, self.size) }
    }
}

/// The first thing a kernel does at boot, before it allocates anything:
/// every ITS quiesced, then every redistributor's LPIs stopped. Returns
/// the violations this caused, which are the previous owner's: a
/// redistributor writing its pending state back into the pending table it
/// was given as its LPIs stop.
fn stop_previous_owner(model: &ItsModel) -> Result<Vec<Violation>, (String, ItsError)> {
    let config = model.config();
    for index in 0..config.its_count {
        takeover::quiesce(&model.its(index).gits(), Default::default())
            .map_err(|e| (format!("quiesce ITS {index}"), e))?;
    }
    for index in 0..config.redistributors.len() {
        takeover::stop_lpis(&model.gicr(index), Default::default())
            .map_err(|e| (format!("stop_lpis {index}"), e))?;
    }
    Ok(model.take_violations())
}

/// The rest of a kernel's boot, in the documented order: the LPI domain
/// (over the reserved region if there is one), every redistributor
/// (retiring a resident vPE), every ITS probed with a collection per CPU
/// (ICID = the redistributor's index).
fn boot(
    model: &ItsModel,
    reserved: Option<Reserved>,
    wait: WaitPolicy,
) -> Result<Vec<ModelIts>, (String, ItsError)> {
    let config = model.config();
    let domain_config = LpiDomainConfig {
        wait,
        ..LpiDomainConfig::default()
    };
    let domain = match reserved {
        Some(reserved) => {
            room::domain_with_region(model.memory(), reserved.region(), domain_config)
                .map_err(|refused| ("LpiDomain::with_region".into(), refused.error))?
        }
        None => {
            room::domain(model.memory(), domain_config).map_err(|e| ("LpiDomain::new".into(), e))?
        }
    };
    for (index, &rd_base) in config.redistributors.iter().enumerate() {
        domain
            .init_redistributor_with_vlpi(&model.gicr(index), &model.gicr_vlpi(index), rd_base)
            .map_err(|e| (format!("init_redistributor {index}"), e))?;
    }
    let mut itses = Vec::new();
    for index in 0..config.its_count {
        let mut its = room::probe(
            model.its(index).gits(),
            model.memory(),
            &domain,
            ItsConfig {
                wait,
                ..ItsConfig::default()
            },
        )
        .map_err(|e| (format!("probe ITS {index}"), e))?;
        for (icid, cpu) in processor_numbers(model).enumerate() {
            its.map_collection(CollectionId(icid as u16), cpu)
                .map_err(|e| (format!("map_collection ITS {index}"), e))?;
        }
        itses.push(its);
    }
    Ok(itses)
}

/// Whether every violation is a redistributor left with LPIs enabled
/// writing its pending state back into the pending table the previous
/// owner gave it (GICR_PENDBASER as found, `left`) outside memory this
/// kernel was given, as its LPIs stop.
fn write_backs_only(model: &ItsModel, violations: &[Violation], left: &LpiRegisters) -> bool {
    let bus_mask = (1u64 << model.config().bus_address_bits) - 1;
    violations.iter().all(|violation| match violation {
        Violation::Memory(fault) if fault.what == "LPI pending table" => {
            left.iter().any(|&(enabled, _, pendbaser)| {
                let table = GICR_PENDBASER::Physical_Address.read(pendbaser) << 16;
                enabled && fault.address == (table + 1024) & bus_mask
            })
        }
        _ => false,
    })
}

/// The device of ITS `index` in `workload`.
fn device(index: usize) -> DeviceId {
    DeviceId(0x10 + index as u32)
}

/// On every ITS a device with an event per CPU, event `e` on collection
/// `e` (CPU `e`).
fn map_events(itses: &mut [ModelIts], cpus: usize) -> Result<(), ItsError> {
    for (index, its) in itses.iter_mut().enumerate() {
        its.map_device(device(index), cpus as u32)?;
        for event in 0..cpus as u32 {
            its.map_event(device(index), EventId(event), CollectionId(event as u16))?;
        }
    }
    Ok(())
}

/// Every event's MSI arrives once, on its LPI and CPU, on every ITS. LPIs
/// a previous owner left pending in tables our kernel adopted may arrive
/// once beforehand (a spurious interrupt, as drivers expect after a
/// kexec); they are taken first.
fn check_msis(model: &ItsModel, itses: &[ModelIts], cpus: usize) {
    for cpu in 0..cpus {
        model.take_pending(cpu);
    }
    for (index, its) in itses.iter().enumerate() {
        for event in 0..cpus as u32 {
            let mapping = its
                .registry()
                .event(device(index), EventId(event))
                .expect("mapped");
            let expected = Translation {
                intid: mapping.intid(),
                icid: CollectionId(event as u16),
                processor: event as usize,
            };
            let sent = model.its(index).send_msi(device(index), EventId(event));
            assert_eq!(sent, Ok(expected), "ITS {index} event {event}");
            assert_eq!(
                model.take_pending(event as usize),
                [mapping.intid()],
                "ITS {index} event {event}"
            );
        }
    }
}

/// A physical range `[start, end)`.
type Range = (u64, u64);

/// What the GIC's registers say it uses now: the LPI tables of every
/// redistributor with EnableLPIs set, the queue and the tables of every
/// ITS (level 1 of indirect ones), read from the registers alone.
fn tables_in_use(model: &ItsModel) -> Vec<(String, Range)> {
    let config = model.config();
    let mut used = Vec::new();
    for index in 0..config.redistributors.len() {
        let gicr = model.gicr(index);
        if gicr.read_register(R::Ctlr) & 1 == 0 {
            continue;
        }
        let propbaser = gicr.read_register(R::Propbaser);
        let id_bits = GICR_PROPBASER::IDbits.read(propbaser) + 1;
        let property = GICR_PROPBASER::Physical_Address.read(propbaser) << 12;
        used.push((
            format!("GICR{index} property table"),
            (property, property + (1 << id_bits) - 8192),
        ));
        let pending = GICR_PENDBASER::Physical_Address.read(gicr.read_register(R::Pendbaser)) << 16;
        used.push((
            format!("GICR{index} pending table"),
            (pending, pending + (1 << id_bits) / 8),
        ));
    }
    for index in 0..config.its_count {
        let gits = model.its(index).gits();
        let cbaser = gits.read_register(G::Cbaser);
        if GITS_CBASER::Valid.is_set(cbaser) {
            let start = GITS_CBASER::Physical_Address.read(cbaser) << 12;
            let pages = GITS_CBASER::Size.read(cbaser) + 1;
            used.push((format!("ITS{index} queue"), (start, start + (pages << 12))));
        }
        for n in 0..8 {
            let baser = gits.read_register(G::Baser(n));
            if !GITS_BASER::Valid.is_set(baser) {
                continue;
            }
            let page_shift = [12, 14, 16, 16][GITS_BASER::Page_Size.read(baser) as usize];
            let mut start = GITS_BASER::Physical_Address.read(baser) << 12;
            if page_shift == 16 {
                // Bits [15:12] of the field hold address bits [51:48].
                start = (start & !0xf000 & ((1 << 48) - 1)) | ((start >> 12 & 0xf) << 48);
            }
            let pages = GITS_BASER::Size.read(baser) + 1;
            used.push((
                format!("ITS{index} BASER{n}"),
                (start, start + (pages << page_shift)),
            ));
        }
    }
    used
}

/// No two tables the GIC uses overlap (a property table shared by
/// redistributors is one table), and each lies inside memory handed out.
fn assert_tables_apart(model: &ItsModel) {
    let mut used = tables_in_use(model);
    used.sort_by_key(|(_, range)| *range);
    used.dedup_by_key(|(_, range)| *range);
    for pair in used.windows(2) {
        assert!(
            pair[0].1.1 <= pair[1].1.0,
            "{} {:x?} overlaps {} {:x?}",
            pair[0].0,
            pair[0].1,
            pair[1].0,
            pair[1].1
        );
    }
    let live = model.live_allocations();
    for (name, (start, end)) in &used {
        assert!(
            live.iter()
                .any(|&(at, len)| at <= *start && *end <= at + len as u64),
            "{name} {start:#x}..{end:#x} lies outside memory handed out"
        );
    }
}

/// Writes old contents into free memory: every free range allocated (the
/// largest first), written where a page of `old` falls, cleaned and given
/// back.
fn leave_old_memory(model: &ItsModel, old: &[(u32, Vec<u64>)]) {
    let mut memory = model.memory();
    let mut free = Vec::new();
    let mut size = ARENA;
    while size >= 4096 {
        match memory.allocate_zeroed(DmaRequest::new(size, 4096)) {
            Some(region) => free.push(region),
            None => size /= 2,
        }
    }
    let base = model.config().arena_phys_base;
    for (page, words) in old {
        let phys = base + (u64::from(*page) << 12);
        if let Some(region) = free
            .iter()
            .find(|r| r.phys() <= phys && phys < r.phys() + r.size() as u64)
        {
            write_words(region, (phys - region.phys()) as usize, words);
        }
    }
    for region in free {
        memory.clean_invalidate_to_poc(region.virt(), region.size());
        memory.give_back(region);
    }
}

fn write_words(region: &DmaRegion, offset: usize, words: &[u64]) {
    for (i, word) in words.iter().enumerate() {
        let at = offset + i * 8;
        if at + 8 <= region.size() {
            // SAFETY: inside `region`, which the caller holds.
            unsafe {
                region
                    .virt()
                    .as_ptr()
                    .add(at)
                    .cast::<u64>()
                    .write_unaligned(*word)
            };
        }
    }
}

/// Does what `left` says to the model.
fn apply(model: &ItsModel, reserved: Option<Reserved>, left: &Left) {
    let config = model.config();
    let arena = config.arena_phys_base;
    let resolve = |at: Place| match (at, reserved) {
        (Place::Reserved(page), Some(reserved)) => {
            reserved.phys + (u64::from(page) << 12) % reserved.size as u64
        }
        (Place::Memory(page) | Place::Reserved(page), _) => arena + (u64::from(page) << 12),
        (Place::Anywhere(address), _) => address & ADDRESS,
    };
    let its = |index: usize| model.its(index % config.its_count).gits();
    let rds = config.redistributors.len();
    let with = |bits: u64, at: Place, valid: bool| {
        let value = (bits & !ADDRESS) | resolve(at);
        if valid {
            value | 1 << 63
        } else {
            value & !(1 << 63)
        }
    };
    match *left {
        Left::ItsCtlr {
            its: index,
            enabled,
        } => its(index).write_register(G::Ctlr, enabled.into()),
        Left::Cbaser {
            its: index,
            bits,
            at,
            valid: v,
        } => its(index).write_register(G::Cbaser, with(bits, at, v)),
        Left::Cwriter { its: index, value } => its(index).write_register(G::Cwriter, value),
        Left::Baser {
            its: index,
            n,
            bits,
            at,
            valid: v,
        } => its(index).write_register(G::Baser(n), with(bits, at, v)),
        Left::EnableLpis { rd, enable } => {
            model.gicr(rd % rds).write_register(R::Ctlr, enable.into())
        }
        Left::Propbaser { rd, bits, at } => model
            .gicr(rd % rds)
            .write_register(R::Propbaser, (bits & !ADDRESS) | resolve(at)),
        Left::Pendbaser { rd, bits, at } => model
            .gicr(rd % rds)
            .write_register(R::Pendbaser, (bits & !ADDRESS) | resolve(at)),
        Left::Vpendbaser {
            rd,
            bits,
            at,
            valid: v,
        } => model
            .gicr_vlpi(rd % rds)
            .write_register(V::Vpendbaser, with(bits, at, v)),
        Left::PowerUp { rd } => {
            let gicr = model.gicr(rd % rds);
            gicr.write_register(R::Pwrr, 0);
            for _ in 0..10 {
                gicr.read_register(R::Pwrr);
            }
        }
        Left::Scribble { page, ref words } => {
            if let Some(reserved) = reserved {
                let offset = (page as usize * 4096) % reserved.size;
                write_words(&reserved.region(), offset, words);
                model
                    .memory()
                    .clean_invalidate_to_poc(reserved.virt, reserved.size);
            }
        }
    }
}

/// Each redistributor's EnableLPIs, GICR_PROPBASER and GICR_PENDBASER.
type LpiRegisters = Vec<(bool, u64, u64)>;

fn lpi_registers(model: &ItsModel) -> LpiRegisters {
    (0..model.config().redistributors.len())
        .map(|index| {
            let gicr = model.gicr(index);
            (
                gicr.read_register(R::Ctlr) & 1 == 1,
                gicr.read_register(R::Propbaser),
                gicr.read_register(R::Pendbaser),
            )
        })
        .collect()
}

/// Whether `error` is one the handover explains, all of them on a GIC
/// whose EnableLPIs cannot be cleared: a redistributor left enabled
/// (`left`) on tables our kernel cannot adopt (not those a kernel like
/// ours left, `ours`, which it must adopt as they are); or one that needs
/// the slot of the reserved region where an adopted pending table lies.
fn explained(
    model: &ItsModel,
    error: &ItsError,
    left: &LpiRegisters,
    ours: Option<&LpiRegisters>,
    reserved: Option<Reserved>,
) -> bool {
    let config = model.config();
    let index = |processor_number: ProcessorNumber| config.redistributor_index(processor_number.0);
    let locked = |index: usize| left[index].0 && ours.is_none_or(|ours| ours[index] != left[index]);
    let adopted_in_region = || {
        left.iter().any(|&(enabled, _, pendbaser)| {
            let table = GICR_PENDBASER::Physical_Address.read(pendbaser) << 16;
            enabled && reserved.is_some_and(|r| (r.phys..r.phys + r.size as u64).contains(&table))
        })
    };
    config.sticky_enable_lpis
        && match *error {
            ItsError::LpiTablesLocked {
                processor_number, ..
            }
            | ItsError::LpiPropertyTableConflict {
                processor_number, ..
            } => index(processor_number).is_some_and(locked),
            ItsError::NoPendingTable { .. } => adopted_in_region(),
            // Without the heap the test's storage has bitmap for 20-bit
            // LPIs (`room::LPI_ID_BITS`): adopting a previous owner's wider
            // tables needs more than the caller gave.
            ItsError::StorageFull {
                store: Bookkeeping::LpiBitmap,
                ..
            } => {
                cfg!(not(feature = "alloc"))
                    && adopted_in_region()
                    && left.iter().any(|&(enabled, propbaser, _)| {
                        enabled
                            && GICR_PROPBASER::IDbits.read(propbaser) + 1
                                > u64::from(room::LPI_ID_BITS)
                    })
            }
            _ => false,
        }
}

fn run(handover: &Handover) -> Result<(), TestCaseError> {
    let model = ItsModel::new(handover.config.clone());
    let cpus = handover.config.redistributors.len();
    leave_old_memory(&model, &handover.old_memory);
    let reserved = handover.reserved_region.then(|| {
        let highest = processor_numbers(&model)
            .map(|cpu| cpu.0)
            .max()
            .unwrap_or(0);
        let size = LpiDomainConfig::default().region_bytes(usize::from(highest) + 1);
        let region = model
            .memory()
            .allocate_zeroed(DmaRequest::new(size, 65536))
            .expect("reserved region");
        Reserved {
            virt: region.virt(),
            phys: region.phys(),
            size,
        }
    });
    let mut ours = None;
    // The drivers of a kernel like ours that handed over without a
    // teardown (a kexec), which never run again: dropped at the very end,
    // whatever their Drop then does to the model (a short wait budget keeps
    // that quick), rather than leaked with the model's memory.
    let mut gone = Vec::new();
    if handover.kernel_like_ours {
        let stopped = stop_previous_owner(&model).expect("a fresh GIC stops");
        assert_eq!(stopped, [], "a fresh GIC");
        let short = WaitPolicy {
            poll_budget: 10_000,
            ..WaitPolicy::default()
        };
        let mut itses = boot(&model, reserved, short).expect("a kernel like ours on a fresh GIC");
        map_events(&mut itses, cpus).expect("the kernel like ours maps");
        for index in 0..itses.len() {
            // Left pending across the handover.
            model.its(index).send_msi(device(index), EventId(0)).ok();
        }
        gone.extend(itses); // kexec: no teardown
        ours = Some(lpi_registers(&model));
    }
    for left in &handover.left {
        apply(&model, reserved, left);
    }
    // The previous owner's violations are its own.
    model.take_violations();
    let left = lpi_registers(&model);

    let booted = stop_previous_owner(&model).and_then(|stopped| {
        assert!(
            write_backs_only(&model, &stopped, &left),
            "stopping the previous owner: {stopped:#?}"
        );
        boot(&model, reserved, WaitPolicy::default())
    });
    let mut itses = match booted {
        Ok(itses) => itses,
        Err((step, error)) => {
            prop_assert!(
                explained(&model, &error, &left, ours.as_ref(), reserved),
                "{step}: {error:?} (found {left:x?})"
            );
            let violations = model.take_violations();
            prop_assert!(violations.is_empty(), "{step}: {violations:#?}");
            drop(gone);
            return Ok(());
        }
    };
    assert_no_violations(&model);
    assert_tables_apart(&model);
    map_events(&mut itses, cpus).expect("map on a booted driver");
    check_msis(&model, &itses, cpus);

    for its in &mut itses {
        its.save().expect("save");
    }
    itses[0].domain().save().expect("LpiDomain::save");
    model.reset();
    let domain = itses[0].domain().clone();
    for (index, &rd_base) in handover.config.redistributors.iter().enumerate() {
        domain
            .init_redistributor_with_vlpi(&model.gicr(index), &model.gicr_vlpi(index), rd_base)
            .expect("init_redistributor after a power cycle");
    }
    for its in &mut itses {
        let restored = its.restore().expect("restore");
        prop_assert_eq!(restored.deferred_collections, 0);
    }
    assert_tables_apart(&model);
    check_msis(&model, &itses, cpus);
    model.run_vpes();
    assert_no_violations(&model);
    drop(itses);
    drop(gone);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn whatever_a_previous_owner_left_our_kernel_boots_or_says_why(handover in handover()) {
        run(&handover)?;
    }
}

#[test]
fn errors_are_explained_only_by_a_sticky_redistributor_left_enabled() {
    // The oracle itself: a locked-tables error is explained only for a
    // redistributor left enabled on a GIC whose EnableLPIs is sticky, on
    // tables other than ours.
    let error = ItsError::LpiTablesLocked {
        processor_number: ProcessorNumber(1),
        propbaser: 0,
        pendbaser: 0,
    };
    for (sticky, enabled, explains) in [
        (true, true, true),
        (true, false, false),
        (false, true, false),
    ] {
        let model = ItsModel::new(ModelConfig {
            sticky_enable_lpis: sticky,
            ..ModelConfig::default()
        });
        let mut left = vec![(false, 0, 0); 4];
        left[1].0 = enabled;
        assert_eq!(explained(&model, &error, &left, None, None), explains);
    }
    let model = ItsModel::new(ModelConfig {
        sticky_enable_lpis: true,
        ..ModelConfig::default()
    });
    let left = vec![(true, 0x4000_0000, 0x4001_0000); 4];
    // Tables exactly as a kernel like ours left them: ours must adopt them.
    assert!(!explained(&model, &error, &left, Some(&left), None));
    assert!(!explained(&model, &ItsError::NoLpis, &left, None, None));
    // A slot of the reserved region taken: only by a pending table
    // adopted inside the region.
    let no_slot = ItsError::NoPendingTable {
        processor_number: ProcessorNumber(2),
        tables: 4,
    };
    let region = model
        .memory()
        .allocate_zeroed(DmaRequest::new(0x10_0000, 65536))
        .unwrap();
    let reserved = Reserved {
        virt: region.virt(),
        phys: region.phys(),
        size: region.size(),
    };
    let inside = vec![(true, 0, region.phys() + 0x2_0000); 4];
    assert!(explained(&model, &no_slot, &inside, None, Some(reserved)));
    let outside = vec![(true, 0, region.phys() + 0x10_0000); 4];
    assert!(!explained(&model, &no_slot, &outside, None, Some(reserved)));
    assert!(!explained(&model, &no_slot, &inside, None, None));
    model.memory().give_back(region);
}
