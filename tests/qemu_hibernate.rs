//! The hibernation cycle judged by the ITS's own trace.
//!
//! Each test runs the example kernel's boot -> hibernate -> restore cycle
//! through `qemu/run --trace` (QEMU's `-trace 'gicv3_its*' -d guest_errors`)
//! and replays the trace: every Device, Interrupt and Collection Table write
//! the ITS made, every MSI it received, and the kernel's phase markers (the
//! kernel reads an ITS identification register where it prints each phase
//! line, see examples/qemu-virt/src/hibernate/marker.rs), so the trace
//! splits into the kernel's phases without relying on timing. It fails
//! unless:
//!
//! 1. in the boot kernel, every DeviceID mapped V=1 is unmapped V=0 and
//!    every ICID mapped is unmapped, before the ITS is disabled for the jump;
//! 2. after resume, the ITS holds exactly the image kernel's mappings before
//!    hibernation (DeviceID -> ITT address, (DeviceID, EventID) -> INTID and
//!    ICID, ICID -> RDbase), at the ITT addresses the image header recorded;
//! 3. after resume, no ITE is written into an ITT that is not the resumed
//!    kernel's;
//! 4. QEMU logs no ITS guest error except the expected ones for the resumed
//!    kernel's probes of devices only the boot kernel mapped (DeviceID 0, and
//!    in `--cold` runs an extra edu), which must not be translated, and every
//!    MSI the resumed kernel's checks raised was translated and handled
//!    exactly once.
//!
//! The same checker must fail when the boot kernel skips its save hook.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One QEMU at a time: the runs share the Image and the NVMe disk.
static QEMU: Mutex<()> = Mutex::new(());
/// Limit for one `qemu/run`, build included.
const RUN_LIMIT: Duration = Duration::from_secs(600);
/// Cycles per run (the issue asks for at least 5).
const CYCLES: usize = 5;
/// The DeviceID only the boot kernel maps.
const FOREIGN_DEVICE: u64 = 0;

