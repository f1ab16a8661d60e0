//! The report: the table both back ends print, its CSV lines, and the
//! targets a back end is judged by.

use crate::*;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// The time targets a back end is judged by, at 1024 devices x 32 events
/// (issue 12): batched over floor at most `restore_over_floor` for restore
/// and `save_over_floor` for save, baseline over batched at least
/// `baseline_over_batched` for restore. `None`: no target there.
#[derive(Clone, Copy, Debug)]
pub struct Targets {
    /// What is measured, for the report.
    pub name: &'static str,
    pub restore_over_floor: f64,
    pub save_over_floor: Option<f64>,
    pub baseline_over_batched: Option<f64>,
}

impl Targets {
    /// The driver against the software ITS model.
    pub const HOST: Self = Self {
        name: "host, the ITS model",
        restore_over_floor: 1.15,
        save_over_floor: None,
        baseline_over_batched: None,
    };
    /// The example kernel on QEMU's ITS.
    pub const QEMU: Self = Self {
        name: "QEMU's ITS",
        restore_over_floor: 1.3,
        save_over_floor: Some(1.5),
        baseline_over_batched: Some(2.0),
    };
}

impl Default for Targets {
    fn default() -> Self {
        Self::HOST
    }
}

/// Save at one device and one event within this factor of the floor: its
/// cost grows with what is mapped, not with the tables' size.
const SMALL_SAVE_OVER_FLOOR: f64 = 2.0;

/// Everything one back end measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One line per point, operation and mode.
    pub measurements: Vec<Measurement>,
    /// One line per point.
    pub memory: Vec<MemoryPoint>,
    /// Command queue slots of the driver and the floor.
    pub slots: usize,
    /// What the figures are judged by.
    pub targets: Targets,
}

impl Report {
    /// The measurement of a point, operation and mode.
    pub fn find(&self, devices: u32, events: u32, op: Op, mode: Mode) -> Option<&Measurement> {
        self.measurements
            .iter()
            .find(|m| m.devices == devices && m.events == events && m.op == op && m.mode == mode)
    }

    /// Baseline time over batched time at a point.
    pub fn ratio(&self, devices: u32, events: u32, op: Op, over: Mode, under: Mode) -> f64 {
        match (
            self.find(devices, events, op, over),
            self.find(devices, events, op, under),
        ) {
            (Some(a), Some(b)) if b.median_ns > 0 => a.median_ns as f64 / b.median_ns as f64,
            _ => f64::NAN,
        }
    }

    /// The doorbell bound of the issue: ceil(commands / (slots - 1)) plus
    /// one completion point per operation.
    pub fn doorbell_bound(&self, commands: u64) -> u64 {
        commands.div_ceil(self.slots as u64 - 1) + 1
    }

    /// Points in table order.
    pub fn points(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        EVENTS
            .iter()
            .flat_map(|&events| DEVICES.iter().map(move |&devices| (devices, events)))
            .filter(|&(devices, events)| {
                self.measurements
                    .iter()
                    .any(|m| m.devices == devices && m.events == events)
            })
    }

    /// The readable table: counts and times, ratios, memory, the targets of
    /// the issue, and last the line `ratio baseline/batched at 1024x32: X.XX`.
    pub fn table(&self, backend: &str) -> String {
        let mut out = String::new();
        let _ = self.write_table(&mut out, backend);
        out
    }

