//! The model's memory: an arena handed out first-fit at a configurable
//! physical address, the GIC's view of it (a second copy for the parts of
//! the GIC that are not coherent), the address bits the GIC's accesses
//! carry, and what the GIC still uses when memory is given back.

mod cache;

use crate::{Coherency, MemoryFault, ModelConfig, Placement};
use core::ptr::{NonNull, copy_nonoverlapping, write_bytes};
use gicv3_its::{DmaRegion, DmaRequest};
use std::alloc::{Layout, alloc_zeroed, dealloc, handle_alloc_error};
use std::collections::BTreeMap;

/// The byte a non-coherent GIC sees in memory that was allocated but not
/// cleaned yet. Bit 0 is set, so poisoned DTEs, CTEs and ITEs look valid.
pub const POISON: u8 = 0xa5;

/// Cache line size for clean_invalidate_to_poc, and the granule of allocations.
const LINE: usize = 64;
const ARENA_ALIGN: usize = 1 << 21;

/// Which part of the GIC makes an access.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agent {
    /// An ITS: the command queue, the Device and Collection tables, ITTs.
    Its,
    /// A redistributor: the LPI property and pending tables.
    Redistributor,
}

/// Model memory: the CPU's bytes (shared with the driver), the GIC's view of
/// them (the same bytes where coherent), and the live allocations.
pub(crate) struct Arena {
    cpu: NonNull<u8>,
    /// Equal to `cpu` when the whole GIC is coherent, else a second block
    /// of the same layout that only cleans update from `cpu`.
    gic: NonNull<u8>,
    /// Where `gic` is a block of its own: what the CPU's caches last had in
    /// common with memory, line by line (see `cache.rs`).
    synced: Option<NonNull<u8>>,
    /// What each agent reads and writes: `cpu` or `gic`.
    its_view: NonNull<u8>,
    rd_view: NonNull<u8>,
    layout: Layout,
    /// Physical address of the first byte.
    phys_base: u64,
    /// The address bits the GIC's accesses carry.
    bus_mask: u64,
    /// Offset to (requested size, size rounded up to lines, the request).
    live: BTreeMap<usize, (usize, usize, DmaRequest)>,
    /// Where a fit is searched from.
    placement: Placement,
}

// SAFETY: the arena owns its blocks, reached only through its pointers; the
// `Mutex` around `State` serialises every use.
unsafe impl Send for Arena {}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: every block came from `alloc_zeroed` with `layout`, once
        // each.
        unsafe {
            if let Some(synced) = self.synced {
                dealloc(synced.as_ptr(), self.layout);
            }
            if self.gic != self.cpu {
                dealloc(self.gic.as_ptr(), self.layout);
            }
            dealloc(self.cpu.as_ptr(), self.layout);
        }
    }
}

impl Arena {
    pub(crate) fn new(config: &ModelConfig) -> Self {
        assert!(
            config.arena_phys_base.is_multiple_of(ARENA_ALIGN as u64),
            "arena_phys_base"
        );
        assert!(
            (32..=52).contains(&config.bus_address_bits),
            "bus_address_bits"
        );
        let size = config.arena_size.max(LINE).next_multiple_of(LINE);
        assert!(
            config
                .arena_phys_base
                .checked_add(size as u64)
                .is_some_and(|end| end <= 1 << 52),
            "arena_phys_base + arena_size beyond 52 bits"
        );
        let layout = Layout::from_size_align(size, ARENA_ALIGN).expect("arena layout");
        let block = || {
            // SAFETY: the layout has a non-zero size.
            NonNull::new(unsafe { alloc_zeroed(layout) })
                .unwrap_or_else(|| handle_alloc_error(layout))
        };
        let cpu = block();
        let (its_coherent, rd_coherent) = match config.coherency {
            Coherency::Coherent => (true, true),
            Coherency::NonCoherent => (false, false),
            Coherency::NonCoherentIts => (false, true),
        };
        let gic = if its_coherent && rd_coherent {
            cpu
        } else {
            block()
        };
        let view = |coherent| if coherent { cpu } else { gic };
        Self {
            cpu,
            gic,
            synced: (gic != cpu).then(block),
            its_view: view(its_coherent),
            rd_view: view(rd_coherent),
            layout,
            phys_base: config.arena_phys_base,
            bus_mask: (1 << config.bus_address_bits) - 1,
            live: BTreeMap::new(),
            placement: config.placement,
        }
    }

