//! The save/restore benchmark on the real (here: QEMU's) ITS, run with
//! `bench` on the kernel command line (`qemu/run --bench`).
//!
//! The same workload and report as the host benchmark
//! (the `bench-workload` crate): N devices x M events
//! with fake DeviceIDs from 0x100 (the ITS takes MAPD for any DeviceID below
//! 2^Devbits, no device is needed), four collections on this CPU, save and
//! restore timed with CNTVCT_EL0 for the batched driver, the
//! one-command-at-a-time baseline and the raw floor. The batched and
//! baseline rounds alternate on one driver, probed afresh (the kernel's own
//! ITS service is saved first, so nothing of it stays in the ITS); the
//! floor runs last, on the queue of a second driver that maps nothing. The table ends with
//! `ratio baseline/batched at 1024x32: X.XX`; before it come the same
//! figures as CSV lines prefixed `csv: `, which `qemu/run --bench` collects.
//!
//! `bench-runs=N` on the command line sets the runs per point (default 5).

use bench_workload as workload;

use crate::heap::KernelDma;
use crate::msi::ItsService;
use crate::{Kernel, console, power};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0, Readable};
use alloc::format;
use alloc::string::String;
use core::ptr::NonNull;
use gicv3_its::registers::GitsMmio;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{Batching, ItsConfig, RdBase};
use log::LevelFilter;
use workload::{
    DEVICES, EVENTS, Floor, FloorPlan, Geometry, Measurement, MemoryPoint, Mode, Op, QUEUE_BYTES,
    Report, Samples, TableBytes,
};

/// Runs per point unless `bench-runs=N` says otherwise.
const DEFAULT_RUNS: usize = 5;
/// Register polls before a wait gives up.
const POLL_BUDGET: u32 = 10_000_000;

/// Nanoseconds from the virtual counter (CNTVCT_EL0), read after an ISB so
/// that it is not read before the work it times.
fn now_ns() -> u64 {
    barrier::isb(barrier::SY);
    let ticks = CNTVCT_EL0.get();
    let frequency = CNTFRQ_EL0.get().max(1);
    (u128::from(ticks) * 1_000_000_000 / u128::from(frequency)) as u64
}

/// Prints a line on the console, whatever the log level.
macro_rules! say {
    ($($arg:tt)*) => {
        console::write_fmt(format_args!($($arg)*))
    };
}

/// Runs the benchmark, prints the table, and powers off.
///
/// The driver logs every MAPD of a save or restore at info level; on a
/// serial console those lines, not the ITS, would be what is timed (about
/// 45 us per device on QEMU's PL011). The benchmark runs with the log at
/// warn.
pub fn run(kernel: Kernel) -> ! {
    let level = log::max_level();
    log::set_max_level(LevelFilter::Warn);
    let result = bench(kernel);
    log::set_max_level(level);
    let status = match result {
        Ok(report) => {
            print(&report);
            0
        }
        Err(message) => {
            say!("bench: {message}");
            1
        }
    };
    power::exit(status);
}

fn runs(kernel: &Kernel) -> usize {
    kernel
        .platform
        .bootargs
        .split_whitespace()
        .find_map(|arg| arg.strip_prefix("bench-runs=")?.parse().ok())
        .unwrap_or(DEFAULT_RUNS)
        .max(1)
}

fn its_config(batching: Batching) -> ItsConfig {
    ItsConfig {
        queue_bytes: QUEUE_BYTES,
        // Read budget only, no clock: the polls are part of what is counted.
        wait: WaitPolicy {
            poll_budget: POLL_BUDGET,
            ..WaitPolicy::default()
        },
        batching,
        // A flat Device table, as the floor writes its commands against the
        // tables the driver left, and save gives level-2 pages back.
        max_flat_device_table_bytes: 1 << 20,
        ..ItsConfig::default()
    }
}

/// A fresh driver with the benchmark's four collections on this CPU.
fn service(kernel: &Kernel, batching: Batching) -> Result<ItsService, String> {
    let lpis = kernel.its.lpis.clone();
    let mut service =
        ItsService::with_domain(&kernel.platform, &kernel.gic, lpis, its_config(batching))
            .map_err(|e| format!("probe: {e}"))?;
    let processor = service.processor_number;
    workload::map_collections(&mut service.its, |_| processor)
        .map_err(|e| format!("collections: {e}"))?;
    Ok(service)
}

