//! A ready [`DmaMemory`] for kernels that identity-map their RAM (a
//! virtual address is the physical one): a buddy allocator over memory the
//! caller sets aside, with the cache maintenance a GIC that does not snoop
//! needs. Every handle ([`DmaPool::memory`]) shares the one pool, as the
//! [`crate::LpiDomain`] and each [`crate::Its`] want a handle each.
//!
//! ```no_run
//! use gicv3_its::{DmaPool, LpiDomain, LpiDomainConfig};
//!
//! static POOL: DmaPool = DmaPool::new();
//!
//! # #[cfg(feature = "alloc")]
//! fn lpis(memory: &'static mut [u8]) -> LpiDomain<gicv3_its::PoolMemory> {
//!     // SAFETY: the kernel maps its RAM with virtual = physical, as Normal
//!     // write-back memory, and gives `memory` to the pool alone.
//!     unsafe { POOL.add(memory) };
//!     LpiDomain::new(POOL.memory(), LpiDomainConfig::default()).unwrap()
//! }
//! ```

use crate::memory::{DmaMemory, DmaRegion, DmaRequest};
use buddy_system_allocator::Heap;
use core::alloc::Layout;
use core::ptr::NonNull;
use spin::Mutex;

/// Memory set aside for the GIC, in an identity-mapped kernel: a buddy
/// allocator (every block aligned to its power-of-two size, so a 64 KiB
/// aligned request costs 64 KiB at least). Typically a `static`.
pub struct DmaPool {
    heap: Mutex<Heap<32>>,
}

impl core::fmt::Debug for DmaPool {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let heap = self.heap.lock();
        f.debug_struct("DmaPool")
            .field("bytes", &heap.stats_total_bytes())
            .field("allocated", &heap.stats_alloc_actual())
            .finish()
    }
}

impl Default for DmaPool {
    fn default() -> Self {
        Self::new()
    }
}

impl DmaPool {
    /// An empty pool.
    pub const fn new() -> Self {
        Self {
            heap: Mutex::new(Heap::new()),
        }
    }

    /// Gives `memory` to the pool.
    ///
    /// # Safety
    /// `memory` must be identity-mapped (its virtual address is its
    /// physical address, as the GIC sees it) as Normal memory, and used by
    /// nothing but the pool from now on.
    pub unsafe fn add(&self, memory: &'static mut [u8]) {
        let start = memory.as_mut_ptr() as usize;
        let end = start + memory.len();
        if end - start < 2 * core::mem::size_of::<usize>() {
            return;
        }
        // SAFETY: the range is memory the caller gave up for good
        // (`'static mut`), given to this heap once (a `&'static mut` cannot
        // be had twice).
        unsafe { self.heap.lock().add_to_heap(start, end) };
    }

    /// A handle to the pool, for [`crate::LpiDomain::new`] and
    /// [`crate::Its::probe`].
    pub fn memory(&'static self) -> PoolMemory {
        PoolMemory(self)
    }

    /// Bytes handed out now (blocks, rounded to powers of two).
    pub fn allocated_bytes(&self) -> usize {
        self.heap.lock().stats_alloc_actual()
    }
}

/// A handle to a [`DmaPool`]: the [`DmaMemory`] the driver takes.
#[derive(Clone, Copy, Debug)]
pub struct PoolMemory(&'static DmaPool);

/// The heap layout of a request.
fn layout(request: DmaRequest) -> Option<Layout> {
    Layout::from_size_align(request.size.max(1), request.align).ok()
}

// SAFETY: blocks come from the buddy heap over memory `DmaPool::add`'s
// caller gave up for good, identity-mapped as Normal memory (so the
// physical address is the virtual one); the heap hands out each block once
// until it is given back, aligned to at least the request's alignment; it
// is zeroed here.
unsafe impl DmaMemory for PoolMemory {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        let layout = layout(request)?;
        let mut heap = self.0.heap.lock();
        let virt = heap.alloc(layout).ok()?;
        let phys = virt.as_ptr() as u64;
        if !request.allows(phys, request.size) {
            // SAFETY: allocated just above with this layout.
            unsafe { heap.dealloc(virt, layout) };
            return None;
        }
        // SAFETY: the block is the heap's, at least `size` bytes.
        unsafe { core::ptr::write_bytes(virt.as_ptr(), 0, request.size) };
        // SAFETY: see the `unsafe impl` comment.
        Some(unsafe { DmaRegion::new(virt, phys, request.size) })
    }

    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        if let Some(layout) = layout(request) {
            // SAFETY: the driver gives back, once, what `allocate_zeroed`
            // returned for `request`: allocated with this layout.
            unsafe { self.0.heap.lock().dealloc(region.virt(), layout) };
        }
    }

    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
        clean_invalidate(virt.as_ptr() as usize, len);
    }
}

/// `dc civac` on every data cache line of `start..start + len`, then
/// `dsb sy` so that the maintenance is complete.
#[cfg(target_arch = "aarch64")]
fn clean_invalidate(start: usize, len: usize) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effect.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    for address in cache_lines(start, len, ctr) {
        // SAFETY: cleaning and invalidating a line of memory the pool handed
        // out (mapped) writes it back and drops it, which loses nothing.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) address, options(nostack)) };
    }
    // SAFETY: a barrier, no memory access of its own.
    unsafe { core::arch::asm!("dsb sy", options(nostack)) };
}

