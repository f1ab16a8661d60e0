//! What save and restore cost on the software ITS model, how it grows, and
//! how it compares with sending one command at a time and with the raw
//! floor (`cargo bench`; see `crates/bench-workload`
//! for the workload, the floor and the memory minima).
//!
//! For every point of N devices x M events it prints the commands, CWRITER
//! doorbells, completion waits and CREADR polls of one save and one restore,
//! their median wall time over `BENCH_RUNS` runs (default 11) and the time
//! per mapping, for the batched driver, the one-at-a-time baseline and the
//! floor; then the ratios, the memory next to the architecture's minimum,
//! the targets, and last `ratio baseline/batched at 1024x32: X.XX`.
//! The same figures go to `target/bench/save_restore.csv`, and a plot of
//! time per mapping against mappings to `target/bench/save_restore.png`.
//!
//! The model executes commands inside the CWRITER write, like QEMU, so its
//! times are those of the driver plus a fast ITS; the counts are exact.

extern crate alloc;

#[path = "support/heap.rs"]
mod heap;
use bench_workload as workload;

use gicv3_its::{Batching, Its, ItsConfig, LpiDomain, LpiDomainConfig, ProcessorNumber};
use gicv3_its_model::{ItsModel, ModelConfig, ModelGits, ModelMemory};
use heap::{CountingAllocator, Uncounted};
use std::path::{Path, PathBuf};
use std::time::Instant;
use workload::{
    COLLECTIONS, DEVICES, EVENTS, Floor, FloorPlan, Geometry, Measurement, MemoryPoint, Mode, Op,
    QUEUE_BYTES, Report, Samples, TableBytes,
};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

type BenchIts = Its<Uncounted<ModelGits>, Uncounted<ModelMemory>>;

/// Redistributors of the model (and pending tables the driver provides).
const REDISTRIBUTORS: usize = 4;

fn model_config() -> ModelConfig {
    // QEMU's virt ITS: 16 DeviceID bits, 12-byte ITT entries, 16 LPI bits,
    // every page size, synchronous command processing.
    ModelConfig {
        redistributors: (0..REDISTRIBUTORS as u64)
            .map(|i| 0x080a_0000 + i * 0x2_0000)
            .collect(),
        ..ModelConfig::default()
    }
}

fn its_config(batching: Batching) -> ItsConfig {
    ItsConfig {
        queue_bytes: QUEUE_BYTES,
        batching,
        max_flat_device_table_bytes: workload::FLAT_DEVICE_TABLE_BYTES,
        ..ItsConfig::default()
    }
}

/// A probed driver on a fresh model with every redistributor set up.
fn probe(model: &ItsModel, batching: Batching) -> BenchIts {
    let lpis = LpiDomainConfig {
        id_bits: 16,
        ..LpiDomainConfig::default()
    };
    let domain = LpiDomain::new(Uncounted(model.memory()), lpis).expect("LPI domain");
    for (index, &rd_base) in model.config().redistributors.iter().enumerate() {
        domain
            .init_redistributor(&Uncounted(model.gicr(index)), rd_base)
            .expect("init redistributor");
    }
    Its::probe(
        Uncounted(model.gits()),
        Uncounted(model.memory()),
        &domain,
        its_config(batching),
    )
    .expect("probe")
}

fn now_ns() -> u64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn assert_no_violations(model: &ItsModel, what: &str) {
    let violations = model.violations();
    assert!(
        violations.is_empty(),
        "{what}: the model saw spec violations: {violations:?}"
    );
}

