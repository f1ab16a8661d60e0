//! The CPU side of hibernation: saving the CPU context setjmp-style and
//! copying the kernel's pages into the snapshot buffer (image kernel), and
//! copying an image into place and jumping into it (boot kernel).
//!
//! `hibernate_save_context` saves the callee-saved registers, SP, LR and
//! the EL1 system registers that describe the kernel's world (TCR, MAIR,
//! TTBR0, SCTLR, VBAR, DAIF, CPACR, CNTKCTL), then calls a function on the current
//! stack to take the snapshot, and returns its result (0 or an error code).
//! The resumed kernel "returns" from the same call a second time, with 1:
//! `hibernate_copy_and_resume` (in the boot kernel) copies the image into
//! place, then loads the saved context from the restored memory and
//! returns through it.
//!
//! The copy runs from kernel text (the same binary at the same address in
//! both kernels, never in an image), uses only registers (no stack: the
//! boot kernel's stack is being overwritten), and runs on
//! [`HANDOVER_PAGETABLE`], which lives in rodata, because the boot kernel's
//! page tables are in its heap, which the image replaces.

use crate::boot::{INITIAL_BLOCK, NORMAL};
use core::ops::Range;

/// What `hibernate_save_context` returns in the resumed kernel.
pub const RESUMED: u64 = 1;
/// What the snapshot function returns when it took the snapshot.
pub const SNAPSHOT_TAKEN: u64 = 0;
/// Snapshot error: the range table is full.
pub const SNAPSHOT_TOO_MANY_RANGES: u64 = 2;
/// Snapshot error: the snapshot buffer is full.
pub const SNAPSHOT_NO_ROOM: u64 = 3;

const PAGE: usize = 4096;

/// The CPU state `hibernate_save_context` saves (offsets used by the asm).
#[repr(C)]
#[derive(Debug)]
pub struct CpuContext {
    /// x19..=x29 and x30 (LR).
    x19_x30: [u64; 12],
    sp: u64,
    /// The low 64 bits of v8..=v15 (callee-saved in AAPCS64).
    d8_d15: [u64; 8],
    tcr: u64,
    mair: u64,
    ttbr0: u64,
    sctlr: u64,
    vbar: u64,
    daif: u64,
    cpacr: u64,
    /// The counter's event stream (the NVMe driver's bounded `wfe`).
    cntkctl: u64,
}

const _: () = assert!(core::mem::size_of::<CpuContext>() == 232);

/// The image kernel's context. In .bss, so in the image; the boot kernel
/// (same binary) finds it at the same address once the image is in place.
pub static mut SAVED_CONTEXT: CpuContext = CpuContext {
    x19_x30: [0; 12],
    sp: 0,
    d8_d15: [0; 8],
    tcr: 0,
    mair: 0,
    ttbr0: 0,
    sctlr: 0,
    vbar: 0,
    daif: 0,
    cpacr: 0,
    cntkctl: 0,
};

/// A level-1 table mapping the initially mapped 1 GiB of RAM as Normal
/// memory (as aarch64-rt's initial table does): the boot kernel copies the
/// image on it. In rodata, so nothing the copy writes can change it.
#[repr(C, align(4096))]
pub struct HandoverTable([u64; 512]);

/// See [`HandoverTable`].
pub static HANDOVER_PAGETABLE: HandoverTable = {
    let mut table = [0; 512];
    table[INITIAL_BLOCK.start >> 30] = (NORMAL.bits() | INITIAL_BLOCK.start) as u64;
    HandoverTable(table)
};

/// One step of the handover copy: `len` bytes from `src` to `dst`, or
/// zeroes when `src` is 0. All three are multiples of 16.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyOp {
    /// Destination.
    pub dst: u64,
    /// Source, or 0 to zero.
    pub src: u64,
    /// Bytes.
    pub len: u64,
}

/// One run of saved pages in the range table.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SavedRange {
    /// Physical (= virtual) address of the first page.
    pub start: u64,
    /// Pages.
    pub pages: u64,
    /// [`checksum`] of the pages as saved.
    pub checksum: u64,
}

/// Bytes of one [`SavedRange`] on disk.
pub const SAVED_RANGE_BYTES: usize = 24;

/// What the snapshot function works with: the regions to save, where the
/// range table and the page data go, and what it found. Filled in before
/// the context is saved; no heap, no locks and no logging happen while the
/// snapshot is taken (a lock held in the image would be held for ever
/// after resume).
#[derive(Debug)]
pub struct SnapshotJob {
    /// Regions whose non-zero pages are saved (the rest is zero on resume).
    pub regions: [Range<usize>; 2],
    /// The range table.
    pub table: *mut SavedRange,
    /// Room in the table.
    pub max_ranges: usize,
    /// Where page data goes.
    pub data: Range<usize>,
    /// Ranges written.
    pub ranges: usize,
    /// Pages written.
    pub pages: usize,
}

