//! The floor: an ITS driven by hand, with the same commands encoded
//! beforehand and sent in full-queue batches.

use crate::*;
use alloc::vec::Vec;
use gicv3_its::COMMAND_SIZE;
use gicv3_its::registers::GitsFrame;
use gicv3_its::registers::{
    GITS_BASER, GITS_BASER_RO, GITS_CBASER, GITS_CREADR, GITS_CTLR, GITS_CTLR_RO, GITS_CWRITER,
    ReadOnlyFields,
};
use gicv3_its::tock_registers::LocalRegisterCopy;
use gicv3_its::{
    CollectionId, DeviceId, DmaMemory, DmaRegion, DmaRequest, EventId, IntId, ItsCommand, RdBase,
};

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

/// GITS_CBASER for a ring of `bytes` at `phys`: Valid, Size in 4 KiB pages
/// minus one, and Inner Shareable write-back or non-shareable non-cacheable
/// memory.
fn cbaser(
    phys: u64,
    bytes: usize,
    shareable: bool,
) -> LocalRegisterCopy<u64, GITS_CBASER::Register> {
    let (shareability, inner_cache) = if shareable {
        (0b01, 0b111)
    } else {
        (0b00, 0b001)
    };
    let value = GITS_CBASER::Valid::SET
        + GITS_CBASER::InnerCache.val(inner_cache)
        + GITS_CBASER::Physical_Address.val(phys >> 12)
        + GITS_CBASER::Shareability.val(shareability)
        + GITS_CBASER::Size.val(bytes as u64 / 4096 - 1);
    LocalRegisterCopy::new(value.value)
}

/// Clears GITS_CTLR.Enabled and polls until it reads 0 with Quiescent set.
fn disable_and_quiesce<F: GitsFrame>(frame: &F, poll_budget: u32) -> Result<(), FloorError> {
    frame.modify(GITS_CTLR, GITS_CTLR::Enabled::CLEAR);
    let quiescent = (0..poll_budget).any(|_| {
        let ctlr = frame.read(GITS_CTLR);
        ctlr.read_only().is_set(GITS_CTLR_RO::Quiescent) && !ctlr.is_set(GITS_CTLR::Enabled)
    });
    quiescent.then_some(()).ok_or(FloorError::NotQuiescent)
}

/// Writes `value` with Valid = 0 to a base register.
fn invalid<R: gicv3_its::tock_registers::RegisterLongName>(
    value: u64,
) -> LocalRegisterCopy<u64, R> {
    // Valid is bit 63 in GITS_CBASER and every GITS_BASERn.
    LocalRegisterCopy::new(value & !GITS_CBASER::Valid::SET.value)
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
        disable_and_quiesce(&frame, poll_budget)?;
        let ring = memory
            .allocate_zeroed(DmaRequest::new(bytes, 65536))
            .ok_or(FloorError::OutOfMemory)?;
        let (phys, size) = (ring.phys(), ring.size());
        frame.write(GITS_CBASER, cbaser(phys, size, true));
        let needs_clean = frame.read(GITS_CBASER).read(GITS_CBASER::Shareability) == 0;
        if needs_clean {
            frame.write(GITS_CBASER, cbaser(phys, size, false));
        }
        if needs_clean {
            memory.clean_invalidate_to_poc(ring.virt(), ring.size());
        }
        // GITS_BASERn.Type reads 0 for an unimplemented register.
        let basers: Vec<(usize, u64)> = (0..8)
            .map(|index| frame.read(GITS_BASER[index]))
            .enumerate()
            .filter(|(_, value)| value.read_only().read(GITS_BASER_RO::Type) != 0)
            .map(|(index, value)| (index, value.get()))
            .collect();
        // Left as a save leaves it: disabled, the queue and tables invalid.
        let cbaser = frame.read(GITS_CBASER).get();
        frame.write(GITS_CBASER, invalid(cbaser));
        for &(index, value) in &basers {
            frame.write(GITS_BASER[index], invalid(value));
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
        disable_and_quiesce(&self.frame, self.poll_budget)?;
        self.frame.write(GITS_CBASER, invalid(self.cbaser));
        for &(index, value) in &self.basers {
            self.frame.write(GITS_BASER[index], invalid(value));
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
        self.frame.modify(GITS_CTLR, GITS_CTLR::Enabled::SET);
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
            self.frame.write_fields(
                GITS_CWRITER,
                GITS_CWRITER::Offset.val(self.write as u64 / COMMAND_SIZE as u64),
            );
            counts.commands += batch.len() as u64;
            counts.doorbells += 1;
            counts.completion_waits += 1;
            let mut caught_up = false;
            for _ in 0..self.poll_budget {
                let creadr = self.frame.read(GITS_CREADR);
                counts.polls += 1;
                if creadr.is_set(GITS_CREADR::Stalled) {
                    return Err(FloorError::Stalled);
                }
                if creadr.read(GITS_CREADR::Offset) as usize * COMMAND_SIZE == self.write {
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
        let size = ItsCommand::mapd_size(events);
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
