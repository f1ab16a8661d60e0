//! The ITS's registers (GITS_*, Arm IHI 0069 12.19): the control frame and,
//! 64 KiB above it, the translation frame with GITS_TRANSLATER.

use super::{FrameKind, ReadOnly, ReadWrite, Register, WriteOnly};
use tock_registers::register_bitfields;

/// The ITS's two 64 KiB frames: control registers, then GITS_TRANSLATER.
#[derive(Debug)]
pub enum Gits {}

impl FrameKind for Gits {
    const SIZE: usize = 0x2_0000;
    const NAME: &'static str = "GITS";
}

// The macro-generated field value enums carry no docs of their own.
#[allow(missing_docs)]
mod fields {
    use super::register_bitfields;

    register_bitfields! [u32,
        /// GITS_CTLR, ITS control register (12.19.6).
        pub GITS_CTLR [
            /// The ITS translates MSIs and processes commands.
            Enabled OFFSET(0) NUMBITS(1) [],
            /// GICv4: implementation defined (formerly EnableVLPI); Linux
            /// sets it with Enabled on a GICv4 ITS and clears it with
            /// Enabled when it quiesces one. RES0 on GICv3.
            ImDe OFFSET(1) NUMBITS(1) []
        ],
        /// GITS_CTLR's read-only fields ([`super::ReadOnlyFields`]).
        pub GITS_CTLR_RO [
            /// The ITS is idle: no command or translation in flight, and with
            /// Enabled = 0 it holds nothing that still needs memory.
            Quiescent OFFSET(31) NUMBITS(1) []
        ],
        /// GITS_IIDR, who made the ITS and which revision (12.19.10).
        pub GITS_IIDR [
            /// JEP106 code of the implementer (0x43b is Arm).
            Implementer OFFSET(0) NUMBITS(12) [],
            /// Minor revision.
            Revision OFFSET(12) NUMBITS(4) [],
            /// Major revision.
            Variant OFFSET(16) NUMBITS(4) [],
            /// The implementer's product.
            ProductID OFFSET(24) NUMBITS(8) []
        ]
    ];

    register_bitfields! [u64,
        /// GITS_TYPER, features of the ITS (12.19.14).
        pub GITS_TYPER [
            /// Physical LPIs are supported.
            Physical OFFSET(0) NUMBITS(1) [],
            /// Virtual LPIs supported (GICv4): a vPE table may exist.
            Virtual OFFSET(1) NUMBITS(1) [],
            /// Bytes per ITT entry, minus one.
            ITT_entry_size OFFSET(4) NUMBITS(4) [],
            /// EventID bits supported, minus one.
            ID_bits OFFSET(8) NUMBITS(5) [],
            /// DeviceID bits supported, minus one.
            Devbits OFFSET(13) NUMBITS(5) [],
            /// An MSI to an unmapped DeviceID can raise a System Error.
            SEIS OFFSET(18) NUMBITS(1) [],
            /// RDbase is a physical address (1) or a processor number (0).
            PTA OFFSET(19) NUMBITS(1) [],
            /// Collections held in the ITS without a collection table.
            HCC OFFSET(24) NUMBITS(8) [],
            /// Collection ID bits minus one; valid when CIL = 1.
            CIDbits OFFSET(32) NUMBITS(4) [],
            /// CIDbits is valid; otherwise collection IDs have 16 bits.
            CIL OFFSET(36) NUMBITS(1) []
        ],
        /// GITS_CBASER, the command queue (12.19.2).
        pub GITS_CBASER [
            /// Queue size in 4 KiB pages, minus one.
            Size OFFSET(0) NUMBITS(8) [],
            /// Shareability of the queue memory.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[51:12\].
            Physical_Address OFFSET(12) NUMBITS(40) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(53) NUMBITS(3) [],
            /// Inner cacheability.
            InnerCache OFFSET(59) NUMBITS(3) [],
            /// The ITS may use the queue.
            Valid OFFSET(63) NUMBITS(1) []
        ],
        /// GITS_CWRITER, where software writes the next command (12.19.5).
        pub GITS_CWRITER [
            /// Restart a stalled queue.
            Retry OFFSET(0) NUMBITS(1) [],
            /// Byte offset into the queue, in 32-byte units from bit 5.
            Offset OFFSET(5) NUMBITS(15) []
        ],
        /// GITS_CREADR, where the ITS reads the next command (12.19.4).
        pub GITS_CREADR [
            /// Command processing stalled on an error.
            Stalled OFFSET(0) NUMBITS(1) [],
            /// Byte offset into the queue, in 32-byte units from bit 5.
            Offset OFFSET(5) NUMBITS(15) []
        ],
        /// GITS_BASERn, a table the ITS keeps in memory (12.19.1).
        pub GITS_BASER [
            /// Table size in pages, minus one.
            Size OFFSET(0) NUMBITS(8) [],
            /// Page size of the table.
            Page_Size OFFSET(8) NUMBITS(2) [
                Size4K = 0,
                Size16K = 1,
                Size64K = 2
            ],
            /// Shareability of the table memory.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[47:12\]; with 64 KiB pages bits \[15:12\]
            /// hold address bits \[51:48\].
            Physical_Address OFFSET(12) NUMBITS(36) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(53) NUMBITS(3) [],
            /// Inner cacheability.
            InnerCache OFFSET(59) NUMBITS(3) [],
            /// Two-level table: entries point at level-2 pages.
            Indirect OFFSET(62) NUMBITS(1) [],
            /// The ITS may use the table.
            Valid OFFSET(63) NUMBITS(1) []
        ],
        /// GITS_BASERn's read-only fields ([`super::ReadOnlyFields`]).
        pub GITS_BASER_RO [
            /// Bytes per table entry, minus one (read-only).
            Entry_Size OFFSET(48) NUMBITS(5) [],
            /// What the table holds (read-only).
            Type OFFSET(56) NUMBITS(3) [
                Unimplemented = 0,
                Devices = 1,
                VPEs = 2,
                Collections = 4
            ]
        ]
    ];
}

