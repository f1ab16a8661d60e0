//! The Linux handover checker: judges `qemu/run --from-linux` and
//! `qemu/run --to-linux` runs by QEMU's trace of the ITS and the
//! redistributors ([`crate::trace`]) and the serial log.
//!
//! **From Linux** ([`check_from_linux`]); the hibernation cycle that follows
//! is the hibernation checker's to judge:
//!
//! - L1. Linux used the ITS: before the example kernel's first `boot`
//!   marker, devices were mapped and MSIs translated through them.
//! - L2. At every `boot` marker the ITS may still hold the previous
//!   kernel's mappings (Linux tears nothing down on kexec). Until the new
//!   kernel enables the ITS, GITS_CTLR.Enabled is written 0 before any
//!   GITS_CBASER or GITS_BASERn write, the Device and Collection BASERs are
//!   written (which drops every mapping the old tables held), and no table
//!   write and no translated MSI happens.
//! - L3. Every redistributor whose LPIs the previous kernel left enabled is
//!   turned off (EnableLPIs written 0) before its GICR_PROPBASER or
//!   GICR_PENDBASER is written and before a collection is mapped onto it
//!   (until then an LPI routed there would set a bit in the previous
//!   kernel's pending table), and its LPIs are enabled again only on a
//!   property table that is not the previous kernel's. (A CPU's
//!   redistributor is taken over when the CPU comes online, which may be
//!   after the ITS probe.)
//! - L4. After the probe, every ITE is written into an ITT that the new
//!   kernel mapped after its probe, and every MSI translated goes through a
//!   mapping written after the probe: none through a Linux mapping.
//!
//! **Rounds** ([`check_linux_rounds`], `qemu/run --linux-rounds`): L1 to
//! L4 at every boot of the example, and at every `to Linux` marker T1 to
//! T3 for the handover it marks (the example's use of the ITS counted from
//! its last `boot` or `jump` marker, Linux's until the next `boot`).
//!
//! **To Linux** ([`check_to_linux`]):
//!
//! - T1. The example kernel used the ITS: between its `boot` and `to
//!   Linux` markers it mapped devices and MSIs were translated through them.
//! - T2. The ITS holds no mapping (no DeviceID, no ICID) when the example
//!   disables it, which it does before `to Linux` (unmapping is the save
//!   hook's work: invalid tables alone would leave a hypervisor's copy of
//!   the mappings to chance); at `to Linux` its Device and Collection
//!   BASERs were last written invalid and every redistributor's EnableLPIs
//!   was last written 0.
//! - T3. After it, only Linux's mappings translate: Linux rewrote the
//!   tables before its first mapping, and at least one MSI was translated.
//!
//! Both fail on a guest error or an ITS error event, and on a marker out of
//! place. They must fail on a run whose kernel skips its save hook (QEMU
//! runs in `tests/qemu_linux.rs`) and on broken copies of saved real runs
//! (`tests/fixtures/`, the unit tests at the end of this file).