struct Run {
    status: i32,
    log: String,
    trace: String,
    elapsed: Duration,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Runs `qemu/run --trace FILE` with `args` on a fresh disk.
fn run(args: &[&str]) -> Run {
    run_all(&[args]).pop().expect("one run")
}

/// Runs `qemu/run --trace FILE` once per entry of `runs`, in order, on one
/// fresh disk of this test process's own.
fn run_all(runs: &[&[&str]]) -> Vec<Run> {
    let _one_at_a_time = QEMU.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let installer = Command::new(repo().join("qemu/install-qemu"))
        .stdin(Stdio::null())
        .output()
        .expect("running qemu/install-qemu");
    assert!(
        installer.status.success(),
        "qemu-system-aarch64 is not installed, so the QEMU tests cannot run:\n{}",
        String::from_utf8_lossy(&installer.stderr)
    );
    // A disk of this test process's own, so that other QEMU runs on the
    // shared qemu/out/disk.img (which QEMU locks) cannot collide with it.
    let disk = scratch("hibernate-disk.img");
    let results = runs.iter().map(|args| run_one(args, &disk)).collect();
    let _ = std::fs::remove_file(&disk);
    results
}

fn run_one(args: &[&str], disk: &std::path::Path) -> Run {
    let log_path = scratch("hibernate-serial.log");
    let trace_path = scratch("hibernate-trace.log");
    let log_file = std::fs::File::create(&log_path).expect("creating the log file");
    let start = Instant::now();
    let mut child = Command::new(repo().join("qemu/run"))
        .args(["--trace", trace_path.to_str().expect("path")])
        .args(["--disk", disk.to_str().expect("path")])
        .args(args)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("starting qemu/run");
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for qemu/run") {
            break status;
        }
        if start.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("qemu/run {args:?} took more than {RUN_LIMIT:?}; log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Run {
        status: status.code().unwrap_or(-1),
        log: std::fs::read_to_string(&log_path).expect("reading the log"),
        trace: std::fs::read_to_string(&trace_path).unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// The value after `key` in `line` (hex with 0x, else decimal).
fn field(line: &str, key: &str) -> Option<u64> {
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

/// The kernel's phase markers: reads of these ITS ID register offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Boot,
    Entry,
    Handover,
    Exit,
    ForeignProbe,
    ChecksDone,
}

impl Phase {
    fn from_offset(offset: u64) -> Option<Self> {
        Some(match offset {
            0xffd0 => Self::Boot,
            0xffd4 => Self::Entry,
            0xffd8 => Self::Handover,
            0xffdc => Self::Exit,
            0xffe0 => Self::ForeignProbe,
            0xffe4 => Self::ChecksDone,
            _ => return None,
        })
    }
}

/// What matters in the trace, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Marker(Phase),
    /// A GITS_CTLR write.
    Ctlr(u64),
    Dte {
        device: u64,
        valid: bool,
        itt: u64,
    },
    Ite {
        itt: u64,
        event: u64,
        valid: bool,
        intid: u64,
        icid: u64,
    },
    Cte {
        icid: u64,
        valid: bool,
        rdbase: u64,
    },
    Translation {
        requester: u64,
        event: u64,
    },
    /// The ITE read while translating the last MSI: its INTID.
    Translated(u64),
    GuestError(String),
}

fn parse(trace: &str) -> Vec<Event> {
    let mut events = Vec::new();
    let mut translating = false;
    for line in trace.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let event = match name {
            "gicv3_its_read" => field(line, "offset")
                .and_then(Phase::from_offset)
                .map(Event::Marker),
            "gicv3_its_write" if field(line, "offset") == Some(0) => {
                field(line, "data").map(Event::Ctlr)
            }
            "gicv3_its_dte_write" => Some(Event::Dte {
                device: field(line, "DeviceID").expect("DeviceID"),
                valid: field(line, "valid") == Some(1),
                itt: field(line, "ITTaddr").expect("ITTaddr") << 8,
            }),
            "gicv3_its_ite_write" => Some(Event::Ite {
                itt: field(line, "ITTaddr").expect("ITTaddr"),
                event: field(line, "EventID").expect("EventID"),
                valid: field(line, "valid") == Some(1),
                intid: field(line, "intid").expect("intid"),
                icid: field(line, "ICID").expect("ICID"),
            }),
            "gicv3_its_cte_write" => Some(Event::Cte {
                icid: field(line, "ICID").expect("ICID"),
                valid: field(line, "valid") == Some(1),
                rdbase: field(line, "RDBase").expect("RDBase"),
            }),
            "gicv3_its_translation_write" => {
                translating = true;
                Some(Event::Translation {
                    requester: field(line, "requester_id").expect("requester_id"),
                    event: field(line, "data").expect("data"),
                })
            }
            "gicv3_its_ite_read" if translating => {
                translating = false;
                field(line, "intid").map(Event::Translated)
            }
            "gicv3_its_process_command" => {
                translating = false;
                None
            }
            _ if name.starts_with("gicv3_") => None,
            _ if line.trim().is_empty() => None,
            _ => Some(Event::GuestError(line.to_string())),
        };
        events.extend(event);
    }
    events
}

/// What the ITS holds, from its table writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct ItsState {
    /// DeviceID -> ITT address.
    devices: BTreeMap<u64, u64>,
    /// (ITT, EventID) -> (INTID, ICID).
    ites: BTreeMap<(u64, u64), (u64, u64)>,
    /// ICID -> RDbase.
    collections: BTreeMap<u64, u64>,
}

/// The mappings as a device sees them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Mappings {
    devices: BTreeMap<u64, u64>,
    /// (DeviceID, EventID) -> (INTID, ICID).
    events: BTreeMap<(u64, u64), (u64, u64)>,
    collections: BTreeMap<u64, u64>,
}

