//! On-target tests, run with `test` on the kernel command line. Each test
//! drives the real (emulated) ITS through the driver and judges by what the
//! CPU receives: which LPIs are taken, and how often.
//!
//! The verdict is the number of failed tests, which `main` passes to
//! semihosting SYS_EXIT, so QEMU's exit status is 0 only if all passed.
//!
//! This file is the harness (what the tests share, their order, the
//! verdict); the ITS tests are in `its.rs`, kvm-unit-tests' ITS scenarios
//! in `kvm_scenarios.rs`, the tests of several CPUs (offline and online
//! under MSIs, the driver shared by CPUs) in `smp.rs`, the NVMe tests in
//! `nvme.rs`. Tests that need more CPUs than the machine has say they are
//! skipped ([`TEST_SKIPPED`]) and pass.

use crate::cpu::{self, MAX_CPUS};
use crate::edu::Edu;
use crate::msi::MsiRoute;
use crate::platform::PciHost;
use crate::protocol::{TEST_RESULT_FAILED, TEST_RESULT_OK, TEST_SKIPPED};
use crate::smp;
use crate::{Kernel, irq};
use alloc::format;
use alloc::string::String;
use core::time::Duration;
use gicv3_its::{DeviceId, IntId};
use log::{error, info};

/// A DeviceID no PCI function uses (msi-map covers 0..0x10000 on virt, the
/// example's devices sit on bus 0): the INT/CLEAR/DISCARD/MOVI tests map it
/// with no device behind it and raise its events with INT.
const SYNTHETIC_DEVICE: DeviceId = DeviceId(0xff00);
/// Events of the synthetic device.
const SYNTHETIC_EVENTS: u32 = 4;
/// How long an interrupt may take to arrive.
const DELIVERY: Duration = Duration::from_millis(500);
/// How long to watch for an interrupt that must not arrive (or arrive twice).
const QUIET: Duration = Duration::from_millis(20);
/// How long to watch when nothing at all must arrive (kvm-unit-tests waits
/// 100 to 200 ms).
const SILENCE: Duration = Duration::from_millis(100);

type Outcome = Result<(), String>;

/// Fails the test with a message unless `$condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}

// Below `ensure!`, which they use: a macro is visible only after its
// definition.
mod its;
mod kvm_scenarios;
mod nvme;
mod smp_tests;

use its::{
    clear_removes_pending_lpi, discard_removes_mapping_and_pending_lpi,
    edu_msi_delivered_once_per_trigger, errors_are_typed, int_raises_lpi_once, its_init,
    movi_moves_pending_lpi, movi_to_another_cpu, save_restore_keeps_edu_lpi,
    unmapped_device_msi_not_translated, waits_default_to_the_generic_timer,
};
use kvm_scenarios::{
    its_introspection, its_pending_across_move, its_trigger, its_unmapped_collection,
};
use nvme::{
    nvme_errors_are_typed, nvme_lost_interrupt_times_out_and_resume_recovers,
    nvme_msix_table_points_at_the_its, nvme_quiesced_across_its_save_restore,
    nvme_write_read_back_by_lpis,
};
use smp_tests::{cpu_offline_and_online_while_msis_flow, driver_shared_by_cpus_while_msis_flow};

/// The test rig: what the tests share (the kernel, and the edu device once
/// routed).
struct Rig {
    kernel: Kernel,
    host: Option<PciHost>,
    edu: Option<(Edu, MsiRoute)>,
    synthetic_lpis: [IntId; SYNTHETIC_EVENTS as usize],
}

