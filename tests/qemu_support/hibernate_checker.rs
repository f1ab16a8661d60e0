//! The hibernation checker: judges a run of the example kernel's boot ->
//! hibernate -> restore cycle by QEMU's trace of the ITS ([`crate::trace`])
//! and the kernel's serial log.
//!
//! It replays the trace of a run of `qemu/run --trace` (QEMU's `-trace
//! 'gicv3_its*' -trace 'gicv3_icc*' -d guest_errors`): every Device,
//! Interrupt and Collection Table write the ITS made, every GITS_CTLR write,
//! every MSI it received and the ITE it translated it with, every interrupt
//! the CPU acknowledged, and the kernel's phase markers (the kernel reads an
//! ITS identification register where it prints each phase line, see
//! crates/qemu-protocol), so the trace splits into the
//! kernel's phases without relying on timing. Each cycle must mark `entry`,
//! `boot`, `handing over`, `jump`, `exit`, `foreign probe` and `checks done`
//! exactly once, in that order, and the trace must end after a complete
//! cycle. It fails unless:
//!
//! 1. in the boot kernel, between `handing over` and `jump`, every DeviceID
//!    mapped V=1 is unmapped V=0 and every ICID mapped is unmapped before the
//!    ITS is disabled, and the ITS is disabled at the jump;
//! 2. at `exit`, the ITS holds exactly the image kernel's mappings at `entry`
//!    (DeviceID -> ITT address, (DeviceID, EventID) -> INTID and ICID, ICID
//!    -> RDbase; an ITT counts only what was written into it since its
//!    MAPD), at the ITT addresses the image header recorded;
//! 3. from the jump on (the restore included), no ITE is written into, and
//!    no DeviceID mapped to, an ITT that is not the resumed kernel's;
//! 4. QEMU logs no guest error, no ITS error event (bad register access,
//!    table read fault, unknown command) and no trace event the checker does
//!    not know, except the expected "invalid dte" of each probe of a device
//!    only the boot kernel mapped (DeviceID 0, and in `--cold` runs an extra
//!    edu); no MSI anywhere in the trace is translated from a DeviceID the
//!    table writes leave unmapped, or to another LPI than they map; and
//!    between `exit` and `checks done` every MSI the checks raised (the
//!    kernel's check lines are required) was translated to its LPI,
//!    acknowledged by the CPU (ICC_IAR1) and handled by the kernel exactly
//!    once;
//! 5. between `exit` and `checks done`, every LPI is acknowledged on the
//!    CPU its collection targets: the ITE that translates to it names an
//!    ICID, the Collection Table maps the ICID to an RDbase, and with
//!    GITS_TYPER.PTA = 0 (QEMU) the RDbase is the redistributor's processor
//!    number, which on `virt` is the CPU's index, as is the `cpu` QEMU
//!    prints with each ICC_IAR1 read (its affinity, for CPUs 0 to 15).
//!    With rule 2, the collections at `exit` map to the same
//!    redistributors as at `entry`, CPU by CPU.
//!
//! It must fail when the boot kernel skips its save hook (a QEMU run in
//! `tests/qemu_hibernate.rs`), and on deliberately broken copies of a saved
//! real run (`tests/fixtures/`, the unit tests in
//! `hibernate_checker_tests.rs`). Included by `tests/qemu_hibernate.rs` and
//! `tests/qemu_linux.rs` (the cycle after a kexec from Linux).

use crate::qemu_support::field;
use crate::qemu_support::protocol::{
    self, BOOT_ITS_LINE, CheckPoint, EXIT_LINE, IMAGE_ITS_LINE, Phase,
};
use crate::trace::{Event, ItsState, Mappings, parse};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The DeviceID only the boot kernel maps.
pub(crate) const FOREIGN_DEVICE: u64 = protocol::FOREIGN_DEVICE as u64;