    fn write_table(&self, out: &mut String, backend: &str) -> core::fmt::Result {
        writeln!(
            out,
            "save/restore benchmark on {backend}: median of the runs; counts per operation; \
             queue of {} slots",
            self.slots
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:>5} {:>3} {:>8}  {:<7} {:<8} {:>8} {:>9} {:>6} {:>7} {:>12} {:>11}",
            "N",
            "M",
            "mappings",
            "op",
            "mode",
            "commands",
            "doorbells",
            "waits",
            "polls",
            "median us",
            "ns/mapping"
        )?;
        for (devices, events) in self.points() {
            for op in Op::ALL {
                for mode in Mode::ALL {
                    let Some(m) = self.find(devices, events, op, mode) else {
                        continue;
                    };
                    writeln!(
                        out,
                        "{:>5} {:>3} {:>8}  {:<7} {:<8} {:>8} {:>9} {:>6} {:>7} {:>12.1} {:>11.1}",
                        devices,
                        events,
                        m.mappings(),
                        op.name(),
                        mode.name(),
                        m.counts.commands,
                        m.counts.doorbells,
                        m.counts.completion_waits,
                        m.counts.polls,
                        m.median_ns as f64 / 1000.0,
                        m.ns_per_mapping()
                    )?;
                }
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "{:>5} {:>3}  {:<7} {:>16} {:>15} {:>16}",
            "N", "M", "op", "baseline/batched", "batched/floor", "doorbell bound"
        )?;
        for (devices, events) in self.points() {
            for op in Op::ALL {
                let bound = self
                    .find(devices, events, op, Mode::Batched)
                    .map(|m| (m.counts.doorbells, self.doorbell_bound(m.counts.commands)));
                let (doorbells, bound) = bound.unwrap_or((0, 0));
                writeln!(
                    out,
                    "{:>5} {:>3}  {:<7} {:>16.2} {:>15.2} {:>9} <= {:<3}",
                    devices,
                    events,
                    op.name(),
                    self.ratio(devices, events, op, Mode::Baseline, Mode::Batched),
                    self.ratio(devices, events, op, Mode::Batched, Mode::Floor),
                    doorbells,
                    bound
                )?;
            }
        }
        writeln!(out)?;
        writeln!(
            out,
            "memory in bytes, driver / architectural minimum for the same mappings \
             (see TableBytes::minimum); registry {}",
            if self.memory.iter().all(|m| m.registry_measured) {
                "heap measured by counting allocations"
            } else {
                "heap as the driver estimates it (Its::memory_use)"
            }
        )?;
        writeln!(
            out,
            "{:>5} {:>3} {:>17} {:>15} {:>15} {:>17} {:>8} {:>7} {:>9} {:>8}",
            "N",
            "M",
            "device table",
            "coll. table",
            "ITTs",
            "LPI tables",
            "registry",
            "reg/dev",
            "reg/event",
            "budget"
        )?;
        for m in &self.memory {
            let pair = |a: usize, b: usize| {
                let mut s = String::new();
                let _ = write!(s, "{a}/{b}");
                s
            };
            writeln!(
                out,
                "{:>5} {:>3} {:>17} {:>15} {:>15} {:>17} {:>8} {:>7.1} {:>9.1} {:>8}",
                m.devices,
                m.events,
                pair(m.driver.device_table, m.minimum.device_table),
                pair(m.driver.collection_table, m.minimum.collection_table),
                pair(m.driver.itts, m.minimum.itts),
                pair(m.driver.lpi_tables, m.minimum.lpi_tables),
                m.registry,
                m.registry_per_device,
                m.registry_per_event,
                m.registry_budget()
            )?;
        }
        writeln!(out)?;
        self.write_targets(out)?;
        let ratio = self.ratio(1024, 32, Op::Restore, Mode::Baseline, Mode::Batched);
        writeln!(out, "ratio baseline/batched at 1024x32: {ratio:.2}")
    }

