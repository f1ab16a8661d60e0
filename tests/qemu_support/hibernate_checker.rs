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
//! examples/qemu-virt/src/protocol.rs), so the trace splits into the
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
//! real run (`tests/fixtures/`, the unit tests at the end of this file).
//! Included by `tests/qemu_hibernate.rs`, the only test that uses it, so
//! that these tests run once.

use crate::qemu_support::field;
use crate::qemu_support::protocol::{
    self, BOOT_ITS_LINE, CheckPoint, EXIT_LINE, IMAGE_ITS_LINE, Phase,
};
use crate::trace::{Event, ItsState, Mappings, parse};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The DeviceID only the boot kernel maps.
const FOREIGN_DEVICE: u64 = protocol::FOREIGN_DEVICE as u64;

/// Where the trace is in the cycle, from the markers seen so far. One cycle
/// marks the phases of [`Phase::CYCLE`] in that order and once each; the
/// first boot marks `Boot` before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
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
    fn expects(self) -> Phase {
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
    fn after(self, phase: Phase) -> Self {
        match phase {
            Phase::Boot if self == Self::Hibernated => Self::BootKernel,
            Phase::Boot => Self::ImageKernel,
            Phase::Entry => Self::Hibernated,
            Phase::Handover => Self::HandingOver,
            Phase::Jump => Self::Jumped,
            Phase::Exit => Self::Resumed,
            Phase::ForeignProbe => Self::Probing,
            Phase::ChecksDone => Self::ImageKernel,
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
const EDU_DEVICE: u64 = 0x8;
const NVME_DEVICE: u64 = 0x10;

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
                        // A reset: the ITS starts from the new kernel's
                        // empty tables, disabled.
                        state = ItsState::default();
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
                    Phase::ForeignProbe => {}
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

// The checker itself, on a saved real run.
//
// `tests/fixtures/hibernate-one-cycle.{trace,log}` are the trace and serial
// log of one real cycle on one CPU (`qemu/run --cycles 1 --smp 1 --trace
// FILE`), `hibernate-one-cycle-smp4.*` of one on four CPUs. Each test below
// breaks one thing in them and expects `check` to say so; the saved runs
// themselves must pass. Regenerate them with
// `qemu/run --cycles 1 --smp N --disk /tmp/d.img --trace T > L 2>/dev/null`
// (a fresh T: `--trace` appends) after changing what the kernel prints or
// marks.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu_support::protocol::{ENTRY_LINE, HANDOVER_LINE};

    const FIXTURE_TRACE: &str = include_str!("../fixtures/hibernate-one-cycle.trace");
    const FIXTURE_LOG: &str = include_str!("../fixtures/hibernate-one-cycle.log");
    const SMP_TRACE: &str = include_str!("../fixtures/hibernate-one-cycle-smp4.trace");
    const SMP_LOG: &str = include_str!("../fixtures/hibernate-one-cycle-smp4.log");

    fn fixture_lines() -> Vec<String> {
        FIXTURE_TRACE.lines().map(String::from).collect()
    }

    /// The line index of the `nth` (from 0) marker of `phase`.
    fn marker(lines: &[String], phase: Phase, nth: usize) -> usize {
        let offset = phase.offset();
        lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("gicv3_its_read ") && field(l, "offset") == Some(offset))
            .nth(nth)
            .unwrap_or_else(|| panic!("no marker {phase:?} ({offset:#x}) #{nth} in the fixture"))
            .0
    }

    /// The first line in `from..to` that starts with `prefix` and contains
    /// every one of `parts`.
    fn find(
        lines: &[String],
        range: std::ops::Range<usize>,
        prefix: &str,
        parts: &[&str],
    ) -> usize {
        range
            .clone()
            .find(|&i| lines[i].starts_with(prefix) && parts.iter().all(|p| lines[i].contains(p)))
            .unwrap_or_else(|| panic!("no {prefix:?} with {parts:?} in lines {range:?}"))
    }

    fn check_lines(lines: &[String], log: &str) -> Report {
        check(&lines.join("\n"), log)
    }

    #[test]
    fn the_saved_real_cycle_passes_the_checker() {
        let report = check(FIXTURE_TRACE, FIXTURE_LOG);
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        assert_eq!((report.cycles, report.resumes), (1, 1));
        assert!(report.rejected.contains(&FOREIGN_DEVICE));
    }

    #[test]
    fn the_saved_four_cpu_cycle_passes_the_checker() {
        let report = check(SMP_TRACE, SMP_LOG);
        assert!(report.failures.is_empty(), "{:#?}", report.failures);
        assert_eq!((report.cycles, report.resumes), (1, 1));
        assert_eq!(report.collections, [(4, 4)], "collections at entry, exit");
        assert!(
            report.lpi_cpus[0].len() >= 2,
            "LPIs acknowledged on {:?}",
            report.lpi_cpus
        );
    }

    #[test]
    fn rule5_an_lpi_acknowledged_on_another_cpu_than_its_collections_is_caught() {
        let lines: Vec<String> = SMP_TRACE.lines().map(String::from).collect();
        let checks = marker(&lines, Phase::Exit, 0)..marker(&lines, Phase::ChecksDone, 0);
        // edu's LPI (8194) is in collection 1, taken by CPU 1.
        let ack = find(
            &lines,
            checks,
            "gicv3_icc_iar1_read ",
            &["cpu 0x1 ", "value 0x2002"],
        );
        let mut edited = lines.clone();
        edited[ack] = edited[ack].replace("cpu 0x1 ", "cpu 0x3 ");
        assert_reported(
            &check_lines(&edited, SMP_LOG),
            &[
                "rule 5: resume 1: LPI 8194 was acknowledged on CPU 3",
                "targets RDbase Some(1)",
            ],
        );
    }

    #[test]
    fn rule2_a_collection_restored_onto_another_redistributor_is_caught() {
        let lines: Vec<String> = SMP_TRACE.lines().map(String::from).collect();
        let resume = marker(&lines, Phase::Jump, 0)..marker(&lines, Phase::Exit, 0);
        let cte = find(
            &lines,
            resume,
            "gicv3_its_cte_write ",
            &["ICID 0x1:", "valid 1", "RDBase 0x1"],
        );
        let mut edited = lines.clone();
        edited[cte] = edited[cte].replace("RDBase 0x1", "RDBase 0x0");
        let report = check_lines(&edited, SMP_LOG);
        assert_reported(
            &report,
            &[
                "rule 2: resume 1:",
                "ICID 1: image kernel Some(1), ITS Some(0)",
            ],
        );
        // And its LPIs, taken by CPU 1, are not where the ITS sends them.
        assert_reported(&report, &["rule 5: resume 1: LPI 8194", "CPU 1"]);
    }

    #[test]
    fn the_saved_run_has_every_line_the_protocol_names() {
        // A line changed in protocol.rs changes the kernel and the checker
        // alike; this says when the saved run no longer matches them.
        for line in [
            ENTRY_LINE,
            HANDOVER_LINE,
            protocol::JUMP_LINE,
            EXIT_LINE,
            protocol::RESULT_OK_LINE,
            IMAGE_ITS_LINE,
            BOOT_ITS_LINE,
            CheckPoint::Boot.edu_line(),
            CheckPoint::Boot.nvme_line(),
            CheckPoint::Resumed.edu_line(),
            CheckPoint::Resumed.nvme_line(),
        ] {
            assert!(
                FIXTURE_LOG.lines().any(|l| l.starts_with(line)),
                "no line starts with {line:?} in the saved run: take it again (see FIXTURE_TRACE)"
            );
        }
    }

    #[test]
    fn rule1_a_dropped_boot_kernel_unmap_is_a_stale_mapping() {
        let lines = fixture_lines();
        let window = marker(&lines, Phase::Handover, 0)..marker(&lines, Phase::Jump, 0);
        for (prefix, parts, reported) in [
            (
                "gicv3_its_dte_write ",
                &["DeviceID 0x10:", "valid 0"][..],
                &["rule 1:", "DeviceID 0x10 ", "stale mapping"][..],
            ),
            (
                "gicv3_its_dte_write ",
                &["DeviceID 0x0:", "valid 0"][..],
                &["rule 1:", "DeviceID 0x0 ", "stale mapping"][..],
            ),
            (
                "gicv3_its_cte_write ",
                &["ICID 0x0:", "valid 0"][..],
                &["rule 1:", "ICID 0 ", "stale mapping"][..],
            ),
        ] {
            let mut edited = lines.clone();
            edited.remove(find(&lines, window.clone(), prefix, parts));
            assert_reported(&check_lines(&edited, FIXTURE_LOG), reported);
        }
    }

    #[test]
    fn rule1_the_its_must_be_disabled_before_the_jump() {
        let mut lines = fixture_lines();
        let window = marker(&lines, Phase::Handover, 0)..marker(&lines, Phase::Jump, 0);
        let disable = find(
            &lines,
            window,
            "gicv3_its_write ",
            &["offset 0x0 ", "data 0x80000000 "],
        );
        lines.remove(disable);
        assert_reported(
            &check_lines(&lines, FIXTURE_LOG),
            &[
                "rule 1:",
                "not disabled between `handing over` and the jump",
            ],
        );
    }

    #[test]
    fn rule1_a_boot_kernel_that_skips_its_teardown_is_caught_at_the_jump() {
        let lines = fixture_lines();
        let (handover, jump) = (
            marker(&lines, Phase::Handover, 0),
            marker(&lines, Phase::Jump, 0),
        );
        // What `--no-teardown` does: no MAPD/MAPC V=0, no disable.
        let edited: Vec<String> = lines
            .iter()
            .enumerate()
            .filter(|(i, l)| {
                !(handover < *i
                    && *i < jump
                    && (l.starts_with("gicv3_its_dte_write ")
                        || l.starts_with("gicv3_its_cte_write ")
                        || (l.starts_with("gicv3_its_write ") && field(l, "offset") == Some(0))))
            })
            .map(|(_, l)| l.clone())
            .collect();
        let report = check_lines(&edited, FIXTURE_LOG);
        for device in [
            "DeviceID 0x0 ",
            "DeviceID 0x8 ",
            "DeviceID 0x10 ",
            "ICID 0 ",
        ] {
            assert_reported(
                &report,
                &["rule 1:", device, "at the jump: a stale mapping"],
            );
        }
        assert_reported(&report, &["rule 1:", "not disabled"]);
    }

    #[test]
    fn rule2_a_changed_replayed_intid_or_itt_is_caught() {
        let lines = fixture_lines();
        let restore = marker(&lines, Phase::Jump, 0)..marker(&lines, Phase::Exit, 0);

        let mut edited = lines.clone();
        let ite = find(
            &lines,
            restore.clone(),
            "gicv3_its_ite_write ",
            &["EventID 0x1:", "intid 0x2001 "],
        );
        edited[ite] = edited[ite].replace("intid 0x2001 ", "intid 0x2005 ");
        let report = check_lines(&edited, FIXTURE_LOG);
        assert_reported(
            &report,
            &[
                "rule 2: resume 1: the ITS's mappings differ",
                "(DeviceID, EventID) (10, 1): image kernel Some((2001, 0)), ITS Some((2005, 0))",
            ],
        );

        let mut edited = lines.clone();
        let dte = find(
            &lines,
            restore,
            "gicv3_its_dte_write ",
            &["DeviceID 0x8:", "valid 1"],
        );
        let itt = field(&lines[dte], "ITTaddr").unwrap();
        edited[dte] = edited[dte].replace(
            &format!("ITTaddr {itt:#x}"),
            &format!("ITTaddr {:#x}", itt + 1),
        );
        let report = check_lines(&edited, FIXTURE_LOG);
        assert_reported(
            &report,
            &["rule 2: resume 1: ITTs", "differ from the image header's"],
        );
        assert_reported(&report, &["rule 3:", "a DeviceID was mapped to ITT"]);
    }

    #[test]
    fn rule3_an_ite_written_into_the_boot_kernels_itt_after_the_jump_is_caught() {
        let lines = fixture_lines();
        let boot_itt = resumes(FIXTURE_LOG)[0].boot_itts[&EDU_DEVICE];
        let ite = format!(
            "gicv3_its_ite_write GICv3 ITS: Interrupt Table write for ITTaddr {boot_itt:#x} EventID 0x0: valid 1 inttype 1 intid 0x2002 ICID 0x0 vPEID 0x0 doorbell 0x3ff"
        );
        // During the restore (before `exit`: what the old window missed) and
        // during the checks.
        for at in [
            marker(&lines, Phase::Jump, 0) + 1,
            marker(&lines, Phase::Exit, 0) + 1,
        ] {
            let mut edited = lines.clone();
            edited.insert(at, ite.clone());
            assert_reported(
                &check_lines(&edited, FIXTURE_LOG),
                &[
                    "rule 3: after the jump of cycle 1: an ITE was written into ITT",
                    &format!("{boot_itt:#x}"),
                ],
            );
        }
    }

    #[test]
    fn rule4_a_dropped_translation_or_acknowledgement_is_caught() {
        let lines = fixture_lines();
        let checks = marker(&lines, Phase::ForeignProbe, 0)..marker(&lines, Phase::ChecksDone, 0);

        let mut edited = lines.clone();
        let msi = find(
            &lines,
            checks.clone(),
            "gicv3_its_translation_write ",
            &["requester_id 0x8"],
        );
        edited.remove(msi);
        assert_reported(
            &check_lines(&edited, FIXTURE_LOG),
            &["rule 4: resume 1: edu raised 3, the ITS translated 2"],
        );

        let mut edited = lines.clone();
        let ack = find(&lines, checks, "gicv3_icc_iar1_read ", &["value 0x2002"]);
        edited.remove(ack);
        let report = check_lines(&edited, FIXTURE_LOG);
        assert_reported(
            &report,
            &["rule 4: resume 1: LPI 8194: the ITS translated 3 MSIs, the CPU acknowledged 2"],
        );
    }

    #[test]
    fn rule4_a_translation_from_an_unmapped_device_is_caught_anywhere() {
        let lines = fixture_lines();
        let msi = [
            "gicv3_its_translation_write GICv3 ITS TRANSLATER write: offset 0x40 data 0x0 size 4 requester_id 0x30",
            "gicv3_its_dte_read GICv3 ITS: Device Table read for DeviceID 0x30: valid 1 size 0x0 ITTaddr 0x43f007",
            "gicv3_its_ite_read GICv3 ITS: Interrupt Table read for ITTaddr 0x43f00700 EventID 0x0: valid 1 inttype 1 intid 0x2000 ICID 0x0 vPEID 0x0 doorbell 0x3ff",
        ];
        // In the image kernel, in the boot kernel after its teardown, and in the
        // resumed kernel's checks.
        for at in [
            marker(&lines, Phase::Entry, 0),
            marker(&lines, Phase::Jump, 0),
            marker(&lines, Phase::ChecksDone, 0),
        ] {
            let mut edited = lines.clone();
            for (k, line) in msi.iter().enumerate() {
                edited.insert(at + k, line.to_string());
            }
            assert_reported(
                &check_lines(&edited, FIXTURE_LOG),
                &["rule 4: an MSI from DeviceID 0x30, unmapped", "LPI 8192"],
            );
        }
    }

    #[test]
    fn rule4_guest_errors_and_its_error_events_are_caught() {
        let lines = fixture_lines();
        for bad in [
            "gicv3_its_write: invalid guest write at offset 0000000000000008 size 8",
            "gicv3_its_read: invalid guest read at offset 0000000000000098 size 4",
            "gicv3_its_badread GICv3 ITS read: offset 0x98 size 4: error",
            "gicv3_its_badwrite GICv3 ITS write: offset 0x98 data 0x1 size 4: error",
            "gicv3_its_ite_read_fault GICv3 ITS: Interrupt Table read for ITTaddr 0x43f00700 EventID 0x0: faulted",
            "gicv3_its_dte_read_fault GICv3 ITS: Device Table read for DeviceID 0x8: faulted",
            "gicv3_its_cmd_unknown GICv3 ITS: unknown command 0x3f",
            "gicv3_its_vte_write GICv3 ITS: vPE Table write for vPEID 0x0: valid 1 VPTsize 0x0 VPTaddr 0x0 RDbase 0x0",
            "its_cmdq_full: something QEMU never printed before",
        ] {
            let mut edited = lines.clone();
            edited.insert(marker(&lines, Phase::Exit, 0) + 1, bad.to_string());
            assert_reported(
                &check_lines(&edited, FIXTURE_LOG),
                &["rule 4: ITS guest error", bad],
            );
        }
    }

    #[test]
    fn rule4_missing_check_lines_in_the_log_are_failures() {
        let (edu, nvme) = (
            CheckPoint::Resumed.edu_line(),
            CheckPoint::Resumed.nvme_line(),
        );
        for (dropped, reported) in [
            (edu, format!("no `{edu}` line")),
            (nvme, format!("no `{nvme}` line")),
            (EXIT_LINE, format!("no `{EXIT_LINE}` for it")),
        ] {
            let log: String = FIXTURE_LOG
                .lines()
                .filter(|l| !l.starts_with(dropped))
                .map(|l| format!("{l}\n"))
                .collect();
            assert_reported(&check(FIXTURE_TRACE, &log), &[reported.as_str()]);
        }
    }

    #[test]
    fn a_missing_or_repeated_marker_is_a_failure() {
        let lines = fixture_lines();
        for (phase, nth) in [
            (Phase::Boot, 0),
            (Phase::Entry, 0),
            (Phase::Boot, 1),
            (Phase::Handover, 0),
            (Phase::Jump, 0),
            (Phase::Exit, 0),
            (Phase::ForeignProbe, 0),
            (Phase::ChecksDone, 0),
        ] {
            let mut edited = lines.clone();
            let at = marker(&lines, phase, nth);
            edited.remove(at);
            let report = check_lines(&edited, FIXTURE_LOG);
            assert_reported(&report, &["markers:"]);
            let mut edited = lines.clone();
            edited.insert(at, lines[at].clone());
            let report = check_lines(&edited, FIXTURE_LOG);
            assert_reported(&report, &["markers:"]);
        }
        // A resume without a handover (and without its jump).
        let mut edited = lines.clone();
        edited.remove(marker(&lines, Phase::Jump, 0));
        edited.remove(marker(&lines, Phase::Handover, 0));
        assert_reported(
            &check_lines(&edited, FIXTURE_LOG),
            &["markers: Exit where Handover was expected"],
        );
    }

    #[test]
    fn the_checker_expects_the_markers_in_the_order_the_kernel_marks_them() {
        // The first boot, then three cycles, as `protocol.rs` defines them.
        let cycles = Phase::CYCLE
            .into_iter()
            .cycle()
            .take(3 * Phase::CYCLE.len());
        let mut stage = Stage::Start;
        for phase in std::iter::once(Phase::Boot).chain(cycles) {
            assert_eq!(stage.expects(), phase, "in stage {stage:?}");
            stage = stage.after(phase);
        }
        assert_eq!(
            stage,
            Stage::ImageKernel,
            "a cycle ends where the next begins"
        );
    }
}