unsafe extern "C" {
    /// Saves the context into `context`, calls `snapshot(job)` and returns
    /// its result; returns [`RESUMED`] when the image is resumed.
    fn hibernate_save_context(
        context: *mut CpuContext,
        snapshot: extern "C" fn(usize) -> u64,
        job: usize,
    ) -> u64;
    /// Switches to `ttbr0`, performs `count` [`CopyOp`]s, then restores the
    /// context at `context` and returns [`RESUMED`] from the image
    /// kernel's `hibernate_save_context`. Never returns here.
    fn hibernate_copy_and_resume(
        ops: *const CopyOp,
        count: u64,
        ttbr0: u64,
        context: *const CpuContext,
    ) -> !;
}

/// Saves the CPU context and takes the snapshot described by `job`. Returns
/// [`SNAPSHOT_TAKEN`] (or an error code) in the image kernel, [`RESUMED`]
/// in the resumed kernel.
///
/// # Safety
/// IRQs must be masked and no other CPU may run. `job` must describe
/// scratch memory that no region overlaps. Between this call and its
/// second return (resume), memory outside the regions may have changed.
pub unsafe fn save_context_and_snapshot(job: &mut SnapshotJob) -> u64 {
    // SAFETY: the context is only written here and read by the resume
    // path; the caller promised the rest.
    unsafe {
        hibernate_save_context(
            &raw mut SAVED_CONTEXT,
            take_snapshot,
            core::ptr::from_mut(job) as usize,
        )
    }
}

/// The address the boot kernel jumps through (recorded in the image
/// header, checked against the boot kernel's own).
pub fn resume_entry() -> u64 {
    hibernate_copy_and_resume as *const () as u64
}

/// The saved context's address (recorded in the image header).
pub fn context_address() -> u64 {
    (&raw const SAVED_CONTEXT) as u64
}

/// Copies the image into place with `ops` and resumes it.
///
/// # Safety
/// The image must come from this binary (same text) and be complete and
/// verified; `ops` and every source must lie in memory that no destination
/// overlaps; IRQs masked, the ITS saved, devices quiesced, no other CPU.
pub unsafe fn copy_and_resume(ops: &[CopyOp]) -> ! {
    let ttbr0 = (&raw const HANDOVER_PAGETABLE) as u64;
    // SAFETY: the caller promised the preconditions; the routine uses no
    // stack and runs on a table nothing can overwrite.
    unsafe {
        hibernate_copy_and_resume(
            ops.as_ptr(),
            ops.len() as u64,
            ttbr0,
            &raw const SAVED_CONTEXT,
        )
    }
}

/// A 64-bit checksum of whole words (fast under TCG, unlike a byte-wise
/// hash): each word is mixed in with a rotate, xor and multiply.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_le_bytes([
            chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
        ]);
        hash = (hash.rotate_left(23) ^ word).wrapping_mul(0x0000_0100_0000_01b3);
    }
    for &byte in bytes.chunks_exact(8).remainder() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Whether the page at `address` holds only zeroes.
///
/// # Safety
/// `address` must be a mapped, readable page.
unsafe fn page_is_zero(address: usize) -> bool {
    // SAFETY: the caller promised a mapped page; u64 reads of an aligned page.
    let words = unsafe { core::slice::from_raw_parts(address as *const u64, PAGE / 8) };
    words.iter().all(|&word| word == 0)
}

/// Runs with the context saved: copies every non-zero page of the job's
/// regions to the data area, one table entry per run of consecutive pages.
extern "C" fn take_snapshot(job: usize) -> u64 {
    // SAFETY: `save_context_and_snapshot` passed its job's address.
    let job = unsafe { &mut *(job as *mut SnapshotJob) };
    let mut out = job.data.start;
    job.ranges = 0;
    job.pages = 0;
    for region in job.regions.clone() {
        let mut open: Option<usize> = None; // table index of the current run
        let mut page = region.start;
        while page < region.end {
            // SAFETY: the regions are mapped kernel RAM.
            if unsafe { page_is_zero(page) } {
                open = None;
            } else {
                if out + PAGE > job.data.end {
                    return SNAPSHOT_NO_ROOM;
                }
                // SAFETY: `page` is a mapped page of a region, `out` a page of
                // the data area, and they do not overlap (scratch is outside
                // every region).
                unsafe { core::ptr::copy_nonoverlapping(page as *const u8, out as *mut u8, PAGE) };
                let index = match open {
                    Some(index) => index,
                    None => {
                        if job.ranges == job.max_ranges {
                            return SNAPSHOT_TOO_MANY_RANGES;
                        }
                        // SAFETY: index < max_ranges, inside the table.
                        unsafe {
                            job.table.add(job.ranges).write(SavedRange {
                                start: page as u64,
                                pages: 0,
                                checksum: 0,
                            })
                        };
                        job.ranges += 1;
                        open = Some(job.ranges - 1);
                        job.ranges - 1
                    }
                };
                // SAFETY: `index` is an entry written above.
                unsafe { (*job.table.add(index)).pages += 1 };
                job.pages += 1;
                out += PAGE;
            }
            page += PAGE;
        }
    }
    // Checksums over the copies, which are what goes to disk.
    let mut data = job.data.start;
    for index in 0..job.ranges {
        // SAFETY: entries 0..ranges were written above.
        let entry = unsafe { &mut *job.table.add(index) };
        let bytes = entry.pages as usize * PAGE;
        // SAFETY: the copies of this run are the next `bytes` of the data area.
        entry.checksum = checksum(unsafe { core::slice::from_raw_parts(data as *const u8, bytes) });
        data += bytes;
    }
    SNAPSHOT_TAKEN
}

