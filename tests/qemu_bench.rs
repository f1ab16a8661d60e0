//! `qemu/run --bench`, the on-target half of the save/restore benchmark,
//! runs to the end under QEMU: exit status 0, the table ending with the
//! ratio line, and the CSV with the counts that do not depend on timing.
//! Times are not checked.
//!
//! QEMU must be installed (`qemu/install-qemu`, which `qemu/run` calls);
//! without it this test fails with the command to run.

mod qemu_support;

use qemu_support::{repo, require_qemu, run_runner, scratch};
use std::time::Duration;

#[test]
fn the_bench_mode_prints_the_table_and_writes_the_csv() {
    require_qemu();
    let csv = repo().join("target/bench/save_restore_qemu.csv");
    let _ = std::fs::remove_file(&csv);
    // A disk of this test's own: QEMU locks its disk.
    let disk = scratch("bench-disk.img");
    let log_path = scratch("bench.log");
    let status = run_runner(
        &[
            "--bench",
            "--append",
            "bench-runs=1",
            "--timeout",
            "300",
            "--disk",
            disk.to_str().expect("path"),
        ],
        &log_path,
        Duration::from_secs(600),
    );
    let _ = std::fs::remove_file(&disk);
    let stdout = std::fs::read_to_string(&log_path).expect("reading the log");
    assert!(status == 0, "qemu/run --bench failed ({status}):\n{stdout}");
    let last = stdout.lines().rev().find(|line| !line.trim().is_empty());
    let ratio = last
        .and_then(|line| {
            line.trim()
                .strip_prefix("ratio baseline/batched at 1024x32: ")
        })
        .unwrap_or_else(|| panic!("no ratio line at the end:\n{stdout}"));
    let ratio: f64 = ratio.parse().expect("the ratio is a number");
    assert!(ratio > 0.0);

    let csv = std::fs::read_to_string(&csv).expect("the runner writes the CSV");
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // 4 x 3 points, save and restore, batched, baseline and floor.
    assert_eq!(rows.len(), 72, "{csv}");
    let row = |op: &str, mode: &str| {
        rows.iter()
            .find(|r| r[0] == "1024" && r[1] == "32" && r[3] == op && r[4] == mode)
            .unwrap_or_else(|| panic!("no 1024x32 {op} {mode} row"))
    };
    // One redistributor: restore is 4 MAPC, 1024 MAPD, 32768 MAPTI,
    // 4 INVALL and 1 SYNC; save is 1024 MAPD, 4 MAPC and 1 SYNC. Columns:
    // commands, doorbells, completion waits, polls.
    let counts =
        |r: &Vec<&str>| -> Vec<u64> { r[5..9].iter().map(|c| c.parse().unwrap()).collect() };
    assert_eq!(counts(row("restore", "batched")), [33801, 17, 1, 17]);
    assert_eq!(counts(row("restore", "floor")), [33801, 17, 17, 17]);
    assert_eq!(
        counts(row("restore", "baseline")),
        [33801, 33801, 33802, 33801]
    );
    assert_eq!(counts(row("save", "batched")), [1029, 1, 1, 1]);
}
