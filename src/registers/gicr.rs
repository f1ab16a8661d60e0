//! The LPI registers of a redistributor's RD_base frame, and on GICv4 the
//! two of its VLPI_base frame that say whether a vPE is resident (GICR_*,
//! Arm IHI 0069 12.11).

use super::{FrameKind, ReadOnly, ReadWrite, Register, WriteOnly};
use tock_registers::register_bitfields;

/// A redistributor's 64 KiB RD_base frame.
#[derive(Debug)]
pub enum Gicr {}

impl FrameKind for Gicr {
    const SIZE: usize = 0x1_0000;
    const NAME: &'static str = "GICR RD_base";
}

/// A GICv4 redistributor's 64 KiB VLPI_base frame, 128 KiB above its
/// RD_base frame (present only where GICR_TYPER.VLPIS = 1).
#[derive(Debug)]
pub enum GicrVlpi {}

impl FrameKind for GicrVlpi {
    const SIZE: usize = 0x1_0000;
    const NAME: &'static str = "GICR VLPI_base";
}

// The macro-generated field value enums carry no docs of their own.
#[allow(missing_docs)]
mod fields {
    use super::register_bitfields;

    register_bitfields! [u32,
        /// GICR_CTLR, redistributor control register (12.11.2).
        pub GICR_CTLR [
            /// LPIs are enabled for this redistributor.
            EnableLPIs OFFSET(0) NUMBITS(1) []
        ],
        /// GICR_CTLR's read-only fields ([`super::ReadOnlyFields`]).
        pub GICR_CTLR_RO [
            /// EnableLPIs can be cleared once set (GICv3.1+; otherwise unknown).
            CES OFFSET(1) NUMBITS(1) [],
            /// Register write pending: an EnableLPIs change is still in progress.
            RWP OFFSET(3) NUMBITS(1) [],
            /// Upstream write pending (distributor writes in flight).
            UWP OFFSET(31) NUMBITS(1) []
        ],
        /// GICR_IIDR, who made the redistributor (12.11.16).
        pub GICR_IIDR [
            /// JEP106 code of the implementer (0x43b is Arm).
            Implementer OFFSET(0) NUMBITS(12) [],
            /// Minor revision.
            Revision OFFSET(12) NUMBITS(4) [],
            /// Major revision.
            Variant OFFSET(16) NUMBITS(4) [],
            /// The implementer's product.
            ProductID OFFSET(24) NUMBITS(8) []
        ],
        /// GICR_WAKER, redistributor power management (12.11.43).
        pub GICR_WAKER [
            /// The connected PE is asleep as far as the redistributor is concerned.
            ProcessorSleep OFFSET(1) NUMBITS(1) [],
            /// The interface to the PE is quiescent.
            ChildrenAsleep OFFSET(2) NUMBITS(1) []
        ],
        /// GICR_PWRR, power of the redistributor on Arm's GIC-600, GIC-600AE
        /// and GIC-700 (implementation defined; Secure, or Non-secure with
        /// GICD_CTLR.DS = 1).
        pub GICR_PWRR [
            /// The redistributor may be powered down (1), or is powered up and
            /// accessible (0).
            RDPD OFFSET(0) NUMBITS(1) [],
            /// Apply RDPD to every redistributor of the group (write-only).
            RDAG OFFSET(1) NUMBITS(1) []
        ],
        /// GICR_PWRR's read-only fields ([`super::ReadOnlyFields`]).
        pub GICR_PWRR_RO [
            /// The group's intended state: powered down.
            RDGPD OFFSET(2) NUMBITS(1) [],
            /// The group's actual state: powered off. The group has reached
            /// its intended state when RDGPD = RDGPO.
            RDGPO OFFSET(3) NUMBITS(1) []
        ],
        /// GICR_SYNCR, completion of GICR_INVLPIR/INVALLR/CLRLPIR (12.11.42).
        pub GICR_SYNCR [
            /// An invalidation or clear is still in progress.
            Busy OFFSET(0) NUMBITS(1) []
        ]
    ];