/// Every point, the three modes side by side: a model and a driver each for
/// batched and baseline, and a model whose queue the floor drives. Rounds
/// alternate between the modes (batched, baseline, floor, batched, ...), so
/// that whatever else the machine does falls on all three alike.
fn bench(runs: usize, report: &mut Report) {
    for events in EVENTS {
        // Fresh models and drivers for each event count, so that the
        // registry is measured from empty (a B-tree keeps its root node
        // once it has had one).
        let models: [ItsModel; 3] = std::array::from_fn(|_| ItsModel::new(model_config()));
        let mut batched = probe(&models[0], Batching::Batched);
        let mut baseline = probe(&models[1], Batching::OneAtATime);
        let floor_its = probe(&models[2], Batching::Batched);
        let mut floor_memory = Uncounted(models[2].memory());
        let mut floor = Floor::install(
            Uncounted(models[2].gits()),
            &mut floor_memory,
            QUEUE_BYTES,
            1_000_000,
        )
        .expect("floor queue");
        report.slots = floor.slots();
        for its in [&mut batched, &mut baseline] {
            workload::map_collections(its, |icid| ProcessorNumber(icid.0 % REDISTRIBUTORS as u16))
                .expect("collections");
        }
        let geometry = Geometry::read(&models[0].gits(), batched.features());
        // What the batched driver's mapping calls added to the heap so far.
        let mut registry = 0;
        let mut have = 0;
        for devices in DEVICES {
            // Memory: measured on the batched driver while it maps.
            let before = heap::live();
            workload::map_devices(&mut batched, have, devices, events).expect("map devices");
            let after_devices = heap::live();
            workload::map_events(&mut batched, have, devices, events).expect("map events");
            let after_events = heap::live();
            let added = f64::from(devices - have);
            registry += after_events - before;
            report.memory.push(MemoryPoint {
                devices,
                events,
                driver: TableBytes::of(batched.memory_use()),
                minimum: TableBytes::minimum(geometry, devices, events, REDISTRIBUTORS),
                registry: registry as usize,
                registry_per_device: (after_devices - before) as f64 / added,
                registry_per_event: (after_events - after_devices) as f64
                    / (added * f64::from(events)),
                registry_measured: true,
            });
            workload::map_devices(&mut baseline, have, devices, events).expect("map devices");
            workload::map_events(&mut baseline, have, devices, events).expect("map events");
            have = devices;
            let itt_bytes = floor_its.itt_bytes(events).expect("ITT size");
            let mut plan = FloorPlan::new(
                &mut floor_memory,
                itt_bytes,
                devices,
                events,
                floor.slots() - 1,
                |icid| models[2].rdbase(usize::from(icid.0) % REDISTRIBUTORS),
            )
            .expect("floor plan");

            let mut samples: [[Samples; 3]; 2] = Default::default();
            for _ in 0..runs {
                for (mode, its) in [(0, &mut batched), (1, &mut baseline)] {
                    let [save, restore] =
                        workload::time_driver(its, 1, &now_ns).expect("save and restore");
                    samples[0][mode].push(save);
                    samples[1][mode].push(restore);
                }
                let [save, restore] =
                    workload::time_floor(&mut floor, &mut plan, &floor_memory, 1, &now_ns)
                        .expect("floor");
                samples[0][2].push(save);
                samples[1][2].push(restore);
            }
            plan.release(&mut floor_memory);
            for (op, by_mode) in Op::ALL.into_iter().zip(&mut samples) {
                for (mode, sample) in Mode::ALL.into_iter().zip(by_mode) {
                    let (counts, median_ns) = sample.result();
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
            eprint!(".");
        }
        for (model, what) in models.iter().zip(["batched", "baseline", "floor"]) {
            assert_no_violations(model, what);
        }
    }
    assert_eq!(usize::from(COLLECTIONS), REDISTRIBUTORS);
}

/// Time per mapping against mappings, one panel per operation: a colour per
/// mode (batched, baseline, floor), a marker per event count (one line
/// through N = 1, 16, 256, 1024 devices for each).
fn plot(report: &Report, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::{FontStyle, register_font};

    // Text is drawn with ab_glyph from a font given as bytes (Hack, from
    // epaint_default_fonts): no system font, no fontconfig, no C library.
    register_font(
        "sans-serif",
        FontStyle::Normal,
        epaint_default_fonts::HACK_REGULAR,
    )
    .map_err(|_| "the embedded font does not parse")?;
    let root = BitMapBackend::new(path, (1400, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(
        "gicv3-its save/restore on the ITS model: median time per mapping",
        ("sans-serif", 24),
    )?;
    let panels = root.split_evenly((1, 2));
    let colours = [
        (Mode::Batched, RGBColor(0x1f, 0x77, 0xb4)),
        (Mode::Baseline, RGBColor(0xd6, 0x27, 0x28)),
        (Mode::Floor, RGBColor(0x2c, 0xa0, 0x2c)),
    ];
    for (panel, op) in panels.iter().zip(Op::ALL) {
        let values: Vec<f64> = report
            .measurements
            .iter()
            .filter(|m| m.op == op)
            .map(Measurement::ns_per_mapping)
            .collect();
        let low = values.iter().copied().fold(f64::INFINITY, f64::min) / 1.5;
        let high = values.iter().copied().fold(0.0, f64::max) * 2.5;
        let mut chart = ChartBuilder::on(panel)
            .caption(
                match op {
                    Op::Save => "save (teardown)",
                    Op::Restore => "restore (replay)",
                },
                ("sans-serif", 20),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d((0.7f64..50_000f64).log_scale(), (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("mappings (devices x events), log")
            .y_desc("ns per mapping, log")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0}"))
            .light_line_style(RGBColor(0xee, 0xee, 0xee))
            .label_style(("sans-serif", 15))
            .axis_desc_style(("sans-serif", 17))
            .draw()?;
        for (mode, colour) in colours {
            for events in EVENTS {
                let points: Vec<(f64, f64)> = DEVICES
                    .iter()
                    .filter_map(|&devices| report.find(devices, events, op, mode))
                    .map(|m| (m.mappings() as f64, m.ns_per_mapping()))
                    .collect();
                let label = format!("{} M={events}", mode.name());
                let line = colour.stroke_width(2);
                let series = chart.draw_series(LineSeries::new(points.clone(), line))?;
                match events {
                    1 => {
                        series.label(label).legend(move |(x, y)| {
                            EmptyElement::at((x + 12, y))
                                + Circle::new((0, 0), 5, colour.filled())
                                + PathElement::new(vec![(-12, 0), (12, 0)], line)
                        });
                        chart.draw_series(
                            points.iter().map(|&p| Circle::new(p, 5, colour.filled())),
                        )?;
                    }
                    8 => {
                        series.label(label).legend(move |(x, y)| {
                            EmptyElement::at((x + 12, y))
                                + TriangleMarker::new((0, 0), 7, colour.filled())
                                + PathElement::new(vec![(-12, 0), (12, 0)], line)
                        });
                        chart.draw_series(
                            points
                                .iter()
                                .map(|&p| TriangleMarker::new(p, 7, colour.filled())),
                        )?;
                    }
                    _ => {
                        series.label(label).legend(move |(x, y)| {
                            EmptyElement::at((x + 12, y))
                                + Rectangle::new([(-4, -4), (4, 4)], colour.filled())
                                + PathElement::new(vec![(-12, 0), (12, 0)], line)
                        });
                        chart.draw_series(points.iter().map(|&(x, y)| {
                            EmptyElement::at((x, y))
                                + Rectangle::new([(-4, -4), (4, 4)], colour.filled())
                        }))?;
                    }
                }
            }
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

fn output_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("bench")
}

fn main() {
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(11usize)
        .max(1);
    let mut report = Report {
        targets: workload::Targets::HOST,
        ..Report::default()
    };
    eprint!("save_restore: {runs} runs per point ");
    bench(runs, &mut report);
    eprintln!();
    report
        .measurements
        .sort_by_key(|m| (m.events, m.devices, m.op, m.mode));

    let dir = output_dir();
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let csv = dir.join("save_restore.csv");
    std::fs::write(&csv, report.csv()).expect("write the CSV");
    let png = dir.join("save_restore.png");
    if let Err(error) = plot(&report, &png) {
        eprintln!("save_restore: no plot: {error}");
    }
    eprintln!(
        "save_restore: wrote {} and {}",
        csv.display(),
        png.display()
    );
    // Last, so that the ratio line ends the output.
    print!(
        "{}",
        report.table(&format!(
            "the software ITS model ({}, {} CPUs)",
            std::env::consts::ARCH,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ))
    );
}
