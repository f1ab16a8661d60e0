//! Heap accounting for the host benchmark and its count checks: a global
//! allocator that counts, per thread, the bytes live in allocations made
//! outside the software ITS model, and [`Uncounted`], a wrapper for the
//! model's handles that keeps the model's own allocations (its command log,
//! its bookkeeping) out of the count. What is counted while the driver runs
//! is the driver's own heap: the registry, and the command lists of save and
//! restore while they run.
//!
//! Bytes are the sizes asked for (`Layout::size`), not what the system
//! allocator rounds them to. The tests also make an allocation fail on
//! demand ([`fail_after`]), as when memory runs out.

#![allow(dead_code)]

use gicv3_its::registers::{ReadAccess, RegisterFrame, WriteAccess};
use gicv3_its::{DmaMemory, DmaRegion, DmaRequest};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr::NonNull;

/// The counting allocator: `#[global_allocator] static A: CountingAllocator
/// = CountingAllocator;` in the binary that uses this module.
pub struct CountingAllocator;

thread_local! {
    /// Bytes allocated minus bytes freed by this thread outside the model.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// The highest `LIVE` since the last `reset_peak`.
    static PEAK: Cell<isize> = const { Cell::new(0) };
    /// Depth of calls into the model.
    static UNCOUNTED: Cell<u32> = const { Cell::new(0) };
    /// Counted calls to let through before one fails (returns null).
    static FAIL_AFTER: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Whether this thread's allocations are counted now (not inside the model).
fn counted() -> bool {
    UNCOUNTED
        .try_with(|depth| depth.get() == 0)
        .unwrap_or(false)
}

/// Whether a counted allocation or reallocation call may go ahead.
fn allowed() -> bool {
    if !counted() {
        return true;
    }
    FAIL_AFTER
        .try_with(|fail| match fail.get() {
            Some(0) => {
                fail.set(None);
                false
            }
            Some(n) => {
                fail.set(Some(n - 1));
                true
            }
            None => true,
        })
        .unwrap_or(true)
}

fn account(delta: isize) {
    if counted() {
        let _ = LIVE.try_with(|live| {
            let now = live.get() + delta;
            live.set(now);
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
        });
    }
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// counting touches only const-initialised thread-locals, which never
// allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !allowed() {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            account(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !allowed() {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            account(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        account(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !allowed() {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's guarantees.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            account(new_size as isize - layout.size() as isize);
        }
        new
    }
}

/// Bytes this thread holds now, outside the model.
pub fn live() -> isize {
    LIVE.with(Cell::get)
}

/// Lets `n` more counted allocation or reallocation calls of this thread
/// through, then fails the next one (it returns null, as when memory runs
/// out); `None` fails none.
pub fn fail_after(n: Option<u64>) {
    FAIL_AFTER.with(|fail| fail.set(n));
}

/// Forgets the peak: from now on [`peak`] is the highest [`live`] seen.
pub fn reset_peak() {
    PEAK.with(|peak| peak.set(live()));
}

/// The highest [`live`] since [`reset_peak`].
pub fn peak() -> isize {
    PEAK.with(Cell::get)
}

/// Runs `f` without counting its allocations.
pub fn uncounted<T>(f: impl FnOnce() -> T) -> T {
    UNCOUNTED.with(|depth| depth.set(depth.get() + 1));
    let result = f();
    UNCOUNTED.with(|depth| depth.set(depth.get() - 1));
    result
}

/// A model handle whose every call is left out of the count.
#[derive(Clone, Debug)]
pub struct Uncounted<T>(pub T);

impl<T: RegisterFrame> RegisterFrame for Uncounted<T> {
    type Kind = T::Kind;

    fn load(&self, access: ReadAccess<T::Kind>) -> u64 {
        uncounted(|| self.0.load(access))
    }

    fn store(&self, access: WriteAccess<T::Kind>, value: u64) {
        uncounted(|| self.0.store(access, value))
    }
}

// SAFETY: every call is forwarded to `T`, whose guarantees carry over.
unsafe impl<T: DmaMemory> DmaMemory for Uncounted<T> {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        uncounted(|| self.0.allocate_zeroed(request))
    }

    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        uncounted(|| self.0.deallocate(region, request))
    }

    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
        uncounted(|| self.0.clean_invalidate_to_poc(virt, len))
    }
}
