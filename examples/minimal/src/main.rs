//! The smallest kernel that takes an LPI through the GICv3 ITS, on QEMU's
//! virt board: the GIC brought up, an LPI domain and an ITS, a device
//! mapped, its MSI taken by the IRQ handler, then a save and a restore (as
//! around a hibernation) and the MSI taken again. `qemu/run --minimal`
//! runs it; QEMU's exit status is the verdict. Copy it to start a kernel
//! of your own.
//!
//! The device is the CPU itself: on QEMU a CPU's write to GITS_TRANSLATER
//! arrives with DeviceID 0. A real device's MSI capability is programmed
//! with the same doorbell address and its EventID as data.

#![no_std]
#![no_main]

use aarch64_paging::descriptor::El1Attributes;
use aarch64_paging::mair::{Mair, MairAttribute, NormalMemory};
use aarch64_rt::{
    ExceptionHandlers, InitialPagetable, RegisterStateRef, entry, exception_handlers,
    initial_pagetable,
};
use arm_pl011_uart::{PL011Registers, Uart, UniqueMmioPointer};
use core::fmt::Write;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, Ordering};
use gicv3_its::gic::{self, cpu_interface};
use gicv3_its::registers::{GicdMmio, GicrMmio, GitsMmio};
use gicv3_its::takeover;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{
    CollectionId, DeviceId, DmaPool, DomainStorage, Doorbell, EventId, IntId, Its, ItsConfig,
    ItsError, ItsStorage, LpiDomain, LpiDomainConfig, PoolMemory, lpi_bitmap_words,
};

// QEMU virt's map (its device tree says the same).
const GICD: usize = 0x0800_0000;
const GITS: usize = 0x0808_0000;
/// CPU 0's redistributor (RD_base).
const GICR: usize = 0x080a_0000;
const UART: usize = 0x0900_0000;

// The identity map: the first GiB (the devices) as Device memory, the second
// (RAM) as Normal write-back memory.
const DEVICE: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_0)
    .union(El1Attributes::ACCESSED)
    .union(El1Attributes::UXN)
    .union(El1Attributes::PXN);
const NORMAL: El1Attributes = El1Attributes::VALID
    .union(El1Attributes::ATTRIBUTE_INDEX_1)
    .union(El1Attributes::INNER_SHAREABLE)
    .union(El1Attributes::ACCESSED);
const MAIR: Mair = Mair::EMPTY
    .with_attribute(0, MairAttribute::DEVICE_NGNRE)
    .with_attribute(
        1,
        MairAttribute::normal(
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
            NormalMemory::WriteBackNonTransientReadWriteAllocate,
        ),
    );
initial_pagetable!(
    {
        let mut table = [0; 512];
        table[0] = DEVICE.bits();
        table[1] = NORMAL.bits() | 0x4000_0000;
        InitialPagetable(table)
    },
    MAIR.0
);

/// No heap: the driver's bookkeeping lives here. The LPI domain: one CPU,
/// one ITS, 16-bit LPIs; the ITS: one device of one event, one collection,
/// one level-2 page of its two-level Device table.
const LPI_ID_BITS: u32 = 16;
static LPIS: DomainStorage<PoolMemory, 1, 1, { lpi_bitmap_words(LPI_ID_BITS) }> =
    DomainStorage::new();
static ITS: ItsStorage<1, 1, 1, 1> = ItsStorage::new();

/// Memory for the GIC's tables: 2 MiB of RAM, identity-mapped.
static DMA: DmaPool = DmaPool::new();
#[repr(C, align(65536))]
struct DmaMemory([u8; 2 << 20]);
static mut DMA_MEMORY: DmaMemory = DmaMemory([0; 2 << 20]);

/// The last LPI the IRQ handler took.
static TAKEN: AtomicU32 = AtomicU32::new(0);

entry!(main);
fn main(_: u64, _: u64, _: u64, _: u64) -> ! {
    // SAFETY: `main` runs once; this static is handed to the pool here and
    // never touched otherwise. The RAM is identity mapped as Normal memory
    // (the page table above).
    unsafe {
        let dma = &raw mut DMA_MEMORY;
        DMA.add(&mut (*dma).0);
    }
    match run() {
        Ok(()) => {
            println(format_args!("minimal: PASS"));
            exit(0)
        }
        Err(error) => {
            println(format_args!("minimal: FAIL: {error}"));
            exit(1)
        }
    }
}

