//! The save/restore benchmark's workload, shared by the host benchmark
//! (`benches/save_restore.rs`, on the software ITS model), its count checks
//! (`tests/bench_counts.rs`) and the example kernel's `bench` mode
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

#![allow(dead_code)]

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use gicv3_its::COMMAND_SIZE;
use gicv3_its::registers::GitsFrame;
use gicv3_its::registers::{GITS_BASER, GITS_CBASER, GITS_CREADR, GITS_CTLR, GITS_CWRITER};
use gicv3_its::tock_registers::LocalRegisterCopy;
use gicv3_its::{
    CollectionId, DeviceId, DmaMemory, DmaRegion, DmaRequest, EventId, IntId, Its, ItsCommand,
    ItsError, ItsFeatures, MemoryUse, ProcessorNumber, QueueStats, RdBase,
};

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

/// MAPD's Size field for `events` events, as the driver computes it: EventID
/// bits minus one, at least two entries (5.3.9).
pub fn mapd_size(events: u32) -> u8 {
    (events.next_power_of_two().ilog2().max(1) - 1) as u8
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

// ---------------------------------------------------------------- the driver

/// Maps collection `icid` to `processor(icid)` for every benchmark collection
/// not mapped yet.
pub fn map_collections<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    processor: impl Fn(CollectionId) -> ProcessorNumber,
) -> Result<(), ItsError> {
    for icid in (0..COLLECTIONS).map(CollectionId) {
        if !its.registry().collections().any(|(id, _)| id == icid) {
            its.map_collection(icid, processor(icid))?;
        }
    }
    Ok(())
}

/// Maps devices `from..to` (by index; DeviceID [`FIRST_DEVICE_ID`] + index),
/// each with room for `events` events, none of them mapped yet.
pub fn map_devices<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    from: u32,
    to: u32,
    events: u32,
) -> Result<(), ItsError> {
    (from..to).try_for_each(|index| its.map_device(DeviceId(FIRST_DEVICE_ID + index), events))
}

/// Maps every event of devices `from..to` to an LPI in collection
/// [`icid`]`(index, event)`.
pub fn map_events<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    from: u32,
    to: u32,
    events: u32,
) -> Result<(), ItsError> {
    for index in from..to {
        for event in 0..events {
            its.map_event(
                DeviceId(FIRST_DEVICE_ID + index),
                EventId(event),
                icid(index, event),
            )?;
        }
    }
    Ok(())
}

/// Unmaps every device (their LPIs and ITTs are given back).
pub fn unmap_devices<F: GitsFrame, M: DmaMemory>(its: &mut Its<F, M>) -> Result<(), ItsError> {
    let ids: Vec<DeviceId> = its.registry().devices().map(|(id, _)| id).collect();
    ids.into_iter().try_for_each(|id| its.unmap_device(id))
}

/// Times `runs` rounds of `save` then `restore` on a mapped driver. Returns
/// the counts of the first round (every round does the same) and the median
/// time of each, save first. `now_ns` is a monotonic clock in nanoseconds.
pub fn time_driver<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    runs: usize,
    now_ns: &dyn Fn() -> u64,
) -> Result<[(Counts, u64); 2], ItsError> {
    let mut counts = [Counts::default(); 2];
    let mut times = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for run in 0..runs.max(1) {
        let s0 = its.queue_stats();
        let t0 = now_ns();
        its.save()?;
        let t1 = now_ns();
        let s1 = its.queue_stats();
        let _ = its.restore()?;
        let t2 = now_ns();
        let s2 = its.queue_stats();
        if run == 0 {
            counts = [Counts::between(s0, s1), Counts::between(s1, s2)];
        }
        times[0].push(t1 - t0);
        times[1].push(t2 - t1);
    }
    let [save, restore] = &mut times;
    Ok([(counts[0], median(save)), (counts[1], median(restore))])
}

// ---------------------------------------------------------------- the floor

/// Why the floor could not send its commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FloorError {
    /// No memory for the queue or an ITT.
    OutOfMemory,
    /// GITS_CTLR.Quiescent never read 1.
    NotQuiescent,
    /// GITS_CREADR.Stalled: the ITS refused a command.
    Stalled,
    /// GITS_CREADR did not catch up within the poll budget.
    Timeout,
}

