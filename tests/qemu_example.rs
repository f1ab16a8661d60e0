//! Host integration tests that boot the example kernel under QEMU through
//! `qemu/run` and judge it by QEMU's exit status (the on-target verdict,
//! reported through semihosting), by the serial log, and by the ITS's own
//! trace (`-trace 'gicv3_its*'`): the MSIs of the edu and the NVMe
//! controller's MSI-X writes must come from their PCI requester IDs and be
//! translated to the LPIs the kernel mapped.
//!
//! QEMU must be installed (`qemu/install-qemu`, which `qemu/run` calls);
//! without it these tests fail with the command to run, they never pass
//! silently.

mod qemu_support;

use qemu_support::protocol::{TEST_RESULT_OK, TEST_SKIPPED};
use qemu_support::{field, one_at_a_time, require_qemu, run_runner, scratch};
use std::collections::HashMap;
use std::time::Duration;

/// Limit for one run, build included. The runner's own QEMU timeout is
/// shorter, so a hung guest ends as a runner failure first.
const RUN_LIMIT: Duration = Duration::from_secs(600);
const QEMU_TIMEOUT_SECS: &str = "120";

/// Edu MSIs the on-target delivery test raises.
const EDU_TRIGGERS: usize = 5;

struct Run {
    status: i32,
    log: String,
}

/// Runs `qemu/run` with `args` on a disk of this test process's own (QEMU
/// locks its disk), waiting at most [`RUN_LIMIT`].
fn run(args: &[&str]) -> Run {
    let _one = one_at_a_time();
    require_qemu();
    let log_path = scratch("serial.log");
    let disk = scratch("example-disk.img");
    let mut all = vec![
        "--timeout",
        QEMU_TIMEOUT_SECS,
        "--disk",
        disk.to_str().expect("path"),
    ];
    all.extend_from_slice(args);
    let status = run_runner(&all, &log_path, RUN_LIMIT);
    let log = std::fs::read_to_string(&log_path).expect("reading the log");
    let _ = std::fs::remove_file(&disk);
    Run { status, log }
}

/// A device's MSI route as the kernel logged it.
#[derive(Debug)]
struct LoggedRoute {
    requester: u64,
    device_id: u64,
    /// The LPI of EventID `n` at index `n`.
    lpis: Vec<u64>,
}

impl LoggedRoute {
    /// From the first line of `log` that starts with `prefix` and holds
    /// `requester ID`, `DeviceID`, and the LPI of EventID `n` after
    /// `lpi_keys[n]`.
    fn find(log: &str, prefix: &str, lpi_keys: &[&str]) -> Self {
        let line = log
            .lines()
            .find(|line| line.starts_with(prefix) && line.contains("requester ID"))
            .unwrap_or_else(|| panic!("the kernel did not log a {prefix:?} route:\n{log}"));
        let number = |key: &str| {
            field(line, key).unwrap_or_else(|| panic!("no {key:?} in the route: {line}"))
        };
        Self {
            requester: number("requester ID"),
            device_id: number("DeviceID"),
            lpis: lpi_keys.iter().map(|key| number(key)).collect(),
        }
    }
}

/// What the ITS holds, rebuilt from its trace, and every MSI it received.
#[derive(Default)]
struct TraceModel {
    /// DeviceID -> ITT address, for valid Device Table entries.
    devices: HashMap<u64, u64>,
    /// (ITT address, EventID) -> INTID, for valid ITEs.
    events: HashMap<(u64, u64), u64>,
    /// Each GITS_TRANSLATER write, in order.
    translations: Vec<Translation>,
}

/// One MSI written to GITS_TRANSLATER.
#[derive(Debug)]
struct Translation {
    /// The requester ID it carried.
    requester: u64,
    /// The data written: the EventID.
    event: u64,
    /// The INTID the replayed tables give for its DeviceID and EventID.
    mapped: Option<u64>,
    /// The INTID the ITS read from the ITE while translating it (the
    /// `ite_read` that follows the write), if it translated it at all.
    translated: Option<u64>,
}

