//! What the host tests read from the example kernel: the phase markers it
//! leaves in the ITS trace, and the lines of its serial log they look for.
//!
//! Both sides use this one file: the kernel compiles it as its `protocol`
//! module and marks and prints exactly these; the host tests include it
//! (`#[path]` in `tests/qemu_support/mod.rs`) and look for exactly these.
//! So it depends on nothing (not even `alloc`) and builds in the `no_std`
//! kernel and on the host alike. A text changed here changes both sides;
//! the saved run in `tests/fixtures/`, on which the trace checker's unit
//! tests run, must then be taken again.

// Each side uses only a part of it.
#![allow(dead_code)]

/// A phase of the hibernation cycle, as the kernel marks it in the ITS
/// trace.
///
/// QEMU's `-trace 'gicv3_its*'` logs every ITS register access
/// (`gicv3_its_read GICv3 ITS read: offset 0xffd0 ...`) in order with the
/// commands and table writes, while the serial log goes elsewhere. So that
/// a checker can split the trace into the kernel's phases, the kernel reads
/// one of the ITS's identification registers (GITS_PIDR4..7, 0xFFD0..0xFFDC,
/// and GITS_PIDR0..2, 0xFFE0..0xFFE8), which the driver never reads, right
/// where it prints the phase's line: the offset, [`Phase::offset`], names the
/// phase. A read has no effect on the ITS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
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

impl Phase {
    /// The phases one cycle marks, once each, in this order. The very first
    /// boot marks [`Phase::Boot`] too, before the first cycle's `Entry`.
    pub const CYCLE: [Phase; 7] = [
        Phase::Entry,
        Phase::Boot,
        Phase::Handover,
        Phase::Jump,
        Phase::Exit,
        Phase::ForeignProbe,
        Phase::ChecksDone,
    ];

    /// The offset in the ITS control frame whose read marks this phase.
    pub const fn offset(self) -> u64 {
        self as u64
    }

    /// The phase that a read at `offset` marks, if any.
    pub fn from_offset(offset: u64) -> Option<Self> {
        Self::CYCLE
            .into_iter()
            .find(|phase| phase.offset() == offset)
    }
}