    /// The arena offset of the `len` bytes the GIC reaches when it uses
    /// address `phys` (which loses the bits its accesses do not carry), if
    /// they lie inside one live allocation.
    pub(crate) fn check(
        &self,
        phys: u64,
        len: usize,
        what: &'static str,
    ) -> Result<usize, MemoryFault> {
        let phys = phys & self.bus_mask;
        let fault = MemoryFault {
            address: phys,
            len,
            what,
        };
        let offset =
            usize::try_from(phys.checked_sub(self.phys_base).ok_or(fault)?).map_err(|_| fault)?;
        match self.live.range(..=offset).next_back() {
            Some((&start, &(size, ..)))
                if offset
                    .checked_add(len)
                    .is_some_and(|end| end <= start + size) =>
            {
                Ok(offset)
            }
            _ => Err(fault),
        }
    }

    fn view(&self, agent: Agent) -> NonNull<u8> {
        match agent {
            Agent::Its => self.its_view,
            Agent::Redistributor => self.rd_view,
        }
    }

    /// Reads what an ITS sees.
    pub(crate) fn read(
        &self,
        phys: u64,
        buf: &mut [u8],
        what: &'static str,
    ) -> Result<(), MemoryFault> {
        self.read_as(Agent::Its, phys, buf, what)
    }

    /// Reads what `agent` sees.
    pub(crate) fn read_as(
        &self,
        agent: Agent,
        phys: u64,
        buf: &mut [u8],
        what: &'static str,
    ) -> Result<(), MemoryFault> {
        let offset = self.check(phys, buf.len(), what)?;
        let view = self.view(agent);
        // SAFETY: the range is inside the arena (checked); raw pointers only,
        // and `buf` is not part of the arena.
        unsafe { copy_nonoverlapping(view.as_ptr().add(offset), buf.as_mut_ptr(), buf.len()) };
        Ok(())
    }

    pub(crate) fn read_vec(
        &self,
        phys: u64,
        len: usize,
        what: &'static str,
    ) -> Result<Vec<u8>, MemoryFault> {
        self.read_vec_as(Agent::Its, phys, len, what)
    }

    pub(crate) fn read_vec_as(
        &self,
        agent: Agent,
        phys: u64,
        len: usize,
        what: &'static str,
    ) -> Result<Vec<u8>, MemoryFault> {
        self.check(phys, len, what)?;
        let mut buf = vec![0; len];
        self.read_as(agent, phys, &mut buf, what).map(|()| buf)
    }

    /// Reads an entry of `size` bytes; returns its first 8, little-endian.
    pub(crate) fn read_entry(
        &self,
        phys: u64,
        size: usize,
        what: &'static str,
    ) -> Result<u64, MemoryFault> {
        self.check(phys, size, what)?;
        let mut bytes = [0; 8];
        self.read(phys, &mut bytes[..size.min(8)], what)
            .map(|()| u64::from_le_bytes(bytes))
    }

    /// Writes as an ITS does.
    pub(crate) fn write(
        &mut self,
        phys: u64,
        data: &[u8],
        what: &'static str,
    ) -> Result<(), MemoryFault> {
        self.write_as(Agent::Its, phys, data, what)
    }

    /// Writes as `agent` does.
    pub(crate) fn write_as(
        &mut self,
        agent: Agent,
        phys: u64,
        data: &[u8],
        what: &'static str,
    ) -> Result<(), MemoryFault> {
        let offset = self.check(phys, data.len(), what)?;
        let view = self.view(agent);
        // SAFETY: as in `read_as`.
        unsafe { copy_nonoverlapping(data.as_ptr(), view.as_ptr().add(offset), data.len()) };
        Ok(())
    }

