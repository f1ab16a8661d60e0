//! Handing the machine over between Linux and the example kernel, under
//! QEMU: Debian's arm64 Linux kexecs into the example (`qemu/run
//! --from-linux`), and the example boots Linux as a boot loader would
//! (`qemu/run --to-linux`).
//!
//! Each run is judged three ways: by the runner's exit status (the example
//! kernel's verdict, and Linux's own lines: MSIs counted through the ITS,
//! no GIC warning), by the Linux checker on the ITS trace
//! (`tests/qemu_support/linux_checker.rs`: nothing of the previous kernel's
//! survives the next kernel's probe; at the handover to Linux the ITS holds
//! nothing), and, for the hibernation cycle that follows a kexec from Linux,
//! by the hibernation checker. A run whose example kernel skips its save
//! hook before Linux must fail all three ways. The checker's own unit tests
//! run on saved real runs (`tests/fixtures/*-linux.*`).
//!
//! The first run downloads Debian's arm64 kernel, busybox and kexec-tools
//! (about 100 MB, cached under `qemu/out/linux/`).

mod qemu_support;

// Only its `check` is used here.
#[allow(dead_code)]
#[path = "qemu_support/hibernate_checker.rs"]
mod hibernate_checker;
#[path = "qemu_support/linux_checker.rs"]
mod linux_checker;
#[cfg(test)]
#[path = "qemu_support/linux_checker_tests.rs"]
mod linux_checker_tests;
#[path = "qemu_support/trace.rs"]
mod trace;

use linux_checker::{assert_reported, check_from_linux, check_linux_rounds, check_to_linux};
use qemu_support::protocol::{
    EARLY_STOP_LINE, LINUX_JUMP_LINE, LINUX_NO_TEARDOWN_LINE, LINUX_ROUND_LINE, Phase,
    RESULT_OK_LINE,
};
use qemu_support::{one_at_a_time, require_qemu, run_runner, scratch};
use std::process::Command;
use std::time::{Duration, Instant};

/// Limit for one `qemu/run`, build and first download included.
const RUN_LIMIT: Duration = Duration::from_secs(900);

struct Run {
    status: i32,
    log: String,
    trace: String,
    elapsed: Duration,
}

/// Runs `qemu/run --trace FILE ARGS` on a fresh disk of its own.
fn run(args: &[&str]) -> Run {
    let _one = one_at_a_time();
    require_qemu();
    let disk = scratch("linux-disk.img");
    let log_path = scratch("linux-serial.log");
    let trace_path = scratch("linux-trace.log");
    let mut all = vec![
        "--trace",
        trace_path.to_str().expect("path"),
        "--disk",
        disk.to_str().expect("path"),
    ];
    all.extend_from_slice(args);
    let start = Instant::now();
    let status = run_runner(&all, &log_path, RUN_LIMIT);
    let run = Run {
        status,
        log: std::fs::read_to_string(&log_path).expect("reading the log"),
        trace: std::fs::read_to_string(&trace_path).unwrap_or_default(),
        elapsed: start.elapsed(),
    };
    let _ = std::fs::remove_file(&disk);
    run
}

/// `log` in parts, each up to and including a line that starts with
/// `line`, and the rest.
fn split_after_line<'a>(log: &'a str, line: &str) -> Vec<&'a str> {
    let mut parts = Vec::new();
    let (mut start, mut offset) = (0, 0);
    for text in log.split_inclusive('\n') {
        offset += text.len();
        if text.starts_with(line) {
            parts.push(&log[start..offset]);
            start = offset;
        }
    }
    parts.push(&log[start..]);
    parts
}

