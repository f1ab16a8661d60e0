//! The hibernation checker's own tests, on saved real runs.
//!
//! `tests/fixtures/hibernate-one-cycle.{trace,log}` are the trace and serial
//! log of one real cycle on one CPU (`qemu/run --cycles 1 --smp 1 --trace
//! FILE`), `hibernate-one-cycle-smp4.*` of one on four CPUs. Each test below
//! breaks one thing in them and expects `check` to say so; the saved runs
//! themselves must pass. Regenerate them with
//! `qemu/run --cycles 1 --smp N --disk /tmp/d.img --trace T > L 2>/dev/null`
//! (a fresh T: `--trace` appends) after changing what the kernel prints or
//! marks.
//!
//! Included by `tests/qemu_hibernate.rs` only, so that they run once.

use crate::hibernate_checker::*;
use crate::qemu_support::field;
use crate::qemu_support::protocol::{
    self, BOOT_ITS_LINE, CheckPoint, ENTRY_LINE, EXIT_LINE, HANDOVER_LINE, IMAGE_ITS_LINE, Phase,
};

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
fn find(lines: &[String], range: std::ops::Range<usize>, prefix: &str, parts: &[&str]) -> usize {
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
    // A line changed in crates/qemu-protocol changes the kernel and the checker
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
    // The first boot, then three cycles, as `crates/qemu-protocol` defines them.
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