/// An ITS driven by hand: the floor.
pub struct Floor<F: GitsFrame> {
    frame: F,
    ring: DmaRegion,
    /// Byte offset of the next free slot (and of the last CWRITER write).
    write: usize,
    /// The ITS refused a shareable queue: clean every slot written.
    needs_clean: bool,
    poll_budget: u32,
    /// GITS_CBASER as the floor programmed it.
    cbaser: u64,
    /// The Device and Collection tables' GITS_BASERn, as the driver left
    /// them: index and value.
    basers: Vec<(usize, u64)>,
}

/// GITS_CTLR.Enabled (bit 0) and Quiescent (bit 31), 12.19.6.
const CTLR_ENABLED: u64 = 1;
const CTLR_QUIESCENT: u64 = 1 << 31;
/// GITS_CREADR.Stalled (bit 0) and Offset (bits \[19:5\]), 12.19.13.
const CREADR_STALLED: u64 = 1;
const CREADR_OFFSET: u64 = 0xf_ffe0;
/// The Shareability field of GITS_CBASER, bits \[11:10\] (12.19.2).
const CBASER_SHAREABILITY: u64 = 0b11 << 10;

/// GITS_CBASER for a ring of `bytes` at `phys`: Valid, Size in 4 KiB pages
/// minus one, and Inner Shareable write-back or non-shareable non-cacheable
/// memory (12.19.2), written out here rather than taken from the driver.
fn cbaser(phys: u64, bytes: usize, shareable: bool) -> u64 {
    let (shareability, inner_cache) = if shareable {
        (0b01, 0b111)
    } else {
        (0b00, 0b001)
    };
    1 << 63 | inner_cache << 59 | phys | shareability << 10 | (bytes as u64 / 4096 - 1)
}

impl<F: GitsFrame> Floor<F> {
    /// Takes over the ITS behind `frame`, whose Device and Collection
    /// tables a driver has programmed (and whose driver is not used while
    /// the floor runs): disables the ITS, waits until it is quiescent,
    /// points GITS_CBASER at a zeroed ring of `bytes` bytes, and leaves the
    /// ITS as a save leaves it (disabled, queue and tables invalid), ready
    /// for [`Floor::restore`].
    pub fn install<M: DmaMemory>(
        frame: F,
        memory: &mut M,
        bytes: usize,
        poll_budget: u32,
    ) -> Result<Self, FloorError> {
        let ctlr = frame.read(GITS_CTLR).get();
        frame.write(
            GITS_CTLR,
            LocalRegisterCopy::new(ctlr & !CTLR_ENABLED as u32),
        );
        let quiescent = (0..poll_budget).any(|_| {
            let ctlr = frame.read(GITS_CTLR).get();
            u64::from(ctlr) & CTLR_QUIESCENT != 0 && u64::from(ctlr) & CTLR_ENABLED == 0
        });
        if !quiescent {
            return Err(FloorError::NotQuiescent);
        }
        let ring = memory
            .allocate_zeroed(DmaRequest::new(bytes, 65536))
            .ok_or(FloorError::OutOfMemory)?;
        let (phys, size) = (ring.phys(), ring.size());
        frame.write(
            GITS_CBASER,
            LocalRegisterCopy::new(cbaser(phys, size, true)),
        );
        let needs_clean = frame.read(GITS_CBASER).get() & CBASER_SHAREABILITY == 0;
        if needs_clean {
            frame.write(
                GITS_CBASER,
                LocalRegisterCopy::new(cbaser(phys, size, false)),
            );
        }
        if needs_clean {
            memory.clean_invalidate_to_poc(ring.virt(), ring.size());
        }
        // GITS_BASERn.Type, bits [58:56]: 0 for an unimplemented register.
        let basers: Vec<(usize, u64)> = (0..8)
            .map(|index| (index, frame.read(GITS_BASER[index]).get()))
            .filter(|(_, value)| value >> 56 & 0b111 != 0)
            .collect();
        // Left as a save leaves it: disabled, the queue and tables invalid.
        let cbaser = frame.read(GITS_CBASER).get();
        const VALID: u64 = 1 << 63;
        frame.write(GITS_CBASER, LocalRegisterCopy::new(cbaser & !VALID));
        for &(index, value) in &basers {
            frame.write(GITS_BASER[index], LocalRegisterCopy::new(value & !VALID));
        }
        Ok(Self {
            cbaser,
            basers,
            frame,
            ring,
            write: 0,
            needs_clean,
            poll_budget,
        })
    }