impl ItsState {
    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Dte { device, valid, itt } => {
                if valid {
                    self.devices.insert(device, itt);
                } else {
                    self.devices.remove(&device);
                }
            }
            Event::Ite {
                itt,
                event,
                valid,
                intid,
                icid,
            } => {
                if valid {
                    self.ites.insert((itt, event), (intid, icid));
                } else {
                    self.ites.remove(&(itt, event));
                }
            }
            Event::Cte {
                icid,
                valid,
                rdbase,
            } => {
                if valid {
                    self.collections.insert(icid, rdbase);
                } else {
                    self.collections.remove(&icid);
                }
            }
            _ => {}
        }
    }

    fn mappings(&self) -> Mappings {
        let mut events = BTreeMap::new();
        for (&device, &itt) in &self.devices {
            for (&(base, event), &target) in &self.ites {
                if base == itt {
                    events.insert((device, event), target);
                }
            }
        }
        Mappings {
            devices: self.devices.clone(),
            events,
            collections: self.collections.clone(),
        }
    }
}

/// What the kernel's serial log says about one resume.
#[derive(Debug, Default)]
struct ResumeLog {
    /// DeviceID -> ITT address from the image header ("image kernel's ITS").
    image_itts: BTreeMap<u64, u64>,
    /// DeviceID -> ITT address of the boot kernel.
    boot_itts: BTreeMap<u64, u64>,
    /// (edu raised, edu handled).
    edu: Option<(u64, u64)>,
    /// NVMe interrupts handled per vector in the check.
    nvme: Option<Vec<u64>>,
}

/// Splits the serial log into resumes (one per `PM: hibernation: exit`).
fn resumes(log: &str) -> Vec<ResumeLog> {
    let mut resumes = Vec::new();
    let mut current = ResumeLog::default();
    let mut resumed = false;
    for line in log.lines() {
        if line.starts_with("PM: image kernel's ITS (from the image): DeviceID") {
            current.image_itts.insert(
                field(line, "DeviceID").unwrap(),
                field(line, "ITT").unwrap(),
            );
        } else if line.starts_with("PM: boot kernel's ITS: DeviceID") {
            current.boot_itts.insert(
                field(line, "DeviceID").unwrap(),
                field(line, "ITT").unwrap(),
            );
        } else if line == "PM: hibernation: exit" {
            resumed = true;
        } else if resumed && line.starts_with("PM: check (resumed): edu LPI") {
            // "... edu LPI 8194: 3 MSIs raised, 3 handled"
            let numbers: Vec<u64> = line
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|token| token.parse().ok())
                .collect();
            if let [.., raised, handled] = numbers[..] {
                current.edu = Some((raised, handled));
            }
        } else if resumed && line.starts_with("PM: check (resumed): nvme LPIs") {
            let handled = line
                .split("interrupts handled [")
                .nth(1)
                .and_then(|rest| rest.split(']').next())
                .map(|list| list.split(", ").filter_map(|n| n.parse().ok()).collect());
            current.nvme = handled;
            resumes.push(std::mem::take(&mut current));
            resumed = false;
        }
    }
    resumes
}

/// The checker's findings for a run.
#[derive(Debug, Default)]
struct Report {
    resumes: usize,
    /// DeviceIDs whose probe MSI the ITS rejected after a resume.
    rejected: BTreeSet<u64>,
    failures: Vec<String>,
    /// One line per resume for the test output.
    summary: String,
}

