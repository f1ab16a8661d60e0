//! QEMU's `edu` teaching device (docs/specs/edu.rst in QEMU): one MSI
//! vector, raised on demand by writing the interrupt-raise register.

use crate::mmio::{read32, write32};
use crate::pci::Function;

/// PCI vendor and device ID.
pub const VENDOR_ID: u16 = 0x1234;
/// PCI device ID.
pub const DEVICE_ID: u16 = 0x11e8;

const IDENTIFICATION: usize = 0x00;
const LIVENESS: usize = 0x04;
const INTERRUPT_STATUS: usize = 0x24;
const INTERRUPT_RAISE: usize = 0x60;
const INTERRUPT_ACKNOWLEDGE: usize = 0x64;

/// One edu device, by its BAR0.
#[derive(Clone, Copy, Debug)]
pub struct Edu {
    bar0: usize,
}

impl Edu {
    /// The edu behind `function`, if it is one and BAR0 was assigned.
    pub fn new(function: &Function) -> Option<Self> {
        if (function.vendor_id, function.device_id) != (VENDOR_ID, DEVICE_ID) {
            return None;
        }
        let bar0 = function.bars[0]?;
        Some(Self {
            bar0: bar0.cpu_address as usize,
        })
    }

    /// The context value an IRQ handler gets (see [`Edu::from_context`]).
    pub fn context(self) -> usize {
        self.bar0
    }

    /// The device an IRQ handler's context refers to.
    pub fn from_context(context: usize) -> Self {
        Self { bar0: context }
    }

    fn read(self, offset: usize) -> u32 {
        // SAFETY: BAR0 is the edu's 1 MiB register BAR, assigned by the PCI
        // enumerator and mapped as Device memory; edu registers are 32 bits.
        unsafe { read32(self.bar0 + offset) }
    }

    fn write(self, offset: usize, value: u32) {
        // SAFETY: as for `read`.
        unsafe { write32(self.bar0 + offset, value) }
    }

    /// The identification register (0xRRrr00ed) and whether the liveness
    /// check (the device inverts what is written) passes.
    pub fn identify(self) -> (u32, bool) {
        self.write(LIVENESS, 0x1234_5678);
        (
            self.read(IDENTIFICATION),
            self.read(LIVENESS) == !0x1234_5678,
        )
    }

    /// Sets `bits` in the interrupt status, which raises the MSI.
    pub fn raise(self, bits: u32) {
        self.write(INTERRUPT_RAISE, bits);
    }

    /// Reads the interrupt status and acknowledges every bit of it; returns
    /// it. For the IRQ handler.
    pub fn acknowledge(self) -> u32 {
        let status = self.read(INTERRUPT_STATUS);
        self.write(INTERRUPT_ACKNOWLEDGE, status);
        status
    }
}
