//! An NVMe driver for QEMU's `-device nvme` (NVM Express Base 2.0, NVM
//! Command Set 1.0): one admin and one I/O queue pair, namespace 1 with
//! 512-byte LBAs, and completions signalled by MSI-X through the ITS.
//!
//! Interrupts, not polling: the admin completion queue raises MSI-X vector
//! 0 and the I/O completion queue vector 1. `msi.rs` routes both to LPIs
//! (EventIDs 0 and 1 of the controller's DeviceID), `irq.rs` dispatches
//! them to [`completion_interrupt`], which counts them. A command is
//! submitted, then the driver waits (`wfe`, with a deadline from the
//! generic counter) until its queue's interrupt has been handled, and only
//! then reads the completion queue (phase tags) and rings its head
//! doorbell.
//!
//! One command is outstanding at a time. Data goes through a 128 KiB bounce
//! buffer with a fixed PRP list, so a transfer of any length and alignment
//! takes one command per 128 KiB (less if the controller's MDTS is lower).
//!
//! All the driver's DMA memory (queues, PRP list, bounce buffer) is one
//! page-aligned block from the kernel's DMA allocator
//! ([`KernelDma`](crate::heap::KernelDma));
//! RAM is identity mapped, so the address the controller uses is the one
//! the CPU uses. QEMU's `virt` PCIe host bridge is `dma-coherent`, so the
//! driver does no cache maintenance; a non-coherent platform would need
//! it around every transfer.
//!
//! For hibernation: [`Nvme::suspend`] deletes the I/O queues, shuts the
//! controller down and disables it, so it can raise no MSI while the ITS is
//! saved; [`Nvme::resume`] resets and re-initialises it from scratch, which
//! is also what a kernel restored from an image must do before its first
//! transfer (the controller it finds is not the one its memory describes).
//!
//! This file holds the driver's interface and its I/O path; `registers.rs`
//! the controller's registers, `admin.rs` its bring-up and shutdown,
//! `queue.rs` the queue pairs and a command's round trip, `interrupt.rs`
//! the completion interrupt and the wait for it, `dma.rs` the DMA block.

mod admin;
mod dma;
mod interrupt;
mod queue;
mod registers;

use crate::block::{BlockDevice, BlockError, SECTOR_SIZE};
use crate::irq;
use crate::msi::{ItsService, MsiError, MsiRoute};
use crate::pci::{Bdf, Function};
use crate::platform::PciHost;
use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use dma::{ADMIN_CQ, ADMIN_SQ, BOUNCE, DmaBlock, IO_CQ, IO_SQ, MAX_TRANSFER, PAGE, PRP_LIST};
use gicv3_its::IntId;
use gicv3_its::registers::RegisterFrame;
use gicv3_its::tock_registers::LocalRegisterCopy;
use interrupt::{Signals, completion_interrupt};
use queue::{ADMIN_DEPTH, Command, IO_DEPTH, IO_QUEUE_ID, Queue};
use registers::{CAP, CSS_NVM, Registers, VS};

/// PCI class code of an NVMe controller: mass storage, non-volatile memory,
/// NVM Express.
pub const CLASS: u32 = 0x01_08_02;
/// MSI-X vectors the driver uses: 0 for the admin queue, 1 for the I/O queue.
pub const VECTORS: usize = 2;
/// The namespace the driver uses.
pub const NAMESPACE_ID: u32 = 1;

/// [`BlockError::Device`] codes of the driver's own. A status from the
/// controller is `SCT << 8 | SC` (11 bits), so these cannot collide with one.
///
/// The controller is suspended, or failed (a command timed out or it
/// reported a fatal status): [`Nvme::resume`] resets it.
pub const STATUS_NOT_RUNNING: u16 = 0xff01;
/// The controller reports a fatal status (CSTS.CFS).
pub const STATUS_CONTROLLER_FATAL: u16 = 0xff02;
/// IRQs are masked on this CPU, so no completion interrupt can be taken.
pub const STATUS_IRQS_MASKED: u16 = 0xff03;

