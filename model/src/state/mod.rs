//! What the model holds behind its handles' lock: what the ITSes share (the
//! configuration, the memory, the redistributors and what the model
//! reports) and each ITS's own state (its registers, what it keeps inside
//! itself and its command log); built from a [`ModelConfig`] and reset to it.

use crate::arena::Arena;
use crate::power::PowerGroup;
use crate::redistributor::Redistributor;
use crate::{ModelConfig, ModelStats, Violation};
use gicv3_its::ItsCommand;
use gicv3_its::registers::{GITS_BASER, GITS_TYPER};
use std::collections::BTreeMap;

mod commands;
mod memory;
mod power;
mod redistributors;
mod registers;
mod vlpi;
mod walks;

/// Everything behind the lock.
pub(crate) struct State {
    pub(crate) gic: Gic,
    pub(crate) its: Vec<Its>,
}

/// What every ITS shares.
pub(crate) struct Gic {
    pub(crate) config: ModelConfig,
    /// GITS_TYPER, the same for every ITS.
    pub(crate) typer: u64,
    pub(crate) arena: Arena,
    pub(crate) rds: Vec<Redistributor>,
    /// The redistributors' power groups (GICR_PWRR), if modelled.
    pub(crate) power_groups: Vec<PowerGroup>,
    pub(crate) alloc_budget: Option<usize>,
    pub(crate) stats: ModelStats,
    pub(crate) violations: Vec<Violation>,
}

/// One ITS's own state.
pub(crate) struct Its {
    pub(crate) enabled: bool,
    /// GITS_CTLR.ImDe (a GICv4 ITS's).
    pub(crate) imde: bool,
    /// GITS_CTLR reads left before Quiescent reads 1; `None`: never.
    pub(crate) quiescent_reads: Option<u32>,
    pub(crate) cbaser: u64,
    pub(crate) cwriter: usize,
    pub(crate) creadr: usize,
    pub(crate) stalled: bool,
    /// The stall was injected (`stall_on_command`): only a CBASER write ends it.
    pub(crate) injected_stall: bool,
    /// `stall_on_command` has fired (it fires once).
    pub(crate) stall_fired: bool,
    pub(crate) baser: [u64; 8],
    pub(crate) internal_collections: BTreeMap<u16, u64>,
    /// ITT (address, bytes) of each device mapped by MAPD, for `in_use`.
    pub(crate) itts: BTreeMap<u32, (u64, usize)>,
    pub(crate) commands_processed: u64,
    pub(crate) log: Vec<ItsCommand>,
}

/// One ITS at work, with what it shares with the others.
pub(crate) struct ItsMut<'a> {
    pub(crate) its: &'a mut Its,
    pub(crate) gic: &'a mut Gic,
}

impl State {
    pub(crate) fn new(config: ModelConfig) -> Self {
        assert!((1..=32).contains(&config.devbits), "devbits");
        assert!((1..=32).contains(&config.event_id_bits), "event_id_bits");
        assert!((8..=16).contains(&config.itt_entry_size), "itt_entry_size");
        assert!(
            config
                .reported_itt_entry_size
                .is_none_or(|size| (1..=16).contains(&size)),
            "reported_itt_entry_size"
        );
        assert!(
            config
                .decoded_devbits
                .is_none_or(|bits| (1..=config.devbits).contains(&bits)),
            "decoded_devbits"
        );
        assert!(
            config.fixed_inner_cache.is_none_or(|value| value <= 7),
            "fixed_inner_cache"
        );
        assert!(
            (32..=52).contains(&config.register_address_bits),
            "register_address_bits"
        );
        assert!(
            config.cid_bits.is_none_or(|b| (1..=16).contains(&b)),
            "cid_bits"
        );
        assert!((14..=32).contains(&config.lpi_id_bits), "lpi_id_bits");
        assert!(config.its_count >= 1, "its_count");
        assert!(!config.redistributors.is_empty(), "redistributors");
        let numbers: std::collections::BTreeSet<u16> = (0..config.redistributors.len())
            .map(|index| config.processor_number(index))
            .collect();
        assert!(
            numbers.len() == config.redistributors.len(),
            "processor_numbers: distinct, one per redistributor"
        );
        assert!(
            (0..3).any(|code| config.page_sizes.supports(code)),
            "page_sizes"
        );
        let typer = GITS_TYPER::Physical::SET
            + GITS_TYPER::Virtual.val(config.vpe_table.into())
            + GITS_TYPER::ITT_entry_size.val(
                config
                    .reported_itt_entry_size
                    .unwrap_or(config.itt_entry_size) as u64
                    - 1,
            )
            + GITS_TYPER::ID_bits.val(u64::from(config.event_id_bits) - 1)
            + GITS_TYPER::Devbits.val(u64::from(config.devbits) - 1)
            + GITS_TYPER::PTA.val(config.pta.into())
            + GITS_TYPER::HCC.val(config.hcc.into())
            + GITS_TYPER::CIDbits.val(config.cid_bits.map_or(0, |b| u64::from(b) - 1))
            + GITS_TYPER::CIL.val(config.cid_bits.is_some().into());
        let its = (0..config.its_count).map(|_| Its::new()).collect();
        let mut state = Self {
            gic: Gic {
                typer: typer.value,
                arena: Arena::new(&config),
                rds: config
                    .redistributors
                    .iter()
                    .map(|_| Redistributor::default())
                    .collect(),
                power_groups: Vec::new(),
                alloc_budget: None,
                stats: ModelStats::default(),
                violations: Vec::new(),
                config,
            },
            its,
        };
        state.reset();
        state.gic.leave_resident_vpes();
        state
    }

