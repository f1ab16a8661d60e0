//! What the host tests read from the example kernel: the phase markers it
//! leaves in the ITS trace, and the lines of its serial log they look for.
//!
//! Both sides depend on this one crate: the kernel (as its `protocol`)
//! marks and prints exactly these, and the host tests
//! (`tests/qemu_support/mod.rs`) look for exactly these. So it depends on
//! nothing (not even `alloc`) and builds in the `no_std` kernel and on the
//! host alike. A text changed here changes both sides;
//! the saved run in `tests/fixtures/`, on which the trace checker's unit
//! tests run, must then be taken again.

#![no_std]

/// A phase of the hibernation cycle, as the kernel marks it in the ITS
/// trace.
///
/// QEMU's `-trace 'gicv3_its*'` logs every ITS register access
/// (`gicv3_its_read GICv3 ITS read: offset 0xffd0 ...`) in order with the
/// commands and table writes, while the serial log goes elsewhere. So that
/// a checker can split the trace into the kernel's phases, the kernel reads
/// one of the ITS's identification registers (GITS_PIDR4..7, 0xFFD0..0xFFDC,
/// GITS_PIDR0, 1 and 3, 0xFFE0, 0xFFE4, 0xFFEC, and GITS_CIDR0, 0xFFF0),
/// which the driver never reads, right where it prints the phase's line: the
/// offset, [`Phase::offset`], names the phase. A read has no effect on the
/// ITS. GITS_PIDR2 is not used: Linux reads it when it probes an ITS.
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
    Jump = 0xfff0,
    /// [`LINUX_JUMP_LINE`] (`to-linux`): the kernel's last ITS-visible step
    /// before it enters Linux: its teardown is done (or skipped by
    /// `linux-no-teardown`) and IRQs are masked.
    ToLinux = 0xffec,
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

    /// Every phase: the cycle's, then [`Phase::ToLinux`].
    pub const ALL: [Phase; 8] = [
        Phase::Entry,
        Phase::Boot,
        Phase::Handover,
        Phase::Jump,
        Phase::Exit,
        Phase::ForeignProbe,
        Phase::ChecksDone,
        Phase::ToLinux,
    ];

    /// The offset in the ITS control frame whose read marks this phase.
    pub const fn offset(self) -> u64 {
        self as u64
    }

    /// The phase that a read at `offset` marks, if any.
    pub fn from_offset(offset: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|phase| phase.offset() == offset)
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
/// The image kernel stops where `hibernate-power-cut` cuts the power
/// (`qemu/run` kills QEMU on it):
/// `{POWER_CUT_LINE} {written} of {total} sectors of the image`.
pub const POWER_CUT_LINE: &str = "PM: hibernation: power cut after";
/// The boot kernel found no image (none written, or not written whole):
/// the whole line.
pub const NO_IMAGE_LINE: &str = "PM: hibernation: no image on the disk: fresh boot";

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

// ---- booting Linux (`to-linux`) -----------------------------------------------

/// The Linux Image, initrd and DTB the kernel will boot:
/// `{LINUX_IMAGE_LINE} {entry:#x} ({bytes} bytes with BSS, flags {flags:#x}), initrd {start:#x}..{end:#x}, DTB at {dtb:#x}`
/// (`initrd none` without one).
pub const LINUX_IMAGE_LINE: &str = "linux: Image at";
/// What the kernel did with its devices before the handover:
/// `{LINUX_USED_LINE} edu MSIs {raised} raised, {handled} handled; NVMe {commands} reads, {interrupts} interrupts`.
pub const LINUX_USED_LINE: &str = "linux: devices used through the ITS:";
/// Before the teardown; the whole line.
pub const LINUX_HANDOVER_LINE: &str = "linux: handing over to Linux";
/// The last line before the jump ([`Phase::ToLinux`]):
/// `{LINUX_JUMP_LINE} {entry:#x} at EL{el}, x0 = DTB {dtb:#x}`.
pub const LINUX_JUMP_LINE: &str = "linux: entering Linux at";
/// `linux-no-teardown`: the kernel says it skips its save hook and leaves
/// its redistributors' LPIs on; the whole line (a warning).
pub const LINUX_NO_TEARDOWN_LINE: &str = "linux: linux-no-teardown: Linux gets the ITS with this kernel's mappings and LPIs enabled (the bug)";
/// The handover failed before the jump: `{LINUX_FAILED_LINE} {why}`; the
/// kernel then powers off with status [`EXIT_HANDOVER_FAILED`].
pub const LINUX_FAILED_LINE: &str = "linux: FAILED:";

/// The line a boot prints about the GIC a previous owner left running,
/// stopped before the heap was used: "N ITSes quiesced; M redistributors,
/// LPIs left on stopped at S, stuck at K".
pub const EARLY_STOP_LINE: &str = "gic: a previous owner's GIC, stopped before the heap:";

/// The image kernel's line at the end of each round of `linux-rounds`,
/// followed by "K of N: heap in use H bytes, ITS memory M bytes (...)":
/// the same H and M every round.
pub const LINUX_ROUND_LINE: &str = "PM: linux round";

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