/// Replays the trace against the four rules.
fn check(trace: &str, log: &str) -> Report {
    let events = parse(trace);
    let logged = resumes(log);
    let mut report = Report::default();

    let mut state = ItsState::default();
    // Set at each boot; true once the boot kernel's window is closed.
    let mut boot_kernel = false;
    let mut handover_seen = false;
    let mut window_checked = false;
    let mut image: Option<Mappings> = None;
    let mut after_exit = false;
    let mut in_checks = false;
    let mut foreign_probe = false;
    let mut last_translation: Option<(u64, u64)> = None;
    let mut translated: BTreeMap<(u64, u64), Vec<u64>> = BTreeMap::new();
    let mut probes_rejected: BTreeSet<u64> = BTreeSet::new();

    let close_boot_window = |state: &ItsState, report: &mut Report, why: &str| {
        for (device, itt) in &state.devices {
            report.failures.push(format!(
                "rule 1: the boot kernel left DeviceID {device:#x} mapped (ITT {itt:#x}) when the ITS was disabled ({why}): a stale mapping"
            ));
        }
        for (icid, rdbase) in &state.collections {
            report.failures.push(format!(
                "rule 1: the boot kernel left ICID {icid} mapped (RDbase {rdbase:#x}) when the ITS was disabled ({why}): a stale mapping"
            ));
        }
    };

    for event in &events {
        match event {
            Event::Marker(Phase::Boot) => {
                // A reset: the ITS starts from the new kernel's empty tables.
                state = ItsState::default();
                boot_kernel = true;
                handover_seen = false;
                window_checked = false;
                after_exit = false;
                in_checks = false;
            }
            Event::Marker(Phase::Entry) => {
                image = Some(state.mappings());
                after_exit = false;
                in_checks = false;
            }
            Event::Marker(Phase::Handover) => {
                if !boot_kernel {
                    report
                        .failures
                        .push("a handover outside a boot kernel".into());
                }
                handover_seen = true;
            }
            Event::Ctlr(value) if handover_seen && !window_checked && value & 1 == 0 => {
                close_boot_window(&state, &mut report, "for the jump");
                window_checked = true;
            }
            Event::Marker(Phase::Exit) => {
                if handover_seen && !window_checked {
                    close_boot_window(&state, &mut report, "never, before the image resumed");
                    window_checked = true;
                }
                boot_kernel = false;
                report.resumes += 1;
                let index = report.resumes;
                let held = state.mappings();
                match &image {
                    None => report.failures.push(format!("resume {index}: no image kernel state"),
                    ),
                    Some(expected) if *expected != held => report.failures.push(format!(
                            "rule 2: resume {index}: the ITS holds {held:x?}, the image kernel held {expected:x?}"
                        ),
                    ),
                    Some(_) => {}
                }
                if let Some(resume) = logged.get(index - 1)
                    && resume.image_itts != held.devices
                {
                    report.failures.push(format!(
                        "rule 2: resume {index}: ITTs {:x?} differ from the image header's {:x?}",
                        held.devices, resume.image_itts
                    ));
                }
                after_exit = true;
                in_checks = true;
                translated.clear();
            }
            Event::Marker(Phase::ForeignProbe) => foreign_probe = true,
            Event::Marker(Phase::ChecksDone) => {
                in_checks = false;
                foreign_probe = false;
                if !probes_rejected.contains(&FOREIGN_DEVICE) {
                    report.failures.push(format!(
                            "resume {}: the ITS did not reject the probe of DeviceID {FOREIGN_DEVICE:#x}",
                            report.resumes
                        ),
                    );
                }
                report.rejected.extend(probes_rejected.iter().copied());
                probes_rejected.clear();
                let index = report.resumes;
                let count = |requester: u64, event: u64| {
                    translated.get(&(requester, event)).map_or(0, Vec::len) as u64
                };
                let expected = image.clone().unwrap_or_default();
                for ((requester, ev), intids) in &translated {
                    let mapped = expected.events.get(&(*requester, *ev)).map(|t| t.0);
                    if intids.iter().any(|&intid| Some(intid) != mapped) {
                        report.failures.push(format!(
                                "rule 4: resume {index}: MSIs of DeviceID {requester:#x} EventID {ev} went to {intids:?}, not LPI {mapped:?}"
                            ),
                        );
                    }
                }
                match logged.get(index - 1) {
                    Some(resume) => {
                        if let Some((raised, handled)) = resume.edu {
                            let seen = count(0x8, 0);
                            if raised != handled || seen != handled {
                                report.failures.push(format!(
                                        "rule 4: resume {index}: edu raised {raised}, the ITS translated {seen}, the kernel handled {handled}"
                                    ),
                                );
                            }
                        }
                        match &resume.nvme {
                            Some(handled) => {
                                for (vector, &h) in handled.iter().enumerate() {
                                    let seen = count(0x10, vector as u64);
                                    if seen != h {
                                        report.failures.push(format!(
                                                "rule 4: resume {index}: NVMe vector {vector}: the ITS translated {seen} MSIs, the kernel handled {h}"
                                            ),
                                        );
                                    }
                                }
                                if handled.get(1) != Some(&2) {
                                    report.failures.push(format!(
                                            "rule 4: resume {index}: 2 NVMe I/O commands, {handled:?} interrupts handled"
                                        ),
                                    );
                                }
                            }
                            None => report
                                .failures
                                .push(format!("resume {index}: no NVMe check in the log")),
                        }
                        let _ = writeln!(
                            report.summary,
                            "resume {index}: image ITTs {:x?}, boot kernel ITTs {:x?}, edu {:?}, nvme {:?}, MSIs translated {:?}",
                            resume.image_itts,
                            resume.boot_itts,
                            resume.edu,
                            resume.nvme,
                            translated
                                .iter()
                                .map(|(k, v)| (*k, v.len()))
                                .collect::<Vec<_>>()
                        );
                    }
                    None => report
                        .failures
                        .push(format!("resume {index}: no checks in the log")),
                }
            }
            Event::Ite { itt, .. } if after_exit => {
                let ours: BTreeSet<u64> = image
                    .as_ref()
                    .map(|m| m.devices.values().copied().collect())
                    .unwrap_or_default();
                let index = report.resumes;
                if !ours.contains(itt) {
                    report.failures.push(format!(
                            "rule 3: resume {}: an ITE was written into ITT {itt:#x}, not one of the resumed kernel's {ours:x?}",
                            index
                        ),
                    );
                }
            }
            Event::Translation { requester, event } => {
                last_translation = Some((*requester, *event));
            }
            Event::Translated(intid) => {
                let index = report.resumes;
                if let Some((requester, ev)) = last_translation.take() {
                    let known = image
                        .as_ref()
                        .is_some_and(|m| m.devices.contains_key(&requester));
                    if after_exit && !known {
                        report.failures.push(format!(
                                "resume {index}: an MSI from DeviceID {requester:#x}, not the resumed kernel's device, was translated to LPI {intid}"
                            ),
                        );
                    }
                    if in_checks {
                        translated.entry((requester, ev)).or_default().push(*intid);
                    }
                }
            }
            Event::GuestError(line) => {
                // Expected only for a probe's MSI from a device the ITS does
                // not map.
                let expected = foreign_probe
                    && in_checks
                    && last_translation.is_some_and(|(r, _)| !state.devices.contains_key(&r))
                    && line.contains("invalid dte");
                if expected {
                    probes_rejected.insert(last_translation.map_or(0, |(r, _)| r));
                } else {
                    report
                        .failures
                        .push(format!("rule 4: ITS guest error: {line}"));
                }
            }
            _ => {}
        }
        state.apply(event);
    }
    report
}

