//! What the model holds behind its handles' lock: what the ITSes share (the
//! configuration, the memory, the redistributors and what the model
//! reports) and each ITS's own state (its registers, what it keeps inside
//! itself and its command log); built from a [`ModelConfig`] and reset to it.

use crate::arena::Arena;
use crate::redistributor::Redistributor;
use crate::{ModelConfig, ModelStats, Violation};
use gicv3_its::ItsCommand;
use gicv3_its::registers::{GITS_BASER, GITS_TYPER};
use std::collections::BTreeMap;

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
    pub(crate) alloc_budget: Option<usize>,
    pub(crate) stats: ModelStats,
    pub(crate) violations: Vec<Violation>,
}

/// One ITS's own state.
pub(crate) struct Its {
    pub(crate) enabled: bool,
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
            config.cid_bits.is_none_or(|b| (1..=16).contains(&b)),
            "cid_bits"
        );
        assert!((14..=32).contains(&config.lpi_id_bits), "lpi_id_bits");
        assert!(config.its_count >= 1, "its_count");
        assert!(!config.redistributors.is_empty(), "redistributors");
        assert!(
            (0..3).any(|code| config.page_sizes.supports(code)),
            "page_sizes"
        );
        let typer = GITS_TYPER::Physical::SET
            + GITS_TYPER::ITT_entry_size.val(config.itt_entry_size as u64 - 1)
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
                arena: Arena::new(config.arena_size, config.shareable),
                rds: config
                    .redistributors
                    .iter()
                    .map(|_| Redistributor::default())
                    .collect(),
                alloc_budget: None,
                stats: ModelStats::default(),
                violations: Vec::new(),
                config,
            },
            its,
        };
        state.reset();
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
    }
}

impl Its {
    fn new() -> Self {
        Self {
            enabled: false,
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
        its.enabled = false;
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