use crate::qemu_support::protocol::Phase;
use crate::trace::{
    BASER_TYPE_COLLECTIONS, BASER_TYPE_DEVICES, Event, ItsState, RedistributorRegister, parse,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// GITS_BASERn.Valid and GITS_CBASER.Valid.
const VALID: u64 = 1 << 63;
/// The physical address field of GICR_PROPBASER (bits 51:12).
const PROPBASER_ADDRESS: u64 = ((1 << 52) - 1) & !0xfff;

/// The checker's findings.
#[derive(Debug, Default)]
pub struct Report {
    /// What broke a rule, one line each.
    pub failures: Vec<String>,
    /// What the run did, for the test output.
    pub summary: String,
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

/// A kernel's probe, from its `boot` marker until it enables the ITS (L2).
#[derive(Debug, Default)]
struct Probe {
    /// Which `boot` marker, from 1.
    boot: usize,
    /// BASER types written so far.
    tables_written: BTreeSet<u64>,
}

/// Judges a `--from-linux` run: rules L1 to L4.
pub fn check_from_linux(trace: &str) -> Report {
    check_linux(trace, None)
}

/// Judges a `--linux-rounds` run of `rounds` rounds: L1 to L4 at every
/// boot, T1 to T3 at each of the `rounds - 1` handovers to Linux.
pub fn check_linux_rounds(trace: &str, rounds: usize) -> Report {
    check_linux(trace, Some(rounds))
}

/// What the example did since its last `boot` or `jump` marker, and what
/// Linux did since the last `to Linux` marker (T1, T3).
#[derive(Debug, Default)]
struct Handovers {
    handovers: usize,
    example_devices: BTreeSet<u64>,
    example_msis: usize,
    /// Since the last `to Linux`, until the next `boot`: whether Linux
    /// rewrote its Device table yet, and its MSIs translated since.
    linux: Option<(bool, usize)>,
    /// What the ITS still mapped when the example last disabled it outside
    /// a probe (T2: the save hook unmaps before it disables; invalid tables
    /// alone would leave a hypervisor's copy to chance).
    at_disable: Vec<String>,
}

impl Handovers {
    /// At a `to Linux` marker: T1 and T2.
    fn handover(&mut self, report: &mut Report, state: &ItsState) {
        self.handovers += 1;
        report.failures.append(&mut self.at_disable);
        held_mappings(report, state, "at the handover");
        handover_state(report, state, &self.example_devices, self.example_msis);
        self.linux = Some((false, 0));
    }

    /// At a `boot` marker, or at the end: T3 for the Linux before it.
    fn linux_done(&mut self, report: &mut Report) {
        if let Some((_, 0)) = self.linux.take() {
            report.failures.push(format!(
                "T3: handover {}: Linux had no MSI translated through the ITS",
                self.handovers
            ));
        }
        self.example_devices.clear();
        self.example_msis = 0;
        self.at_disable.clear();
    }
}

/// L1 to L4, and with `rounds` the handovers to Linux too.
fn check_linux(trace: &str, rounds: Option<usize>) -> Report {
    let events = parse(trace);
    let mut handovers = Handovers::default();
    let mut report = Report::default();
    let mut state = ItsState::default();
    let mut boots = 0;
    let mut probe: Option<Probe> = None;
    // Before the first `boot`: what Linux did (L1).
    let (mut linux_devices, mut linux_msis) = (BTreeSet::new(), 0);
    // ITTs mapped since the last probe (L4).
    let mut fresh_itts: BTreeSet<u64> = BTreeSet::new();
    let mut last_translation = None;
    let mut probes = Vec::new();
    // Since the last `boot` (L3): the redistributors the previous kernel
    // left with LPIs on, their property table then, and whether EnableLPIs
    // was written 0 since.
    let mut left_enabled: BTreeMap<u64, (u64, bool)> = BTreeMap::new();

    for event in &events {
        match event {
            Event::Marker(Phase::Boot) => {
                boots += 1;
                handovers.linux_done(&mut report);
                if let Some(unfinished) = probe.take() {
                    report.failures.push(format!(
                        "L2: boot {}: the kernel never enabled the ITS before the next boot",
                        unfinished.boot
                    ));
                }
                if boots == 1 {
                    if linux_devices.is_empty() || linux_msis == 0 {
                        report.failures.push(format!(
                            "L1: before the example kernel, Linux mapped {} devices and had {linux_msis} MSIs translated: it did not use the ITS",
                            linux_devices.len()
                        ));
                    }
                    let _ = writeln!(
                        report.summary,
                        "Linux before the example: DeviceIDs {linux_devices:x?} mapped, {linux_msis} MSIs translated; at the example's boot the ITS was {} with {} devices and {} collections mapped",
                        if state.enabled { "enabled" } else { "disabled" },
                        state.devices.len(),
                        state.collections.len()
                    );
                }
                left_enabled = state
                    .redistributors
                    .iter()
                    .filter(|(_, r)| r.lpis_enabled())
                    .map(|(&n, r)| (n, (r.propbaser & PROPBASER_ADDRESS, false)))
                    .collect();
                probe = Some(Probe {
                    boot: boots,
                    ..Probe::default()
                });
                fresh_itts.clear();
            }
            Event::Marker(Phase::ToLinux) if rounds.is_some() => {
                left_enabled.clear();
                handovers.handover(&mut report, &state);
            }
            Event::Marker(Phase::ToLinux) => report
                .failures
                .push("markers: `to Linux` in a --from-linux run".into()),
            Event::Marker(Phase::Jump) => {
                // The boot kernel jumps into the image: from here on the
                // resumed kernel's use of the ITS counts.
                left_enabled.clear();
                handovers.example_devices.clear();
                handovers.example_msis = 0;
            }
            // The kernel hands over (to a reset and the next boot, or into
            // its image): what it took over is no longer in question.
            Event::Marker(Phase::Entry) => left_enabled.clear(),
            Event::Marker(_) => {}
            Event::Ctlr(value)
                if value & 1 == 0 && state.enabled && probe.is_none() && rounds.is_some() =>
            {
                handovers.at_disable = mappings_held(&state, "when the example disabled it");
            }
            Event::Ctlr(value) if value & 1 != 0 => {
                if let Some(done) = probe.take() {
                    for (wanted, what) in [
                        (BASER_TYPE_DEVICES, "Device"),
                        (BASER_TYPE_COLLECTIONS, "Collection"),
                    ] {
                        if !done.tables_written.contains(&wanted) {
                            report.failures.push(format!(
                                "L2: boot {}: the ITS was enabled without its {what} table rewritten: the previous kernel's mappings stay",
                                done.boot
                            ));
                        }
                    }
                    probes.push(done.boot);
                }
            }
            Event::Baser { index, .. }
                if handovers.linux.is_some()
                    && !state.enabled
                    && state.baser_type(*index) == BASER_TYPE_DEVICES =>
            {
                if let Some((rewritten, _)) = handovers.linux.as_mut() {
                    *rewritten = true;
                }
            }
            Event::Baser { .. } | Event::Cbaser(_) => {
                if let Some(probe) = probe.as_mut() {
                    if state.enabled {
                        report.failures.push(format!(
                            "L2: boot {}: a table register was written while the ITS was enabled (QEMU ignores it): {event:?}",
                            probe.boot
                        ));
                    } else if let Event::Baser { index, .. } = event {
                        probe.tables_written.insert(state.baser_type(*index));
                    }
                }
            }
            Event::Redistributor {
                redistributor,
                register,
                value,
            } => {
                if let Some((linux_table, turned_off)) = left_enabled.get_mut(redistributor) {
                    match register {
                        RedistributorRegister::Ctlr if value & 1 == 0 => *turned_off = true,
                        RedistributorRegister::Ctlr => {
                            let table = state
                                .redistributors
                                .get(redistributor)
                                .map_or(0, |r| r.propbaser & PROPBASER_ADDRESS);
                            if table == *linux_table {
                                report.failures.push(format!(
                                    "L3: boot {boots}: redistributor {redistributor}'s LPIs enabled again on the previous kernel's property table {table:#x}"
                                ));
                            }
                        }
                        _ if !*turned_off => report.failures.push(format!(
                            "L3: boot {boots}: redistributor {redistributor}'s {register:?} written while the previous kernel's LPIs were on"
                        )),
                        _ => {}
                    }
                }
            }
            Event::Dte { .. } | Event::Ite { .. } | Event::Cte { .. } if probe.is_some() => {
                report.failures.push(format!(
                    "L2: boot {}: a table write before the kernel's probe enabled the ITS: {event:?}",
                    probe.as_ref().map_or(0, |p| p.boot)
                ));
            }
            Event::Cte {
                icid,
                valid: true,
                rdbase,
            } if left_enabled.get(rdbase).is_some_and(|&(_, off)| !off) => {
                // QEMU's RDbase is the processor number, which its trace
                // gives redistributors by.
                report.failures.push(format!(
                    "L3: boot {boots}: ICID {icid} mapped onto redistributor {rdbase}, which still has the previous kernel's LPIs on"
                ));
            }
            Event::Dte {
                device,
                itt,
                valid: true,
            } => {
                fresh_itts.insert(*itt);
                if boots == 0 {
                    linux_devices.insert(*itt);
                }
                match handovers.linux {
                    Some((false, _)) => report.failures.push(format!(
                        "T3: handover {}: Linux mapped DeviceID {device:#x} before it rewrote the Device table",
                        handovers.handovers
                    )),
                    Some(_) => {}
                    None => {
                        handovers.example_devices.insert(*device);
                    }
                }
            }
            Event::Ite { itt, event: ev, .. } if boots > 0 && !fresh_itts.contains(itt) => {
                report.failures.push(format!(
                    "L4: boot {boots}: an ITE (EventID {ev}) was written into ITT {itt:#x}, which no Device Table write since the probe mapped"
                ));
            }
            Event::Translation { requester, event } => {
                last_translation = Some((*requester, *event));
            }
            Event::Translated { valid: true, intid } => {
                if let Some((requester, ev)) = last_translation.take() {
                    if boots == 0 {
                        linux_msis += 1;
                    } else if probe.is_some() {
                        report.failures.push(format!(
                            "L2: boot {boots}: an MSI of DeviceID {requester:#x} was translated to LPI {intid} before the kernel's probe enabled the ITS"
                        ));
                    } else if state.translate(requester, ev) != Some(*intid) {
                        report.failures.push(format!(
                            "L4: boot {boots}: an MSI of DeviceID {requester:#x} EventID {ev} was translated to LPI {intid}, which no mapping written since the probe gives"
                        ));
                    }
                    match handovers.linux.as_mut() {
                        Some((true, msis)) => *msis += 1,
                        Some((false, _)) => report.failures.push(format!(
                            "T3: handover {}: an MSI of DeviceID {requester:#x} was translated to LPI {intid} before Linux rewrote the tables: through the example kernel's mapping",
                            handovers.handovers
                        )),
                        None if boots > 0 => handovers.example_msis += 1,
                        None => {}
                    }
                }
            }
            Event::GuestError(line) => check_guest_error(&mut report, line, boots),
            _ => {}
        }
        state.apply(event);
    }
    if boots == 0 {
        report
            .failures
            .push("markers: no `boot` marker: the example kernel never ran".into());
    }
    handovers.linux_done(&mut report);
    if let Some(rounds) = rounds
        && handovers.handovers + 1 != rounds
    {
        report.failures.push(format!(
            "markers: {} handovers to Linux in {rounds} rounds, expected {}",
            handovers.handovers,
            rounds - 1
        ));
    }
    let _ = writeln!(
        report.summary,
        "{boots} example boots, {} handovers to Linux; probes that replaced the previous kernel's tables: {probes:?}",
        handovers.handovers
    );
    report
}

/// The one guest error a `--from-linux` run expects: each resumed kernel's
/// probe of DeviceID 0, which no one maps ("invalid dte for 0"); the
/// hibernation checker judges where it happens.
fn check_guest_error(report: &mut Report, line: &str, boots: usize) {
    if line.starts_with("do_process_its_cmd: invalid command attributes: invalid dte for 0")
        && boots > 0
    {
        return;
    }
    report
        .failures
        .push(format!("guest error after {boots} example boots: {line}"));
}

/// Judges a `--to-linux` run: rules T1 to T3.
pub fn check_to_linux(trace: &str) -> Report {
    let events = parse(trace);
    let mut report = Report::default();
    let mut state = ItsState::default();
    let mut markers = Vec::new();
    let (mut example_devices, mut example_msis) = (BTreeSet::new(), 0);
    let mut linux_msis = 0;
    // After `to Linux`: whether Linux rewrote its Device table yet.
    let mut linux_tables = false;
    let mut last_translation = None;
    // Whether the mappings were judged already (when the example disabled
    // the ITS).
    let mut mappings_judged = false;

    for event in &events {
        let phase = markers.last().copied();
        match event {
            Event::Marker(marker) => {
                markers.push(*marker);
                if *marker == Phase::ToLinux {
                    if !mappings_judged {
                        held_mappings(&mut report, &state, "at the handover");
                        mappings_judged = true;
                    }
                    handover_state(&mut report, &state, &example_devices, example_msis);
                }
            }
            Event::Ctlr(value) if phase == Some(Phase::Boot) && value & 1 == 0 && state.enabled => {
                held_mappings(&mut report, &state, "when the example disabled the ITS");
                mappings_judged = true;
            }
            Event::Baser { index, .. }
                if phase == Some(Phase::ToLinux)
                    && !state.enabled
                    && state.baser_type(*index) == BASER_TYPE_DEVICES =>
            {
                linux_tables = true;
            }
            Event::Dte {
                device,
                valid: true,
                ..
            } => match phase {
                Some(Phase::Boot) => {
                    example_devices.insert(*device);
                }
                Some(Phase::ToLinux) if !linux_tables => report.failures.push(format!(
                    "T3: Linux mapped DeviceID {device:#x} before it rewrote the Device table"
                )),
                _ => {}
            },
            Event::Translation { requester, event } => {
                last_translation = Some((*requester, *event));
            }
            Event::Translated { valid: true, intid } => {
                if let Some((requester, ev)) = last_translation.take() {
                    if state.translate(requester, ev) != Some(*intid) {
                        report.failures.push(format!(
                            "T1/T3: an MSI of DeviceID {requester:#x} EventID {ev} was translated to LPI {intid}, which the table writes do not map ({phase:?})"
                        ));
                    }
                    match phase {
                        Some(Phase::Boot) => example_msis += 1,
                        Some(Phase::ToLinux) if linux_tables => linux_msis += 1,
                        Some(Phase::ToLinux) => report.failures.push(format!(
                            "T3: after the handover, an MSI of DeviceID {requester:#x} was translated to LPI {intid} before Linux rewrote the tables: through the example kernel's mapping"
                        )),
                        _ => {}
                    }
                }
            }
            Event::GuestError(line) => report
                .failures
                .push(format!("guest error ({phase:?}): {line}")),
            _ => {}
        }
        state.apply(event);
    }
    if markers != [Phase::Boot, Phase::ToLinux] {
        report.failures.push(format!(
            "markers: {markers:?}, expected [Boot, ToLinux]: the example kernel booted once and entered Linux once"
        ));
    }
    if linux_msis == 0 {
        report
            .failures
            .push("T3: Linux had no MSI translated through the ITS".into());
    }
    let _ = writeln!(
        report.summary,
        "the example mapped DeviceIDs {example_devices:x?} and had {example_msis} MSIs translated; Linux had {linux_msis}"
    );
    report
}

/// T2: every mapping the ITS holds `when`.
fn held_mappings(report: &mut Report, state: &ItsState, when: &str) {
    report.failures.extend(mappings_held(state, when));
}

/// T2's findings: every mapping the ITS holds `when`, one line each.
fn mappings_held(state: &ItsState, when: &str) -> Vec<String> {
    let devices = state.devices.iter().map(|(device, itt)| {
        format!(
            "T2: {when} the ITS still maps DeviceID {device:#x} (ITT {itt:#x}): a stale mapping for Linux"
        )
    });
    let collections = state.collections.iter().map(|(icid, rdbase)| {
        format!(
            "T2: {when} the ITS still maps ICID {icid} (RDbase {rdbase:#x}): a stale mapping for Linux"
        )
    });
    devices.chain(collections).collect()
}

/// T1 and the rest of T2, at the `to Linux` marker.
fn handover_state(
    report: &mut Report,
    state: &ItsState,
    example_devices: &BTreeSet<u64>,
    example_msis: usize,
) {
    if example_devices.is_empty() || example_msis == 0 {
        report.failures.push(format!(
            "T1: before the handover the example kernel mapped {} devices and had {example_msis} MSIs translated: it did not use the ITS",
            example_devices.len()
        ));
    }
    if state.enabled {
        report
            .failures
            .push("T2: at the handover the ITS is still enabled".into());
    }
    for (&index, &value) in &state.basers {
        let kind = state.baser_type(index);
        if (kind == BASER_TYPE_DEVICES || kind == BASER_TYPE_COLLECTIONS) && value & VALID != 0 {
            report.failures.push(format!(
                "T2: at the handover GITS_BASER{index} is still valid ({value:#x})"
            ));
        }
    }
    for (redistributor, registers) in &state.redistributors {
        if registers.lpis_enabled() {
            report.failures.push(format!(
                "T2: at the handover redistributor {redistributor} still has LPIs enabled"
            ));
        }
    }
}
