//! The kernel heap (buddy_system_allocator) over the DTB's RAM, and the
//! ITS's memory on top of it.
//!
//! RAM is identity mapped, so the physical address the GIC sees is the
//! virtual address the CPU uses.

use crate::cpu;
use alloc::alloc::{alloc_zeroed, dealloc};
use buddy_system_allocator::LockedHeap;
use core::alloc::{GlobalAlloc, Layout};
use core::ops::Range;
use core::ptr::NonNull;
use gicv3_its::{DmaMemory, DmaRegion, DmaRequest};

/// Blocks of at most 2^20 bytes (1 MiB, the largest allocation, a flat ITS
/// Device table included): the heap arena is cut into the same 1 MiB blocks
/// wherever it starts, so the hibernation layout's allocation offset shifts
/// every allocation by exactly that offset (layout.rs).
static HEAP: LockedHeap<21> = LockedHeap::empty();

/// The global allocator: the buddy heap, with freed blocks zeroed, so that
/// every heap page that holds nothing is all zeroes and a hibernation image
/// (which saves only non-zero pages) holds just the pages in use plus the
/// buddy allocator's free-list links.
struct ZeroOnFree;

#[global_allocator]
static ALLOCATOR: ZeroOnFree = ZeroOnFree;

// SAFETY: delegates to the buddy heap; `dealloc` only zeroes the block it
// is given back (which the caller no longer uses) before freeing it.
unsafe impl GlobalAlloc for ZeroOnFree {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the buddy heap's.
        unsafe { HEAP.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // The whole buddy block: the allocator rounds the size up like this.
        let block = layout
            .size()
            .next_power_of_two()
            .max(layout.align())
            .max(core::mem::size_of::<usize>());
        // SAFETY: `ptr` is a live block of `block` bytes from `alloc` (the
        // buddy heap hands out whole blocks), which the caller gives back.
        unsafe {
            core::ptr::write_bytes(ptr, 0, block);
            HEAP.dealloc(ptr, layout);
        }
    }
}

/// Zeroes `arena` and makes it the heap.
///
/// # Safety
/// As for [`add_ram`], with no holes in `arena`.
pub unsafe fn add_arena(arena: Range<usize>) {
    // SAFETY: the caller promised the arena is unused, mapped RAM.
    unsafe {
        core::ptr::write_bytes(arena.start as *mut u8, 0, arena.len());
        add_ram(arena, &[]);
    }
}

/// Adds the parts of `ram` that are not in any of `holes` to the heap.
///
/// # Safety
/// `ram` must be RAM, mapped as Normal memory, and (outside `holes`) used by
/// nothing else for the rest of the kernel's life.
pub unsafe fn add_ram(ram: Range<usize>, holes: &[Range<usize>]) -> usize {
    let mut added = 0;
    let mut free = FreeRanges::new(ram);
    for hole in holes {
        free.subtract(hole);
    }
    for range in free.drain() {
        // Keep the buddy allocator's blocks page aligned.
        let start = range.start.next_multiple_of(4096);
        let end = range.end & !4095;
        if end > start {
            // SAFETY: the caller promised the range is unused RAM.
            unsafe { HEAP.lock().add_to_heap(start, end) };
            added += end - start;
        }
    }
    added
}

/// Bytes the heap hands out and holds in total.
pub fn usage() -> (usize, usize) {
    let heap = HEAP.lock();
    (heap.stats_alloc_actual(), heap.stats_total_bytes())
}

/// A range minus holes, without allocating (the heap may not exist yet).
struct FreeRanges {
    ranges: [Option<Range<usize>>; 8],
}

impl FreeRanges {
    fn new(range: Range<usize>) -> Self {
        let mut ranges = [const { None }; 8];
        ranges[0] = Some(range);
        Self { ranges }
    }

    fn subtract(&mut self, hole: &Range<usize>) {
        for i in 0..self.ranges.len() {
            let Some(range) = self.ranges[i].clone() else {
                continue;
            };
            if hole.end <= range.start || hole.start >= range.end {
                continue;
            }
            self.ranges[i] = (range.start < hole.start).then_some(range.start..hole.start);
            if hole.end < range.end {
                let tail = hole.end..range.end;
                if self.ranges[i].is_none() {
                    self.ranges[i] = Some(tail);
                } else if let Some(slot) = self.ranges.iter_mut().find(|r| r.is_none()) {
                    *slot = Some(tail);
                }
            }
        }
    }

    fn drain(&mut self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.ranges.iter_mut().filter_map(Option::take)
    }
}

/// The ITS's tables, ITTs and command queue, from the kernel heap.
#[derive(Debug, Default)]
pub struct KernelDma;

/// The heap layout of what the driver asks for.
fn layout(request: DmaRequest) -> Option<Layout> {
    Layout::from_size_align(request.size.max(1), request.align).ok()
}

// SAFETY: regions come from the global allocator (zeroed, at least the size
// and alignment asked for, never handed out twice until freed), in RAM that
// is identity mapped as Normal memory, so phys == virt.
unsafe impl DmaMemory for KernelDma {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        let layout = layout(request)?;
        // SAFETY: the layout has a non-zero size.
        let virt = NonNull::new(unsafe { alloc_zeroed(layout) })?;
        let phys = virt.as_ptr() as u64;
        if !request.allows(phys, request.size) {
            // The heap cannot place memory below an address: give it back.
            // SAFETY: allocated just above with this layout.
            unsafe { dealloc(virt.as_ptr(), layout) };
            return None;
        }
        // SAFETY: see the `unsafe impl` comment.
        Some(unsafe { DmaRegion::new(virt, phys, request.size) })
    }

    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        if let Some(layout) = layout(request) {
            // SAFETY: the driver gives back what `allocate_zeroed` returned
            // for `request`, once: allocated with this layout.
            unsafe { dealloc(region.virt().as_ptr(), layout) };
        }
    }

    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
        cpu::clean_invalidate_to_poc(virt.as_ptr() as usize, len);
    }
}
