//! The jump into Linux: the arm64 boot protocol's entry state (Linux's
//! Documentation/arch/arm64/booting.rst) is x0 = the DTB's physical
//! address, x1 = x2 = x3 = 0, all of DAIF masked, the MMU off, no stale
//! instruction-cache line for the Image, and the same exception level the
//! boot loader was entered at.
//!
//! This kernel runs at EL1 on an identity map, so turning its MMU off leaves
//! the code under the program counter where it is. Entered at EL2, it
//! dropped to EL1 (boot.rs) and left a stub at EL2 that, on `hvc #LINUX_HVC`,
//! branches to x1 with x0 = x2 at EL2, with EL2's MMU never turned on.
//!
//! The Image, the initrd and the DTB are cleaned to the Point of Coherency
//! before the caches are turned off (`super::run`); nothing else needs to
//! reach memory, as Linux invalidates what it writes with its MMU off.

use crate::boot::LINUX_HVC;

unsafe extern "C" {
    /// See [`enter`].
    fn linux_enter(entry: usize, dtb: usize, at_el2: u64) -> !;
}

/// Turns this CPU's MMU and caches off and jumps to `entry` with x0 = `dtb`,
/// at EL2 through boot.rs's stub if `at_el2`, else at EL1.
///
/// # Safety
/// `entry` must be the first byte of an arm64 Image placed as its header
/// asks, cleaned to the Point of Coherency, with `dtb` a valid DTB likewise
/// cleaned, and nothing but this CPU running: every other CPU off, every
/// device quiesced, the ITS saved and the redistributors released. The code
/// of this function must be identity mapped (it runs across the MMU being
/// turned off). `at_el2` only if the kernel was entered at EL2 (the stub
/// exists only then).
pub unsafe fn enter(entry: usize, dtb: usize, at_el2: bool) -> ! {
    // SAFETY: the caller's promises are the boot protocol's.
    unsafe { linux_enter(entry, dtb, u64::from(at_el2)) }
}

// x0 = entry, x1 = DTB, x2 = 1 to enter at EL2 through the stub. Uses only
// registers: with the MMU off, data accesses are Device accesses that could
// miss dirty lines of the stack.
core::arch::global_asm!(
    ".section .text.linux_enter, \"ax\"",
    ".global linux_enter",
    "linux_enter:",
    "msr daifset, #0xf",
    // SCTLR_EL1: M (bit 0), C (bit 2) and I (bit 12) off.
    "mrs x9, sctlr_el1",
    "mov x10, #0x1005",
    "bic x9, x9, x10",
    "msr sctlr_el1, x9",
    "isb",
    "ic iallu",
    "tlbi vmalle1",
    "dsb sy",
    "isb",
    "cbnz x2, 1f",
    "mov x9, x0",
    "mov x0, x1",
    "mov x1, xzr",
    "mov x2, xzr",
    "mov x3, xzr",
    "br x9",
    "1:",
    // The EL2 stub takes the entry in x1 and the DTB in x2.
    "mov x2, x1",
    "mov x1, x0",
    "hvc #{hvc}",
    "2:",
    "wfe",
    "b 2b",
    hvc = const LINUX_HVC,
);