    /// Command slots in the ring; one always stays empty.
    pub fn slots(&self) -> usize {
        self.ring.size() / COMMAND_SIZE
    }

    /// What any correct save does: the teardown commands, then the ITS
    /// disabled and waited for until quiescent, then GITS_CBASER and the
    /// tables' GITS_BASERn written with Valid = 0 (12.19.1, 12.19.2): only
    /// then may their memory, and the ITTs, be reused.
    pub fn save<M: DmaMemory>(
        &mut self,
        memory: &M,
        plan: &FloorPlan,
    ) -> Result<Counts, FloorError> {
        let counts = self.run(memory, &plan.save)?;
        let ctlr = u64::from(self.frame.read(GITS_CTLR).get());
        self.frame.write(
            GITS_CTLR,
            LocalRegisterCopy::new((ctlr & !CTLR_ENABLED) as u32),
        );
        let quiescent = (0..self.poll_budget).any(|_| {
            let ctlr = u64::from(self.frame.read(GITS_CTLR).get());
            ctlr & CTLR_QUIESCENT != 0 && ctlr & CTLR_ENABLED == 0
        });
        if !quiescent {
            return Err(FloorError::NotQuiescent);
        }
        const VALID: u64 = 1 << 63;
        self.frame
            .write(GITS_CBASER, LocalRegisterCopy::new(self.cbaser & !VALID));
        for &(index, value) in &self.basers {
            self.frame
                .write(GITS_BASER[index], LocalRegisterCopy::new(value & !VALID));
        }
        Ok(counts)
    }

    /// What any correct restore does: the queue and tables described again
    /// (GITS_CWRITER = 0 after GITS_CBASER), every mapped device's ITT
    /// zeroed and every mapped LPI's configuration byte written (both
    /// cleaned where the GIC does not snoop), the ITS enabled, then the
    /// replay's commands in full-queue batches: MAPC per collection, MAPD
    /// and MAPTI per device, INVALL per collection, SYNC per redistributor.
    pub fn restore<M: DmaMemory>(
        &mut self,
        memory: &M,
        plan: &mut FloorPlan,
    ) -> Result<Counts, FloorError> {
        self.frame
            .write(GITS_CBASER, LocalRegisterCopy::new(self.cbaser));
        for &(index, value) in &self.basers {
            self.frame
                .write(GITS_BASER[index], LocalRegisterCopy::new(value));
        }
        self.frame.write(GITS_CWRITER, LocalRegisterCopy::new(0));
        self.write = 0;
        plan.zero_itts(memory, self.needs_clean);
        plan.write_properties(memory, self.needs_clean);
        let ctlr = u64::from(self.frame.read(GITS_CTLR).get());
        self.frame.write(
            GITS_CTLR,
            LocalRegisterCopy::new((ctlr | CTLR_ENABLED) as u32),
        );
        self.run(memory, &plan.restore)
    }