/// Where the trace is in the cycle, from the markers seen so far. One cycle
/// marks the phases of [`Phase::CYCLE`] in that order and once each; the
/// first boot marks `Boot` before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Nothing yet: the first kernel's `Boot` comes next.
    Start,
    /// A kernel that found no image (or a resumed kernel done with its
    /// checks): `Entry` comes next.
    ImageKernel,
    /// The image kernel hibernated: the boot kernel's `Boot` comes next.
    Hibernated,
    /// The boot kernel runs: `Handover` comes next.
    BootKernel,
    /// The boot kernel tears down: `Jump` comes next.
    HandingOver,
    /// The resumed kernel restores: `Exit` comes next.
    Jumped,
    /// `ForeignProbe` comes next.
    Resumed,
    /// `ChecksDone` comes next.
    Probing,
}

impl Stage {
    /// The marker this stage waits for.
    pub(crate) fn expects(self) -> Phase {
        match self {
            Self::Start | Self::Hibernated => Phase::Boot,
            Self::ImageKernel => Phase::Entry,
            Self::BootKernel => Phase::Handover,
            Self::HandingOver => Phase::Jump,
            Self::Jumped => Phase::Exit,
            Self::Resumed => Phase::ForeignProbe,
            Self::Probing => Phase::ChecksDone,
        }
    }

    /// The stage after `phase` (whether or not it was the expected one).
    pub(crate) fn after(self, phase: Phase) -> Self {
        match phase {
            Phase::Boot if self == Self::Hibernated => Self::BootKernel,
            Phase::Boot => Self::ImageKernel,
            Phase::Entry => Self::Hibernated,
            Phase::Handover => Self::HandingOver,
            Phase::Jump => Self::Jumped,
            Phase::Exit => Self::Resumed,
            Phase::ForeignProbe => Self::Probing,
            Phase::ChecksDone => Self::ImageKernel,
            // Not part of a hibernation cycle: reported as unexpected.
            Phase::ToLinux => self,
        }
    }
}

/// What the kernel's serial log says about one resume.
#[derive(Debug, Default)]
pub struct ResumeLog {
    /// DeviceID -> ITT address from the image header ("image kernel's ITS").
    pub image_itts: BTreeMap<u64, u64>,
    /// DeviceID -> ITT address of the boot kernel.
    pub boot_itts: BTreeMap<u64, u64>,
    /// (edu LPI, MSIs raised, handled).
    edu: Option<(u64, u64, u64)>,
    /// NVMe interrupts handled per vector in the check.
    nvme: Option<Vec<u64>>,
}

/// Splits the serial log into resumes (one per `PM: hibernation: exit`): the
/// boot kernel's ITS lines before it, the resumed kernel's checks after.
pub fn resumes(log: &str) -> Vec<ResumeLog> {
    let mut resumes: Vec<ResumeLog> = Vec::new();
    let mut next = ResumeLog::default();
    for line in log.lines() {
        let line = line.trim_end();
        if line.starts_with(IMAGE_ITS_LINE) {
            next.image_itts.insert(
                field(line, "DeviceID").unwrap(),
                field(line, "ITT").unwrap(),
            );
        } else if line.starts_with(BOOT_ITS_LINE) {
            next.boot_itts.insert(
                field(line, "DeviceID").unwrap(),
                field(line, "ITT").unwrap(),
            );
        } else if line == EXIT_LINE {
            resumes.push(std::mem::take(&mut next));
        } else if line.starts_with(CheckPoint::Resumed.edu_line())
            && let Some(current) = resumes.last_mut()
        {
            // "... edu LPI 8194: 3 MSIs raised, 3 handled, 3 on CPU 1"
            let numbers: Vec<u64> = line
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|token| token.parse().ok())
                .collect();
            if let [lpi, raised, handled, ..] = numbers[..] {
                current.edu = Some((lpi, raised, handled));
            }
        } else if line.starts_with(CheckPoint::Resumed.nvme_line())
            && let Some(current) = resumes.last_mut()
        {
            current.nvme = line
                .split("interrupts handled [")
                .nth(1)
                .and_then(|rest| rest.split(']').next())
                .map(|list| list.split(", ").filter_map(|n| n.parse().ok()).collect());
        }
    }
    resumes
}

