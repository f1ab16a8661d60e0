//! What the GIC's agents (the ITS, the redistributors, the CPU) do to the
//! arena: every table and queue access, checked against what the caller
//! handed out, with the caches in between.

use super::{Gic, ItsMut, State};
use crate::tables::{L1_ADDRESS, L1_VALID};
use crate::{FIRST_LPI, TableKind, Violation};
use core::ptr::NonNull;
use gicv3_its::registers::GITS_CBASER;
use gicv3_its::{DmaRegion, DmaRequest};

impl State {
    pub(crate) fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        let phys = region.phys();
        let Some((offset, rounded, asked)) = self.gic.arena.allocation(&region) else {
            return self.gic.violations.push(Violation::BadDeallocation(phys));
        };
        if asked != request {
            self.gic
                .violations
                .push(Violation::DeallocatedWithAnotherRequest {
                    phys,
                    asked,
                    given: request,
                });
        }
        if let Some(what) = self.in_use(phys, rounded as u64) {
            self.gic
                .violations
                .push(Violation::DeallocatedInUse(phys, what));
        }
        self.gic.arena.release(offset, rounded);
        self.gic.stats.bytes_allocated -= rounded;
    }

    /// What the GIC still uses in `phys..phys + len`, if anything: any ITS,
    /// or any redistributor.
    fn in_use(&mut self, phys: u64, len: u64) -> Option<&'static str> {
        (0..self.its.len())
            .find_map(|index| self.its_mut(index).in_use(phys, len))
            .or_else(|| self.gic.lpi_tables_in_use(phys, len))
    }
}

impl ItsMut<'_> {
    /// What this ITS still uses in `phys..phys + len`, if anything.
    fn in_use(&self, phys: u64, len: u64) -> Option<&'static str> {
        let overlaps = |start: u64, size: u64| start < phys + len && phys < start + size;
        // Memory a Valid base register describes belongs to the ITS (and,
        // under KVM, may be written when the VM's state is saved), enabled or
        // not.
        if GITS_CBASER::Valid.is_set(self.its.cbaser)
            && !self.reprogrammable()
            && overlaps(self.queue_base(), self.queue_bytes() as u64)
        {
            return Some("command queue");
        }
        let kinds = [TableKind::Devices, TableKind::Collections, TableKind::Vpes];
        for table in kinds.map(|kind| self.table(kind)) {
            let Some(t) = table else { continue };
            if overlaps(t.base, t.bytes as u64) {
                return Some("ITS table");
            }
            for l1 in (0..t.bytes as u64).step_by(8).filter(|_| t.indirect) {
                let entry = self.gic.arena.read_entry(t.base + l1, 8, "").unwrap_or(0);
                if entry & L1_VALID != 0 && overlaps(entry & L1_ADDRESS, t.page as u64) {
                    return Some("level-2 table page");
                }
            }
        }
        self.its
            .itts
            .values()
            .any(|&(itt, size)| overlaps(itt, size as u64))
            .then_some("ITT of a mapped device")
    }
}

impl Gic {
    pub(crate) fn allocate(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        if self.alloc_budget == Some(0) || !request.align.is_power_of_two() {
            return None;
        }
        let (region, rounded) = self.arena.allocate(request)?;
        if let Some(budget) = &mut self.alloc_budget {
            *budget -= 1;
        }
        let stats = &mut self.stats;
        stats.allocations += 1;
        stats.bytes_allocated += rounded;
        stats.peak_bytes_allocated = stats.peak_bytes_allocated.max(stats.bytes_allocated);
        Some(region)
    }

    /// The request `region` was allocated for, if the model handed it out
    /// (else one that matches no allocation).
    pub(crate) fn request_of(&self, region: &DmaRegion) -> DmaRequest {
        self.arena
            .request_at(region.phys())
            .unwrap_or(DmaRequest::new(region.size(), 0))
    }

    /// Which LPI table of a redistributor with EnableLPIs = 1 overlaps
    /// `phys..phys + len`, if any.
    fn lpi_tables_in_use(&self, phys: u64, len: u64) -> Option<&'static str> {
        let overlaps = |start: u64, size: u64| start < phys + len && phys < start + size;
        let max_bits = self.config.lpi_id_bits;
        self.rds.iter().filter(|rd| rd.enable_lpis).find_map(|rd| {
            let limit = rd.lpi_limit(max_bits);
            (overlaps(rd.prop_table(), limit - u64::from(FIRST_LPI))
                || overlaps(rd.pend_table(), limit / 8))
            .then_some("LPI table of a redistributor with EnableLPIs = 1")
        })
    }

    pub(crate) fn clean(&mut self, virt: NonNull<u8>, len: usize) {
        self.stats.cleans += 1;
        self.stats.bytes_cleaned += len as u64;
        if !self.arena.clean(virt, len) {
            self.violations
                .push(Violation::CleanOutsideArena(virt.as_ptr() as usize));
        }
    }
}