// Context layout offsets: x19..x30 at 0..96, sp at 96, d8..d15 at 104..168,
// then tcr 168, mair 176, ttbr0 184, sctlr 192, vbar 200, daif 208, cpacr 216,
// cntkctl 224.
core::arch::global_asm!(
    ".section .text.hibernate, \"ax\"",
    ".global hibernate_save_context",
    "hibernate_save_context:",
    "stp x19, x20, [x0, #0]",
    "stp x21, x22, [x0, #16]",
    "stp x23, x24, [x0, #32]",
    "stp x25, x26, [x0, #48]",
    "stp x27, x28, [x0, #64]",
    "stp x29, x30, [x0, #80]",
    "mov x9, sp",
    "str x9, [x0, #96]",
    "stp d8, d9, [x0, #104]",
    "stp d10, d11, [x0, #120]",
    "stp d12, d13, [x0, #136]",
    "stp d14, d15, [x0, #152]",
    "mrs x9, tcr_el1",
    "str x9, [x0, #168]",
    "mrs x9, mair_el1",
    "str x9, [x0, #176]",
    "mrs x9, ttbr0_el1",
    "str x9, [x0, #184]",
    "mrs x9, sctlr_el1",
    "str x9, [x0, #192]",
    "mrs x9, vbar_el1",
    "str x9, [x0, #200]",
    "mrs x9, daif",
    "str x9, [x0, #208]",
    "mrs x9, cpacr_el1",
    "str x9, [x0, #216]",
    "mrs x9, cntkctl_el1",
    "str x9, [x0, #224]",
    // Take the snapshot on this stack; x19 (saved above) keeps the context.
    "mov x19, x0",
    "mov x0, x2",
    "blr x1",
    "ldr x30, [x19, #88]",
    "ldr x19, [x19, #0]",
    "ret",
    "",
    ".global hibernate_copy_and_resume",
    "hibernate_copy_and_resume:",
    // x0 = ops, x1 = count, x2 = handover TTBR0, x3 = context.
    "msr daifset, #0xf",
    "msr ttbr0_el1, x2",
    "isb",
    "tlbi vmalle1",
    "dsb nsh",
    "isb",
    "1:",
    "cbz x1, 5f",
    "ldp x4, x5, [x0]",
    "ldr x6, [x0, #16]",
    "add x0, x0, #24",
    "sub x1, x1, #1",
    "cbz x5, 3f",
    "2:",
    "cbz x6, 1b",
    "ldp x7, x8, [x5]",
    "add x5, x5, #16",
    "stp x7, x8, [x4]",
    "add x4, x4, #16",
    "sub x6, x6, #16",
    "b 2b",
    "3:",
    "cbz x6, 1b",
    "stp xzr, xzr, [x4]",
    "add x4, x4, #16",
    "sub x6, x6, #16",
    "b 3b",
    "5:",
    // The image is in place: the image kernel's world comes back.
    "dsb ish",
    "ic iallu",
    "dsb nsh",
    "isb",
    "mov x0, x3",
    "ldr x9, [x0, #216]",
    "msr cpacr_el1, x9",
    "ldr x9, [x0, #176]",
    "msr mair_el1, x9",
    "ldr x9, [x0, #168]",
    "msr tcr_el1, x9",
    "ldr x9, [x0, #184]",
    "msr ttbr0_el1, x9",
    "isb",
    "tlbi vmalle1",
    "dsb nsh",
    "isb",
    "ldr x9, [x0, #192]",
    "msr sctlr_el1, x9",
    "isb",
    "ldr x9, [x0, #200]",
    "msr vbar_el1, x9",
    "ldr x9, [x0, #224]",
    "msr cntkctl_el1, x9",
    "ldp x19, x20, [x0, #0]",
    "ldp x21, x22, [x0, #16]",
    "ldp x23, x24, [x0, #32]",
    "ldp x25, x26, [x0, #48]",
    "ldp x27, x28, [x0, #64]",
    "ldp x29, x30, [x0, #80]",
    "ldr x9, [x0, #96]",
    "mov sp, x9",
    "ldp d8, d9, [x0, #104]",
    "ldp d10, d11, [x0, #120]",
    "ldp d12, d13, [x0, #136]",
    "ldp d14, d15, [x0, #152]",
    "ldr x9, [x0, #208]",
    "msr daif, x9",
    "isb",
    "mov x0, #1",
    "ret",
);