impl TraceModel {
    /// Replays the trace. `device_id_of` maps a requester ID to its DeviceID
    /// (the kernel logs the msi-map result).
    fn replay(trace: &str, device_id_of: impl Fn(u64) -> u64) -> Self {
        let mut model = Self::default();
        // The translation whose table reads come next, if any.
        let mut translating: Option<usize> = None;
        for line in trace.lines() {
            if line.starts_with("gicv3_its_ite_read ") {
                if let Some(index) = translating.take() {
                    model.translations[index].translated = field(line, "intid");
                }
            } else if line.starts_with("gicv3_its_dte_read ") {
                if field(line, "valid") != Some(1) {
                    translating = None;
                }
            } else if line.starts_with("gicv3_its_process_command ") {
                translating = None;
            } else if line.starts_with("gicv3_its_dte_write ") {
                let (Some(device), Some(valid), Some(itt)) = (
                    field(line, "DeviceID"),
                    field(line, "valid"),
                    field(line, "ITTaddr"),
                ) else {
                    panic!("unparsed DTE write: {line}");
                };
                if valid == 1 {
                    // The trace gives the ITT address >> 8. A newly mapped
                    // ITT is zeroed by the driver: forget its old entries.
                    let itt = itt << 8;
                    model.events.retain(|&(base, _), _| base != itt);
                    model.devices.insert(device, itt);
                } else {
                    model.devices.remove(&device);
                }
            } else if line.starts_with("gicv3_its_ite_write ") {
                let (Some(itt), Some(event), Some(valid), Some(intid)) = (
                    field(line, "ITTaddr"),
                    field(line, "EventID"),
                    field(line, "valid"),
                    field(line, "intid"),
                ) else {
                    panic!("unparsed ITE write: {line}");
                };
                if valid == 1 {
                    model.events.insert((itt, event), intid);
                } else {
                    model.events.remove(&(itt, event));
                }
            } else if line.starts_with("gicv3_its_translation_write ") {
                let (Some(event), Some(requester)) =
                    (field(line, "data"), field(line, "requester_id"))
                else {
                    panic!("unparsed translation: {line}");
                };
                let mapped = model
                    .devices
                    .get(&device_id_of(requester))
                    .and_then(|itt| model.events.get(&(*itt, event)))
                    .copied();
                translating = Some(model.translations.len());
                model.translations.push(Translation {
                    requester,
                    event,
                    mapped,
                    translated: None,
                });
            }
        }
        model
    }
}

