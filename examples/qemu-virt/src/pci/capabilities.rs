//! The MSI and MSI-X capabilities (PCI Local Bus 3.0 6.8, PCIe Base 6.1
//! 7.7.1-2), each a frame placed at the capability's offset in
//! configuration space, and the MSI-X table, one frame per entry in the BAR
//! the capability names.

use super::config::ConfigStructure;
use core::ptr::NonNull;
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{FrameKind, ReadOnly, ReadWrite, Register, RegisterFrame};
use gicv3_its::tock_registers::{LocalRegisterCopy, register_bitfields};

/// The MSI capability ID.
pub const CAP_MSI: u8 = 0x05;
/// The MSI-X capability ID.
pub const CAP_MSIX: u8 = 0x11;

/// The MSI capability structure, as long as it can be (64-bit addresses and
/// per-vector masking); which registers it has depends on
/// MSI_CONTROL.Address64.
#[derive(Debug)]
pub enum MsiCapability {}

impl FrameKind for MsiCapability {
    const SIZE: usize = 0x18;
    const NAME: &'static str = "MSI capability";
}

impl ConfigStructure for MsiCapability {}

/// The MSI-X capability structure.
#[derive(Debug)]
pub enum MsixCapability {}

impl FrameKind for MsixCapability {
    const SIZE: usize = 0x0c;
    const NAME: &'static str = "MSI-X capability";
}

impl ConfigStructure for MsixCapability {}

/// One 16-byte entry of an MSI-X table, in one of the function's memory
/// BARs.
#[derive(Debug)]
pub enum MsixTableEntry {}

impl FrameKind for MsixTableEntry {
    const SIZE: usize = 16;
    const NAME: &'static str = "MSI-X table entry";
}

register_bitfields! [u16,
    /// MSI Message Control.
    pub MSI_CONTROL [
        /// MSI is enabled (and INTx is not used).
        Enable OFFSET(0) NUMBITS(1) [],
        /// The function can use `2 ^ MultipleMessageCapable` vectors.
        MultipleMessageCapable OFFSET(1) NUMBITS(3) [],
        /// The function uses `2 ^ MultipleMessageEnable` vectors, vector n
        /// sending the Message Data with its low bits replaced by n.
        MultipleMessageEnable OFFSET(4) NUMBITS(3) [],
        /// The structure has a Message Upper Address: 64-bit addresses.
        Address64 OFFSET(7) NUMBITS(1) []
    ],
    /// MSI-X Message Control.
    pub MSIX_CONTROL [
        /// Entries in the table, minus one.
        TableSize OFFSET(0) NUMBITS(11) [],
        /// Every vector is masked, whatever its entry says.
        FunctionMask OFFSET(14) NUMBITS(1) [],
        /// MSI-X is enabled (and neither MSI nor INTx is used).
        Enable OFFSET(15) NUMBITS(1) []
    ]
];

register_bitfields! [u32,
    /// MSI-X Table Offset/Table BIR.
    pub MSIX_TABLE [
        /// Which BAR holds the table.
        BIR OFFSET(0) NUMBITS(3) [],
        /// The table's offset in that BAR, in 8-byte units.
        Offset OFFSET(3) NUMBITS(29) []
    ],
    /// An MSI-X table entry's Vector Control.
    pub VECTOR_CONTROL [
        /// The vector is masked: the function holds its message back
        /// (and sends it when unmasked).
        Mask OFFSET(0) NUMBITS(1) []
    ]
];

/// MSI Message Control.
pub const MSI_CONTROL: Register<MsiCapability, u16, MSI_CONTROL::Register, ReadWrite> =
    Register::new(0x02, "MSI Message Control");
/// MSI Message Address, bits 31:2 (bits 1:0 are 0).
pub const MSI_ADDRESS: Register<MsiCapability, u32, (), ReadWrite> =
    Register::new(0x04, "MSI Message Address");
/// MSI Message Upper Address, bits 63:32 (Address64 only).
pub const MSI_UPPER_ADDRESS: Register<MsiCapability, u32, (), ReadWrite> =
    Register::new(0x08, "MSI Message Upper Address");
/// MSI Message Data without Address64.
pub const MSI_DATA_32: Register<MsiCapability, u16, (), ReadWrite> =
    Register::new(0x08, "MSI Message Data");
/// MSI Message Data with Address64.
pub const MSI_DATA_64: Register<MsiCapability, u16, (), ReadWrite> =
    Register::new(0x0c, "MSI Message Data");

/// MSI-X Message Control.
pub const MSIX_CONTROL: Register<MsixCapability, u16, MSIX_CONTROL::Register, ReadWrite> =
    Register::new(0x02, "MSI-X Message Control");
/// MSI-X Table Offset/Table BIR.
pub const MSIX_TABLE: Register<MsixCapability, u32, MSIX_TABLE::Register, ReadOnly> =
    Register::new(0x04, "MSI-X Table Offset/Table BIR");

/// Message Address, bits 31:2 (bits 1:0 are 0).
pub const MESSAGE_ADDRESS: Register<MsixTableEntry, u32, (), ReadWrite> =
    Register::new(0x00, "Message Address");
/// Message Upper Address, bits 63:32.
pub const MESSAGE_UPPER_ADDRESS: Register<MsixTableEntry, u32, (), ReadWrite> =
    Register::new(0x04, "Message Upper Address");