pub use fields::*;

/// GITS_CTLR (12.19.6).
pub const GITS_CTLR: Register<Gits, u32, GITS_CTLR::Register, ReadWrite> =
    Register::new(0x0000, "GITS_CTLR");
/// GITS_IIDR (12.19.10).
pub const GITS_IIDR: Register<Gits, u32, GITS_IIDR::Register, ReadOnly> =
    Register::new(0x0004, "GITS_IIDR");
/// GITS_TYPER (12.19.14).
pub const GITS_TYPER: Register<Gits, u64, GITS_TYPER::Register, ReadOnly> =
    Register::new(0x0008, "GITS_TYPER");
/// GITS_CBASER (12.19.2).
pub const GITS_CBASER: Register<Gits, u64, GITS_CBASER::Register, ReadWrite> =
    Register::new(0x0080, "GITS_CBASER");
/// GITS_CWRITER (12.19.5).
pub const GITS_CWRITER: Register<Gits, u64, GITS_CWRITER::Register, ReadWrite> =
    Register::new(0x0088, "GITS_CWRITER");
/// GITS_CREADR (12.19.4).
pub const GITS_CREADR: Register<Gits, u64, GITS_CREADR::Register, ReadOnly> =
    Register::new(0x0090, "GITS_CREADR");
/// GITS_BASER0..7 (12.19.1).
pub const GITS_BASER: [Register<Gits, u64, GITS_BASER::Register, ReadWrite>; 8] = [
    Register::new(0x0100, "GITS_BASER0"),
    Register::new(0x0108, "GITS_BASER1"),
    Register::new(0x0110, "GITS_BASER2"),
    Register::new(0x0118, "GITS_BASER3"),
    Register::new(0x0120, "GITS_BASER4"),
    Register::new(0x0128, "GITS_BASER5"),
    Register::new(0x0130, "GITS_BASER6"),
    Register::new(0x0138, "GITS_BASER7"),
];
/// GITS_TRANSLATER (12.19.15), in the translation frame: a write is an MSI
/// (EventID as data) from whatever DeviceID the interconnect gives the
/// writer (0 for a CPU on QEMU).
pub const GITS_TRANSLATER: Register<Gits, u32, (), WriteOnly> =
    Register::new(0x1_0040, "GITS_TRANSLATER");
