//! The two distributor registers an LPI needs (GICD_*, Arm IHI 0069 12.9):
//! affinity routing and group 1 enabled, and the INTID bits supported.

use super::{FrameKind, ReadOnly, ReadWrite, Register};
use tock_registers::register_bitfields;

/// The distributor's 64 KiB frame.
#[derive(Debug)]
pub enum Gicd {}

impl FrameKind for Gicd {
    const SIZE: usize = 0x1_0000;
    const NAME: &'static str = "GICD";
}

// The macro-generated field value enums carry no docs of their own.
#[allow(missing_docs)]
mod fields {
    use super::register_bitfields;

    register_bitfields! [u32,
        /// GICD_CTLR, distributor control (12.9.4), as a kernel sees it with
        /// one security state (QEMU's `virt` without `secure=on`) or from
        /// the Non-secure side.
        pub GICD_CTLR [
            /// Group 1 interrupts are forwarded (EnableGrp1 with one
            /// security state, EnableGrp1NS from the Non-secure side).
            EnableGrp1NS OFFSET(1) NUMBITS(1) [],
            /// Affinity routing is enabled (ARE with one security state).
            ARE_NS OFFSET(4) NUMBITS(1) []
        ],
        /// GICD_CTLR's read-only fields ([`super::ReadOnlyFields`]).
        pub GICD_CTLR_RO [
            /// Register write pending: a write to GICD_CTLR is still
            /// taking effect.
            RWP OFFSET(31) NUMBITS(1) []
        ],
        /// GICD_TYPER, what the distributor supports (12.9.38).
        pub GICD_TYPER [
            /// Blocks of 32 INTIDs the distributor implements, minus one:
            /// SPIs go up to 32 * (ITLinesNumber + 1) - 1.
            ITLinesNumber OFFSET(0) NUMBITS(5) [],
            /// LPIs are supported.
            LPIS OFFSET(17) NUMBITS(1) [],
            /// INTID bits supported, minus one.
            IDbits OFFSET(19) NUMBITS(5) []
        ]
    ];
}

pub use fields::*;

/// GICD_CTLR (12.9.4).
pub const GICD_CTLR: Register<Gicd, u32, GICD_CTLR::Register, ReadWrite> =
    Register::new(0x0000, "GICD_CTLR");
/// GICD_TYPER (12.9.38).
pub const GICD_TYPER: Register<Gicd, u32, GICD_TYPER::Register, ReadOnly> =
    Register::new(0x0004, "GICD_TYPER");
