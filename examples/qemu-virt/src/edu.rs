//! QEMU's `edu` teaching device (docs/specs/edu.rst in QEMU): one MSI
//! vector, raised on demand by writing the interrupt-raise register.

use crate::pci::Function;
use core::ptr::NonNull;
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{FrameKind, ReadOnly, ReadWrite, Register, RegisterFrame, WriteOnly};
use gicv3_its::tock_registers::LocalRegisterCopy;

/// PCI vendor and device ID.
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device ID.
pub const DEVICE_ID: u16 = 0x11e8;

/// The registers at the start of the edu's 1 MiB BAR0 (edu.rst, "MMIO area
/// spec"; the DMA buffer above them is not used).
#[derive(Debug)]
pub enum EduRegisters {}

impl FrameKind for EduRegisters {
    const SIZE: usize = 0x100;
    const NAME: &'static str = "edu";
}

/// Identification: 0xRRrr00ed, major and minor version and 0xed.
const IDENTIFICATION: Register<EduRegisters, u32, (), ReadOnly> =
    Register::new(0x00, "identification");
/// Card liveness check: reads back the inverse of what was written.
const LIVENESS: Register<EduRegisters, u32, (), ReadWrite> =
    Register::new(0x04, "card liveness check");
/// Interrupt status: the bits raised and not yet acknowledged.
const INTERRUPT_STATUS: Register<EduRegisters, u32, (), ReadOnly> =
    Register::new(0x24, "interrupt status");
/// Interrupt raise: sets the bits written in the status, which sends the
/// MSI.
const INTERRUPT_RAISE: Register<EduRegisters, u32, (), WriteOnly> =
    Register::new(0x60, "interrupt raise");
/// Interrupt acknowledge: clears the bits written from the status.
const INTERRUPT_ACKNOWLEDGE: Register<EduRegisters, u32, (), WriteOnly> =
    Register::new(0x64, "interrupt acknowledge");

/// One edu device, by its BAR0.
#[derive(Clone, Copy, Debug)]
pub struct Edu {
    /// BAR0: at least [`EduRegisters::SIZE`] bytes, mapped as Device memory
    /// for ever (checked by [`Edu::new`]).
    bar0: NonNull<u8>,
}

// SAFETY: an `Edu` is the address of the device's registers, which `new`
// (or `from_context`'s caller) promised are mapped as Device memory for
// ever; every access is one load or store, valid from any CPU, and the
// device holds all the state.
unsafe impl Send for Edu {}
// SAFETY: as for `Send`: shared `Edu`s only reach the device's registers.
unsafe impl Sync for Edu {}

impl Edu {
    /// The edu behind `function`, if it is one and BAR0 was assigned.
    pub fn new(function: &Function) -> Option<Self> {
        if (function.vendor_id, function.device_id) != (VENDOR_ID, DEVICE_ID) {
            return None;
        }
        let bar0 = function.bars[0].filter(|bar| bar.size >= EduRegisters::SIZE as u64)?;
        Some(Self {
            bar0: NonNull::new(bar0.cpu_address as *mut u8)?,
        })
    }

    /// The context value an IRQ handler gets (see [`Edu::from_context`]).
    pub fn context(self) -> usize {
        self.bar0.as_ptr() as usize
    }

    /// The device an IRQ handler's context refers to.
    ///
    /// # Safety
    /// `context` must come from [`Edu::context`].
    pub unsafe fn from_context(context: usize) -> Option<Self> {
        Some(Self {
            bar0: NonNull::new(context as *mut u8)?,
        })
    }

    fn registers(self) -> MmioFrame<EduRegisters> {
        // SAFETY: `bar0` is an edu's BAR0, assigned by the PCI enumerator
        // and identity mapped as Device memory for ever (paging.rs maps the
        // host bridge's windows), at least `EduRegisters::SIZE` bytes: `new`
        // checked it, or `from_context`'s caller promised a value made from
        // one. Copies of an `Edu` reach the same registers, as MmioFrame
        // allows.
        unsafe { MmioFrame::new(self.bar0) }
    }

    /// The identification register (0xRRrr00ed) and whether the liveness
    /// check (the device inverts what is written) passes.
    pub fn identify(self) -> (u32, bool) {
        let registers = self.registers();
        registers.write(LIVENESS, LocalRegisterCopy::new(0x1234_5678));
        (
            registers.read(IDENTIFICATION).get(),
            registers.read(LIVENESS).get() == !0x1234_5678,
        )
    }

    /// Sets `bits` in the interrupt status, which raises the MSI.
    pub fn raise(self, bits: u32) {
        self.registers()
            .write(INTERRUPT_RAISE, LocalRegisterCopy::new(bits));
    }

    /// Reads the interrupt status and acknowledges every bit of it; returns
    /// it. For the IRQ handler.
    pub fn acknowledge(self) -> u32 {
        let registers = self.registers();
        let status = registers.read(INTERRUPT_STATUS);
        registers.write(INTERRUPT_ACKNOWLEDGE, LocalRegisterCopy::new(status.get()));
        status.get()
    }
}