/// NVMe's status for an LBA range past the namespace (generic, SC 0x80).
pub const STATUS_LBA_OUT_OF_RANGE: u16 = 0x080;

// NVM commands (NVM Command Set 3.x).
const NVM_FLUSH: u8 = 0x00;
const NVM_WRITE: u8 = 0x01;
const NVM_READ: u8 = 0x02;

/// How long an admin or I/O command may take, by default.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on CAP.TO, the controller's enable/disable time.
const MAX_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the controller could not be brought up (or resumed, or suspended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NvmeError {
    /// The function is not an NVMe controller.
    NotNvme,
    /// BAR0 (the registers) was not assigned, or is too small.
    NoRegisters,
    /// The function has no usable MSI-X capability.
    NoMsix,
    /// Routing the MSI-X vectors through the ITS failed.
    Msi(MsiError),
    /// The route has fewer LPIs than [`VECTORS`].
    TooFewVectors(usize),
    /// The IRQ handler table is full.
    IrqTableFull,
    /// No memory for the queues and buffers.
    NoMemory,
    /// The controller lacks something the driver needs.
    Unsupported(&'static str),
    /// The namespace's LBA size is not 512 bytes.
    LbaSize(u64),
    /// Namespace 1 does not exist or is empty.
    NoNamespace,
    /// CSTS did not reach the state waited for in time.
    Timeout(&'static str),
    /// CSTS.CFS: the controller reports a fatal error.
    ControllerFatal,
    /// An admin command failed.
    Command {
        /// Which.
        command: &'static str,
        /// How.
        error: BlockError,
    },
}

impl From<MsiError> for NvmeError {
    fn from(error: MsiError) -> Self {
        Self::Msi(error)
    }
}

impl fmt::Display for NvmeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotNvme => write!(f, "not an NVMe controller"),
            Self::NoRegisters => write!(f, "BAR0 (the registers) is not assigned or too small"),
            Self::NoMsix => write!(f, "no usable MSI-X capability"),
            Self::Msi(error) => write!(f, "MSI-X: {error}"),
            Self::TooFewVectors(n) => write!(f, "{n} MSI-X vectors routed, {VECTORS} needed"),
            Self::IrqTableFull => write!(f, "the IRQ handler table is full"),
            Self::NoMemory => write!(f, "no memory for the queues"),
            Self::Unsupported(what) => write!(f, "the controller does not support {what}"),
            Self::LbaSize(bytes) => {
                write!(
                    f,
                    "namespace 1 has {bytes}-byte LBAs, only 512 is supported"
                )
            }
            Self::NoNamespace => write!(f, "namespace 1 does not exist or is empty"),
            Self::Timeout(what) => write!(f, "timed out waiting for {what}"),
            Self::ControllerFatal => write!(f, "the controller reports a fatal status (CSTS.CFS)"),
            Self::Command { command, error } => write!(f, "{command}: {error}"),
        }
    }
}

/// Finds the first NVMe controller among `functions`, routes its MSI-X
/// vectors 0 and 1 through the ITS to two LPIs and brings it up. `Ok(None)`
/// if there is no NVMe controller.
pub fn probe(
    its: &mut ItsService,
    host: &PciHost,
    functions: &[Function],
) -> Result<Option<Nvme>, NvmeError> {
    let Some(function) = functions.iter().find(|f| f.class == CLASS) else {
        return Ok(None);
    };
    let route = its.route(host, function, VECTORS as u32)?;
    let device_id = route.device_id;
    match Nvme::new(function, route) {
        Ok(nvme) => {
            let [admin_lpi, io_lpi] = nvme.lpis();
            log::info!(
                "nvme: {} {} (serial {}, NVMe {}.{}): namespace {NAMESPACE_ID} capacity {} sectors of {SECTOR_SIZE} bytes, up to {} per command; MSI-X requester ID {:#x} -> DeviceID {device_id:#x}: vector 0 (admin) EventID 0 -> LPI {admin_lpi}, vector 1 (I/O) EventID 1 -> LPI {io_lpi}",
                function.bdf,
                nvme.model,
                nvme.serial,
                nvme.version.read(VS::MJR),
                nvme.version.read(VS::MNR),
                nvme.capacity,
                nvme.max_sectors,
                function.bdf.requester_id(),
            );
            Ok(Some(nvme))
        }
        Err(error) => {
            // Nothing will take the controller's MSIs: unmap them again.
            let _ = its.its.unmap_device(device_id);
            Err(error)
        }
    }
}