/// Runs `cycles` cycles and checks the run, the log and the trace.
fn cycle_passes_the_checker(mode: &[&str], cycles: usize) -> Report {
    let count = cycles.to_string();
    let mut args = vec!["--cycles", count.as_str()];
    args.extend_from_slice(mode);
    let run = run(&args);
    assert_eq!(
        run.status, 0,
        "the hibernation run failed (status {}):\n{}",
        run.status, run.log
    );
    for line in [
        "PM: hibernation: entry",
        "PM: hibernation: handing over to image",
        "PM: hibernation: exit",
    ] {
        let seen = run.log.lines().filter(|l| *l == line).count();
        assert_eq!(seen, cycles, "{seen} times `{line}`:\n{}", run.log);
    }
    assert!(
        run.log.contains("PM: hibernation: result: ok"),
        "{}",
        run.log
    );
    assert!(run.trace.contains("gicv3_its_cmd_mapd"), "no ITS trace");
    let report = check(&run.trace, &run.log);
    assert!(
        report.failures.is_empty(),
        "the trace checker failed:\n{}\n\nlog:\n{}",
        report.failures.join("\n"),
        run.log
    );
    assert_eq!(report.resumes, cycles, "resumes in the trace");
    // The seed's situation: the boot kernel's ITTs are not the image's.
    for resume in resumes(&run.log) {
        for (device, itt) in &resume.boot_itts {
            if resume.image_itts.get(device) == Some(itt) {
                eprintln!(
                    "note: DeviceID {device:#x}: boot and image kernel ITT coincide at {itt:#x} (random offsets in --cold)"
                );
            }
        }
    }
    eprintln!(
        "{} cycles {mode:?} in {:?}:\n{}",
        cycles, run.elapsed, report.summary
    );
    report
}

