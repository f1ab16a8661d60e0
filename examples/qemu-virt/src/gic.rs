//! The parts of the GICv3 the ITS driver does not own: the distributor's
//! global enables, waking this CPU's redistributor, and the CPU interface
//! (ICC_* system registers). Arm IHI 0069 chapters 12.9, 12.11, 12.2.
//!
//! Why not the arm-gic crate: its `GicV3::new` requires that nothing else
//! alias the redistributor frames, while the ITS driver's `GicrMmio` must
//! own the LPI registers of the same RD_base frame. This module touches only
//! GICR_WAKER and GICR_TYPER there, which `GicrMmio::new` allows.

use crate::cpu;
use crate::mmio::{read32, read64, write32};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use core::time::Duration;

const GICD_CTLR: usize = 0x0;
const GICD_TYPER: usize = 0x4;
/// GICD_CTLR.RWP: a write to GICD_CTLR is still taking effect.
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICD_CTLR.ARE_NS (ARE with one security state).
const GICD_CTLR_ARE_NS: u32 = 1 << 4;
/// GICD_CTLR.EnableGrp1NS (EnableGrp1 with one security state).
const GICD_CTLR_ENABLE_GRP1_NS: u32 = 1 << 1;

const GICR_TYPER: usize = 0x8;
const GICR_TYPER_VLPIS: u64 = 1 << 1;
const GICR_TYPER_LAST: u64 = 1 << 4;
const GICR_WAKER: usize = 0x14;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The SGI/PPI frame follows RD_base.
const SGI_BASE: usize = 0x1_0000;
const GICR_IGROUPR0: usize = 0x80;

/// INTIDs 1020..=1023 are special: nothing to acknowledge.
pub const SPURIOUS: u32 = 1023;

/// What went wrong bringing up the GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// No redistributor's GICR_TYPER.Affinity matches this CPU.
    NoRedistributor {
        /// This CPU's affinity.
        affinity: u32,
    },
    /// A register did not settle in time.
    Timeout(&'static str),
}

impl fmt::Display for GicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRedistributor { affinity } => {
                write!(f, "no redistributor for affinity {affinity:#x}")
            }
            Self::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

/// The distributor and this CPU's redistributor and CPU interface.
pub struct Gic {
    gicd: usize,
    gicr_regions: Vec<Range<u64>>,
    rd_base: usize,
}

impl Gic {
    /// Enables affinity routing and group 1 at the distributor, wakes this
    /// CPU's redistributor (found among `gicr_regions` by affinity) and
    /// enables the CPU interface for group 1 at every priority.
    ///
    /// # Safety
    /// `gicd` must be the distributor's frame and `gicr_regions` the
    /// redistributor regions, mapped as Device memory for ever. Nothing else
    /// may use the distributor; on the redistributors only the LPI registers
    /// (the ITS driver) may be used by others.
    pub unsafe fn init(gicd: u64, gicr_regions: &[Range<u64>]) -> Result<Self, GicError> {
        let gicd = gicd as usize;
        // SAFETY: the caller promised the distributor is mapped and ours.
        unsafe {
            write32(gicd + GICD_CTLR, 0);
            wait("GICD_CTLR.RWP", || {
                read32(gicd + GICD_CTLR) & GICD_CTLR_RWP == 0
            })?;
            write32(
                gicd + GICD_CTLR,
                GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_GRP1_NS,
            );
            wait("GICD_CTLR.RWP", || {
                read32(gicd + GICD_CTLR) & GICD_CTLR_RWP == 0
            })?;
        }
        let mut gic = Self {
            gicd,
            gicr_regions: gicr_regions.to_vec(),
            rd_base: 0,
        };
        gic.rd_base = gic.wake_redistributor(cpu::affinity())? as usize;
        cpu_interface::enable();
        Ok(gic)
    }