/// Where the driver is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Queues created, transfers possible.
    Running,
    /// Shut down and disabled by [`Nvme::suspend`].
    Suspended,
    /// A command timed out or the controller failed: only a reset helps.
    Failed,
}

/// An NVMe controller, its namespace 1 as a [`BlockDevice`].
pub struct Nvme {
    bdf: Bdf,
    registers: Registers,
    memory: DmaBlock,
    admin: Queue,
    io: Queue,
    route: MsiRoute,
    /// Interrupts handled per vector, by [`completion_interrupt`].
    signals: &'static Signals,
    state: State,
    next_command_id: u16,
    command_timeout: Duration,
    ready_timeout: Duration,
    capacity: u64,
    max_sectors: usize,
    io_commands: u64,
    version: LocalRegisterCopy<u32, VS::Register>,
    model: String,
    serial: String,
}

impl Nvme {
    /// Brings up the controller behind `function`, whose MSI-X vectors 0 and
    /// 1 `route` maps (see [`ItsService::route`]): registers the completion
    /// handlers for the two LPIs, unmasks the vectors, resets and enables
    /// the controller, identifies it and namespace 1, and creates the I/O
    /// queue pair.
    pub fn new(function: &Function, route: MsiRoute) -> Result<Self, NvmeError> {
        if function.class != CLASS {
            return Err(NvmeError::NotNvme);
        }
        let bar = function.bars[0].ok_or(NvmeError::NoRegisters)?;
        let msix = function.msix().ok_or(NvmeError::NoMsix)?;
        let vectors = route.lpis.len().min(msix.vectors().into());
        if vectors < VECTORS {
            return Err(NvmeError::TooFewVectors(vectors));
        }
        let registers = Registers::new(&bar).ok_or(NvmeError::NoRegisters)?;
        let cap = registers.read64(CAP);
        let stride = 4usize << cap.read(CAP::DSTRD);
        // The doorbells of the admin and the I/O queue pair, in BAR0.
        let (Some(admin_doorbells), Some(io_doorbells)) = (
            registers.doorbells(0, stride),
            registers.doorbells(IO_QUEUE_ID, stride),
        ) else {
            return Err(NvmeError::NoRegisters);
        };
        if cap.read(CAP::CSS) & CSS_NVM == 0 {
            return Err(NvmeError::Unsupported("the NVM command set"));
        }
        let page_min = 12 + cap.read(CAP::MPSMIN);
        let page_max = 12 + cap.read(CAP::MPSMAX);
        if !(page_min..=page_max).contains(&12) {
            return Err(NvmeError::Unsupported("4 KiB memory pages"));
        }
        // CAP.MQES is 0-based; CAP.TO is in 500 ms units.
        let max_entries = cap.read(CAP::MQES) as u16;
        let io_depth = IO_DEPTH.min(max_entries.saturating_add(1)).max(2);
        let admin_depth = ADMIN_DEPTH.min(max_entries.saturating_add(1)).max(2);
        let ready_timeout =
            (Duration::from_millis(500) * cap.read(CAP::TO).max(1) as u32).min(MAX_READY_TIMEOUT);

        let memory = DmaBlock::allocate()?;
        // The PRP list names every bounce buffer page after the first, for
        // good: a transfer uses as many entries as it needs.
        for page in 1..MAX_TRANSFER / PAGE {
            memory.write_u64(PRP_LIST + 8 * (page - 1), memory.phys(BOUNCE + page * PAGE));
        }

        let signals: &'static Signals = Box::leak(Box::new(Signals::default()));
        for (vector, &lpi) in route.lpis.iter().take(VECTORS).enumerate() {
            let counter = &signals.interrupts[vector] as *const AtomicU32 as usize;
            if irq::register(lpi, completion_interrupt, counter).is_err() {
                route.lpis.iter().for_each(|&lpi| irq::unregister(lpi));
                return Err(NvmeError::IrqTableFull);
            }
        }
        for vector in 0..VECTORS as u16 {
            msix.mask(vector, false);
        }

        let version = registers.read(VS);
        let mut nvme = Self {
            bdf: function.bdf,
            registers,
            memory,
            admin: Queue::new(0, 0, admin_depth, ADMIN_SQ, ADMIN_CQ, admin_doorbells),
            io: Queue::new(IO_QUEUE_ID, 1, io_depth, IO_SQ, IO_CQ, io_doorbells),
            route,
            signals,
            state: State::Failed,
            next_command_id: 0,
            command_timeout: COMMAND_TIMEOUT,
            ready_timeout,
            capacity: 0,
            max_sectors: MAX_TRANSFER / SECTOR_SIZE,
            io_commands: 0,
            version,
            model: String::new(),
            serial: String::new(),
        };
        // On error, dropping `nvme` disables the controller and unregisters
        // the handlers.
        nvme.start()?;
        Ok(nvme)
    }

