//! What the ITSes of a domain ask of it: a slot each, LPIs allocated,
//! configured and freed, the property table put back after a resume, and
//! the redistributor a collection targets. The ITS driver's side of the
//! [`LpiDomain`]; nothing here is public.

use super::{Domain, ItsSlot, LpiConfig, LpiDomain};
use crate::error::ItsError;
use crate::id::{IntId, ProcessorNumber};
use crate::memory::DmaMemory;

impl<M: DmaMemory> LpiDomain<M> {
    /// Registers an ITS; it starts active.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`] if the domain
    /// has no room to record it.
    pub(crate) fn attach(&self) -> Result<ItsSlot, ItsError> {
        let domain = &mut *self.lock();
        let slot = domain.next_its;
        domain.its.insert(slot, true)?;
        domain.next_its += 1;
        Ok(ItsSlot(slot))
    }

    /// Forgets an ITS and frees `lpis`, the LPIs it still held.
    pub(crate) fn detach(&self, its: ItsSlot, lpis: impl Iterator<Item = IntId>) {
        let domain = &mut *self.lock();
        domain.its.remove(its.0);
        for intid in lpis {
            domain.free(intid);
        }
    }

    /// Records whether an ITS holds live mappings.
    pub(crate) fn set_active(&self, its: ItsSlot, active: bool) {
        if let Some(state) = self.lock().its.get_mut(its.0) {
            *state = active;
        }
    }

    /// How many ITSes of the domain hold live mappings (are not saved).
    pub(crate) fn active(&self) -> usize {
        self.lock().its.values().filter(|active| **active).count()
    }

    /// Allocates an LPI and writes its configuration.
    pub(crate) fn allocate(&self, config: LpiConfig) -> Result<IntId, ItsError> {
        let domain = &mut *self.lock();
        let intid = domain.allocator.allocate(1)?;
        domain.tables.set_config(&domain.memory, intid, config);
        Ok(intid)
    }

    /// Allocates the LPI `intid`, if it is free, and writes its
    /// configuration.
    pub(crate) fn reserve(&self, intid: IntId, config: LpiConfig) -> Result<(), ItsError> {
        let domain = &mut *self.lock();
        domain.allocator.reserve(intid)?;
        domain.tables.set_config(&domain.memory, intid, config);
        Ok(())
    }

    /// Frees an LPI and disables it in the property table.
    pub(crate) fn free(&self, intid: IntId) {
        self.lock().free(intid);
    }

    /// Writes an LPI's configuration byte.
    pub(crate) fn set_config(&self, intid: IntId, config: LpiConfig) {
        let domain = &mut *self.lock();
        domain.tables.set_config(&domain.memory, intid, config);
    }

    /// Rewrites the property table after it may have been changed by
    /// someone else (another kernel, across a resume): every free LPI
    /// disabled, and each of `configs`. LPIs that another ITS of the domain
    /// holds are left to that ITS's own restore.
    pub(crate) fn restore_configs(&self, configs: impl FnOnce(&mut dyn FnMut(IntId, LpiConfig))) {
        let domain = &mut *self.lock();
        let Domain {
            allocator,
            tables,
            memory,
            ..
        } = domain;
        allocator.for_each_free_run(|first, count| {
            tables.fill_configs(memory, first, count, LpiConfig::DISABLED)
        });
        tables.set_configs(memory, configs);
    }

    /// The physical address of a redistributor's RD_base frame, and
    /// whether it is ready for LPIs.
    pub(crate) fn target(
        &self,
        processor_number: ProcessorNumber,
    ) -> Result<(u64, bool), ItsError> {
        self.lock()
            .redistributors
            .get(processor_number)
            .map(|info| (info.rd_base, info.ready))
            .ok_or(ItsError::UnknownRedistributor { processor_number })
    }
}

impl<M: DmaMemory> Domain<M> {
    pub(super) fn free(&mut self, intid: IntId) {
        if self.allocator.is_allocated(intid) {
            self.allocator.free(intid);
            self.tables
                .set_config(&self.memory, intid, LpiConfig::DISABLED);
        }
    }
}