#[test]
fn on_target_tests_pass_and_device_msis_are_translated_to_the_mapped_lpis() {
    let trace_path = scratch("its-trace.log");
    // Four CPUs: MOVI and MOVALL across redistributors, kvm-unit-tests'
    // scenarios, CPUs offline and online, the driver shared by CPUs.
    let run = run(&[
        "--test",
        "--smp",
        "4",
        "--trace",
        trace_path.to_str().expect("path"),
    ]);
    assert_eq!(
        run.status, 0,
        "the on-target tests failed (QEMU exit status {}):\n{}",
        run.status, run.log
    );
    assert!(
        run.log.contains(TEST_RESULT_OK),
        "no passing summary:\n{}",
        run.log
    );
    assert!(!run.log.contains("FAILED"), "a test failed:\n{}", run.log);
    // With four CPUs nothing is skipped, and every scenario that needs them
    // ran and passed.
    assert!(
        !run.log.contains(TEST_SKIPPED),
        "a test was skipped with four CPUs:\n{}",
        run.log
    );
    for name in [
        "its_introspection",
        "its_trigger",
        "its_pending_across_move",
        "its_unmapped_collection",
        "movi_to_another_cpu",
        "cpu_offline_and_online_while_msis_flow",
        "driver_shared_by_cpus_while_msis_flow",
    ] {
        assert!(
            run.log.contains(&format!("test {name} ... ok")),
            "no `test {name} ... ok`:\n{}",
            run.log
        );
    }

    // "test: edu 00:01.0 requester ID 0x8 DeviceID 0x8 EventID 0 LPI 8192"
    let edu_route = LoggedRoute::find(&run.log, "test: edu ", &["LPI"]);
    let (requester, device_id, lpi) = (edu_route.requester, edu_route.device_id, edu_route.lpis[0]);
    // "nvme: 00:02.0 ... MSI-X requester ID 0x10 -> DeviceID 0x10: vector 0
    // (admin) EventID 0 -> LPI 8193, vector 1 (I/O) EventID 1 -> LPI 8194"
    let nvme_route = LoggedRoute::find(
        &run.log,
        "nvme: ",
        &["EventID 0 -> LPI", "EventID 1 -> LPI"],
    );

    let trace = std::fs::read_to_string(&trace_path).expect("reading the ITS trace");
    assert!(
        trace.contains("gicv3_its_cmd_mapd"),
        "the trace has no ITS commands:\n{trace}"
    );
    let device_ids: HashMap<u64, u64> = [&edu_route, &nvme_route]
        .iter()
        .map(|route| (route.requester, route.device_id))
        .collect();
    let model = TraceModel::replay(&trace, |rid| *device_ids.get(&rid).unwrap_or(&rid));
    let edu: Vec<&Translation> = model
        .translations
        .iter()
        .filter(|t| t.requester == requester)
        .collect();
    assert!(
        edu.len() >= EDU_TRIGGERS,
        "expected at least {EDU_TRIGGERS} MSIs with requester ID {requester:#x}, trace has {}:\n{trace}",
        edu.len()
    );
    // The ITS translated each MSI by the tables the kernel's commands built.
    for t in &edu {
        assert_eq!(
            t.translated, t.mapped,
            "the ITS translated {t:?} differently from the mapped tables"
        );
    }
    // The delivery test's MSIs: EventID 0 of the edu's DeviceID, translated
    // to exactly the LPI the kernel mapped and logged.
    for (n, t) in edu.iter().take(EDU_TRIGGERS).enumerate() {
        assert_eq!(t.event, 0, "MSI {n}: {t:?}");
        assert_eq!(
            t.translated,
            Some(lpi),
            "MSI {n} from requester ID {requester:#x} (DeviceID {device_id:#x}): {t:?}, but the kernel mapped LPI {lpi}"
        );
    }
    // Every edu MSI the ITS translated was handled by the kernel, once; the
    // on-target tests also send MSIs to an unmapped edu and a disabled ITS,
    // which must not be translated.
    let translated = edu.iter().filter(|t| t.translated.is_some()).count();
    let handled = run
        .log
        .lines()
        .filter(|line| line.starts_with("irq: LPI ") && line.contains("(edu interrupt"))
        .count();
    assert!(translated < edu.len(), "no edu MSI was dropped: {edu:?}");
    assert_eq!(
        translated, handled,
        "{translated} edu MSIs were translated to an LPI, {handled} were handled:\n{}",
        run.log
    );
    check_nvme_translations(&model, &nvme_route, &run.log);
    // A CPU's own writes to GITS_TRANSLATER (requester ID 0): kvm-unit-tests'
    // trigger scenario makes two, the first while DeviceID 0 is mapped, the
    // second after MAPD V=0. Each was translated as the tables said.
    let cpu_writes: Vec<&Translation> = model
        .translations
        .iter()
        .filter(|t| t.requester == 0)
        .collect();
    assert_eq!(
        cpu_writes.len(),
        2,
        "CPU writes to GITS_TRANSLATER: {cpu_writes:?}"
    );
    assert!(
        cpu_writes[0].translated.is_some() && cpu_writes[1].translated.is_none(),
        "DeviceID 0 before and after MAPD V=0: {cpu_writes:?}"
    );
    for t in &cpu_writes {
        assert_eq!(t.translated, t.mapped, "{t:?}");
    }
}