    /// Sends `batches` of commands, each at most (slots - 1) long: copies a
    /// batch into the ring, writes GITS_CWRITER once, and polls GITS_CREADR
    /// until it reaches the same offset. Returns the counts.
    pub fn run<M: DmaMemory>(
        &mut self,
        memory: &M,
        batches: &[Vec<[u64; 4]>],
    ) -> Result<Counts, FloorError> {
        let mut counts = Counts::default();
        let size = self.ring.size();
        for batch in batches {
            assert!(batch.len() < self.slots(), "a batch fits in the queue");
            let start = self.write;
            for words in batch {
                let slot = self.ring.virt().as_ptr().wrapping_add(self.write);
                for (index, word) in words.iter().enumerate() {
                    // SAFETY: `write` is a slot offset inside the ring (it
                    // stays below `size` and a multiple of 32), the ring is
                    // ours alone and 64 KiB aligned, so each doubleword is
                    // inside it and 8-byte aligned. Volatile: the ITS reads it.
                    unsafe { slot.cast::<u64>().add(index).write_volatile(word.to_le()) };
                }
                self.write = (self.write + COMMAND_SIZE) % size;
            }
            if self.needs_clean {
                self.clean(memory, start, self.write);
            }
            // GITS_CWRITER.Offset is bits [19:5]: the byte offset itself.
            self.frame
                .write(GITS_CWRITER, LocalRegisterCopy::new(self.write as u64));
            counts.commands += batch.len() as u64;
            counts.doorbells += 1;
            counts.completion_waits += 1;
            let mut caught_up = false;
            for _ in 0..self.poll_budget {
                let creadr = self.frame.read(GITS_CREADR).get();
                counts.polls += 1;
                if creadr & CREADR_STALLED != 0 {
                    return Err(FloorError::Stalled);
                }
                if (creadr & CREADR_OFFSET) as usize == self.write {
                    caught_up = true;
                    break;
                }
                core::hint::spin_loop();
            }
            if !caught_up {
                return Err(FloorError::Timeout);
            }
        }
        Ok(counts)
    }

    fn clean<M: DmaMemory>(&self, memory: &M, start: usize, end: usize) {
        let ranges = if end > start {
            [(start, end - start), (0, 0)]
        } else {
            [(start, self.ring.size() - start), (0, end)]
        };
        for (offset, len) in ranges.into_iter().filter(|(_, len)| *len > 0) {
            if let Some(virt) =
                core::ptr::NonNull::new(self.ring.virt().as_ptr().wrapping_add(offset))
            {
                memory.clean_invalidate_to_poc(virt, len);
            }
        }
    }
}

/// The floor's side of one point: ITTs of its own and the driver's commands
/// for the same mappings, encoded beforehand, in batches of at most a
/// queue's worth (each batch is one doorbell, and no allocation is larger
/// than a queue: a kernel heap may have no block for the whole list).
pub struct FloorPlan {
    itts: Vec<DmaRegion>,
    /// What each ITT was allocated for.
    itt_request: DmaRequest,
    /// A table the size of the LPI property table at 16 INTID bits, and
    /// the offset of each mapped LPI's byte in it.
    properties: DmaRegion,
    lpis: Vec<u32>,
    /// What `Its::restore` sends: MAPC per collection, MAPD and MAPTI per
    /// device, INVALL per collection, SYNC per redistributor.
    pub restore: Vec<Vec<[u64; 4]>>,
    /// What `Its::save` sends: MAPD V=0 per device, MAPC V=0 per
    /// collection, SYNC per redistributor.
    pub save: Vec<Vec<[u64; 4]>>,
}

/// The floor plan's stand-in for the LPI property table at 16 INTID bits.
const PROPERTIES: DmaRequest = DmaRequest::new((1 << 16) - FIRST_LPI as usize, 4096);

/// Encodes commands into batches of at most `batch`.
struct Batches {
    batch: usize,
    batches: Vec<Vec<[u64; 4]>>,
}

impl Batches {
    fn new(batch: usize) -> Self {
        Self {
            batch,
            batches: Vec::new(),
        }
    }

    fn push(&mut self, command: ItsCommand) {
        match self.batches.last_mut() {
            Some(last) if last.len() < self.batch => last.push(command.encode()),
            _ => {
                let mut next = Vec::with_capacity(self.batch);
                next.push(command.encode());
                self.batches.push(next);
            }
        }
    }
}