/// Message Data.
pub const MESSAGE_DATA: Register<MsixTableEntry, u32, (), ReadWrite> =
    Register::new(0x08, "Message Data");
/// Vector Control.
pub const VECTOR_CONTROL: Register<MsixTableEntry, u32, VECTOR_CONTROL::Register, ReadWrite> =
    Register::new(0x0c, "Vector Control");

/// A function's MSI capability.
pub struct Msi {
    pub(super) capability: MmioFrame<MsiCapability>,
}

impl Msi {
    /// Vectors the function can use (Multiple Message Capable).
    pub fn vectors(&self) -> u32 {
        let control = self.capability.read(MSI_CONTROL);
        1 << control.read(MSI_CONTROL::MultipleMessageCapable)
    }

    /// Points the function's MSIs at `address` with data `data` (vector n
    /// sends `data | n`, so `data` must be aligned to `vectors`) and enables
    /// MSI with `vectors` vectors (a power of two, at most [`Msi::vectors`]).
    pub fn enable(&self, address: u64, data: u16, vectors: u32) {
        let capability = &self.capability;
        let mut control = capability.read(MSI_CONTROL);
        let multiple_enable = vectors.max(1).ilog2().min(5) as u16;
        capability.write(MSI_ADDRESS, LocalRegisterCopy::new(address as u32));
        let data_register = if control.is_set(MSI_CONTROL::Address64) {
            capability.write(
                MSI_UPPER_ADDRESS,
                LocalRegisterCopy::new((address >> 32) as u32),
            );
            MSI_DATA_64
        } else {
            MSI_DATA_32
        };
        capability.write(data_register, LocalRegisterCopy::new(data));
        control.modify(
            MSI_CONTROL::MultipleMessageEnable.val(multiple_enable) + MSI_CONTROL::Enable::SET,
        );
        capability.write(MSI_CONTROL, control);
    }

    /// Disables MSI.
    pub fn disable(&self) {
        self.capability
            .modify(MSI_CONTROL, MSI_CONTROL::Enable::CLEAR);
    }
}

/// A function's MSI-X capability and table.
pub struct MsiX {
    pub(super) capability: MmioFrame<MsixCapability>,
    /// The table: `vectors` entries inside an assigned memory BAR, mapped
    /// as Device memory for ever.
    pub(super) table: NonNull<u8>,
    pub(super) vectors: u16,
}

impl MsiX {
    /// Number of table entries.
    pub fn vectors(&self) -> u16 {
        self.vectors
    }

    /// Table entry `vector`, if there is one.
    fn entry(&self, vector: u16) -> Option<MmioFrame<MsixTableEntry>> {
        if vector >= self.vectors {
            return None;
        }
        let entry = self
            .table
            .as_ptr()
            .wrapping_add(usize::from(vector) * MsixTableEntry::SIZE);
        let entry = NonNull::new(entry)?;
        // SAFETY: the entry is inside the table (`vector` is below its
        // size), which `Function::msix` found inside an assigned memory BAR
        // that the page tables map as Device memory for ever; only the
        // function's driver and the MSI routing use it.
        Some(unsafe { MmioFrame::new(entry) })
    }

    /// Writes entry `vector` (masked) to send `data` to `address`. Returns
    /// `false` if there is no such entry.
    pub fn set_vector(&self, vector: u16, address: u64, data: u32) -> bool {
        let Some(entry) = self.entry(vector) else {
            return false;
        };
        entry.write_fields(VECTOR_CONTROL, VECTOR_CONTROL::Mask::SET);
        entry.write(MESSAGE_ADDRESS, LocalRegisterCopy::new(address as u32));
        entry.write(
            MESSAGE_UPPER_ADDRESS,
            LocalRegisterCopy::new((address >> 32) as u32),
        );
        entry.write(MESSAGE_DATA, LocalRegisterCopy::new(data));
        true
    }

    /// Reads entry `vector` back: (address, data, masked).
    pub fn vector(&self, vector: u16) -> Option<(u64, u32, bool)> {
        let entry = self.entry(vector)?;
        let low = entry.read(MESSAGE_ADDRESS).get();
        let high = entry.read(MESSAGE_UPPER_ADDRESS).get();
        let data = entry.read(MESSAGE_DATA).get();
        let masked = entry.read(VECTOR_CONTROL).is_set(VECTOR_CONTROL::Mask);
        Some((u64::from(low) | u64::from(high) << 32, data, masked))
    }

    /// Whether MSI-X is enabled and the function not masked.
    pub fn is_enabled(&self) -> bool {
        self.capability
            .read(MSIX_CONTROL)
            .matches_all(MSIX_CONTROL::Enable::SET + MSIX_CONTROL::FunctionMask::CLEAR)
    }

    /// Masks or unmasks entry `vector`.
    pub fn mask(&self, vector: u16, masked: bool) {
        if let Some(entry) = self.entry(vector) {
            entry.write_fields(VECTOR_CONTROL, VECTOR_CONTROL::Mask.val(masked.into()));
        }
    }

    /// Enables MSI-X (and clears the function mask).
    pub fn enable(&self) {
        self.capability.modify(
            MSIX_CONTROL,
            MSIX_CONTROL::Enable::SET + MSIX_CONTROL::FunctionMask::CLEAR,
        );
    }

    /// Disables MSI-X.
    pub fn disable(&self) {
        self.capability
            .modify(MSIX_CONTROL, MSIX_CONTROL::Enable::CLEAR);
    }
}