    /// ITS `index` at work.
    pub(crate) fn its_mut(&mut self, index: usize) -> ItsMut<'_> {
        ItsMut {
            its: &mut self.its[index],
            gic: &mut self.gic,
        }
    }

    pub(crate) fn reset(&mut self) {
        for index in 0..self.its.len() {
            self.its_mut(index).reset();
        }
        self.gic
            .rds
            .iter_mut()
            .for_each(|rd| *rd = Redistributor::default());
        self.gic.reset_power();
    }
}

impl Its {
    fn new() -> Self {
        Self {
            enabled: false,
            imde: false,
            quiescent_reads: Some(0),
            cbaser: 0,
            cwriter: 0,
            creadr: 0,
            stalled: false,
            injected_stall: false,
            stall_fired: false,
            baser: [0; 8],
            internal_collections: BTreeMap::new(),
            itts: BTreeMap::new(),
            commands_processed: 0,
            log: Vec::new(),
        }
    }
}

impl ItsMut<'_> {
    fn reset(&mut self) {
        let its = &mut *self.its;
        (its.enabled, its.imde) = (false, false);
        its.quiescent_reads = Some(0);
        (its.cbaser, its.cwriter, its.creadr) = (0, 0, 0);
        (its.stalled, its.injected_stall) = (false, false);
        its.internal_collections.clear();
        for n in 0..8 {
            // 64K pages at reset (or the nearest supported), like QEMU.
            its.baser[n] = self
                .gic
                .baser_value(n, GITS_BASER::Page_Size::Size64K.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::test_rig::*;
    use crate::{ARENA_PHYS_BASE, CommandError, ItsModel, MemoryFault, ModelConfig};
    use crate::{GitsRegister as G, MsiError, Translation, Violation};
    use gicv3_its::ItsCommand as C;
    use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber, RdBase};
    use std::collections::BTreeMap;

    fn two_itses() -> ModelConfig {
        ModelConfig {
            its_count: 2,
            ..Default::default()
        }
    }

    #[test]
    fn every_its_reads_the_same_identification_and_resets() {
        let model = ItsModel::new(ModelConfig {
            its_count: 3,
            ..Default::default()
        });
        let read = |its, register| model.its(its).gits().read_register(register);
        for its in 1..3 {
            assert_eq!(read(its, G::Typer), read(0, G::Typer));
            assert_eq!(read(its, G::Iidr), read(0, G::Iidr));
        }
        let gits2 = model.its(2).gits();
        gits2.write_register(G::Cbaser, VALID | ARENA_PHYS_BASE);
        gits2.write_register(G::Ctlr, 1);
        assert_eq!((read(2, G::Ctlr), read(0, G::Ctlr)), (1, 1 << 31));
        model.reset();
        assert_eq!((read(2, G::Ctlr), read(2, G::Cbaser)), (1 << 31, 0));
    }

    #[test]
    #[should_panic(expected = "no ITS 1")]
    fn there_is_no_its_beyond_its_count() {
        ItsModel::new(ModelConfig::default()).its(1);
    }

    #[test]
    fn mapd_on_one_its_writes_only_its_own_tables() {
        let mut rig = Rig::new(two_itses());
        let mut its1 = rig.other_its(1);
        let itt = rig.alloc(256, 256);
        let rd1 = rig.model.rdbase(1);
        its1.submit(&[mapc(0, rd1), mapd(5, 3, itt.phys()), mapti(5, 0, LPI, 0)]);

        let view = rig.model.its(1);
        assert_eq!(view.valid_device_ids(), [DeviceId(5)]);
        assert_eq!(
            view.held_itts(),
            BTreeMap::from([(DeviceId(5), itt.phys())])
        );
        assert_eq!(
            view.valid_collections(),
            BTreeMap::from([(CollectionId(0), 1)])
        );
        let translation = Translation {
            intid: LPI_ID,
            icid: CollectionId(0),
            processor: 1,
        };
        assert_eq!(view.translate(DeviceId(5), EventId(0)), Some(translation));
        assert_eq!(view.command_log().len(), 3);

        // ITS 0 (which the ItsModel methods mean) holds none of it.
        let its0 = rig.model.its(0);
        assert!(its0.valid_device_ids().is_empty() && its0.mappings().is_empty());
        assert!(its0.held_itts().is_empty() && its0.valid_collections().is_empty());
        assert!(its0.command_log().is_empty());
        assert_eq!(rig.model.translate(DeviceId(5), EventId(0)), None);
        assert!(rig.model.valid_device_ids().is_empty());
        rig.submit(&[mapti(5, 1, LPI, 0)]);
        assert_eq!(
            command_errors(&rig.model),
            [CommandError::DeviceNotMapped(5)]
        );
        assert_eq!(view.mappings().len(), 1);
    }

    #[test]
    fn events_mapped_on_two_itses_both_arrive_on_one_redistributor() {
        let mut rig = Rig::new(two_itses());
        let mut its1 = rig.other_its(1);
        rig.set_lpi(LPI, 0xa1);
        rig.set_lpi(LPI + 1, 0xa1);
        let rd2 = rig.model.rdbase(2);
        // The same DeviceID and EventID on each ITS: two devices, two LPIs.
        rig.map(1, 0, rd2);
        let itt = rig.alloc(256, 256);
        its1.submit(&[
            mapc(0, rd2),
            mapd(1, 3, itt.phys()),
            mapti(1, 0, LPI + 1, 0),
        ]);
        let on_rd2 = |intid| {
            Ok(Translation {
                intid: IntId(intid),
                icid: CollectionId(0),
                processor: 2,
            })
        };
        let (its0, its1_view) = (rig.model.its(0), rig.model.its(1));
        assert_eq!(its0.send_msi(DeviceId(1), EventId(0)), on_rd2(LPI));
        assert_eq!(its1_view.send_msi(DeviceId(1), EventId(0)), on_rd2(LPI + 1));
        assert_eq!(rig.model.take_pending(2), [LPI_ID, IntId(LPI + 1)]);

        // The redistributor's cached properties are shared too: an INVALL
        // through ITS 1 makes ITS 0's LPI read its new (disabled) byte.
        rig.set_lpi(LPI, 0xa0);
        assert!(its0.send_msi(DeviceId(1), EventId(0)).is_ok());
        its1.submit(&[C::Invall {
            icid: CollectionId(0),
        }]);
        assert_eq!(
            its0.send_msi(DeviceId(1), EventId(0)),
            Err(MsiError::LpiDisabled(LPI_ID))
        );
        let stats = rig.model.stats();
        assert_eq!((stats.msis, stats.commands["MAPD"]), (4, 2));
        assert_eq!(rig.model.violations(), []);
    }

    #[test]
    fn a_stall_on_one_its_does_not_stall_the_other() {
        let sync = C::Sync {
            rdbase: RdBase::processor_number(ProcessorNumber(0)),
        };
        // A memory error stalls ITS 0's queue; ITS 1's runs on.
        let mut rig = Rig::new(two_itses());
        let mut its1 = rig.other_its(1);
        let bogus = ARENA_PHYS_BASE + (16 << 20);
        rig.submit(&[mapd(1, 0, bogus), sync]);
        its1.submit(&[sync, sync]);
        assert_eq!((rig.creadr(), its1.creadr()), (1, 64));
        let fault = MemoryFault {
            address: bogus,
            len: 24,
            what: "ITT",
        };
        assert_eq!(rig.model.take_violations(), [Violation::Memory(fault)]);

        // An injected stall counts each ITS's own commands.
        let mut rig = Rig::new(ModelConfig {
            stall_on_command: Some(2),
            ..two_itses()
        });
        let mut its1 = rig.other_its(1);
        rig.submit(&[sync, sync]);
        its1.submit(&[sync]);
        assert_eq!((rig.creadr(), its1.creadr()), (32 | 1, 32));
        its1.submit(&[sync, sync]);
        assert_eq!((rig.creadr(), its1.creadr()), (32 | 1, 32 | 1));
        assert_eq!(rig.model.violations(), []);
    }

    #[test]
    fn freeing_memory_another_its_uses_is_a_violation() {
        let mut rig = Rig::new(two_itses());
        let mut its1 = rig.other_its(1);
        let itt = rig.alloc(256, 256);
        its1.submit(&[mapd(7, 3, itt.phys())]);
        let itt_phys = itt.phys();
        rig.mem.give_back(itt);

        // A table of ITS 1's, disabled.
        let gits1 = rig.model.its(1).gits();
        gits1.write_register(G::Ctlr, 0);
        let table = rig.alloc(0x1_0000, 0x1_0000);
        gits1.write_register(
            G::Baser(0),
            VALID | table.phys() | PAGE_64K | INNER_SHAREABLE,
        );
        let table_phys = table.phys();
        rig.mem.give_back(table);
        assert_eq!(
            rig.model.take_violations(),
            [
                Violation::DeallocatedInUse(itt_phys, "ITT of a mapped device"),
                Violation::DeallocatedInUse(table_phys, "ITS table"),
            ]
        );

        // Once ITS 1 lets go of a table, it may be freed.
        let table = rig.alloc(0x1_0000, 0x1_0000);
        gits1.write_register(
            G::Baser(0),
            VALID | table.phys() | PAGE_64K | INNER_SHAREABLE,
        );
        gits1.write_register(G::Baser(0), 0);
        rig.mem.give_back(table);
        assert_eq!(rig.model.violations(), []);
    }
}