    /// Writes an entry of `size` bytes: `value` little-endian, then zeros.
    pub(crate) fn write_entry(
        &mut self,
        phys: u64,
        value: u64,
        size: usize,
        what: &'static str,
    ) -> Result<(), MemoryFault> {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&value.to_le_bytes());
        self.write(phys, &bytes[..size], what)
    }

    /// Every live allocation: physical address and size asked for.
    pub(crate) fn live_allocations(&self) -> Vec<(u64, usize)> {
        self.live
            .iter()
            .map(|(&offset, &(size, ..))| (self.phys_base + offset as u64, size))
            .collect()
    }

    /// The first (or, with [`Placement::Highest`], last) free range that
    /// fits `request` below its `max_address`; returns the offset of
    /// `request.size` zeroed bytes (poison in a separate GIC view).
    /// Hands out `request` (zeroed for the CPU, poison for a GIC that has
    /// not seen a clean), with the bytes it takes up (whole lines).
    pub(crate) fn allocate(&mut self, request: DmaRequest) -> Option<(DmaRegion, usize)> {
        let rounded = request.size.max(1).checked_next_multiple_of(LINE)?;
        let align = request.align.max(LINE);
        // The end of the arena, or of what the request allows.
        let limit = request
            .max_address
            .checked_sub(self.phys_base)?
            .saturating_add(1)
            .min(self.layout.size() as u64) as usize;
        // Free gaps between live allocations, each as (start, end).
        let mut gaps = Vec::new();
        let mut free_from = 0;
        for (&start, &(_, len, _)) in &self.live {
            gaps.push((free_from, start));
            free_from = start + len;
        }
        gaps.push((free_from, self.layout.size()));
        let fit = |&(start, end): &(usize, usize)| {
            let end = end.min(limit);
            match self.placement {
                Placement::Lowest => {
                    let offset = start.checked_next_multiple_of(align)?;
                    (offset.checked_add(rounded)? <= end).then_some(offset)
                }
                Placement::Highest => {
                    let offset = end.checked_sub(rounded)? / align * align;
                    (offset >= start).then_some(offset)
                }
            }
        };
        let offset = match self.placement {
            Placement::Lowest => gaps.iter().find_map(fit)?,
            Placement::Highest => gaps.iter().rev().find_map(fit)?,
        };
        // SAFETY: inside the arena (the gaps lie in it); raw pointers only.
        unsafe {
            write_bytes(self.cpu.as_ptr().add(offset), 0, rounded);
            if self.gic != self.cpu {
                write_bytes(self.gic.as_ptr().add(offset), POISON, rounded);
            }
            // The CPU zeroed the range: its lines are dirty until cleaned.
            if let Some(synced) = self.synced {
                write_bytes(synced.as_ptr().add(offset), POISON, rounded);
            }
        }
        self.live.insert(offset, (request.size, rounded, request));
        // SAFETY: `offset..offset + size` is inside the arena, which lives as
        // long as any handle; it is handed out once until `release`; the
        // arena is aligned to ARENA_ALIGN, so the virtual address is aligned
        // like the physical one (up to 2 MiB).
        let region = unsafe {
            DmaRegion::new(
                NonNull::new_unchecked(self.cpu.as_ptr().add(offset)),
                self.phys_base + offset as u64,
                request.size,
            )
        };
        Some((region, rounded))
    }

    /// The live allocation `region` is, as (offset, bytes taken up, the
    /// request it was made for): `None` if the arena did not hand it out
    /// (another address, another size, or not live).
    pub(crate) fn allocation(&self, region: &DmaRegion) -> Option<(usize, usize, DmaRequest)> {
        let offset = region.phys().wrapping_sub(self.phys_base) as usize;
        let virt_ok = region.virt().as_ptr() as usize == self.cpu.as_ptr() as usize + offset;
        let &(size, rounded, request) = self.live.get(&offset)?;
        (virt_ok && size == region.size()).then_some((offset, rounded, request))
    }

    /// The request of the allocation at `phys`, if one starts there.
    pub(crate) fn request_at(&self, phys: u64) -> Option<DmaRequest> {
        let offset = phys.wrapping_sub(self.phys_base) as usize;
        self.live.get(&offset).map(|&(_, _, request)| request)
    }

    /// Takes back the allocation at `offset` of `rounded` bytes, poisoning
    /// the CPU's bytes to catch a use after free.
    pub(crate) fn release(&mut self, offset: usize, rounded: usize) {
        if self.live.remove(&offset).is_some() {
            // SAFETY: the range was a live allocation inside the arena.
            unsafe { write_bytes(self.cpu.as_ptr().add(offset), POISON, rounded) };
        }
    }

    /// Cleans and invalidates every 64-byte line the range touches: copies
    /// the CPU's bytes to the GIC view (and they are what the CPU and
    /// memory now have in common). Every line counts as dirty: the model
    /// cannot see which the CPU wrote, and a driver only cleans memory it
    /// wrote.
    ///
    /// `false` (nothing done) if the range is not inside the arena.
    pub(crate) fn clean(&mut self, virt: NonNull<u8>, len: usize) -> bool {
        let offset = (virt.as_ptr() as usize).wrapping_sub(self.cpu.as_ptr() as usize);
        if offset
            .checked_add(len)
            .is_none_or(|end| end > self.layout.size())
        {
            return false;
        }
        if self.gic != self.cpu {
            let start = offset & !(LINE - 1);
            let end = (offset + len)
                .next_multiple_of(LINE)
                .min(self.layout.size());
            for block in [Some(self.gic), self.synced].into_iter().flatten() {
                // SAFETY: `start..end` is inside both blocks (`end` is
                // clamped to their size), which do not overlap; raw pointers
                // only.
                unsafe {
                    copy_nonoverlapping(
                        self.cpu.as_ptr().add(start),
                        block.as_ptr().add(start),
                        end.saturating_sub(start),
                    )
                };
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::ARENA_PHYS_BASE;

    use crate::{Coherency, FIRST_LPI, MemoryFault, ModelConfig, Violation};

    use gicv3_its::DmaRequest;

    use crate::test_rig::*;
    use crate::{CommandError, ItsModel};
    use crate::{GicrRegister as R, GitsRegister as G};
    use gicv3_its::{DeviceId, DmaMemory, EventId, ProcessorNumber, RdBase};

    #[test]
    fn noncoherent_gic_sees_only_cleaned_memory() {
        let mut rig = Rig::new(ModelConfig {
            coherency: Coherency::NonCoherent,
            shareable: false,
            ..Default::default()
        });
        assert_eq!(rig.gits.read_register(G::Cbaser) & 3 << 10, 0);
        assert_eq!(rig.gits.read_register(G::Baser(1)) & 3 << 10, 0);
        assert_eq!(rig.model.gicr(0).read_register(R::Propbaser) & 3 << 10, 0);
        // A command written but not cleaned: the GIC reads poison.
        let mapc = mapc(0, RdBase::processor_number(ProcessorNumber(0)));
        for (i, word) in mapc.encode().into_iter().enumerate() {
            assert!(rig.queue.write_u64(i * 8, word));
        }
        rig.cwriter = 32;
        rig.gits.write_register(G::Cwriter, 32);
        assert_eq!(command_errors(&rig.model), [CommandError::Undecodable]);
        // An ITT zeroed by the CPU but not cleaned: its ITEs look valid.
        let itt = rig.mem.allocate_zeroed(DmaRequest::new(256, 256)).unwrap();
        rig.submit(&[mapc, mapd(7, 1, itt.phys()), mapti(7, 0, LPI, 0)]);
        assert_eq!(
            command_errors(&rig.model),
            [CommandError::EventAlreadyMapped(7, 0)]
        );
        assert_eq!(rig.model.mappings().len(), 4);
        // The GIC's own writes stay in its view: the CPU still reads zeros.
        assert_eq!(itt.read_u64(0), Some(0));
    }

    #[test]
    fn allocator_alignment_accounting_and_faults() {
        let model = ItsModel::new(ModelConfig {
            arena_size: 1 << 20,
            ..Default::default()
        });
        let mut mem = model.memory();
        let mut a = mem.allocate_zeroed(DmaRequest::new(100, 8)).unwrap();
        let b = mem
            .allocate_zeroed(DmaRequest::new(4096, 0x1_0000))
            .unwrap();
        assert_eq!(
            (a.phys(), b.phys()),
            (ARENA_PHYS_BASE, ARENA_PHYS_BASE + 0x1_0000)
        );
        assert_eq!(b.virt().as_ptr() as usize % 0x1_0000, 0);
        assert!(mem.allocate_zeroed(DmaRequest::new(1 << 20, 64)).is_none());
        assert_eq!(
            (model.stats().bytes_allocated, model.stats().allocations),
            (128 + 4096, 2)
        );
        assert!(a.write_u8(0, 0xff));
        mem.give_back(a);
        let c = mem.allocate_zeroed(DmaRequest::new(64, 64)).unwrap();
        assert_eq!((c.phys(), c.read_u8(0)), (ARENA_PHYS_BASE, Some(0)));
        assert_eq!(model.stats().peak_bytes_allocated, 128 + 4096);
        model.fail_allocations_after(1);
        assert!(mem.allocate_zeroed(DmaRequest::new(64, 64)).is_some());
        assert!(mem.allocate_zeroed(DmaRequest::new(64, 64)).is_none());
        model.fail_allocations(false);
        assert!(mem.allocate_zeroed(DmaRequest::new(64, 64)).is_some());
        assert_eq!(model.violations(), []);
    }

    #[test]
    fn the_gic_reaches_memory_through_the_address_bits_it_carries() {
        // The arena at 4 GiB, a GIC whose accesses carry 32 address bits:
        // its registers hold the addresses, its accesses miss them.
        let rig = Rig::bare(ModelConfig {
            arena_phys_base: 1 << 32,
            bus_address_bits: 32,
            redistributors: vec![0x080a_0000],
            ..Default::default()
        });
        assert_eq!(
            (rig.queue.phys(), rig.prop.phys()),
            (1 << 32, 0x1_0000_1000)
        );
        let fault = |address, len, what| Violation::Memory(MemoryFault { address, len, what });
        assert_eq!(
            rig.model.take_violations(),
            [
                fault(0x1000, 0xe000, "LPI property table"),
                fault(0x2_0000, 0x2000, "LPI pending table"),
            ]
        );
    }

    #[test]
    fn a_non_coherent_its_beside_coherent_redistributors() {
        let mut rig = Rig::new(ModelConfig {
            coherency: Coherency::NonCoherentIts,
            ..Default::default()
        });
        rig.map(1, 0, RdBase::processor_number(ProcessorNumber(0)));
        // The redistributor reads the CPU's property byte, cleaned or not.
        assert!(rig.prop.write_u8((LPI - FIRST_LPI) as usize, 0xa1));
        assert!(rig.model.send_msi(DeviceId(1), EventId(0)).is_ok());
        // The ITS reads only what was cleaned: an ITT zeroed but not
        // cleaned looks mapped.
        let itt = rig.mem.allocate_zeroed(DmaRequest::new(256, 256)).unwrap();
        rig.submit(&[mapd(2, 3, itt.phys()), mapti(2, 0, LPI, 0)]);
        assert_eq!(
            command_errors(&rig.model),
            [CommandError::EventAlreadyMapped(2, 0)]
        );
    }
}