/// What differs between the image kernel's mappings and the ITS's, one
/// `what key: image kernel X, ITS Y` per entry (`None` for no entry).
fn differences(image: &Mappings, held: &Mappings) -> String {
    fn diff<K: Ord + Copy + std::fmt::Debug, V: PartialEq + std::fmt::Debug>(
        what: &str,
        image: &BTreeMap<K, V>,
        held: &BTreeMap<K, V>,
        out: &mut Vec<String>,
    ) {
        let keys: BTreeSet<K> = image.keys().chain(held.keys()).copied().collect();
        for key in keys {
            let (a, b) = (image.get(&key), held.get(&key));
            if a != b {
                out.push(format!("{what} {key:x?}: image kernel {a:x?}, ITS {b:x?}"));
            }
        }
    }
    let mut out = Vec::new();
    diff("DeviceID", &image.devices, &held.devices, &mut out);
    diff("(DeviceID, EventID)", &image.events, &held.events, &mut out);
    diff("ICID", &image.collections, &held.collections, &mut out);
    out.join("; ")
}

/// The checker's findings for a run.
#[derive(Debug, Default)]
pub struct Report {
    /// Complete cycles (`Entry` .. `ChecksDone`) in the trace.
    pub cycles: usize,
    /// Resumes (`Exit` markers) in the trace.
    pub resumes: usize,
    /// DeviceIDs whose probe MSI the ITS rejected after a resume.
    pub rejected: BTreeSet<u64>,
    /// What broke a rule, one line each.
    pub failures: Vec<String>,
    /// Per resume: the collections the ITS held at `entry` and at `exit`.
    pub collections: Vec<(usize, usize)>,
    /// Per resume: the CPUs that acknowledged an LPI between `exit` and
    /// `checks done`.
    pub lpi_cpus: Vec<BTreeSet<u64>>,
    /// One line per resume for the test output.
    pub summary: String,
}

/// The edu's and NVMe's DeviceIDs (requester IDs 00:01.0 and 00:02.0 with
/// `-nic none`).
pub(crate) const EDU_DEVICE: u64 = 0x8;
pub(crate) const NVME_DEVICE: u64 = 0x10;

