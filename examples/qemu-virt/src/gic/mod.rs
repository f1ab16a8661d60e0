//! The parts of the GICv3 the ITS driver does not own: the distributor's
//! global enables, waking this CPU's redistributor, and the CPU interface
//! (ICC_* system registers). Arm IHI 0069 chapters 12.9, 12.11, 12.2.
//!
//! Why not the arm-gic crate: its `GicV3::new` requires that nothing else
//! alias the redistributor frames, while the ITS driver's `GicrMmio` must
//! own the LPI registers of the same RD_base frame. This module touches only
//! GICR_WAKER and GICR_TYPER there, which `GicrMmio::new` allows.
//!
//! The registers it programs are described in `registers.rs` and reached,
//! like the ITS driver's, through the crate's `MmioFrame`.

mod registers;

use crate::cpu;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use core::ptr::NonNull;
use core::time::Duration;
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{
    GICR_CTLR, GICR_CTLR_RO, GICR_TYPER, GICR_WAKER, Gicr, ReadOnlyFields, RegisterFrame,
};
use gicv3_its::tock_registers::LocalRegisterCopy;
use registers::{
    GICD_CTLR, GICD_ICACTIVER, GICD_ICENABLER, GICD_ICPENDR, GICD_IGROUPR, GICD_TYPER,
    GICR_ICACTIVER0, GICR_ICENABLER0, GICR_ICPENDR0, GICR_IGROUPR0, GICR_ISENABLER0,
    GICR_TYPER_VLPIS, Gicd, GicrSgi, SGI_BASE_OFFSET,
};

/// Every bit of a one-bit-per-INTID register.
const ALL: LocalRegisterCopy<u32> = LocalRegisterCopy::new(u32::MAX);

/// INTIDs 1020..=1023 are special: nothing to acknowledge.
pub const SPURIOUS: u32 = 1023;

/// What went wrong bringing up the GIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// The distributor's address is 0.
    NoDistributor,
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
            Self::NoDistributor => write!(f, "the distributor is at address 0"),
            Self::NoRedistributor { affinity } => {
                write!(f, "no redistributor for affinity {affinity:#x}")
            }
            Self::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

/// The distributor and this CPU's redistributor and CPU interface.
pub struct Gic {
    gicd: MmioFrame<Gicd>,
    redistributors: Redistributors,
    rd_base: u64,
}

/// The redistributor regions: where every CPU finds its own redistributor.
/// Only addresses, so any CPU may hold a reference and look.
#[derive(Clone, Debug)]
pub struct Redistributors {
    regions: Vec<Range<u64>>,
}

impl Gic {
    /// Enables affinity routing and group 1 at the distributor, wakes this
    /// CPU's redistributor (found among `gicr_regions` by affinity) and
    /// enables the CPU interface for group 1 at every priority.
    ///
    /// It starts from whatever a previous kernel left: Linux kexecs with
    /// its interrupts enabled, some pending (the virtual timer's PPI fires
    /// at once). So every SPI is disabled, deactivated, made not pending and
    /// put in group 1 before the distributor is enabled again; each
    /// redistributor's SGIs and PPIs likewise when it is woken
    /// ([`Redistributors::wake`]); the CPU interface drops every active
    /// priority ([`cpu_interface::enable`]). LPIs and the ITS are the
    /// `gicv3-its` crate's to reset.
    ///
    /// # Safety
    /// `gicd` must be the distributor's frame and `gicr_regions` the
    /// redistributor regions, mapped as Device memory for ever. Nothing else
    /// may use the distributor; on the redistributors only the LPI registers
    /// (the ITS driver) may be used by others.
    pub unsafe fn init(gicd: u64, gicr_regions: &[Range<u64>]) -> Result<Self, GicError> {
        let gicd = NonNull::new(gicd as *mut u8).ok_or(GicError::NoDistributor)?;
        // SAFETY: the caller promised the distributor is mapped, for ever,
        // and ours.
        let gicd = unsafe { MmioFrame::<Gicd>::new(gicd) };
        let settled = || !gicd.read(GICD_CTLR).is_set(GICD_CTLR::RWP);
        gicd.write(GICD_CTLR, LocalRegisterCopy::new(0));
        wait("GICD_CTLR.RWP", settled)?;
        let blocks = gicd.read(GICD_TYPER).read(GICD_TYPER::ITLinesNumber) as usize + 1;
        for bank in 1..blocks.min(GICD_ICENABLER.len()) {
            gicd.write(GICD_ICENABLER[bank], ALL);
            gicd.write(GICD_ICACTIVER[bank], ALL);
            gicd.write(GICD_ICPENDR[bank], ALL);
            gicd.write(GICD_IGROUPR[bank], ALL);
        }
        wait("GICD_CTLR.RWP", settled)?;
        gicd.write_fields(
            GICD_CTLR,
            GICD_CTLR::ARE_NS::SET + GICD_CTLR::EnableGrp1NS::SET,
        );
        wait("GICD_CTLR.RWP", settled)?;
        // SAFETY: the caller promised the regions are mapped for ever and
        // that their non-LPI registers are ours.
        let redistributors = unsafe { Redistributors::new(gicr_regions) };
        let rd_base = redistributors.wake(cpu::affinity())?;
        cpu_interface::enable();
        Ok(Self {
            gicd,
            redistributors,
            rd_base,
        })
    }