impl FloorPlan {
    /// Allocates `devices` ITTs of `itt_bytes` (256-byte aligned) and encodes
    /// the commands in batches of `batch` (the floor's slots minus one).
    /// `rdbase(icid)` is the redistributor of a collection.
    pub fn new<M: DmaMemory>(
        memory: &mut M,
        itt_bytes: usize,
        devices: u32,
        events: u32,
        batch: usize,
        rdbase: impl Fn(CollectionId) -> RdBase,
    ) -> Result<Self, FloorError> {
        let properties = memory
            .allocate_zeroed(PROPERTIES)
            .ok_or(FloorError::OutOfMemory)?;
        let itt_request = DmaRequest::new(itt_bytes, 256);
        let mut itts = Vec::with_capacity(devices as usize);
        for _ in 0..devices {
            match memory.allocate_zeroed(itt_request) {
                Some(itt) => itts.push(itt),
                None => {
                    itts.into_iter()
                        .for_each(|itt| memory.deallocate(itt, itt_request));
                    memory.deallocate(properties, PROPERTIES);
                    return Err(FloorError::OutOfMemory);
                }
            }
        }
        let lpis = (0..devices * events).collect();
        let rdbases: Vec<RdBase> = (0..COLLECTIONS).map(CollectionId).map(&rdbase).collect();
        let mut syncs = rdbases.clone();
        syncs.sort_unstable();
        syncs.dedup();
        let size = mapd_size(events);
        let mapc = |valid| {
            rdbases
                .iter()
                .zip(0..)
                .map(move |(&rdbase, icid)| ItsCommand::Mapc {
                    icid: CollectionId(icid),
                    rdbase,
                    valid,
                })
        };
        let mapd = |index: u32, valid| ItsCommand::Mapd {
            device_id: DeviceId(FIRST_DEVICE_ID + index),
            size,
            itt_address: itts[index as usize].phys(),
            valid,
        };
        let sync = syncs.iter().map(|&rdbase| ItsCommand::Sync { rdbase });

        let mut restore = Batches::new(batch);
        mapc(true).for_each(|command| restore.push(command));
        for index in 0..devices {
            restore.push(mapd(index, true));
            for event in 0..events {
                restore.push(ItsCommand::Mapti {
                    device_id: DeviceId(FIRST_DEVICE_ID + index),
                    event_id: EventId(event),
                    intid: IntId(FIRST_LPI + index * events + event),
                    icid: icid(index, event),
                });
            }
        }
        (0..COLLECTIONS)
            .map(CollectionId)
            .for_each(|icid| restore.push(ItsCommand::Invall { icid }));
        sync.clone().for_each(|command| restore.push(command));
        let mut save = Batches::new(batch);
        (0..devices).for_each(|index| save.push(mapd(index, false)));
        mapc(false)
            .chain(sync)
            .for_each(|command| save.push(command));
        Ok(Self {
            restore: restore.batches,
            save: save.batches,
            itts,
            itt_request,
            properties,
            lpis,
        })
    }

    /// Writes every mapped LPI's configuration byte: enabled, default
    /// priority (5.1.1), cleaned byte by byte where the GIC does not snoop.
    fn write_properties<M: DmaMemory>(&mut self, memory: &M, needs_clean: bool) {
        let table = self.properties.virt().as_ptr();
        for &offset in &self.lpis {
            // SAFETY: every offset is below devices x events, which is
            // below the table's 57,344 bytes at the benchmark's points; the
            // table is ours alone.
            let byte = unsafe { table.add(offset as usize) };
            // SAFETY: as above.
            unsafe { byte.write(0xa3) };
            if needs_clean && let Some(byte) = core::ptr::NonNull::new(byte) {
                memory.clean_invalidate_to_poc(byte, 1);
            }
        }
    }

    /// Zeroes every ITT, as the driver's restore does before its replay, so
    /// that MAPTI never meets a valid entry.
    pub fn zero_itts<M: DmaMemory>(&mut self, memory: &M, needs_clean: bool) {
        for itt in &self.itts {
            // SAFETY: the ITT is ours alone, `size` bytes long; the ITS does
            // not use it (its device is unmapped whenever this is called).
            unsafe { core::ptr::write_bytes(itt.virt().as_ptr(), 0, itt.size()) };
            if needs_clean {
                memory.clean_invalidate_to_poc(itt.virt(), itt.size());
            }
        }
    }