    /// Finds the redistributor of the CPU with `affinity`, wakes it
    /// (GICR_WAKER.ProcessorSleep = 0) and puts its SGIs and PPIs in group 1.
    /// Returns its RD_base. Any CPU may do this for any other.
    pub fn wake_redistributor(&self, affinity: u32) -> Result<u64, GicError> {
        // SAFETY: (whole block) `init`'s caller promised the regions are
        // mapped redistributors whose non-LPI registers are ours.
        unsafe {
            let rd_base = find_redistributor(&self.gicr_regions, affinity)
                .ok_or(GicError::NoRedistributor { affinity })?;
            let waker = read32(rd_base + GICR_WAKER);
            write32(rd_base + GICR_WAKER, waker & !GICR_WAKER_PROCESSOR_SLEEP);
            wait("GICR_WAKER.ChildrenAsleep", || {
                read32(rd_base + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP == 0
            })?;
            // SGIs and PPIs in group 1 (none is enabled; LPIs are always
            // group 1).
            write32(rd_base + SGI_BASE + GICR_IGROUPR0, u32::MAX);
            Ok(rd_base as u64)
        }
    }

    /// Physical address of this CPU's RD_base frame (identity mapped).
    pub fn rd_base(&self) -> u64 {
        self.rd_base as u64
    }

    /// INTID bits the GIC supports (GICD_TYPER.IDbits + 1): the limit for
    /// LPI INTIDs.
    pub fn lpi_id_bits(&self) -> u32 {
        // SAFETY: GICD_TYPER of the distributor `init` was given.
        let typer = unsafe { read32(self.gicd + GICD_TYPER) };
        ((typer >> 19) & 0x1f) + 1
    }

    /// Physical address of the distributor.
    pub fn gicd(&self) -> u64 {
        self.gicd as u64
    }
}

/// RD_base of the redistributor whose GICR_TYPER.Affinity is `affinity`.
///
/// # Safety
/// The regions must be mapped redistributor regions.
unsafe fn find_redistributor(regions: &[Range<u64>], affinity: u32) -> Option<usize> {
    for region in regions {
        let mut frame = region.start as usize;
        while frame < region.end as usize {
            // SAFETY: `frame` is inside a mapped redistributor region.
            let typer = unsafe { read64(frame + GICR_TYPER) };
            if (typer >> 32) as u32 == affinity {
                return Some(frame);
            }
            if typer & GICR_TYPER_LAST != 0 {
                break;
            }
            // RD_base and SGI_base, plus VLPI_base and a reserved frame on GICv4.
            frame += if typer & GICR_TYPER_VLPIS != 0 {
                0x4_0000
            } else {
                0x2_0000
            };
        }
    }
    None
}

fn wait(what: &'static str, done: impl FnMut() -> bool) -> Result<(), GicError> {
    if cpu::wait_until(Duration::from_millis(100), done) {
        Ok(())
    } else {
        Err(GicError::Timeout(what))
    }
}

/// The GICv3 CPU interface of the running CPU (ICC_*_EL1, 12.2).
pub mod cpu_interface {
    /// Enables the system-register interface, unmasks every priority and
    /// enables group 1 interrupts.
    pub fn enable() {
        // SAFETY: these are this CPU's own GIC system registers; EL2 (if any)
        // allowed EL1 to use them (boot.rs). ICC_SRE_EL1 = SRE | DFB | DIB,
        // ICC_PMR_EL1 = 0xff (no priority masked), ICC_BPR1_EL1 = 0,
        // ICC_CTLR_EL1 = 0 (EOI also deactivates), ICC_IGRPEN1_EL1 = 1.
        unsafe {
            core::arch::asm!(
                "mrs {t}, s3_0_c12_c12_5",
                "orr {t}, {t}, #7",
                "msr s3_0_c12_c12_5, {t}",
                "isb",
                "mov {t}, #0xff",
                "msr s3_0_c4_c6_0, {t}",
                "msr s3_0_c12_c12_3, xzr",
                "msr s3_0_c12_c12_4, xzr",
                "mov {t}, #1",
                "msr s3_0_c12_c12_7, {t}",
                "isb",
                t = out(reg) _,
                options(nostack),
            );
        }
    }

    /// Acknowledges the highest-priority pending group 1 interrupt
    /// (ICC_IAR1_EL1); [`super::SPURIOUS`] or another special INTID when none.
    pub fn acknowledge() -> u32 {
        let intid: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt, which the
        // caller then ends with `end_of_interrupt`.
        unsafe { core::arch::asm!("mrs {}, s3_0_c12_c12_0", out(reg) intid, options(nostack)) };
        (intid & 0xff_ffff) as u32
    }

    /// Ends (and, with EOImode 0, deactivates) an acknowledged interrupt
    /// (ICC_EOIR1_EL1).
    pub fn end_of_interrupt(intid: u32) {
        // SAFETY: writing the INTID returned by `acknowledge` is how the
        // interrupt is ended.
        unsafe {
            core::arch::asm!("msr s3_0_c12_c12_1, {}", "isb", in(reg) u64::from(intid), options(nostack))
        };
    }
}