    fn write_targets(&self, out: &mut String) -> core::fmt::Result {
        let yes = |met: bool| if met { "met" } else { "MISSED" };
        let targets = self.targets;
        writeln!(out, "targets ({}):", targets.name)?;
        // Teardown: devices + collections commands and one SYNC per
        // redistributor, one doorbell.
        let syncs = |devices, events| {
            self.find(devices, events, Op::Save, Mode::Floor)
                .map(|floor| floor.counts.commands - u64::from(devices) - u64::from(COLLECTIONS))
        };
        let teardown = self.points().all(|(d, e)| {
            self.find(d, e, Op::Save, Mode::Batched).is_some_and(|m| {
                Some(m.counts.commands - u64::from(d) - u64::from(COLLECTIONS)) == syncs(d, e)
                    && m.counts.doorbells == 1
                    && m.counts.completion_waits == 1
            })
        });
        writeln!(
            out,
            "  teardown = devices + collections + one SYNC per redistributor, one doorbell: {}",
            yes(teardown)
        )?;
        // Replay: exactly the floor's commands, which have INVALL per
        // collection and no INV.
        let replay = self.points().all(|(d, e)| {
            match (
                self.find(d, e, Op::Restore, Mode::Batched),
                self.find(d, e, Op::Restore, Mode::Floor),
            ) {
                (Some(a), Some(b)) => a.counts.commands == b.counts.commands,
                _ => false,
            }
        });
        writeln!(
            out,
            "  replay = MAPC, MAPD, MAPTI, INVALL per collection, SYNC (no INV per event): {}",
            yes(replay)
        )?;
        let floor = self.ratio(1024, 32, Op::Restore, Mode::Batched, Mode::Floor);
        writeln!(
            out,
            "  restore 1024x32 within {:.2}x of the floor: {:.2}x, {}",
            targets.restore_over_floor,
            floor,
            yes(floor <= targets.restore_over_floor)
        )?;
        if let Some(limit) = targets.save_over_floor {
            let save = self.ratio(1024, 32, Op::Save, Mode::Batched, Mode::Floor);
            writeln!(
                out,
                "  save 1024x32 within {limit:.2}x of the floor: {save:.2}x, {}",
                yes(save <= limit)
            )?;
        }
        if let Some(least) = targets.baseline_over_batched {
            let baseline = self.ratio(1024, 32, Op::Restore, Mode::Baseline, Mode::Batched);
            writeln!(
                out,
                "  restore 1024x32 one command at a time >= {least:.2}x batched: {baseline:.2}x, {}",
                yes(baseline >= least)
            )?;
        }
        let small = self.ratio(1, 1, Op::Save, Mode::Batched, Mode::Floor);
        writeln!(
            out,
            "  save 1x1 within {SMALL_SAVE_OVER_FLOOR:.2}x of the floor: {small:.2}x, {}",
            yes(small <= SMALL_SAVE_OVER_FLOOR)
        )?;
        let doorbells = self.measurements.iter().all(|m| {
            m.mode != Mode::Batched || m.counts.doorbells <= self.doorbell_bound(m.counts.commands)
        });
        writeln!(
            out,
            "  doorbells <= ceil(commands / (slots - 1)) + 1 at every point: {}",
            yes(doorbells)
        )?;
        for op in Op::ALL {
            let per = |d, e| {
                self.find(d, e, op, Mode::Batched)
                    .map_or(f64::NAN, Measurement::ns_per_mapping)
            };
            let growth = per(1024, 32) / per(256, 1);
            writeln!(
                out,
                "  {} time per mapping at 32768 mappings / at 256: {:.2}, {}",
                op.name(),
                growth,
                yes(growth <= 1.5)
            )?;
        }
        let over: Vec<&MemoryPoint> = self
            .memory
            .iter()
            .filter(|m| m.registry > m.registry_budget())
            .collect();
        write!(
            out,
            "  registry <= 16 B per event + 64 B per device: {}",
            yes(over.is_empty())
        )?;
        for m in &over {
            write!(
                out,
                " ({}x{}: {} > {})",
                m.devices,
                m.events,
                m.registry,
                m.registry_budget()
            )?;
        }
        writeln!(out)?;
        // Per device and per event slot, from the largest point at one and
        // at 32 events per device.
        let at = |events| {
            self.memory
                .iter()
                .find(|m| m.devices == 1024 && m.events == events)
                .map(|m| m.registry as f64)
        };
        if let (Some(one), Some(many)) = (at(1), at(32)) {
            let per_event = (many - one) / (1024.0 * 31.0);
            writeln!(
                out,
                "  registry at 1024 devices: {:.1} B per device + {:.1} B per event",
                one / 1024.0 - per_event,
                per_event
            )?;
        }
        for (name, get) in [
            (
                "device table",
                (|t: &TableBytes| t.device_table) as fn(&TableBytes) -> usize,
            ),
            ("collection table", |t| t.collection_table),
            ("ITTs", |t| t.itts),
            ("LPI tables", |t| t.lpi_tables),
        ] {
            let worst = self
                .memory
                .iter()
                .map(|m| get(&m.driver) as f64 / get(&m.minimum).max(1) as f64)
                .fold(1.0f64, f64::max);
            writeln!(
                out,
                "  {name} = minimum: {}{}",
                yes(worst <= 1.0),
                if worst > 1.0 {
                    let mut s = String::new();
                    let _ = write!(s, " (up to {worst:.1}x)");
                    s
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }

    /// The same figures as CSV, one line per point, operation and mode.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "devices,events,mappings,op,mode,commands,doorbells,completion_waits,polls,\
             median_ns,ns_per_mapping,baseline_over_batched,batched_over_floor,\
             device_table,device_table_min,collection_table,collection_table_min,\
             itts,itts_min,lpi_tables,lpi_tables_min,registry,registry_per_device,\
             registry_per_event,registry_budget\n",
        );
        for m in &self.measurements {
            let memory = self
                .memory
                .iter()
                .find(|p| p.devices == m.devices && p.events == m.events);
            let _ = write!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{:.2},{:.3},{:.3}",
                m.devices,
                m.events,
                m.mappings(),
                m.op.name(),
                m.mode.name(),
                m.counts.commands,
                m.counts.doorbells,
                m.counts.completion_waits,
                m.counts.polls,
                m.median_ns,
                m.ns_per_mapping(),
                self.ratio(m.devices, m.events, m.op, Mode::Baseline, Mode::Batched),
                self.ratio(m.devices, m.events, m.op, Mode::Batched, Mode::Floor),
            );
            match memory {
                Some(p) => {
                    let _ = writeln!(
                        out,
                        ",{},{},{},{},{},{},{},{},{},{:.1},{:.1},{}",
                        p.driver.device_table,
                        p.minimum.device_table,
                        p.driver.collection_table,
                        p.minimum.collection_table,
                        p.driver.itts,
                        p.minimum.itts,
                        p.driver.lpi_tables,
                        p.minimum.lpi_tables,
                        p.registry,
                        p.registry_per_device,
                        p.registry_per_event,
                        p.registry_budget()
                    );
                }
                None => out.push_str(",,,,,,,,,,,,\n"),
            }
        }
        out
    }
}