fn bench(mut kernel: Kernel) -> Result<Report, String> {
    let runs = runs(&kernel);
    say!(
        "bench: {runs} runs per point, counter at {} Hz, driver log at warn",
        CNTFRQ_EL0.get()
    );
    // The kernel's own mappings go: the ITS is the benchmark's from here on.
    kernel
        .its
        .its
        .save()
        .map_err(|e| format!("saving the kernel's ITS: {e}"))?;
    let mut report = Report {
        targets: workload::Targets::QEMU,
        ..Report::default()
    };

    // One driver for both modes, switched round by round (batched,
    // baseline, batched, ...), so that whatever else the host does falls
    // on both alike.
    let mut driver = service(&kernel, Batching::Batched)?;
    let its = &mut driver.its;
    // The registry's own estimate with the collections only.
    let base = its.memory_use().registry;
    for events in EVENTS {
        let mut have = 0;
        for devices in DEVICES {
            let before = its.memory_use().registry;
            workload::map_devices(its, have, devices, events)
                .map_err(|e| format!("mapping {devices}x{events}: {e}"))?;
            let after_devices = its.memory_use().registry;
            workload::map_events(its, have, devices, events)
                .map_err(|e| format!("mapping {devices}x{events}: {e}"))?;
            let memory = its.memory_use();
            let added = f64::from(devices - have);
            have = devices;
            report.memory.push(MemoryPoint {
                devices,
                events,
                driver: TableBytes::of(memory),
                // Filled in below, once the floor has read the ITS's
                // geometry.
                minimum: TableBytes::default(),
                registry: memory.registry - base,
                registry_per_device: (after_devices - before) as f64 / added,
                registry_per_event: (memory.registry - after_devices) as f64
                    / (added * f64::from(events)),
                registry_measured: false,
            });
            let mut samples: [[Samples; 2]; 2] = Default::default();
            for _ in 0..runs {
                for (index, batching) in [Batching::Batched, Batching::OneAtATime]
                    .into_iter()
                    .enumerate()
                {
                    its.set_batching(batching);
                    let [save, restore] = workload::time_driver(its, 1, &now_ns)
                        .map_err(|e| format!("{batching:?} {devices}x{events}: {e}"))?;
                    samples[0][index].push(save);
                    samples[1][index].push(restore);
                }
            }
            let [mut save, mut restore] = samples;
            for (index, mode) in [Mode::Batched, Mode::Baseline].into_iter().enumerate() {
                let (save, restore) = (save[index].result(), restore[index].result());
                push(&mut report, devices, events, mode, save, restore);
                say!(
                    "bench: {} {devices}x{events}: save {} us, restore {} us",
                    mode.name(),
                    save.1 / 1000,
                    restore.1 / 1000
                );
            }
        }
        workload::unmap_devices(its).map_err(|e| format!("unmapping: {e}"))?;
    }
    its.save().map_err(|e| format!("save: {e}"))?;
    drop(driver);

    // The floor: a driver programs the tables and enables LPIs, maps
    // nothing, and is dropped; the floor then drives the queue itself.
    let mut setup = service(&kernel, Batching::Batched)?;
    for (icid, _) in setup
        .its
        .registry()
        .collections()
        .collect::<alloc::vec::Vec<_>>()
    {
        setup
            .its
            .unmap_collection(icid)
            .map_err(|e| format!("floor set-up: {e}"))?;
    }
    let features = setup.its.features();
    let itt_bytes: alloc::vec::Vec<usize> = EVENTS
        .iter()
        .map(|&events| setup.its.itt_bytes(events).unwrap_or(0))
        .collect();
    let rdbase = if features.pta {
        RdBase::physical_address(kernel.gic.rd_base())
    } else {
        RdBase::processor_number(setup.processor_number)
    };
    // Its tables stay allocated (and valid in GITS_BASERn) for ever.
    drop(setup);
    let base = kernel
        .platform
        .its
        .first()
        .and_then(|node| NonNull::new(node.frames.start as *mut u8))
        .ok_or("no ITS")?;
    // SAFETY: the ITS frames from the DTB, identity mapped as Device memory
    // for ever; the drivers that used them are gone (the kernel's own is
    // saved and no longer used), so this is their only user.
    let frame = unsafe { GitsMmio::new(base) };
    let geometry = Geometry::read(&frame, features);
    let mut memory = KernelDma;
    let mut floor = Floor::install(frame, &mut memory, QUEUE_BYTES, POLL_BUDGET)
        .map_err(|e| format!("floor queue: {e:?}"))?;
    report.slots = floor.slots();
    for (&events, &itt) in EVENTS.iter().zip(&itt_bytes) {
        for devices in DEVICES {
            let mut plan =
                FloorPlan::new(&mut memory, itt, devices, events, floor.slots() - 1, |_| {
                    rdbase
                })
                .map_err(|e| format!("floor plan: {e:?}"))?;
            let [save, restore] =
                workload::time_floor(&mut floor, &mut plan, &memory, runs, &now_ns)
                    .map_err(|e| format!("floor {devices}x{events}: {e:?}"))?;
            plan.release(&mut memory);
            push(&mut report, devices, events, Mode::Floor, save, restore);
        }
    }
    for point in &mut report.memory {
        point.minimum = TableBytes::minimum(geometry, point.devices, point.events, 1);
    }
    report
        .measurements
        .sort_by_key(|m| (m.events, m.devices, m.op, m.mode));
    Ok(report)
}

fn push(
    report: &mut Report,
    devices: u32,
    events: u32,
    mode: Mode,
    save: (workload::Counts, u64),
    restore: (workload::Counts, u64),
) {
    for (op, (counts, median_ns)) in [(Op::Save, save), (Op::Restore, restore)] {
        report.measurements.push(Measurement {
            devices,
            events,
            op,
            mode,
            counts,
            median_ns,
        });
    }
}

/// CSV lines first (for `qemu/run --bench` to collect), then the table,
/// whose last line is the ratio.
fn print(report: &Report) {
    for line in report.csv().lines() {
        say!("csv: {line}");
    }
    let table = report.table("QEMU's ITS (the example kernel, CNTVCT_EL0)");
    for line in table.lines() {
        say!("{line}");
    }
}