    /// The controller's PCI address.
    pub fn bdf(&self) -> Bdf {
        self.bdf
    }

    /// The ITS route of the controller's MSI-X vectors.
    pub fn route(&self) -> &MsiRoute {
        &self.route
    }

    /// The LPIs of the admin and the I/O completion queue.
    pub fn lpis(&self) -> [IntId; VECTORS] {
        [self.route.lpis[0], self.route.lpis[1]]
    }

    /// Completion interrupts handled so far: admin queue, I/O queue.
    pub fn interrupts(&self) -> [u32; VECTORS] {
        [0, 1].map(|vector| self.signals.interrupts[vector].load(Ordering::Acquire))
    }

    /// I/O commands (reads, writes, flushes) completed so far.
    pub fn io_commands(&self) -> u64 {
        self.io_commands
    }

    /// Most sectors one command transfers.
    pub fn max_sectors_per_command(&self) -> usize {
        self.max_sectors
    }

    /// Sets how long a command may take before it fails with
    /// [`BlockError::Timeout`] (5 s by default).
    pub fn set_command_timeout(&mut self, timeout: Duration) {
        self.command_timeout = timeout;
    }

    /// Whether transfers are possible (not suspended, not failed).
    pub fn is_running(&self) -> bool {
        self.state == State::Running
    }

    /// Makes the controller persist what it has cached (NVM Flush).
    pub fn flush(&mut self) -> Result<(), BlockError> {
        self.check_running()?;
        let flush = Command::new(NVM_FLUSH).namespace(NAMESPACE_ID);
        self.execute(IO_QUEUE_ID, flush)?;
        self.io_commands += 1;
        Ok(())
    }

    /// Quiesces the controller (before the ITS is saved): deletes the I/O
    /// queues, shuts the controller down (which persists its cache) and
    /// disables it. It raises no interrupt and does no DMA until
    /// [`Nvme::resume`]; transfers fail with [`STATUS_NOT_RUNNING`].
    /// Idempotent. A failed controller is only disabled.
    pub fn suspend(&mut self) -> Result<(), NvmeError> {
        match self.state {
            State::Suspended => return Ok(()),
            State::Failed => {
                self.disable()?;
                self.state = State::Suspended;
                return Ok(());
            }
            State::Running => {}
        }
        let result = self.shut_down();
        // Disabled in any case, so that nothing more arrives.
        let disabled = self.disable();
        self.state = if disabled.is_ok() {
            State::Suspended
        } else {
            State::Failed
        };
        result.and(disabled)
    }

