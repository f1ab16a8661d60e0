//! Phase markers in the ITS's own trace.
//!
//! QEMU's `-trace 'gicv3_its*'` logs every ITS register access
//! (`gicv3_its_read GICv3 ITS read: offset 0xffd0 ...`) in order with the
//! commands and table writes, while the serial log goes elsewhere. So that
//! a checker can split the trace into the kernel's phases, the kernel reads
//! one of the ITS's identification registers (GITS_PIDR4..7, 0xFFD0..0xFFDC,
//! and GITS_PIDR0..2, 0xFFE0..0xFFE8), which the driver never reads, right
//! where it prints the phase's line: the offset names the phase. A read has
//! no effect on the ITS.
//!
//! One cycle marks, in this order: `Entry` (image kernel), `Boot` (the
//! boot kernel starts), `Handover`, `Jump`, `Exit`, `ForeignProbe`,
//! `ChecksDone` (the resumed kernel); the very first boot marks `Boot` too.

use crate::mmio::read32;
use core::sync::atomic::{AtomicUsize, Ordering};

/// A phase of the hibernation cycle, as marked in the ITS trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Phase {
    /// A kernel starts, before it probes the ITS.
    Boot = 0xffd0,
    /// `PM: hibernation: entry`: the image kernel, before its save hook.
    Entry = 0xffd4,
    /// `PM: hibernation: handing over to image`: the boot kernel, before its
    /// teardown.
    Handover = 0xffd8,
    /// `PM: hibernation: exit`: the resumed kernel, after its restore hook.
    Exit = 0xffdc,
    /// The resumed kernel is about to write GITS_TRANSLATER as DeviceID 0
    /// (a device only the boot kernel mapped): QEMU logs a guest error for
    /// the untranslated MSI, which the checker expects right here.
    ForeignProbe = 0xffe0,
    /// The resumed kernel's MSI checks are done: every MSI between
    /// [`Phase::Exit`] and here was raised by a check.
    ChecksDone = 0xffe4,
    /// The boot kernel's last ITS-visible step: its teardown is done (or
    /// skipped by `hibernate-no-teardown`), IRQs are masked, and it is about
    /// to copy the image into place and jump to the resume entry.
    Jump = 0xffe8,
}

/// The ITS frame base, once known.
static ITS_BASE: AtomicUsize = AtomicUsize::new(0);

/// Records the ITS frame base (from the DTB).
pub fn set_its_base(base: u64) {
    ITS_BASE.store(base as usize, Ordering::Release);
}

/// Marks `phase` in the ITS trace.
pub fn mark(phase: Phase) {
    let base = ITS_BASE.load(Ordering::Acquire);
    if base != 0 {
        // SAFETY: the ITS control frame (64 KiB) is mapped as Device memory
        // for ever; the ID registers are read-only and reading them has no
        // side effect.
        let _ = unsafe { read32(base + phase as usize) };
    }
}
