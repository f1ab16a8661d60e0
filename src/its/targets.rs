//! The redistributors as an ITS names them in its commands, and which of
//! them a SYNC goes to.
//!
//! [`Targets`] borrows only the LPI domain and one bit of GITS_TYPER, apart
//! from the rest of the driver, so that commands can be generated from the
//! registry while the command channel sends them, and no list of commands
//! or of redistributors is built on the way.

use super::ItsFeatures;
use crate::command::RdBase;
use crate::error::ItsError;
use crate::id::{CollectionId, ProcessorNumber};
use crate::lpi::LpiDomain;
use crate::memory::DmaMemory;
use crate::registry::Registry;

/// The redistributors of an ITS's LPI domain, named as its GITS_TYPER.PTA
/// asks: by physical address, or by processor number.
pub(super) struct Targets<'a, M: DmaMemory> {
    domain: &'a LpiDomain<M>,
    pta: bool,
}

impl<M: DmaMemory> Clone for Targets<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M: DmaMemory> Copy for Targets<'_, M> {}

impl<'a, M: DmaMemory> Targets<'a, M> {
    /// The redistributors of `domain`, for an ITS with `features`.
    pub(super) fn of(domain: &'a LpiDomain<M>, features: &ItsFeatures) -> Self {
        Self {
            domain,
            pta: features.pta,
        }
    }

    fn encode(self, processor_number: ProcessorNumber, rd_base: u64) -> RdBase {
        if self.pta {
            RdBase::physical_address(rd_base)
        } else {
            RdBase::processor_number(processor_number)
        }
    }

    /// Any redistributor the domain has initialised, ready or not: for
    /// commands that only name it (MAPC V=0).
    pub(super) fn any(self, processor_number: ProcessorNumber) -> Result<RdBase, ItsError> {
        let (rd_base, _) = self.domain.target(processor_number)?;
        Ok(self.encode(processor_number, rd_base))
    }

    /// A redistributor whose LPIs are enabled now: for MAPC V=1 and for
    /// SYNC, which must not target one that is not (5.3.8, 5.3.23).
    pub(super) fn ready(self, processor_number: ProcessorNumber) -> Result<RdBase, ItsError> {
        match self.domain.target(processor_number)? {
            (rd_base, true) => Ok(self.encode(processor_number, rd_base)),
            (_, false) => Err(ItsError::RedistributorNotReady { processor_number }),
        }
    }

    /// The redistributors to SYNC after commands for collections on the
    /// processors `candidates` yields: each ready one once, in increasing
    /// processor number, and no other, as a SYNC must not target a
    /// redistributor whose LPIs are off (5.3.23). The one place that decides
    /// where SYNCs go; the caller says which collections its commands
    /// concern.
    ///
    /// Nothing is collected: each target is the smallest candidate above
    /// the last one, found by walking the candidates again (they name the
    /// collections of a few CPUs), and the domain is asked once per target.
    pub(super) fn syncs<I: Iterator<Item = ProcessorNumber>>(
        self,
        candidates: impl Fn() -> I,
    ) -> impl Iterator<Item = RdBase> {
        // Never more steps than there are candidates, so that the walk ends
        // whatever the comparison below does.
        let bound = candidates().count();
        let mut last: Option<ProcessorNumber> = None;
        let next_candidate = move || {
            let next = candidates()
                .filter(|processor_number| last.is_none_or(|last| *processor_number > last))
                .min()?;
            last = Some(next);
            Some(next)
        };
        core::iter::from_fn(next_candidate)
            .take(bound)
            .filter_map(move |processor_number| self.ready(processor_number).ok())
    }
}

/// The processor numbers of the live collections among `collections`.
pub(super) fn live_processors(
    registry: &Registry,
    collections: impl IntoIterator<Item = CollectionId>,
) -> impl Iterator<Item = ProcessorNumber> {
    collections
        .into_iter()
        .filter_map(|icid| registry.collection(icid))
        .filter(|record| record.is_live())
        .map(|record| record.processor_number())
}