/// The log's last lines, for a failure message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// `--from-linux` with `args`: the runner, the Linux checker and the
/// hibernation checker must all pass.
fn from_linux_passes(args: &[&str]) {
    let mut all = vec!["--from-linux"];
    all.extend_from_slice(args);
    let run = run(&all);
    assert_eq!(
        run.status,
        0,
        "qemu/run {all:?} failed; log:\n{}",
        tail(&run.log)
    );
    assert!(run.log.contains(RESULT_OK_LINE), "no `{RESULT_OK_LINE}`");
    // Linux leaves every redistributor's LPIs on (pending tables in its
    // memory): the example stops them all before it uses its heap, so
    // before its own LPI tables too.
    let early = run
        .log
        .lines()
        .find(|line| line.starts_with(EARLY_STOP_LINE));
    assert!(
        early.is_some_and(|line| !line.contains("stopped at 0,")),
        "Linux's LPIs not stopped before the example's heap: {early:?}; log:\n{}",
        tail(&run.log)
    );
    let linux = check_from_linux(&run.trace);
    assert!(
        linux.failures.is_empty(),
        "the Linux checker failed the run:\n{:#?}\n{}",
        linux.failures,
        linux.summary
    );
    let cycle = hibernate_checker::check(&run.trace, &run.log);
    assert!(
        cycle.failures.is_empty() && cycle.cycles == 1,
        "the hibernation checker failed the cycle after Linux ({} cycles):\n{:#?}",
        cycle.cycles,
        cycle.failures
    );
    println!(
        "{all:?} passed in {:.1} s:\n{}{}",
        run.elapsed.as_secs_f64(),
        linux.summary,
        cycle.summary
    );
}

/// `--to-linux` with `args`: the runner and the Linux checker must pass.
fn to_linux_passes(args: &[&str]) {
    let mut all = vec!["--to-linux"];
    all.extend_from_slice(args);
    let run = run(&all);
    assert_eq!(
        run.status,
        0,
        "qemu/run {all:?} failed; log:\n{}",
        tail(&run.log)
    );
    assert!(run.log.contains(LINUX_JUMP_LINE), "no `{LINUX_JUMP_LINE}`");
    let report = check_to_linux(&run.trace);
    assert!(
        report.failures.is_empty(),
        "the Linux checker failed the run:\n{:#?}\n{}",
        report.failures,
        report.summary
    );
    println!(
        "{all:?} passed in {:.1} s: {}",
        run.elapsed.as_secs_f64(),
        report.summary
    );
}

#[test]
fn linux_kexecs_into_the_example_which_hibernates_and_resumes() {
    from_linux_passes(&[]);
}

#[test]
fn the_example_boots_linux_with_the_its_left_clean() {
    to_linux_passes(&[]);
}

/// Rounds in one QEMU process (`--linux-rounds`): Linux kexecs into the
/// example, which hibernates, resumes and boots Linux, which kexecs into
/// the example again. The runner's verdict (every Linux boot counted MSIs
/// through the ITS with no GIC warning; every round ended with the same
/// memory in use), the Linux checker over every boot and every handover,
/// and the hibernation checker over every cycle.
fn linux_rounds_pass(rounds: usize) {
    let count = rounds.to_string();
    let run = run(&["--linux-rounds", &count]);
    assert_eq!(
        run.status,
        0,
        "qemu/run --linux-rounds {rounds} failed; log:\n{}",
        tail(&run.log)
    );
    let summary = judge_rounds(&run.trace, &run.log, rounds);
    println!(
        "--linux-rounds {rounds} passed in {:.1} s:\n{summary}",
        run.elapsed.as_secs_f64(),
    );
}