    /// Finds the redistributor of the CPU with `affinity`, wakes it
    /// (GICR_WAKER.ProcessorSleep = 0) and puts its SGIs and PPIs in group 1.
    /// Returns its RD_base. Any CPU may do this for any other.
    pub fn wake_redistributor(&self, affinity: u32) -> Result<u64, GicError> {
        self.redistributors.wake(affinity)
    }

    /// The redistributor regions, for CPUs that come online.
    pub fn redistributors(&self) -> &Redistributors {
        &self.redistributors
    }

    /// Physical address of this CPU's RD_base frame (identity mapped).
    pub fn rd_base(&self) -> u64 {
        self.rd_base
    }

    /// INTID bits the GIC supports (GICD_TYPER.IDbits + 1): the limit for
    /// LPI INTIDs.
    pub fn lpi_id_bits(&self) -> u32 {
        self.gicd.read(GICD_TYPER).read(GICD_TYPER::IDbits) + 1
    }

    /// Physical address of the distributor.
    pub fn gicd(&self) -> u64 {
        self.gicd.base().as_ptr() as u64
    }
}

impl Redistributors {
    /// The redistributors in `regions`.
    ///
    /// # Safety
    /// `regions` must be the GIC's redistributor regions, mapped as Device
    /// memory for ever; of their registers only the LPI ones (the ITS
    /// driver's) may be used by anyone else.
    pub unsafe fn new(regions: &[Range<u64>]) -> Self {
        Self {
            regions: regions.to_vec(),
        }
    }

    /// Finds the redistributor whose GICR_TYPER.Affinity matches `affinity`
    /// (a CPU's MPIDR in GICR_TYPER's layout, [`cpu::affinity_of`]), wakes
    /// it (GICR_WAKER.ProcessorSleep = 0), disables, deactivates and clears
    /// its SGIs and PPIs and puts them in group 1. Returns its RD_base. Any
    /// CPU may do this for any other.
    pub fn wake(&self, affinity: u32) -> Result<u64, GicError> {
        let redistributor = self.find(affinity)?;
        let rd = &redistributor.rd_base;
        rd.modify(GICR_WAKER, GICR_WAKER::ProcessorSleep::CLEAR);
        wait("GICR_WAKER.ChildrenAsleep", || {
            !rd.read(GICR_WAKER).is_set(GICR_WAKER::ChildrenAsleep)
        })?;
        // No SGI or PPI enabled, active or pending, whatever the previous
        // kernel left, and all in group 1 (LPIs are always group 1).
        silence(&redistributor)?;
        redistributor.sgi_base.write(GICR_IGROUPR0, ALL);
        Ok(rd.base().as_ptr() as u64)
    }

    /// Disables, deactivates and clears every SGI and PPI at the
    /// redistributor of the CPU with `affinity`: what a kernel leaves for
    /// the next one, which may not clear pending ones (Linux does not).
    pub fn silence(&self, affinity: u32) -> Result<(), GicError> {
        silence(&self.find(affinity)?)
    }

    /// Enables SGI `sgi` (0..16) at the redistributor of the CPU with
    /// `affinity` (GICR_ISENABLER0).
    pub fn enable_sgi(&self, affinity: u32, sgi: u32) -> Result<(), GicError> {
        let redistributor = self.find(affinity)?;
        redistributor
            .sgi_base
            .write(GICR_ISENABLER0, LocalRegisterCopy::new(1 << (sgi & 0xf)));
        Ok(())
    }

    /// The RD_base of every redistributor in the regions, in order.
    pub fn rd_bases(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter()
            .map(|redistributor| redistributor.rd_base.base().as_ptr() as u64)
    }

    fn find(&self, affinity: u32) -> Result<Redistributor, GicError> {
        self.iter()
            .find(|redistributor| redistributor.affinity() == affinity)
            .ok_or(GicError::NoRedistributor { affinity })
    }

    /// Every redistributor in the regions, in order, up to each region's
    /// last (GICR_TYPER.Last).
    fn iter(&self) -> impl Iterator<Item = Redistributor> + '_ {
        self.regions.iter().flat_map(|region| {
            // SAFETY: `new`'s caller promised the regions are mapped as
            // Device memory for ever.
            unsafe { frames_in(region.clone()) }
        })
    }
}

