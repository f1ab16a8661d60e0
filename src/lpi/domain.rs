//! What the domain's lock guards: the memory provider, the LPI allocator,
//! the tables, the redistributors and the attached ITSes, with their
//! bookkeeping on the heap or in the caller's room
//! ([`crate::DomainStorage`]).

use super::allocator::LpiAllocator;
use super::tables::{Layout, LpiTables};
use super::{LpiDomainConfig, RedistributorInfo};
use crate::error::{Bookkeeping, ItsError};
use crate::id::ProcessorNumber;
use crate::memory::DmaRegion;
use crate::quirks::QuirkOverrides;
use crate::store::{Map, Slots};
use crate::wait::WaitPolicy;

/// The LPIs of a machine, behind the [`super::LpiDomain`]'s lock.
pub(crate) struct Domain<M> {
    pub(super) memory: M,
    pub(super) allocator: LpiAllocator,
    pub(super) tables: LpiTables,
    pub(super) redistributors: Map<ProcessorNumber, RedistributorInfo>,
    pub(super) wait: WaitPolicy,
    pub(super) quirks: QuirkOverrides,
    /// Attached ITSes, and whether each holds live mappings (not saved).
    pub(super) its: Map<u32, bool>,
    pub(super) next_its: u32,
}

/// The caller's room for a domain's bookkeeping ([`crate::DomainStorage`]).
pub(crate) struct DomainRoom {
    pub(crate) redistributors: &'static mut [Option<(ProcessorNumber, RedistributorInfo)>],
    pub(crate) pending: &'static mut [Option<(ProcessorNumber, PendingPlace)>],
    pub(crate) own: &'static mut [Option<(ProcessorNumber, DmaRegion)>],
    pub(crate) its: &'static mut [Option<(u32, bool)>],
    pub(crate) bitmap: &'static mut [u64],
}

/// Where a pending table lies, as the caller's room records it.
pub(crate) use super::tables::Place as PendingPlace;

impl<M> Domain<M> {
    /// A domain whose tables lie in `region` as `layout` says, its
    /// bookkeeping in `room` (or on the heap); gives `region` and `memory`
    /// back if the allocator's bitmap has no room.
    pub(crate) fn new(
        memory: M,
        layout: Layout,
        region: DmaRegion,
        config: &LpiDomainConfig,
        room: Option<DomainRoom>,
    ) -> Result<Self, (ItsError, DmaRegion, M)> {
        let id_bits = config.clamped_id_bits();
        let (allocator, room) = match room {
            Some(DomainRoom {
                redistributors,
                pending,
                own,
                its,
                bitmap,
            }) => {
                let bitmap = Slots::fixed(Bookkeeping::LpiBitmap, bitmap);
                let maps = (
                    Map::fixed(Bookkeeping::Redistributors, redistributors),
                    Map::fixed(Bookkeeping::Itses, its),
                    Some((pending, own)),
                );
                (LpiAllocator::in_room(id_bits, bitmap), maps)
            }
            None => {
                let maps = (
                    Map::empty(Bookkeeping::Redistributors),
                    Map::empty(Bookkeeping::Itses),
                    None,
                );
                (LpiAllocator::new(id_bits), maps)
            }
        };
        let allocator = match allocator {
            Ok(allocator) => allocator,
            Err(error) => return Err((error, region, memory)),
        };
        let (redistributors, its, tables_room) = room;
        let mut tables = LpiTables::new(
            layout,
            region,
            id_bits,
            config.first_attributes(),
            config.quirks.force,
        );
        if let Some((pending, own)) = tables_room {
            // Both empty: this cannot fail.
            let _ = tables.move_to(pending, own);
        }
        Ok(Self {
            memory,
            allocator,
            tables,
            redistributors,
            wait: config.wait,
            quirks: config.quirks,
            its,
            next_its: 0,
        })
    }

    pub(super) fn check_all_saved(&self) -> Result<(), ItsError> {
        let active = self.its.values().filter(|active| **active).count();
        if active > 0 {
            return Err(ItsError::ItsStillActive { active });
        }
        Ok(())
    }
}
