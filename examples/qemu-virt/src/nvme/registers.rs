//! The controller's registers in BAR0 (NVMe Base 2.0, 3.1): their offsets,
//! the CC, CSTS and CAP fields the driver uses, and 32-bit accesses.

use crate::mmio::{read32, write32};

// Controller registers (NVMe Base 2.0, 3.1.4).
pub(super) const REG_CAP: usize = 0x00;
pub(super) const REG_VS: usize = 0x08;
pub(super) const REG_CC: usize = 0x14;
pub(super) const REG_CSTS: usize = 0x1c;
pub(super) const REG_AQA: usize = 0x24;
pub(super) const REG_ASQ: usize = 0x28;
pub(super) const REG_ACQ: usize = 0x30;
pub(super) const REG_DOORBELLS: usize = 0x1000;

pub(super) const CC_EN: u32 = 1 << 0;
/// CSS = 000b (NVM command set), MPS = 0 (4 KiB pages), AMS = round robin.
pub(super) const CC_NVM_4K_RR: u32 = 0;
pub(super) const CC_SHN_NORMAL: u32 = 0b01 << 14;
/// I/O submission queue entries of 2^6 = 64 bytes.
pub(super) const CC_IOSQES: u32 = 6 << 16;
/// I/O completion queue entries of 2^4 = 16 bytes.
pub(super) const CC_IOCQES: u32 = 4 << 20;
pub(super) const CSTS_RDY: u32 = 1 << 0;
pub(super) const CSTS_CFS: u32 = 1 << 1;
pub(super) const CSTS_SHST_MASK: u32 = 0b11 << 2;
pub(super) const CSTS_SHST_COMPLETE: u32 = 0b10 << 2;
/// CAP.CSS bit 0 (CAP bit 37): the NVM command set.
pub(super) const CAP_CSS_NVM: u64 = 1 << 37;

/// The controller's registers in BAR0.
#[derive(Clone, Copy)]
pub(super) struct Registers {
    pub(super) base: usize,
}

impl Registers {
    pub(super) fn read32(self, offset: usize) -> u32 {
        // SAFETY: `base` is BAR0 of the NVMe controller, assigned by the PCI
        // enumerator and mapped as Device memory; `new` checked that it
        // holds the registers and the doorbells the driver uses (offsets
        // are the constants above and the four doorbells), which only this
        // driver touches.
        unsafe { read32(self.base + offset) }
    }

    pub(super) fn write32(self, offset: usize, value: u32) {
        // SAFETY: as for `read32`.
        unsafe { write32(self.base + offset, value) }
    }

    /// A 64-bit register as two 32-bit accesses, low half first (allowed
    /// by NVMe Base 3.1.2).
    pub(super) fn read64(self, offset: usize) -> u64 {
        u64::from(self.read32(offset)) | u64::from(self.read32(offset + 4)) << 32
    }

    pub(super) fn write64(self, offset: usize, value: u64) {
        self.write32(offset, value as u32);
        self.write32(offset + 4, (value >> 32) as u32);
    }
}