/// The address of every data cache line `start..start + len` touches,
/// lines being as CTR_EL0 (`ctr`) says: DminLine, bits \[19:16\], is the
/// log2 of the smallest line in 4-byte words.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
fn cache_lines(start: usize, len: usize, ctr: u64) -> impl Iterator<Item = usize> {
    let line = 4usize << ((ctr >> 16) & 0xf);
    let end = start.saturating_add(len);
    (start & !(line - 1)..end).step_by(line)
}

/// Host builds (tests) have no GIC to keep coherent.
#[cfg(not(target_arch = "aarch64"))]
fn clean_invalidate(_start: usize, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::vec;

    /// A pool over `bytes` (a power of two) of leaked host memory aligned
    /// to its size (the host has no physical addresses: the virtual ones
    /// stand in).
    fn pool(bytes: usize) -> (&'static DmaPool, usize) {
        let pool: &'static DmaPool = Box::leak(Box::new(DmaPool::new()));
        let block: &'static mut [u8] = vec![0u8; 2 * bytes].leak();
        let offset = block.as_ptr().align_offset(bytes);
        let memory = &mut block[offset..offset + bytes];
        let start = memory.as_ptr() as usize;
        memory.fill(0xa5);
        // SAFETY: leaked memory nothing else uses; host tests read and
        // write it through the regions only.
        unsafe { pool.add(memory) };
        (pool, start)
    }

    #[test]
    fn regions_are_zeroed_aligned_and_given_back() {
        let (pool, start) = pool(1 << 20);
        let mut memory = pool.memory();
        let request = DmaRequest::new(8192, 65536);
        let a = memory.allocate_zeroed(request).unwrap();
        let b = memory.allocate_zeroed(request).unwrap();
        for region in [&a, &b] {
            assert!(region.phys().is_multiple_of(65536));
            assert_eq!(region.phys(), region.virt().as_ptr() as u64, "identity");
            assert_eq!(region.size(), 8192);
            assert!((start..start + (1 << 20)).contains(&(region.phys() as usize)));
            // SAFETY: the region's bytes, just handed out.
            let bytes = unsafe { core::slice::from_raw_parts(region.virt().as_ptr(), 8192) };
            assert!(bytes.iter().all(|&byte| byte == 0));
        }
        assert_ne!(a.phys(), b.phys());
        assert_eq!(pool.allocated_bytes(), 2 * 65536);
        memory.deallocate(a, request);
        memory.deallocate(b, request);
        assert_eq!(pool.allocated_bytes(), 0);
        // Everything back: one block as large as the pool.
        assert!(
            memory
                .allocate_zeroed(DmaRequest::new(1 << 20, 4096))
                .is_some()
        );
    }

    #[test]
    fn a_full_pool_and_an_address_limit_refuse() {
        let (pool, start) = pool(65536);
        let mut memory = pool.memory();
        assert!(memory.allocate_zeroed(DmaRequest::new(65537, 8)).is_none());
        let below = DmaRequest {
            max_address: start as u64 + 4095,
            ..DmaRequest::new(8192, 4096)
        };
        assert!(memory.allocate_zeroed(below).is_none());
        assert_eq!(pool.allocated_bytes(), 0, "given back");
        let fits = DmaRequest {
            max_address: start as u64 + 65535,
            ..DmaRequest::new(65536, 4096)
        };
        assert!(memory.allocate_zeroed(fits).is_some());
        assert!(
            memory.allocate_zeroed(DmaRequest::new(64, 8)).is_none(),
            "full"
        );
    }

    #[test]
    fn maintenance_covers_every_line_the_range_touches() {
        // DminLine 4: 64-byte lines (Cortex-A and QEMU).
        let ctr = 4 << 16 | 0x8444_c004;
        let lines: std::vec::Vec<usize> = cache_lines(0x1030, 0x60, ctr).collect();
        assert_eq!(lines, [0x1000, 0x1040, 0x1080]);
        assert_eq!(cache_lines(0x1000, 0x40, ctr).count(), 1);
        assert_eq!(cache_lines(0x1000, 0, ctr).count(), 0);
        // DminLine 5: 128-byte lines.
        let lines: std::vec::Vec<usize> = cache_lines(0x10f0, 0x20, 5 << 16).collect();
        assert_eq!(lines, [0x1080, 0x1100]);
        assert_eq!(
            cache_lines(usize::MAX - 10, 100, ctr).count(),
            1,
            "no overflow"
        );
    }

    #[test]
    fn every_handle_shares_the_pool() {
        let (pool, _) = pool(65536);
        let (mut one, mut two) = (pool.memory(), pool.memory());
        let region = one.allocate_zeroed(DmaRequest::new(32768, 32768)).unwrap();
        assert!(two.allocate_zeroed(DmaRequest::new(65536, 8)).is_none());
        two.deallocate(region, DmaRequest::new(32768, 32768));
        assert!(one.allocate_zeroed(DmaRequest::new(65536, 8)).is_some());
        assert!(format!("{pool:?}").contains("allocated: 65536"));
    }
}
