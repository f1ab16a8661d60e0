//! A function's configuration space (PCI Local Bus 3.0 chapter 6, PCIe Base
//! 6.1 7.5.1): the type 0 header registers the enumerator uses, and the
//! capability list, whose structures are frames placed at their offsets.

use core::ptr::NonNull;
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{FrameKind, ReadOnly, ReadWrite, Register, RegisterFrame};
use gicv3_its::tock_registers::register_bitfields;

/// A function's 4 KiB of configuration space in the ECAM window.
#[derive(Debug)]
pub enum ConfigSpace {}

impl FrameKind for ConfigSpace {
    const SIZE: usize = 0x1000;
    const NAME: &'static str = "PCI configuration space";
}

register_bitfields! [u32,
    /// Vendor ID (00h) and Device ID (02h), read as one dword: all ones
    /// when no function answers.
    pub ID [
        /// Who made the function; 0xffff when there is none.
        VendorID OFFSET(0) NUMBITS(16) [],
        /// The vendor's device.
        DeviceID OFFSET(16) NUMBITS(16) []
    ],
    /// Revision ID (08h) and Class Code (09h), read as one dword.
    pub CLASS_REVISION [
        /// The vendor's revision of the device.
        RevisionID OFFSET(0) NUMBITS(8) [],
        /// Base class, subclass and programming interface.
        ClassCode OFFSET(8) NUMBITS(24) []
    ],
    /// A Base Address Register (10h..24h in a type 0 header).
    pub BAR [
        /// The BAR decodes I/O space, not memory.
        IoSpace OFFSET(0) NUMBITS(1) [],
        /// Where a memory BAR can be placed.
        Type OFFSET(1) NUMBITS(2) [
            Bits32 = 0,
            Bits64 = 2
        ],
        /// Reads have no side effects.
        Prefetchable OFFSET(3) NUMBITS(1) [],
        /// Address bits 31:4; the bits the function does not decode read
        /// 0 after all ones are written, which gives the BAR's size.
        Address OFFSET(4) NUMBITS(28) []
    ]
];

register_bitfields! [u16,
    /// Command (04h).
    pub COMMAND [
        /// The function decodes its I/O BARs.
        IoSpace OFFSET(0) NUMBITS(1) [],
        /// The function decodes its memory BARs.
        MemorySpace OFFSET(1) NUMBITS(1) [],
        /// The function may issue memory requests: DMA, and MSIs, which
        /// are memory writes.
        BusMaster OFFSET(2) NUMBITS(1) [],
        /// INTx is not asserted.
        InterruptDisable OFFSET(10) NUMBITS(1) []
    ],
    /// Status (06h).
    pub STATUS [
        /// The function has a capability list (Capabilities Pointer).
        CapabilitiesList OFFSET(4) NUMBITS(1) []
    ]
];

register_bitfields! [u8,
    /// Header Type (0Eh).
    pub HEADER_TYPE [
        /// The header's layout: 0 for an endpoint, 1 for a bridge.
        Layout OFFSET(0) NUMBITS(7) [],
        /// The device has functions other than 0.
        MultiFunction OFFSET(7) NUMBITS(1) []
    ]
];

/// Vendor ID and Device ID.
pub const ID: Register<ConfigSpace, u32, ID::Register, ReadOnly> =
    Register::new(0x00, "Vendor ID, Device ID");
/// Command.
pub const COMMAND: Register<ConfigSpace, u16, COMMAND::Register, ReadWrite> =
    Register::new(0x04, "Command");
/// Status. Read-write: its error bits are write-1-to-clear, though the
/// kernel never clears them.
pub const STATUS: Register<ConfigSpace, u16, STATUS::Register, ReadWrite> =
    Register::new(0x06, "Status");
/// Revision ID and Class Code.
pub const CLASS_REVISION: Register<ConfigSpace, u32, CLASS_REVISION::Register, ReadOnly> =
    Register::new(0x08, "Revision ID, Class Code");
/// Header Type.
pub const HEADER_TYPE: Register<ConfigSpace, u8, HEADER_TYPE::Register, ReadOnly> =
    Register::new(0x0e, "Header Type");
/// The six Base Address Registers of a type 0 header. A 64-bit memory BAR
/// takes two: the next one holds address bits 63:32.
pub const BARS: [Register<ConfigSpace, u32, BAR::Register, ReadWrite>; 6] = [
    Register::new(0x10, "BAR0"),
    Register::new(0x14, "BAR1"),
    Register::new(0x18, "BAR2"),
    Register::new(0x1c, "BAR3"),
    Register::new(0x20, "BAR4"),
    Register::new(0x24, "BAR5"),
];
/// Capabilities Pointer: the offset of the first capability (bits 1:0
/// reserved).
pub const CAPABILITIES_POINTER: Register<ConfigSpace, u8, (), ReadOnly> =
    Register::new(0x34, "Capabilities Pointer");

/// A structure in configuration space at an offset only known at run time
/// (a capability): its registers are at most 32 bits wide, so a dword
/// aligned offset aligns them all.
pub trait ConfigStructure: FrameKind {}

/// The header every capability starts with (PCI Local Bus 3.0 6.7).
#[derive(Debug)]
pub enum Capability {}

impl FrameKind for Capability {
    const SIZE: usize = 2;
    const NAME: &'static str = "PCI capability header";
}

impl ConfigStructure for Capability {}

/// Capability ID: what the structure is.
const CAPABILITY_ID: Register<Capability, u8, (), ReadOnly> = Register::new(0, "Capability ID");
/// Next Capability Pointer: the next structure's offset, below 40h at the
/// end of the list (bits 1:0 reserved).
const NEXT_CAPABILITY: Register<Capability, u8, (), ReadOnly> =
    Register::new(1, "Next Capability Pointer");

/// The `K` structure at `offset` of the configuration space `config`, if it
/// lies inside it at a dword-aligned offset.
pub fn structure<K: ConfigStructure>(
    config: &MmioFrame<ConfigSpace>,
    offset: usize,
) -> Option<MmioFrame<K>> {
    if !offset.is_multiple_of(4) || offset.checked_add(K::SIZE)? > ConfigSpace::SIZE {
        return None;
    }
    let base = NonNull::new(config.base().as_ptr().wrapping_add(offset))?;
    // SAFETY: the structure lies inside the function's configuration space
    // (checked above), which the enumerator found in the ECAM window, mapped
    // as Device memory for ever (paging.rs), and which only the enumerator
    // and the function's driver use.
    Some(unsafe { MmioFrame::new(base) })
}

/// The capabilities of the function whose configuration space is `config`,
/// as (ID, offset).
pub fn capabilities(config: &MmioFrame<ConfigSpace>) -> impl Iterator<Item = (u8, usize)> + '_ {
    let mut next = if config.read(STATUS).is_set(STATUS::CapabilitiesList) {
        usize::from(config.read(CAPABILITIES_POINTER).get() & 0xfc)
    } else {
        0
    };
    // At most 48 capabilities fit in 256 bytes: stop a malformed loop.
    (0..48).map_while(move |_| {
        if next < 0x40 {
            return None;
        }
        let offset = next;
        let header = structure::<Capability>(config, offset)?;
        next = usize::from(header.read(NEXT_CAPABILITY).get() & 0xfc);
        Some((header.read(CAPABILITY_ID).get(), offset))
    })
}
