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

use linux_checker::{assert_reported, check_from_linux, check_to_linux};
use qemu_support::protocol::{LINUX_JUMP_LINE, LINUX_NO_TEARDOWN_LINE, RESULT_OK_LINE};
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

/// The log's last lines, for a failure message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// `--from-linux` with `args`: the runner, the Linux checker and the
/// hibernation checker must all pass.
/// What the crate logs as `takeover::stop_lpis` turns off LPIs a previous owner
/// left enabled.
const LPIS_STOPPED_LINE: &str = "its: a redistributor left with LPIs enabled";

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
    // memory): the example stops them all before its own LPI tables.
    let stopped = run.log.find(LPIS_STOPPED_LINE);
    let programmed = run.log.find("its: redistributor 0 at");
    assert!(
        stopped.is_some() && stopped < programmed,
        "Linux's LPIs not stopped before the example's tables; log:\n{}",
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