    register_bitfields! [u64,
        /// GICR_TYPER, features of a redistributor (12.11.39).
        pub GICR_TYPER [
            /// Physical LPIs are supported.
            PLPIS OFFSET(0) NUMBITS(1) [],
            /// Virtual LPIs are supported (GICv4): the VLPI_base frame exists.
            VLPIS OFFSET(1) NUMBITS(1) [],
            /// GICR_VPENDBASER.Dirty reports when the redistributor is done
            /// with a vPE table after its Valid changed.
            Dirty OFFSET(2) NUMBITS(1) [],
            /// GICR_INVLPIR, GICR_INVALLR and GICR_SYNCR are implemented.
            DirectLPI OFFSET(3) NUMBITS(1) [],
            /// This is the last redistributor in its region.
            Last OFFSET(4) NUMBITS(1) [],
            /// GICv4.1: GICR_VPENDBASER names a vPE by ID, and
            /// GICR_VPROPBASER describes the vPE table (with a Valid bit).
            RVPEID OFFSET(7) NUMBITS(1) [],
            /// Processor number, as the ITS's RDbase when GITS_TYPER.PTA = 0.
            Processor_Number OFFSET(8) NUMBITS(16) [],
            /// Affinity of the connected PE (Aff3.Aff2.Aff1.Aff0).
            Affinity_Value OFFSET(32) NUMBITS(32) []
        ],
        /// GICR_PROPBASER, the LPI configuration table (12.11.33).
        pub GICR_PROPBASER [
            /// Number of interrupt ID bits, minus one.
            IDbits OFFSET(0) NUMBITS(5) [],
            /// Inner cacheability.
            InnerCache OFFSET(7) NUMBITS(3) [],
            /// Shareability.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[51:12\].
            Physical_Address OFFSET(12) NUMBITS(40) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(56) NUMBITS(3) []
        ],
        /// GICR_PENDBASER, the LPI pending table of one redistributor (12.11.29).
        pub GICR_PENDBASER [
            /// Inner cacheability.
            InnerCache OFFSET(7) NUMBITS(3) [],
            /// Shareability.
            Shareability OFFSET(10) NUMBITS(2) [],
            /// Physical address bits \[51:16\].
            Physical_Address OFFSET(16) NUMBITS(36) [],
            /// Outer cacheability; 0 means same as inner.
            OuterCache OFFSET(56) NUMBITS(3) [],
            /// The pending table is all zero: the GIC need not scan it.
            PTZ OFFSET(62) NUMBITS(1) []
        ],
        /// GICR_VPENDBASER, the vPE resident on the redistributor (GICv4,
        /// 12.11.38): its pending table (GICv4.0) or its ID (GICv4.1).
        /// While Valid = 1 the redistributor reads and writes that vPE's
        /// pending table.
        pub GICR_VPENDBASER [
            /// A vPE is resident.
            Valid OFFSET(63) NUMBITS(1) [],
            /// GICv4.1: the redistributor is still parsing (Valid 0 to 1) or
            /// writing back (1 to 0) the vPE's pending table (read-only;
            /// GICv4.0 too where GICR_TYPER.Dirty = 1).
            Dirty OFFSET(60) NUMBITS(1) [],
            /// The last resident vPE had interrupts pending; written with
            /// Valid = 0 on GICv4.1, it asks for no doorbell.
            PendingLast OFFSET(61) NUMBITS(1) []
        ],
        /// GICR_VPROPBASER (GICv4, 12.11.37): the vLPI configuration table
        /// (GICv4.0), or the vPE table this redistributor reads (GICv4.1).
        pub GICR_VPROPBASER [
            /// GICv4.1: the vPE table is valid.
            Valid OFFSET(63) NUMBITS(1) []
        ],
        /// GICR_INVLPIR, invalidate the cached configuration of one LPI (12.11.27).
        pub GICR_INVLPIR [
            /// The LPI's INTID.
            INTID OFFSET(0) NUMBITS(32) []
        ]
    ];
}

pub use fields::*;

/// GICR_CTLR (12.11.2).
pub const GICR_CTLR: Register<Gicr, u32, GICR_CTLR::Register, ReadWrite> =
    Register::new(0x0000, "GICR_CTLR");
/// GICR_IIDR (12.11.16).
pub const GICR_IIDR: Register<Gicr, u32, GICR_IIDR::Register, ReadOnly> =
    Register::new(0x0004, "GICR_IIDR");
/// GICR_TYPER (12.11.39).
pub const GICR_TYPER: Register<Gicr, u64, GICR_TYPER::Register, ReadOnly> =
    Register::new(0x0008, "GICR_TYPER");
/// GICR_WAKER (12.11.43).
pub const GICR_WAKER: Register<Gicr, u32, GICR_WAKER::Register, ReadWrite> =
    Register::new(0x0014, "GICR_WAKER");
/// GICR_PWRR (GIC-600/700 only, implementation defined).
pub const GICR_PWRR: Register<Gicr, u32, GICR_PWRR::Register, ReadWrite> =
    Register::new(0x0024, "GICR_PWRR");
/// GICR_PROPBASER (12.11.33).
pub const GICR_PROPBASER: Register<Gicr, u64, GICR_PROPBASER::Register, ReadWrite> =
    Register::new(0x0070, "GICR_PROPBASER");
/// GICR_PENDBASER (12.11.29).
pub const GICR_PENDBASER: Register<Gicr, u64, GICR_PENDBASER::Register, ReadWrite> =
    Register::new(0x0078, "GICR_PENDBASER");
/// GICR_INVLPIR (12.11.27).
pub const GICR_INVLPIR: Register<Gicr, u64, GICR_INVLPIR::Register, WriteOnly> =
    Register::new(0x00a0, "GICR_INVLPIR");
/// GICR_INVALLR (12.11.26).
pub const GICR_INVALLR: Register<Gicr, u64, (), WriteOnly> = Register::new(0x00b0, "GICR_INVALLR");
/// GICR_VPROPBASER (GICv4, 12.11.37), in the VLPI_base frame.
pub const GICR_VPROPBASER: Register<GicrVlpi, u64, GICR_VPROPBASER::Register, ReadWrite> =
    Register::new(0x0070, "GICR_VPROPBASER");
/// GICR_VPENDBASER (GICv4, 12.11.38), in the VLPI_base frame.
pub const GICR_VPENDBASER: Register<GicrVlpi, u64, GICR_VPENDBASER::Register, ReadWrite> =
    Register::new(0x0078, "GICR_VPENDBASER");
/// GICR_SYNCR (12.11.42).
pub const GICR_SYNCR: Register<Gicr, u32, GICR_SYNCR::Register, ReadOnly> =
    Register::new(0x00c0, "GICR_SYNCR");
