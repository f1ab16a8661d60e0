//! What the QEMU tests share: where things are, QEMU's presence, running
//! `qemu/run` with a hard time limit that ends QEMU too, and what the
//! kernel marks and prints for them ([`protocol`]).
//!
//! Beside this file, `trace.rs` (QEMU's ITS trace, parsed and replayed) and
//! `hibernate_checker.rs` (the hibernation rules, with their unit tests on
//! `tests/fixtures/`) are not modules of it: `tests/qemu_hibernate.rs`, their
//! only user, includes them, so that the unit tests run once.

#![allow(dead_code)]

/// The example kernel's own definition of its phase markers and of the log
/// lines the tests read (the `qemu-protocol` crate, which the kernel uses
/// too).
#[allow(unused_imports)] // Not every QEMU test reads the protocol.
pub use qemu_protocol as protocol;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The repository (this crate's root).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh path under Cargo's test scratch directory, unique to this test
/// process.
pub fn scratch(name: &str) -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// One QEMU at a time within a test binary: CI has two cores, and runs that
/// share a disk would collide on QEMU's disk lock.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static QEMU: Mutex<()> = Mutex::new(());
    QEMU.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Fails the test, with the command to run, if QEMU is missing and cannot
/// be installed here. The QEMU tests never pass silently without QEMU.
pub fn require_qemu() {
    let installer = Command::new(repo().join("qemu/install-qemu"))
        .stdin(Stdio::null())
        .output()
        .expect("running qemu/install-qemu");
    assert!(
        installer.status.success(),
        "qemu-system-aarch64 is not installed, so the QEMU tests cannot run:\n{}",
        String::from_utf8_lossy(&installer.stderr)
    );
}

/// Runs `qemu/run ARGS` with its output in `log_path` and returns its exit
/// status (-1 when killed by a signal). The runner gets its own process
/// group, so that past `limit` the whole group (runner, `timeout`, QEMU) is
/// killed and the test fails with the log, never leaving QEMU behind.
pub fn run_runner(args: &[&str], log_path: &Path, limit: Duration) -> i32 {
    let log_file = std::fs::File::create(log_path).expect("creating the log file");
    let mut child = Command::new(repo().join("qemu/run"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .process_group(0)
        .spawn()
        .expect("starting qemu/run");
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for qemu/run") {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            panic!("qemu/run {args:?} took more than {limit:?}; log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The number after `key` in `line` (hex with 0x, else decimal), ending at
/// whitespace, `:`, `,` or `)`.
pub fn field(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let token = rest
        .trim_start()
        .split(|c: char| c.is_whitespace() || c == ':' || c == ',' || c == ')')
        .next()?;
    match token.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => token.parse().ok(),
    }
}