/// Replays the trace against the four rules and the marker sequence.
pub fn check(trace: &str, log: &str) -> Report {
    let events = parse(trace);
    let logged = resumes(log);
    let mut report = Report::default();

    if !events
        .iter()
        .any(|e| matches!(e, Event::Acknowledged { .. }))
    {
        report.failures.push(
            "rule 4: the trace has no acknowledged interrupt (no `gicv3_icc` events: was it taken with qemu/run --trace?)".into(),
        );
    }

    let mut state = ItsState::default();
    let mut stage = Stage::Start;
    // The image kernel's mappings at `Entry`.
    let mut image: Option<Mappings> = None;
    // Between `Handover` and `Jump`: whether the ITS was disabled, and
    // whether the stale mappings were reported already.
    let mut disabled_for_jump = false;
    let mut stale_reported = false;
    // From `Jump` to the next `Entry`: the resumed kernel's ITTs.
    let mut resumed_itts: Option<BTreeSet<u64>> = None;
    let mut last_translation: Option<(u64, u64)> = None;
    // Between `Exit` and `ChecksDone`: (DeviceID, EventID) -> INTIDs
    // translated, and INTID -> acknowledgements.
    let mut translated: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
    let mut acknowledged: BTreeMap<u64, u64> = BTreeMap::new();
    let mut probes_rejected: BTreeSet<u64> = BTreeSet::new();

    let stale = |state: &ItsState, report: &mut Report, when: &str| {
        for (device, itt) in &state.devices {
            report.failures.push(format!(
                "rule 1: the boot kernel left DeviceID {device:#x} mapped (ITT {itt:#x}) {when}: a stale mapping"
            ));
        }
        for (icid, rdbase) in &state.collections {
            report.failures.push(format!(
                "rule 1: the boot kernel left ICID {icid} mapped (RDbase {rdbase:#x}) {when}: a stale mapping"
            ));
        }
    };

    for event in &events {
        let index = report.resumes;
        match event {
            Event::Marker(phase) => {
                if *phase != stage.expects() {
                    report.failures.push(format!(
                        "markers: {phase:?} where {:?} was expected (after {} complete cycles)",
                        stage.expects(),
                        report.cycles
                    ));
                }
                stage = stage.after(*phase);
                match phase {
                    Phase::Boot => {
                        // The ITS keeps what it held (after a kexec from
                        // Linux, Linux's mappings; after a reset, stale
                        // tables it no longer names) until the new
                        // kernel's probe writes its BASERs
                        // (`ItsState::apply`).
                        resumed_itts = None;
                    }
                    Phase::Entry => {
                        image = Some(state.mappings());
                        resumed_itts = None;
                    }
                    Phase::Handover => {
                        disabled_for_jump = false;
                        stale_reported = false;
                    }
                    Phase::Jump => {
                        if !disabled_for_jump || state.enabled {
                            report.failures.push(
                                "rule 1: the ITS was not disabled between `handing over` and the jump"
                                    .into(),
                            );
                        }
                        if !stale_reported {
                            stale(&state, &mut report, "at the jump");
                        }
                        resumed_itts = Some(
                            image
                                .as_ref()
                                .map(|m| m.devices.values().copied().collect())
                                .unwrap_or_default(),
                        );
                    }
                    Phase::Exit => {
                        report.resumes += 1;
                        let index = report.resumes;
                        let held = state.mappings();
                        report.collections.push((
                            image.as_ref().map_or(0, |m| m.collections.len()),
                            held.collections.len(),
                        ));
                        report.lpi_cpus.push(BTreeSet::new());
                        match &image {
                            None => report.failures.push(format!(
                                "rule 2: resume {index}: no image kernel state (no `entry` marker)"
                            )),
                            Some(expected) if *expected != held => report.failures.push(format!(
                                "rule 2: resume {index}: the ITS's mappings differ from the image kernel's: {}",
                                differences(expected, &held)
                            )),
                            Some(_) => {}
                        }
                        match logged.get(index - 1) {
                            Some(resume) if resume.image_itts != held.devices => {
                                report.failures.push(format!(
                                    "rule 2: resume {index}: ITTs {:x?} differ from the image header's {:x?}",
                                    held.devices, resume.image_itts
                                ))
                            }
                            Some(_) => {}
                            None => report.failures.push(format!(
                                "rule 2: resume {index}: no `{EXIT_LINE}` for it in the log"
                            )),
                        }
                        translated.clear();
                        acknowledged.clear();
                        probes_rejected.clear();
                    }
                    Phase::ForeignProbe | Phase::ToLinux => {}
                    Phase::ChecksDone => {
                        report.cycles += 1;
                        count_checks(
                            &mut report,
                            logged.get(index.wrapping_sub(1)),
                            image.as_ref(),
                            &translated,
                            &acknowledged,
                            &probes_rejected,
                        );
                        report.rejected.extend(probes_rejected.iter().copied());
                    }
                }
            }
            Event::Ctlr(value)
                if stage == Stage::HandingOver && value & 1 == 0 && !disabled_for_jump =>
            {
                disabled_for_jump = true;
                stale(
                    &state,
                    &mut report,
                    "when the ITS was disabled for the jump",
                );
                stale_reported = true;
            }
            Event::Ite { itt, .. }
            | Event::Dte {
                itt, valid: true, ..
            } if resumed_itts
                .as_ref()
                .is_some_and(|ours| !ours.contains(itt)) =>
            {
                let what = match event {
                    Event::Ite { .. } => "an ITE was written into",
                    _ => "a DeviceID was mapped to",
                };
                report.failures.push(format!(
                    "rule 3: after the jump of cycle {}: {what} ITT {itt:#x}, not one of the resumed kernel's {:x?}",
                    report.cycles + 1,
                    resumed_itts.as_ref().unwrap()
                ));
            }
            Event::Translation { requester, event } => {
                last_translation = Some((*requester, *event));
            }
            Event::Translated { valid, intid } => {
                if let Some((requester, ev)) = last_translation.take()
                    && *valid
                {
                    match state.translate(requester, ev) {
                        None if !state.devices.contains_key(&requester) => {
                            report.failures.push(format!(
                                "rule 4: an MSI from DeviceID {requester:#x}, unmapped by every Device Table write so far, was translated to LPI {intid} ({stage:?}, cycle {})",
                                report.cycles + 1
                            ))
                        }
                        Some(mapped) if mapped == *intid => {}
                        mapped => report.failures.push(format!(
                            "rule 4: an MSI from DeviceID {requester:#x} EventID {ev} was translated to LPI {intid}, the table writes map it to {mapped:?} ({stage:?}, cycle {})",
                            report.cycles + 1
                        )),
                    }
                    if matches!(stage, Stage::Resumed | Stage::Probing) {
                        translated.entry((requester, ev)).or_default().push(*intid);
                    }
                }
            }
            Event::Acknowledged { intid, cpu } => {
                if matches!(stage, Stage::Resumed | Stage::Probing) {
                    *acknowledged.entry(*intid).or_default() += 1;
                    if *intid >= 8192 {
                        if let Some(cpus) = report.lpi_cpus.last_mut() {
                            cpus.insert(*cpu);
                        }
                        let icid = state.collection_of(*intid);
                        let target = icid.and_then(|icid| state.collections.get(&icid));
                        if target != Some(cpu) {
                            report.failures.push(format!(
                                "rule 5: resume {}: LPI {intid} was acknowledged on CPU {cpu}, but its collection {icid:?} targets RDbase {target:x?}",
                                report.resumes
                            ));
                        }
                    }
                }
            }
            Event::GuestError(line) => {
                // Expected only for a probe's MSI from a device the ITS does
                // not map: "do_process_its_cmd: invalid command attributes:
                // invalid dte for N".
                let rejected = line
                    .strip_prefix(
                        "do_process_its_cmd: invalid command attributes: invalid dte for ",
                    )
                    .and_then(|n| n.trim().parse::<u64>().ok());
                let expected = stage == Stage::Probing
                    && rejected.is_some()
                    && last_translation.is_some_and(|(r, _)| {
                        Some(r) == rejected && !state.devices.contains_key(&r)
                    });
                if expected {
                    probes_rejected.insert(rejected.unwrap_or_default());
                } else {
                    report.failures.push(format!(
                        "rule 4: ITS guest error ({stage:?}, cycle {}): {line}",
                        report.cycles + 1
                    ));
                }
            }
            _ => {}
        }
        state.apply(event);
    }
    if stage != Stage::ImageKernel {
        report.failures.push(format!(
            "markers: the trace ends before {:?} (after {} complete cycles)",
            stage.expects(),
            report.cycles
        ));
    }
    report
}

