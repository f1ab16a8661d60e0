//! `qemu/run --bench`, the on-target half of the save/restore benchmark,
//! runs to the end under QEMU: exit status 0, the table ending with the
//! ratio line, and the CSV with the counts that do not depend on timing.
//! Times are not checked.
//!
//! QEMU must be installed (`qemu/install-qemu`, which `qemu/run` calls);
//! without it this test fails with the command to run.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_bench_mode_prints_the_table_and_writes_the_csv() {
    let installer = Command::new(repo().join("qemu/install-qemu"))
        .stdin(Stdio::null())
        .output()
        .expect("running qemu/install-qemu");
    assert!(
        installer.status.success(),
        "qemu-system-aarch64 is not installed, so the QEMU benchmark cannot run:\n{}",
        String::from_utf8_lossy(&installer.stderr)
    );
    let csv = repo().join("target/bench/save_restore_qemu.csv");
    let _ = std::fs::remove_file(&csv);
    // A disk of this test's own: QEMU locks its disk, so a concurrent run
    // of another test binary on the shared qemu/out/disk.img cannot collide.
    let disk = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-disk.img-{}", std::process::id()));
    let _ = std::fs::remove_file(&disk);
    let output = Command::new(repo().join("qemu/run"))
        .args(["--bench", "--append", "bench-runs=1", "--timeout", "300"])
        .args(["--disk", disk.to_str().expect("path")])
        .stdin(Stdio::null())
        .output()
        .expect("starting qemu/run");
    let _ = std::fs::remove_file(&disk);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "qemu/run --bench failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
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