fn run() -> Result<(), Failure> {
    // SAFETY: QEMU virt's GIC frames, identity-mapped as Device memory, used
    // by nothing else.
    let (gicd, gicr, gits) = unsafe {
        (
            GicdMmio::new(frame(GICD)),
            GicrMmio::new(frame(GICR)),
            GitsMmio::new(frame(GITS)),
        )
    };
    let wait = WaitPolicy::default();
    // The GIC around the ITS: distributor, redistributor, CPU interface.
    gic::enable_distributor(&gicd, wait)?;
    gic::wake_redistributor(&gicr, wait)?;
    cpu_interface::enable();
    // SAFETY: clearing DAIF.I unmasks IRQs, which the handler below takes.
    unsafe { core::arch::asm!("msr daifclr, #2", options(nostack)) };

    // The LPIs and the ITS: whatever a previous owner left stopped (every
    // ITS quiesced, every redistributor's LPIs off), then the tables, this
    // CPU's redistributor, the ITS and this CPU's collection.
    takeover::quiesce(&gits, wait)?;
    takeover::stop_lpis(&gicr, wait)?;
    let domain = LpiDomainConfig {
        id_bits: gic::lpi_id_bits(&gicd)?.min(LPI_ID_BITS),
        ..LpiDomainConfig::default()
    };
    let lpis = LpiDomain::new_in(&LPIS, DMA.memory(), domain)?;
    let cpu = lpis.init_redistributor(&gicr, GICR as u64)?;
    let config = ItsConfig {
        doorbell: Some(Doorbell::Translater {
            its_base: GITS as u64,
        }),
        ..ItsConfig::default()
    };
    let mut its = Its::probe_sharing(gits, &lpis, config)?;
    its.use_storage(&ITS)?;
    its.map_collection(CollectionId(0), cpu)?;

    // The device (DeviceID 0, one event) and its MSI.
    its.map_device(DeviceId(0), 1)?;
    let lpi = its.map_event(DeviceId(0), EventId(0), CollectionId(0))?;
    let doorbell = its.doorbell(DeviceId(0))?;
    raise_and_take(doorbell, lpi)?;

    // Around a snapshot: every mapping torn down, then replayed.
    its.save()?;
    lpis.save()?;
    println(format_args!("minimal: saved, the ITS maps nothing"));
    lpis.init_redistributor(&gicr, GICR as u64)?;
    let restored = its.restore()?;
    if restored.deferred_collections != 0 {
        return Err(Failure::Deferred);
    }
    raise_and_take(doorbell, lpi)
}

/// Writes EventID 0 to the doorbell, as the device would, and waits for the
/// IRQ handler to take `lpi`.
fn raise_and_take(doorbell: u64, lpi: IntId) -> Result<(), Failure> {
    TAKEN.store(0, Ordering::SeqCst);
    // SAFETY: the doorbell is GITS_TRANSLATER, identity-mapped Device
    // memory; a 32-bit write of an EventID is an MSI.
    unsafe { (doorbell as *mut u32).write_volatile(0) };
    for _ in 0..10_000_000 {
        if TAKEN.load(Ordering::SeqCst) == lpi.0 {
            println(format_args!("minimal: took LPI {}", lpi.0));
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(Failure::NotTaken(lpi))
}

struct Exceptions;
exception_handlers!(Exceptions);

impl ExceptionHandlers for Exceptions {
    extern "C" fn irq_current(_: RegisterStateRef) {
        while let Some(intid) = cpu_interface::acknowledge() {
            TAKEN.store(intid.0, Ordering::SeqCst);
            cpu_interface::end_of_interrupt(intid);
        }
    }
}

/// What went wrong.
enum Failure {
    Driver(ItsError),
    NotTaken(IntId),
    Deferred,
}

impl From<ItsError> for Failure {
    fn from(error: ItsError) -> Self {
        Self::Driver(error)
    }
}

impl core::fmt::Display for Failure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Driver(error) => write!(f, "{error}"),
            Self::NotTaken(lpi) => write!(f, "LPI {} never arrived", lpi.0),
            Self::Deferred => write!(f, "restore deferred the collection"),
        }
    }
}

fn frame(address: usize) -> NonNull<u8> {
    NonNull::new(address as *mut u8).expect("a fixed, non-zero address")
}

/// Writes a line to the console.
fn println(line: core::fmt::Arguments) {
    // SAFETY: QEMU virt's PL011, identity-mapped Device memory; this kernel
    // has one CPU and writes to it nowhere else at the same time.
    let registers = unsafe { UniqueMmioPointer::new(frame(UART).cast::<PL011Registers>()) };
    let _ = writeln!(Uart::new(registers), "{line}");
}

/// Ends QEMU with `status` (semihosting SYS_EXIT; QEMU runs with
/// `-semihosting`).
fn exit(status: u32) -> ! {
    let block = [0x2_0026u64, u64::from(status)]; // ADP_Stopped_ApplicationExit
    // SAFETY: SYS_EXIT (0x18) reads the two words at x1 and does not return.
    unsafe { core::arch::asm!("hlt #0xf000", in("x0") 0x18u64, in("x1") block.as_ptr()) };
    loop {
        core::hint::spin_loop();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println(format_args!("minimal: panic: {info}"));
    exit(2)
}