    /// Gives the ITTs and the table back (the floor's save has unmapped
    /// their devices).
    pub fn release<M: DmaMemory>(self, memory: &mut M) {
        let itt_request = self.itt_request;
        self.itts
            .into_iter()
            .for_each(|itt| memory.deallocate(itt, itt_request));
        memory.deallocate(self.properties, PROPERTIES);
    }
}

/// Times `runs` rounds of the floor's restore then save for one plan, from
/// an ITS that maps nothing. Returns counts and median time, save first.
pub fn time_floor<F: GitsFrame, M: DmaMemory>(
    floor: &mut Floor<F>,
    plan: &mut FloorPlan,
    memory: &M,
    runs: usize,
    now_ns: &dyn Fn() -> u64,
) -> Result<[(Counts, u64); 2], FloorError> {
    let mut counts = [Counts::default(); 2];
    let mut times = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for run in 0..runs.max(1) {
        let t0 = now_ns();
        let restored = floor.restore(memory, plan)?;
        let t1 = now_ns();
        let saved = floor.save(memory, plan)?;
        let t2 = now_ns();
        if run == 0 {
            counts = [saved, restored];
        }
        times[1].push(t1 - t0);
        times[0].push(t2 - t1);
    }
    let [save, restore] = &mut times;
    Ok([(counts[0], median(save)), (counts[1], median(restore))])
}

// ---------------------------------------------------------------- memory

/// The layout the ITS imposes on its tables, read from the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Page size of the Device and Collection tables (GITS_BASERn.Page_Size
    /// as the driver negotiated it).
    pub page_size: usize,
    /// Bytes per Device table entry (GITS_BASERn.Entry_Size + 1).
    pub dte_size: usize,
    /// Bytes per Collection table entry; 0 without a Collection table.
    pub cte_size: usize,
    /// Bytes per ITT entry (GITS_TYPER.ITT_entry_size + 1).
    pub itt_entry_size: usize,
    /// Collections held in the ITS (GITS_TYPER.HCC).
    pub hcc: u16,
}

impl Geometry {
    /// Reads the page size and entry sizes from GITS_BASERn after probe.
    pub fn read<F: GitsFrame>(frame: &F, features: ItsFeatures) -> Self {
        // GITS_BASERn.Page_Size is bits [9:8]: 4 KiB, 16 KiB, 64 KiB (12.19.1).
        let page = |index: usize| match (frame.read(GITS_BASER[index]).get() >> 8) & 0b11 {
            0 => 4096,
            1 => 16384,
            _ => 65536,
        };
        // GITS_BASERn.Type is bits [58:56] (1 Devices, 4 Collections) and
        // Entry_Size bits [52:48], the entry's bytes minus one.
        let find = |table_type: u64| {
            (0..8).find_map(|index| {
                let baser = frame.read(GITS_BASER[index]).get();
                (baser >> 56 & 0b111 == table_type)
                    .then_some((index, (baser >> 48 & 0x1f) as usize + 1))
            })
        };
        let (dte_index, dte_size) = find(1).unwrap_or((0, 8));
        Self {
            page_size: page(dte_index),
            dte_size,
            cte_size: find(4).map_or(0, |(_, size)| size),
            itt_entry_size: features.itt_entry_size,
            hcc: features.hcc,
        }
    }
}

/// Bytes of the tables the ITS and the redistributors read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableBytes {
    /// The Device table (flat, or level 1 plus level-2 pages).
    pub device_table: usize,
    /// The Collection table.
    pub collection_table: usize,
    /// All ITTs.
    pub itts: usize,
    /// The LPI property table and the pending tables.
    pub lpi_tables: usize,
}

impl TableBytes {
    /// What the driver holds.
    pub fn of(memory: MemoryUse) -> Self {
        Self {
            device_table: memory.device_table,
            collection_table: memory.collection_table,
            itts: memory.itts,
            lpi_tables: memory.lpi_tables,
        }
    }