/// Every NVMe MSI-X write (the controller's requester ID) was translated to
/// the LPI the kernel mapped for its EventID: 0 for the admin queue, 1 for
/// the I/O queue. Both were used, and each one translated was handled once
/// (the kernel logs how many it handled per queue).
fn check_nvme_translations(model: &TraceModel, route: &LoggedRoute, log: &str) {
    let msis: Vec<&Translation> = model
        .translations
        .iter()
        .filter(|t| t.requester == route.requester)
        .collect();
    for t in &msis {
        let expected = route.lpis.get(t.event as usize).copied();
        assert!(
            expected.is_some(),
            "NVMe MSI-X write with EventID {:#x}, only {} vectors mapped: {t:?}",
            t.event,
            route.lpis.len()
        );
        assert_eq!(
            t.translated, t.mapped,
            "the ITS translated NVMe MSI-X write {t:?} differently from the mapped tables"
        );
        assert_eq!(
            t.translated, expected,
            "NVMe MSI-X write from requester ID {:#x} (DeviceID {:#x}): {t:?}, but the kernel mapped LPI {expected:?} to EventID {}",
            route.requester, route.device_id, t.event
        );
    }
    // "test: nvme 00:02.0 admin LPIs handled 12, I/O LPIs handled 31"
    let line = log
        .lines()
        .find(|line| line.starts_with("test: nvme ") && line.contains("LPIs handled"))
        .unwrap_or_else(|| panic!("the kernel did not log the NVMe LPIs it handled:\n{log}"));
    for (event, key) in [(0, "admin LPIs handled"), (1, "I/O LPIs handled")] {
        let handled = field(line, key).unwrap_or_else(|| panic!("no {key:?} in {line}"));
        let translated = msis
            .iter()
            .filter(|t| t.event == event && t.translated.is_some())
            .count() as u64;
        assert!(
            translated > 0,
            "no NVMe MSI-X write with EventID {event} in the trace"
        );
        assert_eq!(
            translated, handled,
            "{translated} NVMe MSI-X writes with EventID {event} were translated, the kernel handled {handled} LPIs"
        );
    }
}

#[test]
fn demo_handles_every_edu_msi_and_powers_off() {
    let run = run(&["--demo"]);
    assert_eq!(run.status, 0, "the demo failed:\n{}", run.log);
    assert!(
        run.log.contains("3 MSIs raised, 3 handled as LPI"),
        "edu MSIs were not all handled:\n{}",
        run.log
    );
    assert!(run.log.contains("its: MAPD dev 0x8 valid 1"), "{}", run.log);
}

#[test]
fn entered_at_el2_the_kernel_drops_to_el1_and_passes() {
    // Two CPUs: the secondaries enter at EL2 too; the tests that need four
    // are skipped.
    let run = run(&["--el2", "--test", "--smp", "2"]);
    assert_eq!(
        run.status, 0,
        "the on-target tests failed at EL2 entry:\n{}",
        run.log
    );
    assert!(
        run.log.contains("entered at EL2, running at EL1"),
        "{}",
        run.log
    );
}

#[test]
fn a_kernel_panic_fails_the_run() {
    let run = run(&["--append", "panic"]);
    assert_ne!(run.status, 0, "a panic must fail the run:\n{}", run.log);
    assert!(run.log.contains("PANIC"), "{}", run.log);
}

/// The minimal example (`qemu/run --minimal`, examples/minimal): an MSI
/// taken as an LPI, a save, a restore, the MSI taken again. Judged by the
/// verdict and by the ITS's trace: the device's DTE made valid, invalid at
/// the save, valid again at the restore (and invalid when the driver is
/// dropped), and both MSIs (the CPU's writes to GITS_TRANSLATER, DeviceID
/// 0) translated.
#[test]
fn the_minimal_example_takes_its_lpi_across_a_save_and_a_restore() {
    let trace = scratch("minimal.trace");
    let _ = std::fs::remove_file(&trace);
    let trace_arg = trace.to_str().expect("path");
    let run = run(&["--minimal", "--", "-trace", "gicv3_its*", "-D", trace_arg]);
    assert_eq!(run.status, 0, "the minimal example failed:\n{}", run.log);
    assert!(run.log.contains("minimal: PASS"), "{}", run.log);
    assert_eq!(
        run.log.matches("minimal: took LPI 8192").count(),
        2,
        "{}",
        run.log
    );
    let trace = std::fs::read_to_string(&trace).expect("reading the trace");
    let dte: Vec<&str> = trace
        .lines()
        .filter(|line| line.contains("Device Table write for DeviceID 0x0:"))
        .map(|line| {
            if line.contains("valid 1") {
                "valid"
            } else {
                "invalid"
            }
        })
        .collect();
    // Mapped, saved, restored, and saved again when the driver is dropped
    // at the end (dropping an `Its` runs `save`).
    assert_eq!(dte, ["valid", "invalid", "valid", "invalid"], "{trace}");
    let msis = trace
        .lines()
        .filter(|line| line.contains("TRANSLATER write") && line.contains("requester_id 0x0"))
        .count();
    assert_eq!(msis, 2, "{trace}");
}