/// The judgement of a `--linux-rounds` run beyond the runner's: `rounds`
/// rounds ended with the same memory, the Linux checker over every boot
/// and handover, the hibernation checker over each round's cycle.
/// Returns the Linux checker's summary.
fn judge_rounds(trace: &str, log: &str, rounds: usize) -> String {
    let ends: Vec<&str> = log
        .lines()
        .filter_map(|line| line.trim_end().strip_prefix(LINUX_ROUND_LINE))
        .collect();
    assert_eq!(ends.len(), rounds, "rounds ended: {ends:#?}");
    // "K of N: heap in use H bytes, ITS memory M bytes (...)": all alike
    // after the round number.
    let memory: Vec<Option<&str>> = ends
        .iter()
        .map(|end| end.split_once(": ").map(|(_, memory)| memory))
        .collect();
    assert!(
        memory.iter().all(|m| m.is_some() && *m == memory[0]),
        "the example's memory changed between rounds: {ends:#?}"
    );
    let linux = check_linux_rounds(trace, rounds);
    assert!(
        linux.failures.is_empty(),
        "the Linux checker failed the run:\n{:#?}\n{}",
        linux.failures,
        linux.summary
    );
    // Each round is a run from Linux with one cycle: split the trace at
    // the `to Linux` markers and the log at the jumps into Linux.
    let traces = trace::split_at_marker(trace, Phase::ToLinux);
    let logs = split_after_line(log, LINUX_JUMP_LINE);
    assert_eq!(
        (traces.len(), logs.len()),
        (rounds, rounds),
        "rounds in the trace and the log"
    );
    for (round, (trace, log)) in traces.iter().zip(&logs).enumerate() {
        let cycle = hibernate_checker::check(trace, log);
        assert!(
            cycle.failures.is_empty() && cycle.cycles == 1,
            "the hibernation checker failed round {} ({} cycles):\n{:#?}",
            round + 1,
            cycle.cycles,
            cycle.failures
        );
    }
    linux.summary
}

#[test]
fn two_rounds_of_handovers_with_linux_in_one_process() {
    linux_rounds_pass(2);
}

/// Rounds whose example skips its save hook before Linux: Linux warns,
/// the runner fails, and the checker names the handover.
#[test]
fn rounds_without_the_save_hook_fail_at_the_handover() {
    let run = run(&["--linux-rounds", "2", "--append", "linux-no-teardown"]);
    assert!(run.log.contains(LINUX_NO_TEARDOWN_LINE));
    assert_ne!(
        run.status,
        0,
        "qemu/run passed rounds whose handover skipped the save hook; log:\n{}",
        tail(&run.log)
    );
    let report = check_linux_rounds(&run.trace, 2);
    assert_reported(&report, &["T2", "still maps DeviceID"]);
    assert_reported(&report, &["T2", "still enabled"]);
    assert_reported(&report, &["T2", "still has LPIs enabled"]);
}

#[test]
fn without_the_save_hook_linux_and_the_checker_see_the_stale_its() {
    let run = run(&["--to-linux", "--no-teardown"]);
    assert!(run.log.contains(LINUX_NO_TEARDOWN_LINE));
    assert_ne!(
        run.status,
        0,
        "qemu/run passed a handover that skipped the save hook; log:\n{}",
        tail(&run.log)
    );
    assert!(
        run.log.contains("Booted with LPIs enabled"),
        "Linux did not warn about the LPIs left on; log:\n{}",
        tail(&run.log)
    );
    let report = check_to_linux(&run.trace);
    assert_reported(&report, &["T2", "still maps DeviceID"]);
    assert_reported(&report, &["T2", "ICID"]);
    assert_reported(&report, &["T2", "still enabled"]);
    assert_reported(&report, &["T2", "still has LPIs enabled"]);
}

/// Debian's 6.1 kernel (the other series bookworm carries) in both
/// directions, passed as `--linux-image` as a user would pass theirs.
#[test]
fn another_linux_from_debian_works_both_ways() {
    let fetch = Command::new(qemu_support::repo().join("qemu/linux/fetch"))
        .args(["--series", "6.1"])
        .output()
        .expect("running qemu/linux/fetch");
    assert!(
        fetch.status.success(),
        "qemu/linux/fetch --series 6.1 failed:\n{}",
        String::from_utf8_lossy(&fetch.stderr)
    );
    let info = String::from_utf8_lossy(&fetch.stdout);
    let image = info
        .lines()
        .find_map(|line| line.strip_prefix("kernel="))
        .expect("qemu/linux/fetch printed no kernel=");
    to_linux_passes(&["--linux-image", image]);
    from_linux_passes(&["--linux-image", image]);
}
