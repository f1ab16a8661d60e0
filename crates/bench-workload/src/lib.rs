//! The save/restore benchmark's workload, shared by the host benchmark
//! (`benches/save_restore.rs`, on the software ITS model), its count checks
//! (`tests/bench_counts/`) and the example kernel's `bench` mode
//! (`examples/qemu-virt/src/bench.rs`, on QEMU's ITS). It is `no_std` with
//! `alloc` and generic over the register frame, the memory and the clock, so
//! that both back ends run the same code and print the same table.
//!
//! Three ways of doing the same save (teardown) and restore (replay):
//! - **batched**: the driver as shipped ([`Batching::Batched`]);
//! - **baseline**: the same driver sending one command at a time and waiting
//!   for each ([`Batching::OneAtATime`]);
//! - **floor**: no driver, a raw loop that copies the same commands, encoded
//!   beforehand, into a queue of its own in full-queue batches: one
//!   GITS_CWRITER write per batch, then polls of GITS_CREADR until the ITS
//!   has caught up ([`Floor`]). Nothing can send these commands faster.
//!
//! [`Batching::Batched`]: gicv3_its::Batching::Batched
//! [`Batching::OneAtATime`]: gicv3_its::Batching::OneAtATime

#![no_std]

extern crate alloc;

mod driver;
mod floor;
mod memory;
mod report;

pub use driver::*;
pub use floor::*;
pub use memory::*;
pub use report::*;

use alloc::vec::Vec;
use gicv3_its::{CollectionId, QueueStats};

/// Devices per point.
pub const DEVICES: [u32; 4] = [1, 16, 256, 1024];
/// Events per device per point.
pub const EVENTS: [u32; 3] = [1, 8, 32];
/// The first fake DeviceID: bus 1, where QEMU's `virt` board has no PCI
/// device, so no real requester ID ever meets a benchmark mapping. The ITS
/// takes MAPD for any DeviceID below 2^Devbits; no device is needed.
pub const FIRST_DEVICE_ID: u32 = 0x100;
/// Collections mapped: one per redistributor on the model (4 CPUs), all on
/// the one CPU under QEMU.
pub const COLLECTIONS: u16 = 4;
/// Command queue bytes of the driver and of the floor: the driver's default,
/// 2048 slots.
pub const QUEUE_BYTES: usize = 64 * 1024;
/// The benchmark keeps the Device table flat (the driver's default bound is
/// one page, beyond which it goes two-level): the floor writes its commands
/// against the tables the driver left, and `save` gives level-2 pages back.
pub const FLAT_DEVICE_TABLE_BYTES: usize = 1 << 20;
/// The first LPI INTID.
const FIRST_LPI: u32 = 8192;

/// The collection of event `event` of the `index`-th device: spread evenly.
pub fn icid(index: u32, event: u32) -> CollectionId {
    CollectionId(((index + event) % u32::from(COLLECTIONS)) as u16)
}

/// How the commands were sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    /// The driver, [`gicv3_its::Batching::Batched`].
    Batched,
    /// The driver, [`gicv3_its::Batching::OneAtATime`].
    Baseline,
    /// The raw loop.
    Floor,
}

impl Mode {
    /// All three, in table order.
    pub const ALL: [Mode; 3] = [Mode::Batched, Mode::Baseline, Mode::Floor];

    /// The name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Batched => "batched",
            Mode::Baseline => "baseline",
            Mode::Floor => "floor",
        }
    }
}

/// Save or restore.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `Its::save`: teardown.
    Save,
    /// `Its::restore`: replay.
    Restore,
}

impl Op {
    /// Both, in table order.
    pub const ALL: [Op; 2] = [Op::Save, Op::Restore];

    /// The name in tables and CSV.
    pub fn name(self) -> &'static str {
        match self {
            Op::Save => "save",
            Op::Restore => "restore",
        }
    }
}

/// What one save or one restore made the hardware do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Commands written to the queue.
    pub commands: u64,
    /// GITS_CWRITER writes.
    pub doorbells: u64,
    /// Waits for the ITS to consume everything published (SYNC waits).
    pub completion_waits: u64,
    /// GITS_CREADR reads.
    pub polls: u64,
}

impl Counts {
    /// The difference between two snapshots of the driver's counters.
    pub fn between(before: QueueStats, after: QueueStats) -> Self {
        Self {
            commands: after.commands - before.commands,
            doorbells: after.doorbells - before.doorbells,
            completion_waits: after.completion_waits - before.completion_waits,
            polls: after.polls - before.polls,
        }
    }
}

/// One line of the table: a point, an operation, a mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Measurement {
    /// Devices mapped.
    pub devices: u32,
    /// Events per device.
    pub events: u32,
    /// Save or restore.
    pub op: Op,
    /// Batched, baseline or floor.
    pub mode: Mode,
    /// What one run did (the same in every run).
    pub counts: Counts,
    /// Median wall time of the runs, in nanoseconds.
    pub median_ns: u64,
}

impl Measurement {
    /// Events mapped.
    pub fn mappings(&self) -> u64 {
        u64::from(self.devices) * u64::from(self.events)
    }

    /// Median nanoseconds per mapping.
    pub fn ns_per_mapping(&self) -> f64 {
        self.median_ns as f64 / self.mappings() as f64
    }
}

/// The counts and times of one operation in one mode, round by round.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// What a round did (every round does the same).
    pub counts: Option<Counts>,
    /// Nanoseconds per round.
    pub times: Vec<u64>,
}

impl Samples {
    /// Adds a round's counts and time.
    ///
    /// # Panics
    /// If its counts differ from the first round's.
    pub fn push(&mut self, (counts, ns): (Counts, u64)) {
        let first = *self.counts.get_or_insert(counts);
        assert_eq!(first, counts, "every round does the same");
        self.times.push(ns);
    }

    /// The counts and the median time.
    pub fn result(&mut self) -> (Counts, u64) {
        (self.counts.unwrap_or_default(), median(&mut self.times))
    }
}

/// The median of some samples (the upper one of an even count).
pub fn median(samples: &mut [u64]) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}
