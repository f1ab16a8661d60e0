//! The driver's own work per replayed command, for an instruction counter.
//!
//! Runs save and restore of 1024 devices x 32 events against a null ITS: a
//! register frame that consumes every command the moment CWRITER is written
//! and does nothing else, and memory from a bump allocator. What is left is
//! the driver: walking the registry, encoding, writing the ring, zeroing
//! ITTs, rewriting the property table. `benches/instructions` runs this
//! under callgrind with collection on only inside [`measured_restore`] and
//! [`measured_save`] and prints instructions per command; run alone it just
//! prints the command counts.

use gicv3_its::registers::{
    GICR_IIDR, GICR_PENDBASER, GICR_TYPER, GITS_BASER, GITS_CREADR, GITS_CTLR, GITS_CWRITER,
    GITS_IIDR, GITS_TYPER, Gicr, Gits, ReadAccess, RegisterFrame, WriteAccess,
};
use gicv3_its::{
    CollectionId, DeviceId, DmaMemory, DmaRegion, DmaRequest, EventId, Its, ItsConfig, LpiDomain,
    LpiDomainConfig, ProcessorNumber,
};
use std::alloc::{Layout, alloc_zeroed};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::ptr::NonNull;
use std::rc::Rc;

const DEVICES: u32 = 1024;
const EVENTS: u32 = 32;
const COLLECTIONS: u16 = 4;
const FIRST_DEVICE: u32 = 0x100;

/// An ITS that has consumed every command once CWRITER is written:
/// QEMU's GITS_TYPER, a Device and a Collection table of 8-byte entries.
#[derive(Default)]
struct NullIts {
    registers: RefCell<BTreeMap<usize, u64>>,
}

impl RegisterFrame for NullIts {
    type Kind = Gits;

    fn load(&self, access: ReadAccess<Gits>) -> u64 {
        let offset = access.offset();
        let stored = self.registers.borrow().get(&offset).copied().unwrap_or(0);
        match offset {
            o if o == GITS_TYPER.offset() => 0x1f_0001_efb1,
            o if o == GITS_IIDR.offset() => 0x43b,
            // Quiescent, and Enabled as written.
            o if o == GITS_CTLR.offset() => stored | 1 << 31,
            o if o == GITS_CREADR.offset() => {
                let cwriter = GITS_CWRITER.offset();
                self.registers.borrow().get(&cwriter).copied().unwrap_or(0)
            }
            // BASER0 Devices, BASER1 Collections, 8-byte entries.
            o if o == GITS_BASER[0].offset() => stored | 1 << 56 | 7 << 48,
            o if o == GITS_BASER[1].offset() => stored | 4 << 56 | 7 << 48,
            o if GITS_BASER[2..].iter().any(|r| r.offset() == o) => 0,
            _ => stored,
        }
    }

    fn store(&self, access: WriteAccess<Gits>, value: u64) {
        let offset = access.offset();
        let value = if GITS_BASER.iter().any(|r| r.offset() == offset) {
            value & !(0b111 << 56 | 0x1f << 48)
        } else {
            value
        };
        self.registers.borrow_mut().insert(offset, value);
    }
}

/// One redistributor whose registers hold what is written.
struct NullGicr {
    registers: RefCell<BTreeMap<usize, u64>>,
    processor: u16,
}

impl RegisterFrame for NullGicr {
    type Kind = Gicr;

    fn load(&self, access: ReadAccess<Gicr>) -> u64 {
        let offset = access.offset();
        match offset {
            // PLPIS and the processor number.
            o if o == GICR_TYPER.offset() => 1 | u64::from(self.processor) << 8,
            o if o == GICR_IIDR.offset() => 0x43b,
            // PTZ reads 0.
            o if o == GICR_PENDBASER.offset() => {
                self.registers.borrow().get(&o).copied().unwrap_or(0) & !(1 << 62)
            }
            o => self.registers.borrow().get(&o).copied().unwrap_or(0),
        }
    }

    fn store(&self, access: WriteAccess<Gicr>, value: u64) {
        self.registers.borrow_mut().insert(access.offset(), value);
    }
}

/// A bump allocator over one leaked 256 MiB block; physical = virtual.
#[derive(Clone)]
struct BumpMemory {
    next: Rc<Cell<usize>>,
    end: usize,
}

impl BumpMemory {
    fn new() -> Self {
        let layout = Layout::from_size_align(256 << 20, 1 << 16).expect("layout");
        // SAFETY: a non-zero size; the block is leaked, so it lives for ever.
        let start = unsafe { alloc_zeroed(layout) } as usize;
        assert_ne!(start, 0, "out of memory");
        Self {
            next: Rc::new(Cell::new(start)),
            end: start + layout.size(),
        }
    }
}

// SAFETY: every region is a zeroed, fresh part of the leaked block, never
// handed out twice (freed memory is not reused), aligned as asked.
unsafe impl DmaMemory for BumpMemory {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        let size = request.size;
        let start = self.next.get().next_multiple_of(request.align);
        let end = start.checked_add(size)?;
        if end > self.end {
            return None;
        }
        self.next.set(end);
        // SAFETY: inside the leaked block, zeroed, handed out once.
        Some(unsafe { DmaRegion::new(NonNull::new(start as *mut u8)?, start as u64, size) })
    }

    fn deallocate(&mut self, _region: DmaRegion, _request: DmaRequest) {}

    fn clean_invalidate_to_poc(&self, _virt: NonNull<u8>, _len: usize) {}
}

type NullDriver = Its<NullIts, BumpMemory>;

#[inline(never)]
fn measured_restore(its: &mut NullDriver) {
    let _ = its.restore().expect("restore");
}

#[inline(never)]
fn measured_save(its: &mut NullDriver) {
    its.save().expect("save");
}

fn main() {
    let memory = BumpMemory::new();
    let lpis = LpiDomainConfig {
        id_bits: 16,
        ..LpiDomainConfig::default()
    };
    let domain = LpiDomain::new(memory.clone(), lpis).expect("LPI domain");
    let redistributors: Vec<NullGicr> = (0..4)
        .map(|processor| NullGicr {
            registers: RefCell::default(),
            processor,
        })
        .collect();
    let init = |domain: &LpiDomain<BumpMemory>| {
        for (rd_base, gicr) in (0x080a_0000..).step_by(0x2_0000).zip(&redistributors) {
            domain
                .init_redistributor(gicr, rd_base)
                .expect("redistributor");
        }
    };
    init(&domain);
    let config = ItsConfig {
        max_flat_device_table_bytes: 1 << 20,
        ..ItsConfig::default()
    };
    let mut its = Its::probe(NullIts::default(), memory, &domain, config).expect("probe");
    for icid in 0..COLLECTIONS {
        its.map_collection(CollectionId(icid), ProcessorNumber(icid))
            .expect("collection");
    }
    for index in 0..DEVICES {
        let device = DeviceId(FIRST_DEVICE + index);
        its.map_device(device, EVENTS).expect("device");
        for event in 0..EVENTS {
            let icid = CollectionId(((index + event) % u32::from(COLLECTIONS)) as u16);
            its.map_event(device, EventId(event), icid).expect("event");
        }
    }
    let before = its.queue_stats().commands;
    measured_save(&mut its);
    let saved = its.queue_stats().commands;
    domain.save().expect("domain save");
    init(&domain);
    measured_restore(black_box(&mut its));
    let restored = its.queue_stats().commands;
    println!("mappings {}", DEVICES * EVENTS);
    println!("save commands {}", saved - before);
    println!("restore commands {}", restored - saved);
}