/// The RD_base of every redistributor in `region`, in order, without a
/// heap.
///
/// # Safety
/// `region` must be a redistributor region of the GIC, mapped as Device
/// memory while the iterator is used.
pub unsafe fn rd_bases_in(region: Range<u64>) -> impl Iterator<Item = u64> {
    // SAFETY: as the caller promised.
    unsafe { frames_in(region) }.map(|redistributor| redistributor.rd_base.base().as_ptr() as u64)
}

/// Every redistributor in `region`, in order, up to the last
/// (GICR_TYPER.Last).
///
/// # Safety
/// `region` must be a redistributor region of the GIC, mapped as Device
/// memory while the iterator is used.
unsafe fn frames_in(region: Range<u64>) -> impl Iterator<Item = Redistributor> {
    let mut next = Some(region.start);
    core::iter::from_fn(move || {
        let frame = next.take()?;
        // RD_base and SGI_base must both lie in the region.
        let end = frame.checked_add(2 * SGI_BASE_OFFSET as u64)?;
        if end > region.end {
            return None;
        }
        let rd_base = NonNull::new(frame as *mut u8)?;
        let sgi_base = NonNull::new((frame as usize + SGI_BASE_OFFSET) as *mut u8)?;
        // SAFETY: both frames lie inside a redistributor region, which the
        // caller promised is mapped as Device memory; only its registers
        // that are ours are used through them.
        let (rd_base, sgi_base) = unsafe { (MmioFrame::new(rd_base), MmioFrame::new(sgi_base)) };
        let typer = rd_base.read(GICR_TYPER);
        if !typer.is_set(GICR_TYPER::Last) {
            // VLPI_base and a reserved frame follow on GICv4.
            let frames = if typer.is_set(GICR_TYPER_VLPIS) { 4 } else { 2 };
            next = frame.checked_add(frames * SGI_BASE_OFFSET as u64);
        }
        Some(Redistributor {
            rd_base,
            sgi_base,
            typer,
        })
    })
}

/// One redistributor's frames.
struct Redistributor {
    /// RD_base: GICR_WAKER and GICR_TYPER here, the LPI registers belong to
    /// the ITS driver.
    rd_base: MmioFrame<Gicr>,
    /// SGI_base: the SGIs' and PPIs' registers.
    sgi_base: MmioFrame<GicrSgi>,
    /// Its GICR_TYPER, read once while walking the regions.
    typer: LocalRegisterCopy<u64, GICR_TYPER::Register>,
}

impl Redistributor {
    /// GICR_TYPER.Affinity_Value: the affinity of its CPU.
    fn affinity(&self) -> u32 {
        self.typer.read(GICR_TYPER::Affinity_Value) as u32
    }
}

fn wait(what: &'static str, done: impl FnMut() -> bool) -> Result<(), GicError> {
    if cpu::wait_until(Duration::from_millis(100), done) {
        Ok(())
    } else {
        Err(GicError::Timeout(what))
    }
}

/// GICR_ICENABLER0, then (once the redistributor says the disable took
/// effect) GICR_ICACTIVER0 and GICR_ICPENDR0, all ones.
fn silence(redistributor: &Redistributor) -> Result<(), GicError> {
    let (rd, sgi) = (&redistributor.rd_base, &redistributor.sgi_base);
    sgi.write(GICR_ICENABLER0, ALL);
    wait("GICR_CTLR.RWP", || {
        !rd.read(GICR_CTLR).read_only().is_set(GICR_CTLR_RO::RWP)
    })?;
    sgi.write(GICR_ICACTIVER0, ALL);
    sgi.write(GICR_ICPENDR0, ALL);
    Ok(())
}

/// The GICv3 CPU interface of the running CPU (ICC_*_EL1, 12.2).
pub mod cpu_interface {
    // Enabling (SRE, PMR, BPR1, CTLR, every active priority cleared,
    // IGRPEN1) and disabling this CPU's interface: the crate's helpers.
    pub use gicv3_its::gic::cpu_interface::{disable, enable};

    /// Sends SGI `sgi` (0..16) to the CPU with `affinity` (GICR_TYPER's
    /// layout: Aff3.Aff2.Aff1.Aff0), through ICC_SGI1R_EL1 (12.2.22):
    /// TargetList holds Aff0 (below 16), the other fields the rest.
    pub fn send_sgi(sgi: u32, affinity: u32) {
        let [aff0, aff1, aff2, aff3] = affinity.to_le_bytes().map(u64::from);
        let value = (aff3 << 48)
            | (aff2 << 32)
            | (u64::from(sgi & 0xf) << 24)
            | (aff1 << 16)
            | (1 << (aff0 & 0xf));
        // SAFETY: writing ICC_SGI1R_EL1 only raises an SGI; the barrier
        // orders the caller's earlier stores (the work the SGI announces)
        // before it.
        unsafe {
            core::arch::asm!("dsb ish", "msr s3_0_c12_c11_5, {}", "isb", in(reg) value, options(nostack));
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
