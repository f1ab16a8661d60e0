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
    /// [`ENTRY_LINE`]: the image kernel, before its save hook.
    Entry = 0xffd4,
    /// [`HANDOVER_LINE`]: the boot kernel, before its teardown.
    Handover = 0xffd8,
    /// [`EXIT_LINE`]: the resumed kernel, after its restore hook.
    Exit = 0xffdc,
    /// The resumed kernel is about to write GITS_TRANSLATER as DeviceID 0
    /// (a device only the boot kernel mapped): QEMU logs a guest error for
    /// the untranslated MSI, which the checker expects right here.
    ForeignProbe = 0xffe0,
    /// The resumed kernel's MSI checks are done: every MSI between
    /// [`Phase::Exit`] and here was raised by a check.
    ChecksDone = 0xffe4,
    /// [`JUMP_LINE`]: the boot kernel's last ITS-visible step: its teardown
    /// is done (or skipped by `hibernate-no-teardown`), IRQs are masked, and
    /// it is about to copy the image into place and jump to the resume
    /// entry.
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

// ---- the hibernation cycle's serial log -----------------------------------

/// The image kernel, before its save hook ([`Phase::Entry`]); the whole line.
pub const ENTRY_LINE: &str = "PM: hibernation: entry";
/// The boot kernel, before its teardown ([`Phase::Handover`]); the whole
/// line.
pub const HANDOVER_LINE: &str = "PM: hibernation: handing over to image";
/// The boot kernel's last line before the jump ([`Phase::Jump`]):
/// `{JUMP_LINE} {pages} pages into place and jumping to {entry:#x}`.
pub const JUMP_LINE: &str = "PM: hibernation: copying";
/// The resumed kernel, after its restore hook ([`Phase::Exit`]); the whole
/// line.
pub const EXIT_LINE: &str = "PM: hibernation: exit";
/// The last line of a run without failures; the whole line.
pub const RESULT_OK_LINE: &str = "PM: hibernation: result: ok";

/// The boot kernel's record of the image kernel's ITS, from the image
/// header, one line per device:
/// `{IMAGE_ITS_LINE} {device_id:#x} ITT {itt:#x} ({bytes} bytes), events [...]`.
pub const IMAGE_ITS_LINE: &str = "PM: image kernel's ITS (from the image): DeviceID";
/// The boot kernel's own ITS, likewise.
pub const BOOT_ITS_LINE: &str = "PM: boot kernel's ITS: DeviceID";

/// When the kernel checks that its MSIs arrive: the image kernel at boot,
/// and the resumed kernel after each resume (the checker reads these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckPoint {
    /// The image kernel, before its first cycle.
    Boot,
    /// The resumed kernel, after each resume.
    Resumed,
}

impl CheckPoint {
    /// How the check lines and failure messages name it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Boot => "boot",
            Self::Resumed => "resumed",
        }
    }

    /// The edu check's line:
    /// `{edu_line} {lpi}: {raised} MSIs raised, {handled} handled`.
    pub const fn edu_line(self) -> &'static str {
        match self {
            Self::Boot => "PM: check (boot): edu LPI",
            Self::Resumed => "PM: check (resumed): edu LPI",
        }
    }

    /// The NVMe check's line: `{nvme_line} [admin, I/O]: 2 I/O commands,
    /// interrupts handled [admin, I/O], data {verdict}`.
    pub const fn nvme_line(self) -> &'static str {
        match self {
            Self::Boot => "PM: check (boot): nvme LPIs",
            Self::Resumed => "PM: check (resumed): nvme LPIs",
        }
    }
}

/// The DeviceID the boot kernel maps for itself and the resumed kernel
/// probes: a CPU write to GITS_TRANSLATER arrives as DeviceID 0 on QEMU, so
/// the kernel can raise its MSIs itself.
pub const FOREIGN_DEVICE: u32 = 0;

/// `hibernate-no-teardown`: the boot kernel says it skips its save hook;
/// the whole line (a warning).
pub const NO_TEARDOWN_LINE: &str =
    "PM: hibernate-no-teardown: the boot kernel leaves its ITS mappings in place (the bug)";
/// A boot kernel whose ITS save hook failed: `{SAVE_FAILED_LINE} {error};
/// {NOT_JUMPING} (...); powering off with status {EXIT_HANDOVER_FAILED}`.
pub const SAVE_FAILED_LINE: &str = "PM: hibernation: FAILED: the boot kernel's ITS save failed:";
/// See [`SAVE_FAILED_LINE`].
pub const NOT_JUMPING: &str = "NOT jumping into the image";
/// The save hook's error under `hibernate-fail-boot-save`:
/// `{SIMULATED_SAVE_FAILURE} (the save hook was not run)`.
pub const SIMULATED_SAVE_FAILURE: &str = "simulated by hibernate-fail-boot-save";
/// `hibernate-corrupt-image`: the kernel that refused the corrupted image
/// says so before powering off; the whole line.
pub const CORRUPT_IMAGE_REFUSED_LINE: &str =
    "PM: hibernation: the corrupted image was refused, the kernel booted normally";

/// Semihosting exit status that tells `qemu/run --cold` the kernel wrote an
/// image and powered off: start the next QEMU process on the same disk
/// (`qemu/run` has the number too).
pub const EXIT_HIBERNATED: u32 = 75;
/// Semihosting exit status of a boot kernel whose ITS save hook failed: it
/// refuses to jump into the image.
pub const EXIT_HANDOVER_FAILED: u32 = 76;

// ---- the on-target tests' serial log (`qemu/run --test`) -------------------

/// The verdict when every on-target test passed:
/// `{TEST_RESULT_OK} {passed} passed; 0 failed` (`qemu/run --kvm --test`,
/// which has no semihosting exit status, looks for it too).
pub const TEST_RESULT_OK: &str = "test result: ok.";
/// The verdict otherwise: `{TEST_RESULT_FAILED} {passed} passed; {failed}
/// failed`.
pub const TEST_RESULT_FAILED: &str = "test result: FAILED.";
/// A test that needs more CPUs than the machine has says so, in a line
/// that holds this, and passes: `test: {TEST_SKIPPED} needs N CPUs, ...`.
/// (`qemu/run --test --smp 4` must have none.)
pub const TEST_SKIPPED: &str = "skipped:";