    /// Resets and re-initialises the controller (after [`Nvme::suspend`], a
    /// failure, or in a kernel restored from a hibernation image): admin
    /// queue, identify, I/O queue pair. Its MSI-X table and the ITS mapping
    /// must be in place, as [`Nvme::new`] found them.
    pub fn resume(&mut self) -> Result<(), NvmeError> {
        self.start()
    }

    /// Reads without the capacity check, so that the controller judges the
    /// range (for testing its errors).
    pub fn read_unchecked(&mut self, lba: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        if !buffer.len().is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::BadLength(buffer.len()));
        }
        self.check_running()?;
        for (index, chunk) in buffer
            .chunks_mut(self.max_sectors * SECTOR_SIZE)
            .enumerate()
        {
            let lba = lba.wrapping_add((index * self.max_sectors) as u64);
            self.transfer(NVM_READ, lba, chunk.len() / SECTOR_SIZE)?;
            self.memory.copy_out(BOUNCE, chunk);
        }
        Ok(())
    }

    fn check_running(&self) -> Result<(), BlockError> {
        if self.state == State::Running {
            Ok(())
        } else {
            Err(BlockError::Device(STATUS_NOT_RUNNING))
        }
    }

    fn check_range(&self, lba: u64, len: usize) -> Result<(), BlockError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(BlockError::BadLength(len));
        }
        let sectors = (len / SECTOR_SIZE) as u64;
        if lba
            .checked_add(sectors)
            .is_none_or(|end| end > self.capacity)
        {
            return Err(BlockError::OutOfRange {
                lba,
                sectors,
                capacity: self.capacity,
            });
        }
        Ok(())
    }

    /// One Read or Write of `sectors` (at most `max_sectors`) at `lba`,
    /// through the bounce buffer.
    fn transfer(&mut self, opcode: u8, lba: u64, sectors: usize) -> Result<(), BlockError> {
        let pages = (sectors * SECTOR_SIZE).div_ceil(PAGE);
        let first = self.memory.phys(BOUNCE);
        // PRP2: nothing for one page, the second page for two, else the
        // list of the pages after the first.
        let second = match pages {
            0 | 1 => 0,
            2 => first + PAGE as u64,
            _ => self.memory.phys(PRP_LIST),
        };
        let command = Command::new(opcode)
            .namespace(NAMESPACE_ID)
            .data(first, second)
            .dwords(&[
                lba as u32,
                (lba >> 32) as u32,
                (sectors as u32).saturating_sub(1),
            ]);
        self.execute(IO_QUEUE_ID, command)?;
        self.io_commands += 1;
        Ok(())
    }
}

impl BlockDevice for Nvme {
    fn capacity(&self) -> u64 {
        self.capacity
    }

    fn read(&mut self, lba: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        self.check_range(lba, buffer.len())?;
        self.read_unchecked(lba, buffer)
    }

    fn write(&mut self, lba: u64, buffer: &[u8]) -> Result<(), BlockError> {
        self.check_range(lba, buffer.len())?;
        self.check_running()?;
        for (index, chunk) in buffer.chunks(self.max_sectors * SECTOR_SIZE).enumerate() {
            self.memory.copy_in(BOUNCE, chunk);
            let lba = lba + (index * self.max_sectors) as u64;
            self.transfer(NVM_WRITE, lba, chunk.len() / SECTOR_SIZE)?;
        }
        Ok(())
    }
}

impl Drop for Nvme {
    fn drop(&mut self) {
        if self.disable().is_err() {
            // The controller may still write to the queues or the bounce
            // buffer: never give them back.
            self.memory.leak();
        }
        for &lpi in &self.route.lpis {
            irq::unregister(lpi);
        }
    }
}