    /// The least memory the architecture (Arm IHI 0069) lets these mappings
    /// live in: `devices` devices at DeviceIDs [`FIRST_DEVICE_ID`].., each
    /// with `events` events mapped to distinct LPIs, [`COLLECTIONS`]
    /// collections on `redistributors` redistributors, at the page size the
    /// driver chose.
    ///
    /// - Device table: GITS_BASERn.Size counts pages, so a flat table covering
    ///   the largest DeviceID is that many DTEs rounded up to a page; a
    ///   two-level one is a page of level-1 entries (8 bytes each) plus one
    ///   level-2 page per page's worth of DeviceIDs in use (5.2.1, 12.19.1).
    ///   The smaller of the two. (Below page/DTE DeviceIDs the flat table is
    ///   one page and always the smaller.)
    /// - Collection table: likewise, ICIDs at or above HCC, rounded up to a
    ///   page; nothing when every collection is held in the ITS.
    /// - ITTs: MAPD's Size gives 2^(Size+1) entries, at least two (5.3.9),
    ///   of ITT_entry_size bytes. ITT_addr is bits \[51:8\], so ITTs start on
    ///   256-byte boundaries and no two share one: each is rounded up to 256
    ///   bytes. (The raw entries are less: 24, 96 and 384 bytes at 1, 8 and
    ///   32 events with 12-byte entries; the rest of the 256-byte granule can
    ///   only hold something that is not an ITT.)
    /// - LPI tables: the property table has one byte per LPI from INTID
    ///   8192 up to 2^IDbits, the pending table one bit per INTID from 0
    ///   (5.1.1, 5.1.2), where IDbits is the least (at least 14) that holds
    ///   8192 + mappings INTIDs; one pending table per redistributor. Their
    ///   alignment (4 KiB for PROPBASER, 64 KiB for PENDBASER) leaves gaps
    ///   between tables that other memory can use, so it is not counted.
    pub fn minimum(geometry: Geometry, devices: u32, events: u32, redistributors: usize) -> Self {
        let page = geometry.page_size;
        let round = |bytes: usize| bytes.max(1).next_multiple_of(page);
        let device_table = if devices == 0 {
            0
        } else {
            let last = (FIRST_DEVICE_ID + devices - 1) as usize;
            let flat = round((last + 1) * geometry.dte_size);
            let per_page = page / geometry.dte_size;
            let first_page = FIRST_DEVICE_ID as usize / per_page;
            let level2_pages = last / per_page - first_page + 1;
            let two_level = round((last / per_page + 1) * 8) + level2_pages * page;
            flat.min(two_level)
        };
        let in_table = COLLECTIONS.saturating_sub(geometry.hcc);
        let collection_table = if in_table == 0 || geometry.cte_size == 0 {
            0
        } else {
            round(usize::from(COLLECTIONS) * geometry.cte_size)
        };
        let entries = 1usize << (u32::from(mapd_size(events)) + 1);
        let itts = devices as usize * (entries * geometry.itt_entry_size).next_multiple_of(256);
        let lpis = u64::from(devices) * u64::from(events);
        let id_bits = (u64::from(FIRST_LPI) + lpis)
            .next_power_of_two()
            .ilog2()
            .max(14);
        let lpi_tables =
            ((1usize << id_bits) - FIRST_LPI as usize) + redistributors * ((1usize << id_bits) / 8);
        Self {
            device_table,
            collection_table,
            itts,
            lpi_tables,
        }
    }
}

/// Memory at one point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryPoint {
    /// Devices mapped.
    pub devices: u32,
    /// Events per device.
    pub events: u32,
    /// What the driver holds.
    pub driver: TableBytes,
    /// The architecture's minimum for the same mappings.
    pub minimum: TableBytes,
    /// Bytes of heap the registry holds for these mappings.
    pub registry: usize,
    /// Registry bytes added per device by `map_device` (event slots included).
    pub registry_per_device: f64,
    /// Registry bytes added per event by `map_event`.
    pub registry_per_event: f64,
    /// Whether `registry` was measured by counting allocations (host) or is
    /// the driver's own estimate, `Its::memory_use().registry` (target).
    pub registry_measured: bool,
}

impl MemoryPoint {
    /// The budget for the registry: 16 bytes per mapped event plus
    /// 64 per device.
    pub fn registry_budget(&self) -> usize {
        16 * (self.devices * self.events) as usize + 64 * self.devices as usize
    }
}

// ---------------------------------------------------------------- report

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
