//! The Linux checker's own tests, on saved real runs.
//!
//! `tests/fixtures/to-linux.trace`, `tests/fixtures/from-linux.trace` and
//! `tests/fixtures/linux-rounds.trace` are the traces of real `qemu/run
//! --to-linux --trace FILE`, `qemu/run --from-linux --trace FILE` and
//! `qemu/run --linux-rounds 2 --trace FILE` runs, without the lines the checker never
//! reads (`tests/fixtures/trim-trace FILE > tests/fixtures/NAME.trace`).
//! Each test below breaks one thing in them and expects the checker to say
//! so; the saved runs themselves must pass. Take them again after changing
//! what the kernel marks.
//!
//! Included by `tests/qemu_linux.rs` only.

use crate::linux_checker::*;
use crate::qemu_support::field;
use crate::qemu_support::protocol::Phase;

const TO_LINUX: &str = include_str!("../fixtures/to-linux.trace");
const FROM_LINUX: &str = include_str!("../fixtures/from-linux.trace");
const ROUNDS: &str = include_str!("../fixtures/linux-rounds.trace");

/// The line index of the `nth` (from 0) marker of `phase`.
fn marker(trace: &str, phase: Phase, nth: usize) -> usize {
    trace
        .lines()
        .enumerate()
        .filter(|(_, l)| {
            l.starts_with("gicv3_its_read ") && field(l, "offset") == Some(phase.offset())
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no marker {phase:?} #{nth} in the fixture"))
        .0
}

/// The first line at or after `from` that starts with `prefix` and holds
/// every one of `parts`.
fn find(trace: &str, from: usize, prefix: &str, parts: &[&str]) -> usize {
    trace
        .lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.starts_with(prefix) && parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no {prefix:?} with {parts:?} after line {from}"))
        .0
}

/// `trace` without the lines in `range` for which `drop` holds.
fn without(trace: &str, range: std::ops::Range<usize>, drop: impl Fn(&str) -> bool) -> String {
    trace
        .lines()
        .enumerate()
        .filter(|(i, l)| !(range.contains(i) && drop(l)))
        .map(|(_, l)| l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// `trace` with `line` inserted before line `at`.
fn with(trace: &str, at: usize, line: &str) -> String {
    let mut lines: Vec<&str> = trace.lines().collect();
    lines.insert(at, line);
    lines.join("\n")
}

fn passes(report: &Report) {
    assert!(
        report.failures.is_empty(),
        "the saved run fails:\n{:#?}",
        report.failures
    );
}

#[test]
fn the_saved_runs_pass_the_checker() {
    passes(&check_to_linux(TO_LINUX));
    passes(&check_from_linux(FROM_LINUX));
    passes(&check_linux_rounds(ROUNDS, 2));
}

/// The example's handover, from its `boot` marker to `to Linux`.
fn handover() -> std::ops::Range<usize> {
    marker(TO_LINUX, Phase::Boot, 0)..marker(TO_LINUX, Phase::ToLinux, 0)
}

#[test]
fn t2_a_device_or_collection_left_mapped_is_caught_at_the_handover() {
    let trace = without(TO_LINUX, handover(), |l| l.contains("valid 0"));
    let report = check_to_linux(&trace);
    assert_reported(&report, &["T2", "still maps DeviceID 0x10"]);
    assert_reported(&report, &["T2", "still maps ICID 0"]);
}

#[test]
fn t2_the_its_must_be_disabled_with_its_tables_invalid() {
    // Without the disable, QEMU ignores the BASER writes that follow.
    let trace = without(TO_LINUX, handover(), |l| {
        l.starts_with("gicv3_its_write") && l.contains("offset 0x0 data 0x80000000")
    });
    let report = check_to_linux(&trace);
    assert_reported(&report, &["T2", "still enabled"]);
    assert_reported(&report, &["T2", "GITS_BASER0 is still valid"]);
}

#[test]
fn t2_the_redistributor_lpis_must_be_off() {
    let trace = without(TO_LINUX, handover(), |l| {
        l.starts_with("gicv3_redist_write") && l.contains("offset 0x0 data 0x2 ")
    });
    assert_reported(
        &check_to_linux(&trace),
        &["T2", "redistributor 0 still has LPIs enabled"],
    );
}

#[test]
fn t1_the_example_must_have_used_the_its() {
    let trace = without(TO_LINUX, handover(), |l| {
        l.starts_with("gicv3_its_translation_write")
    });
    assert_reported(&check_to_linux(&trace), &["T1", "did not use the ITS"]);
}

#[test]
fn t3_linux_must_rewrite_its_tables_before_mapping() {
    let after = marker(TO_LINUX, Phase::ToLinux, 0);
    let end = TO_LINUX.lines().count();
    let trace = without(TO_LINUX, after..end, |l| {
        l.starts_with("gicv3_its_write") && l.contains("offset 0x100 ")
    });
    assert_reported(
        &check_to_linux(&trace),
        &["T3", "before it rewrote the Device table"],
    );
}

#[test]
fn markers_and_guest_errors_are_caught() {
    let to = marker(TO_LINUX, Phase::ToLinux, 0);
    let trace = without(TO_LINUX, to..to + 1, |_| true);
    assert_reported(
        &check_to_linux(&trace),
        &["markers", "expected [Boot, ToLinux]"],
    );
    let error = "gicv3_its_write: invalid guest write at offset 0x8";
    assert_reported(
        &check_to_linux(&with(TO_LINUX, to, error)),
        &["guest error"],
    );
    assert_reported(
        &check_from_linux(&with(FROM_LINUX, marker(FROM_LINUX, Phase::Boot, 0), error)),
        &["guest error"],
    );
}

/// The example's first probe after Linux: from its `boot` marker to the
/// write that enables the ITS.
fn first_probe() -> std::ops::Range<usize> {
    let boot = marker(FROM_LINUX, Phase::Boot, 0);
    boot..find(
        FROM_LINUX,
        boot,
        "gicv3_its_write",
        &["offset 0x0 data 0x80000001"],
    )
}

#[test]
fn l1_linux_must_have_used_the_its() {
    let boot = marker(FROM_LINUX, Phase::Boot, 0);
    let trace = without(FROM_LINUX, 0..boot, |l| {
        l.starts_with("gicv3_its_translation_write")
    });
    assert_reported(&check_from_linux(&trace), &["L1", "did not use the ITS"]);
}

#[test]
fn l2_the_probe_must_rewrite_both_tables() {
    let trace = without(FROM_LINUX, first_probe(), |l| {
        l.starts_with("gicv3_its_write") && l.contains("offset 0x100 ")
    });
    assert_reported(
        &check_from_linux(&trace),
        &["L2", "boot 1", "without its Device table rewritten"],
    );
    let trace = without(FROM_LINUX, first_probe(), |l| {
        l.starts_with("gicv3_its_write") && l.contains("offset 0x108 ")
    });
    assert_reported(
        &check_from_linux(&trace),
        &["L2", "boot 1", "without its Collection table rewritten"],
    );
}

#[test]
fn l2_the_its_must_be_disabled_before_its_tables_are_written() {
    let trace = without(FROM_LINUX, first_probe(), |l| {
        l.starts_with("gicv3_its_write") && l.contains("offset 0x0 data 0x80000000")
    });
    assert_reported(
        &check_from_linux(&trace),
        &["L2", "boot 1", "written while the ITS was enabled"],
    );
}

#[test]
fn l2_nothing_is_mapped_or_translated_before_the_probe_is_done() {
    let at = first_probe().end - 1;
    let dte = "gicv3_its_dte_write GICv3 ITS: Device Table write for DeviceID 0x18: valid 1 size 0x0 ITTaddr 0x4821ae";
    assert_reported(
        &check_from_linux(&with(FROM_LINUX, at, dte)),
        &["L2", "a table write before the kernel's probe"],
    );
}

#[test]
fn l3_the_previous_kernels_lpis_must_be_turned_off_first() {
    let trace = without(FROM_LINUX, first_probe(), |l| {
        l.starts_with("gicv3_redist_write") && l.contains("offset 0x0 data 0x2 ")
    });
    let report = check_from_linux(&trace);
    assert_reported(
        &report,
        &[
            "L3",
            "boot 1",
            "written while the previous kernel's LPIs were on",
        ],
    );
    assert_reported(
        &report,
        &[
            "L3",
            "boot 1",
            "ICID 0 mapped onto redistributor 0, which still has",
        ],
    );
}

#[test]
fn l3_a_cpu_coming_online_later_must_turn_its_lpis_off_too() {
    // Redistributor 1 is taken over when CPU 1 comes online, after the
    // probe.
    let boot = marker(FROM_LINUX, Phase::Boot, 0);
    let entry = marker(FROM_LINUX, Phase::Entry, 0);
    let trace = without(FROM_LINUX, boot..entry, |l| {
        l.starts_with("gicv3_redist_write GICv3 redistributor 0x1 ")
            && l.contains("offset 0x0 data 0x2 ")
    });
    assert_reported(
        &check_from_linux(&trace),
        &["L3", "ICID 1 mapped onto redistributor 1, which still has"],
    );
}

#[test]
fn l4_an_ite_written_into_an_itt_not_mapped_since_the_probe_is_caught() {
    // Linux's NVMe ITT (its MAPD before the example booted).
    let linux_dte = find(
        FROM_LINUX,
        0,
        "gicv3_its_dte_write",
        &["DeviceID 0x10: valid 1"],
    );
    let itt = field(FROM_LINUX.lines().nth(linux_dte).unwrap(), "ITTaddr").unwrap() << 8;
    let ite = format!(
        "gicv3_its_ite_write GICv3 ITS: Interrupt Table write for ITTaddr {itt:#x} EventID 0x0: valid 1 inttype 1 intid 0x2000 ICID 0x0 vPEID 0x0 doorbell 0x3ff"
    );
    let trace = with(FROM_LINUX, first_probe().end + 1, &ite);
    assert_reported(
        &check_from_linux(&trace),
        &[
            "L4",
            "boot 1",
            "which no Device Table write since the probe mapped",
        ],
    );
}

/// In the rounds run: the resumed example, from its `jump` marker to `to
/// Linux`, and Linux after it, to the next `boot`.
fn rounds_handover() -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    let to = marker(ROUNDS, Phase::ToLinux, 0);
    (
        marker(ROUNDS, Phase::Jump, 0)..to,
        to..marker(ROUNDS, Phase::Boot, 2),
    )
}

#[test]
fn rounds_t2_a_mapping_left_at_a_handover_is_caught() {
    let (example, _) = rounds_handover();
    let trace = without(ROUNDS, example, |l| {
        l.starts_with("gicv3_its_dte_write") && l.contains("valid 0")
    });
    assert_reported(
        &check_linux_rounds(&trace, 2),
        &[
            "T2",
            "when the example disabled it the ITS still maps DeviceID",
        ],
    );
}

#[test]
fn rounds_t1_the_resumed_example_must_have_used_the_its() {
    let (example, _) = rounds_handover();
    let trace = without(ROUNDS, example, |l| {
        l.starts_with("gicv3_its_translation_write")
    });
    assert_reported(
        &check_linux_rounds(&trace, 2),
        &["T1", "did not use the ITS"],
    );
}

#[test]
fn rounds_t3_each_linux_must_rewrite_its_tables_and_take_msis() {
    let (_, linux) = rounds_handover();
    let trace = without(ROUNDS, linux.clone(), |l| {
        l.starts_with("gicv3_its_write") && l.contains("offset 0x100 ")
    });
    assert_reported(
        &check_linux_rounds(&trace, 2),
        &["T3", "handover 1", "before it rewrote the Device table"],
    );
    let trace = without(ROUNDS, linux, |l| {
        l.starts_with("gicv3_its_translation_write")
    });
    assert_reported(
        &check_linux_rounds(&trace, 2),
        &["T3", "handover 1", "no MSI"],
    );
}

#[test]
fn rounds_every_round_but_the_last_hands_over() {
    assert_reported(
        &check_linux_rounds(ROUNDS, 3),
        &["markers", "1 handovers to Linux in 3 rounds"],
    );
    // A --from-linux run has no handover to Linux.
    assert_reported(&check_from_linux(ROUNDS), &["markers", "`to Linux`"]);
}

/// A `--linux-rounds` run at hand, for recording a long one (README, "Long
/// runs"): its trace (`ROUNDS_TRACE`), its serial log (`ROUNDS_LOG`) and
/// its rounds (`ROUNDS`), judged as the QEMU test judges two rounds. Run
/// with `--ignored`.
#[test]
#[ignore = "judges a run at hand: ROUNDS_TRACE, ROUNDS_LOG and ROUNDS"]
fn a_rounds_run_at_hand() {
    let variable = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set (see the doc comment)"))
    };
    let (trace, log, rounds) = (
        variable("ROUNDS_TRACE"),
        variable("ROUNDS_LOG"),
        variable("ROUNDS"),
    );
    let trace = std::fs::read_to_string(trace).expect("the trace");
    let log = std::fs::read_to_string(log).expect("the log");
    let rounds: usize = rounds.parse().expect("ROUNDS");
    crate::judge_rounds(&trace, &log, rounds);
}