/// A test: its name and its body.
type Test = (&'static str, fn(&mut Rig) -> Outcome);

const TESTS: &[Test] = &[
    ("its_init", its_init),
    ("its_introspection", its_introspection),
    (
        "edu_msi_delivered_once_per_trigger",
        edu_msi_delivered_once_per_trigger,
    ),
    ("int_raises_lpi_once", int_raises_lpi_once),
    ("clear_removes_pending_lpi", clear_removes_pending_lpi),
    (
        "discard_removes_mapping_and_pending_lpi",
        discard_removes_mapping_and_pending_lpi,
    ),
    ("movi_moves_pending_lpi", movi_moves_pending_lpi),
    ("movi_to_another_cpu", movi_to_another_cpu),
    ("errors_are_typed", errors_are_typed),
    (
        "waits_default_to_the_generic_timer",
        waits_default_to_the_generic_timer,
    ),
    ("its_trigger", its_trigger),
    ("its_pending_across_move", its_pending_across_move),
    ("its_unmapped_collection", its_unmapped_collection),
    (
        "cpu_offline_and_online_while_msis_flow",
        cpu_offline_and_online_while_msis_flow,
    ),
    (
        "driver_shared_by_cpus_while_msis_flow",
        driver_shared_by_cpus_while_msis_flow,
    ),
    (
        "unmapped_device_msi_not_translated",
        unmapped_device_msi_not_translated,
    ),
    (
        "nvme_msix_table_points_at_the_its",
        nvme_msix_table_points_at_the_its,
    ),
    ("nvme_write_read_back_by_lpis", nvme_write_read_back_by_lpis),
    ("nvme_errors_are_typed", nvme_errors_are_typed),
    (
        "nvme_lost_interrupt_times_out_and_resume_recovers",
        nvme_lost_interrupt_times_out_and_resume_recovers,
    ),
    ("save_restore_keeps_edu_lpi", save_restore_keeps_edu_lpi),
    (
        "nvme_quiesced_across_its_save_restore",
        nvme_quiesced_across_its_save_restore,
    ),
];

/// Runs every test; returns the number that failed.
pub fn run(kernel: Kernel) -> usize {
    let host = kernel.platform.pci.clone();
    let mut rig = Rig {
        kernel,
        host,
        edu: None,
        synthetic_lpis: [IntId(0); SYNTHETIC_EVENTS as usize],
    };
    // `test-only=NAME,NAME` runs those tests alone (and those before them
    // that they build on: the edu route, the synthetic device).
    let only: alloc::vec::Vec<&str> = rig
        .kernel
        .platform
        .bootargs
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("test-only="))
        .map(|names| names.split(',').collect())
        .unwrap_or_default();
    let only: alloc::vec::Vec<String> = only.into_iter().map(String::from).collect();
    let mut failed = 0;
    for (name, test) in TESTS {
        if !only.is_empty()
            && !only.iter().any(|n| n == name)
            && !["edu_msi_delivered_once_per_trigger", "int_raises_lpi_once"].contains(name)
        {
            continue;
        }
        info!("test {name} ...");
        match test(&mut rig) {
            Ok(()) => info!("test {name} ... ok"),
            Err(message) => {
                failed += 1;
                error!("test {name} ... FAILED: {message}");
            }
        }
    }
    if let Some(nvme) = &rig.kernel.nvme {
        // For the host test, which matches these with the ITS trace.
        let [admin, io] = nvme.interrupts();
        info!(
            "test: nvme {} admin LPIs handled {admin}, I/O LPIs handled {io}",
            nvme.bdf()
        );
    }
    let (unhandled, last) = irq::unhandled();
    if unhandled != 0 {
        failed += 1;
        error!("{unhandled} interrupts had no handler (last INTID {last})");
    }
    info!(
        "{} {} passed; {failed} failed",
        if failed == 0 {
            TEST_RESULT_OK
        } else {
            TEST_RESULT_FAILED
        },
        TESTS.len().saturating_sub(failed)
    );
    failed
}

/// Counts an interrupt and does nothing else (for INT-raised LPIs).
fn count_only(_intid: IntId, _context: usize) {}

fn wait_for_count(lpi: IntId, count: u32) -> Outcome {
    cpu::wait_until(DELIVERY, || irq::count(lpi) >= count);
    // Then make sure nothing more arrives.
    cpu::wait_until(QUIET, || irq::count(lpi) > count);
    let seen = irq::count(lpi);
    ensure!(
        seen == count,
        "LPI {lpi}: handled {seen} times, expected {count}"
    );
    Ok(())
}

/// Whether at least `cpus` CPUs are online; if not, says the test is
/// skipped (it passes).
fn has_cpus(cpus: usize) -> bool {
    let online = smp::online().count();
    if online < cpus {
        info!(
            "test: {TEST_SKIPPED} needs {cpus} CPUs, {online} online (qemu/run --test --smp {cpus})"
        );
    }
    online >= cpus
}

/// How many times each CPU took an LPI.
type PerCpu = [u32; MAX_CPUS];

fn per_cpu(lpi: IntId) -> PerCpu {
    core::array::from_fn(|cpu| irq::count_on(lpi, cpu))
}

/// Watches for `duration`, taking whatever interrupts come.
fn quiet(duration: Duration) {
    cpu::wait_until(duration, || false);
}

/// Waits until `lpi` was taken as `expected` says ((CPU, times) pairs)
/// since `before`, then watches a while longer: it must have been taken
/// exactly that often on each CPU named, and never on any other.
fn expect_taken(lpi: IntId, before: &PerCpu, expected: &[(usize, u32)]) -> Outcome {
    let total: u32 = expected.iter().map(|&(_, n)| n).sum();
    let taken = |now: &PerCpu| -> u32 { now.iter().zip(before).map(|(a, b)| a - b).sum() };
    cpu::wait_until(DELIVERY, || taken(&per_cpu(lpi)) >= total);
    quiet(if total == 0 { SILENCE } else { QUIET });
    let now = per_cpu(lpi);
    for cpu in 0..MAX_CPUS {
        let want = expected
            .iter()
            .filter(|&&(c, _)| c == cpu)
            .map(|&(_, n)| n)
            .sum::<u32>();
        let seen = now[cpu] - before[cpu];
        ensure!(
            seen == want,
            "LPI {lpi}: taken {seen} times on CPU {cpu}, expected {want} (expected in all: {expected:?})"
        );
    }
    Ok(())
}

/// The edu device and its route, as the delivery test left them.
fn edu_rig(rig: &Rig) -> Result<(Edu, MsiRoute), String> {
    rig.edu
        .clone()
        .ok_or_else(|| "the edu delivery test did not route the edu".into())
}
