//! The GIC registers this kernel programs itself, beside the ITS driver's:
//! the distributor's (GICD_*, Arm IHI 0069 12.9) and the one it needs in a
//! redistributor's SGI_base frame (12.11). Of the RD_base frame it uses
//! GICR_WAKER and GICR_TYPER, which the crate describes
//! ([`gicv3_its::registers::Gicr`]); VLPIS, which the crate's GICR_TYPER
//! has no field for, is described here as a field of that register.

use gicv3_its::registers::{FrameKind, GICR_TYPER, ReadOnly, ReadWrite, Register};
use gicv3_its::tock_registers::fields::Field;
use gicv3_its::tock_registers::register_bitfields;

/// The distributor's 64 KiB frame.
#[derive(Debug)]
pub enum Gicd {}

impl FrameKind for Gicd {
    const SIZE: usize = 0x1_0000;
    const NAME: &'static str = "GICD";
}

/// A redistributor's SGI_base frame: the 64 KiB after RD_base, with the
/// SGIs' and PPIs' registers.
#[derive(Debug)]
pub enum GicrSgi {}

impl FrameKind for GicrSgi {
    const SIZE: usize = 0x1_0000;
    const NAME: &'static str = "GICR SGI_base";
}

/// Where a redistributor's SGI_base frame is, from its RD_base.
pub const SGI_BASE_OFFSET: usize = 0x1_0000;

register_bitfields! [u32,
    /// GICD_CTLR, distributor control (12.9.4), as a kernel sees it with
    /// one security state (QEMU's `virt` without `secure=on`) or from
    /// the Non-secure side.
    pub GICD_CTLR [
        /// Group 1 interrupts are forwarded (EnableGrp1 with one security
        /// state).
        EnableGrp1NS OFFSET(1) NUMBITS(1) [],
        /// Affinity routing is enabled (ARE with one security state).
        ARE_NS OFFSET(4) NUMBITS(1) [],
        /// Register write pending: a write to GICD_CTLR is still taking
        /// effect.
        RWP OFFSET(31) NUMBITS(1) []
    ],
    /// GICD_TYPER, what the distributor supports (12.9.38).
    pub GICD_TYPER [
        /// Blocks of 32 INTIDs the distributor implements, minus one:
        /// SPIs go up to 32 * (ITLinesNumber + 1) - 1.
        ITLinesNumber OFFSET(0) NUMBITS(5) [],
        /// INTID bits supported, minus one.
        IDbits OFFSET(19) NUMBITS(5) []
    ]
];

/// GICD_CTLR (12.9.4).
pub const GICD_CTLR: Register<Gicd, u32, GICD_CTLR::Register, ReadWrite> =
    Register::new(0x0000, "GICD_CTLR");
/// GICD_TYPER (12.9.38).
pub const GICD_TYPER: Register<Gicd, u32, GICD_TYPER::Register, ReadOnly> =
    Register::new(0x0004, "GICD_TYPER");

/// One of a distributor's banks of one-bit-per-INTID registers, for INTIDs
/// 32 * n .. 32 * n + 32. Bank 0 (SGIs and PPIs) is the redistributors'
/// with affinity routing; a write of 1 acts on that INTID, of 0 does
/// nothing (the set/clear registers) or sets group 0 (GICD_IGROUPR).
pub type DistributorBank = Register<Gicd, u32, (), ReadWrite>;

/// The 32 registers of a bank starting at `base`.
const fn bank(base: usize, name: &'static str) -> [DistributorBank; 32] {
    let mut registers = [Register::new(base, name); 32];
    let mut n = 1;
    while n < 32 {
        registers[n] = Register::new(base + 4 * n, name);
        n += 1;
    }
    registers
}

/// GICD_IGROUPRn (12.9.15): 1 puts the INTID in group 1.
pub const GICD_IGROUPR: [DistributorBank; 32] = bank(0x0080, "GICD_IGROUPRn");
/// GICD_ICENABLERn (12.9.7): 1 disables forwarding of the INTID.
pub const GICD_ICENABLER: [DistributorBank; 32] = bank(0x0180, "GICD_ICENABLERn");
/// GICD_ICPENDRn (12.9.9): 1 clears the INTID's pending state.
pub const GICD_ICPENDR: [DistributorBank; 32] = bank(0x0280, "GICD_ICPENDRn");
/// GICD_ICACTIVERn (12.9.6): 1 clears the INTID's active state.
pub const GICD_ICACTIVER: [DistributorBank; 32] = bank(0x0380, "GICD_ICACTIVERn");

/// GICR_IGROUPR0 (12.11): the group of each SGI and PPI, one bit per
/// INTID 0..32 (1: group 1).
pub const GICR_IGROUPR0: Register<GicrSgi, u32, (), ReadWrite> =
    Register::new(0x0080, "GICR_IGROUPR0");
/// GICR_ICENABLER0 (12.11.8): 1 disables the SGI or PPI.
pub const GICR_ICENABLER0: Register<GicrSgi, u32, (), ReadWrite> =
    Register::new(0x0180, "GICR_ICENABLER0");
/// GICR_ICPENDR0 (12.11.10): 1 clears the SGI's or PPI's pending state.
pub const GICR_ICPENDR0: Register<GicrSgi, u32, (), ReadWrite> =
    Register::new(0x0280, "GICR_ICPENDR0");
/// GICR_ICACTIVER0 (12.11.7): 1 clears the SGI's or PPI's active state.
pub const GICR_ICACTIVER0: Register<GicrSgi, u32, (), ReadWrite> =
    Register::new(0x0380, "GICR_ICACTIVER0");

/// GICR_ISENABLER0 (12.11.17): writing 1 to bit n enables SGI or PPI n;
/// zeroes change nothing.
pub const GICR_ISENABLER0: Register<GicrSgi, u32, (), ReadWrite> =
    Register::new(0x0100, "GICR_ISENABLER0");

/// GICR_TYPER.VLPIS (12.11.39): the redistributor supports virtual LPIs
/// (GICv4), so its frames are followed by VLPI_base and a reserved frame.
pub const GICR_TYPER_VLPIS: Field<u64, GICR_TYPER::Register> = Field::new(1, 1);
