//! Phase markers in the ITS's own trace: where the kernel prints a phase's
//! line, it reads the ITS identification register that names the phase
//! ([`Phase`], defined with the host checker in `protocol.rs`).

use crate::mmio::read32;
use crate::protocol::Phase;
use core::sync::atomic::{AtomicUsize, Ordering};

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
        let _ = unsafe { read32(base + phase.offset() as usize) };
    }
}