#[test]
fn five_cycles_in_one_qemu_pass_the_trace_checker() {
    cycle_passes_the_checker(&[], CYCLES);
}

#[test]
fn five_cold_cycles_across_qemu_processes_pass_the_trace_checker() {
    let report = cycle_passes_the_checker(&["--cold"], CYCLES);
    // The second QEMU's extra edu (00:05.0) was the boot kernel's only.
    assert!(
        report.rejected.contains(&0x28),
        "the extra edu's MSI was not probed after resume: {:?}",
        report.rejected
    );
}

#[test]
fn without_the_boot_kernel_teardown_the_checker_reports_stale_mappings() {
    let run = run(&["--no-teardown"]);
    // The kernel itself cannot tell: its checks pass.
    assert_eq!(run.status, 0, "{}", run.log);
    assert!(run.log.contains("hibernate-no-teardown"), "{}", run.log);
    let report = check(&run.trace, &run.log);
    eprintln!("the checker reports:\n{}", report.failures.join("\n"));
    let stale: Vec<&String> = report
        .failures
        .iter()
        .filter(|f| f.starts_with("rule 1:") && f.contains("stale mapping"))
        .collect();
    assert!(
        stale.iter().any(|f| f.contains("DeviceID 0x0 ")),
        "the checker did not report the boot kernel's own device:\n{:#?}",
        report.failures
    );
    assert!(
        stale.iter().any(|f| f.contains("DeviceID 0x10 ")),
        "the checker did not report the boot kernel's NVMe mapping:\n{:#?}",
        report.failures
    );
    assert!(
        stale.iter().any(|f| f.contains("ICID 0 ")),
        "the checker did not report the boot kernel's collection:\n{:#?}",
        report.failures
    );
}

#[test]
fn a_corrupt_image_is_refused_and_the_kernel_boots_normally() {
    let run = run(&["--append", "hibernate-corrupt-image"]);
    assert_eq!(run.status, 0, "{}", run.log);
    assert!(
        run.log.contains("bad checksum in page run 0 at 0x")
            && run.log.contains("booting normally"),
        "the corrupt image was not refused with a clear message:\n{}",
        run.log
    );
    assert!(
        !run.log.contains("PM: hibernation: handing over to image")
            && !run.log.contains("PM: hibernation: exit"),
        "the boot kernel jumped into a corrupt image:\n{}",
        run.log
    );
    assert!(
        run.log
            .contains("the corrupted image was refused, the kernel booted normally"),
        "{}",
        run.log
    );
}

#[test]
fn a_resumed_image_is_never_resumed_again() {
    let runs = run_all(&[&["--cold"], &["--cold", "--keep-image"]]);
    let (first, second) = (&runs[0], &runs[1]);
    assert_eq!(first.status, 0, "{}", first.log);
    assert!(first.log.contains("PM: hibernation: exit"), "{}", first.log);
    // The second run boots on the disk the first left: its image was
    // invalidated by the kernel that resumed it.
    let entry = second
        .log
        .find("PM: hibernation: entry")
        .unwrap_or(second.log.len());
    let before_entry = &second.log[..entry];
    assert!(
        before_entry.contains("the image on the disk was resumed already; booting normally"),
        "the boot did not refuse the used image:\n{}",
        second.log
    );
    assert!(
        !before_entry.contains("handing over to image"),
        "a used image was resumed again:\n{}",
        second.log
    );
    assert_eq!(second.status, 0, "{}", second.log);
}