/// Rule 4 at `ChecksDone`: the probes were rejected, and every MSI the
/// checks raised was translated to its LPI, acknowledged by the CPU and
/// handled by the kernel exactly once.
fn count_checks(
    report: &mut Report,
    resume: Option<&ResumeLog>,
    image: Option<&Mappings>,
    translated: &BTreeMap<(u64, u64), Vec<u64>>,
    acknowledged: &BTreeMap<u64, u64>,
    probes_rejected: &BTreeSet<u64>,
) {
    let index = report.resumes;
    let mut fail = |message: String| report.failures.push(message);
    if !probes_rejected.contains(&FOREIGN_DEVICE) {
        fail(format!(
            "rule 4: resume {index}: the ITS did not reject the probe of DeviceID {FOREIGN_DEVICE:#x}"
        ));
    }
    let count = |requester: u64, event: u64| -> u64 {
        translated.get(&(requester, event)).map_or(0, Vec::len) as u64
    };
    let expected = image.cloned().unwrap_or_default();
    for ((requester, ev), intids) in translated {
        let mapped = expected.events.get(&(*requester, *ev)).map(|t| t.0);
        if intids.iter().any(|&intid| Some(intid) != mapped) {
            fail(format!(
                "rule 4: resume {index}: MSIs of DeviceID {requester:#x} EventID {ev} went to {intids:?}, not LPI {mapped:?}"
            ));
        }
    }
    // The GIC's side: each LPI translated was acknowledged once.
    let mut per_lpi: BTreeMap<u64, u64> = BTreeMap::new();
    for intids in translated.values() {
        for &intid in intids {
            *per_lpi.entry(intid).or_default() += 1;
        }
    }
    for &intid in acknowledged.keys().filter(|&&intid| intid >= 8192) {
        per_lpi.entry(intid).or_insert(0);
    }
    for (&intid, &seen) in &per_lpi {
        let acks = acknowledged.get(&intid).copied().unwrap_or(0);
        if acks != seen {
            fail(format!(
                "rule 4: resume {index}: LPI {intid}: the ITS translated {seen} MSIs, the CPU acknowledged {acks} (ICC_IAR1)"
            ));
        }
    }
    let Some(resume) = resume else {
        fail(format!("rule 4: resume {index}: no checks in the log"));
        return;
    };
    match resume.edu {
        Some((lpi, raised, handled)) => {
            let seen = count(EDU_DEVICE, 0);
            let acks = acknowledged.get(&lpi).copied().unwrap_or(0);
            if raised == 0 || raised != handled || seen != handled || acks != handled {
                fail(format!(
                    "rule 4: resume {index}: edu raised {raised}, the ITS translated {seen}, the CPU acknowledged LPI {lpi} {acks} times, the kernel handled {handled}"
                ));
            }
        }
        None => fail(format!(
            "rule 4: resume {index}: no `{}` line in the log",
            CheckPoint::Resumed.edu_line()
        )),
    }
    match &resume.nvme {
        Some(handled) => {
            for (vector, &h) in handled.iter().enumerate() {
                let seen = count(NVME_DEVICE, vector as u64);
                if seen != h {
                    fail(format!(
                        "rule 4: resume {index}: NVMe vector {vector}: the ITS translated {seen} MSIs, the kernel handled {h}"
                    ));
                }
            }
            if handled.get(1) != Some(&2) {
                fail(format!(
                    "rule 4: resume {index}: 2 NVMe I/O commands, {handled:?} interrupts handled"
                ));
            }
        }
        None => fail(format!(
            "rule 4: resume {index}: no `{}` line in the log",
            CheckPoint::Resumed.nvme_line()
        )),
    }
    let _ = writeln!(
        report.summary,
        "resume {index}: image ITTs {:x?}, boot kernel ITTs {:x?}, edu {:?}, nvme {:?}, MSIs translated {:?}, LPIs acknowledged {:?}",
        resume.image_itts,
        resume.boot_itts,
        resume.edu,
        resume.nvme,
        translated
            .iter()
            .map(|(k, v)| (*k, v.len()))
            .collect::<Vec<_>>(),
        acknowledged
    );
}

/// Asserts that `report` has a failure containing every one of `parts`.
pub fn assert_reported(report: &Report, parts: &[&str]) {
    assert!(
        report
            .failures
            .iter()
            .any(|f| parts.iter().all(|p| f.contains(p))),
        "no failure with {parts:?}; the checker reported:\n{:#?}",
        report.failures
    );
}
