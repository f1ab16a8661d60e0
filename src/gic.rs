//! The GIC around the ITS, for kernels without a GIC driver of their own:
//! what an LPI needs besides the ITS and the redistributors' LPI registers
//! (Arm IHI 0069 12.9, 12.11, 12.2). Without each step every call of the
//! driver returns `Ok` and no LPI is ever taken:
//!
//! | step | register | what for |
//! | --- | --- | --- |
//! | [`enable_distributor`] | GICD_CTLR.ARE_NS, EnableGrp1NS | affinity routing (which LPIs need) and group 1 forwarded |
//! | [`lpi_id_bits`] | GICD_TYPER.LPIS, IDbits | the [`crate::LpiDomainConfig::id_bits`] the GIC allows |
//! | [`wake_redistributor`] | GICR_WAKER.ProcessorSleep | a sleeping redistributor signals nothing to its CPU (QEMU does not model it; hardware does) |
//! | `cpu_interface::enable` (aarch64) | ICC_SRE_EL1, ICC_PMR_EL1, ICC_CTLR_EL1, ICC_AP1Rn_EL1, ICC_IGRPEN1_EL1 | the CPU takes group 1 interrupts of every priority |
//! | `cpu_interface::acknowledge`, `end_of_interrupt` | ICC_IAR1_EL1, ICC_EOIR1_EL1 | the IRQ handler |
//!
//! A kernel with a GIC driver (the `arm-gic` crate, say) does these there
//! instead: the table says which registers are whose. SPIs, PPIs and SGIs
//! (their enables, priorities, groups) are left alone: LPIs have none of
//! those.

use crate::error::{ItsError, WaitFor};
use crate::registers::{
    GICD_CTLR, GICD_CTLR_RO, GICD_TYPER, GICR_WAKER, GicdFrame, GicrFrame, ReadOnlyFields,
};
use crate::wait::{Wait, WaitPolicy};
use tock_registers::LocalRegisterCopy;

/// Enables affinity routing and group 1 in the distributor (GICD_CTLR:
/// first everything off, then ARE_NS and EnableGrp1NS, each write waited
/// for until GICD_CTLR.RWP reads 0), as Linux does. Call it once, on one
/// CPU, before any redistributor is used.
///
/// # Errors
/// [`ItsError::Timeout`] (waiting for [`WaitFor::DistributorWrite`]) if a
/// write never takes effect.
pub fn enable_distributor<D: GicdFrame>(gicd: &D, wait: WaitPolicy) -> Result<(), ItsError> {
    let settled = || {
        Wait::until(wait, WaitFor::DistributorWrite, || {
            Ok(!gicd.read(GICD_CTLR).read_only().is_set(GICD_CTLR_RO::RWP))
        })
    };
    // Affinity routing may only change while every group is disabled.
    gicd.write(GICD_CTLR, LocalRegisterCopy::new(0));
    settled()?;
    gicd.write_fields(
        GICD_CTLR,
        GICD_CTLR::ARE_NS::SET + GICD_CTLR::EnableGrp1NS::SET,
    );
    settled()
}

/// The LPI INTID bits the distributor supports (GICD_TYPER.IDbits + 1),
/// for [`crate::LpiDomainConfig::id_bits`].
///
/// # Errors
/// [`ItsError::NoLpis`] if GICD_TYPER.LPIS says the GIC has none.
pub fn lpi_id_bits<D: GicdFrame>(gicd: &D) -> Result<u32, ItsError> {
    let typer = gicd.read(GICD_TYPER);
    if !typer.is_set(GICD_TYPER::LPIS) {
        return Err(ItsError::NoLpis);
    }
    Ok(typer.read(GICD_TYPER::IDbits) + 1)
}

/// Wakes a redistributor: GICR_WAKER.ProcessorSleep = 0, then a wait until
/// ChildrenAsleep reads 0 (12.11.43). Its CPU calls it before it takes
/// interrupts (a redistributor with ProcessorSleep = 1 signals none).
///
/// # Errors
/// [`ItsError::Timeout`] (waiting for [`WaitFor::RedistributorWake`]) if
/// ChildrenAsleep does not clear.
pub fn wake_redistributor<G: GicrFrame>(gicr: &G, wait: WaitPolicy) -> Result<(), ItsError> {
    gicr.modify(GICR_WAKER, GICR_WAKER::ProcessorSleep::CLEAR);
    Wait::until(wait, WaitFor::RedistributorWake, || {
        Ok(!gicr.read(GICR_WAKER).is_set(GICR_WAKER::ChildrenAsleep))
    })
}

/// The running CPU's GICv3 CPU interface (ICC_*_EL1, 12.2), through its
/// system registers.
#[cfg(target_arch = "aarch64")]
pub mod cpu_interface {
    use crate::id::IntId;

    /// Lets this CPU take group 1 interrupts of every priority: the system
    /// register interface on (ICC_SRE_EL1.SRE, DFB, DIB), no priority
    /// masked (ICC_PMR_EL1 = 0xff), no binary point (ICC_BPR1_EL1 = 0),
    /// an end of interrupt also deactivates (ICC_CTLR_EL1.EOImode = 0; a
    /// kernel booted at EL2 may leave 1), no priority active (ICC_AP1Rn_EL1
    /// = 0: a kernel that left from inside an interrupt handler leaves one
    /// set, and nothing of lower priority is then signalled), then group 1
    /// enabled (ICC_IGRPEN1_EL1 = 1). EL2, if any, must let EL1 use these
    /// registers (ICC_SRE_EL2.Enable).
    pub fn enable() {
        // SAFETY: this CPU's own GIC system registers, which only decide
        // which interrupts it is signalled; the `isb`s make each write take
        // effect before the next.
        unsafe {
            core::arch::asm!(
                "mrs {t}, s3_0_c12_c12_5", // ICC_SRE_EL1
                "orr {t}, {t}, #7",
                "msr s3_0_c12_c12_5, {t}",
                "isb",
                "mov {t}, #0xff",
                "msr s3_0_c4_c6_0, {t}", // ICC_PMR_EL1
                "msr s3_0_c12_c12_3, xzr", // ICC_BPR1_EL1
                "msr s3_0_c12_c12_4, xzr", // ICC_CTLR_EL1
                "isb",
                t = out(reg) _,
                options(nostack),
            );
        }
        clear_active_priorities();
        // SAFETY: ICC_IGRPEN1_EL1 = 1 lets group 1 interrupts be signalled
        // to this CPU; the caller has its vectors installed.
        unsafe {
            core::arch::asm!("msr s3_0_c12_c12_7, {}", "isb", in(reg) 1u64, options(nostack))
        };
    }

    /// ICC_AP1Rn_EL1 = 0 (12.2.4), only the registers that exist for the
    /// implemented priority bits (ICC_CTLR_EL1.PRIbits + 1): AP1R1 with 6
    /// or more, AP1R2 and AP1R3 with 7; the others are UNDEFINED.
    fn clear_active_priorities() {
        let ctlr: u64;
        // SAFETY: reading ICC_CTLR_EL1 has no effect.
        unsafe {
            core::arch::asm!("mrs {}, s3_0_c12_c12_4", out(reg) ctlr, options(nomem, nostack))
        };
        let registers = super::active_priority_registers(ctlr);
        // SAFETY: clearing this CPU's active priorities; each register
        // written exists for the priority bits implemented (above).
        unsafe {
            core::arch::asm!("msr s3_0_c12_c9_0, xzr", options(nostack));
            if registers >= 2 {
                core::arch::asm!("msr s3_0_c12_c9_1, xzr", options(nostack));
            }
            if registers == 4 {
                core::arch::asm!(
                    "msr s3_0_c12_c9_2, xzr",
                    "msr s3_0_c12_c9_3, xzr",
                    options(nostack)
                );
            }
            core::arch::asm!("isb", options(nostack));
        }
    }

    /// Stops this CPU's interface signalling group 1 interrupts
    /// (ICC_IGRPEN1_EL1 = 0): before another kernel takes the CPU.
    pub fn disable() {
        // SAFETY: clearing this CPU's group 1 enable only stops interrupts
        // being signalled to it.
        unsafe { core::arch::asm!("msr s3_0_c12_c12_7, xzr", "isb", options(nostack)) };
    }

    /// Acknowledges the highest-priority pending group 1 interrupt
    /// (ICC_IAR1_EL1): `None` when there is none (INTID 1023, or another
    /// of the special INTIDs 1020 to 1023).
    pub fn acknowledge() -> Option<IntId> {
        let intid: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges an interrupt, which the
        // caller ends with `end_of_interrupt`.
        unsafe { core::arch::asm!("mrs {}, s3_0_c12_c12_0", out(reg) intid, options(nostack)) };
        super::acknowledged(intid)
    }

    /// Ends (and deactivates, EOImode 0) an acknowledged interrupt
    /// (ICC_EOIR1_EL1).
    pub fn end_of_interrupt(intid: IntId) {
        // SAFETY: writing the INTID `acknowledge` returned is how the
        // interrupt is ended.
        unsafe {
            core::arch::asm!("msr s3_0_c12_c12_1, {}", "isb", in(reg) u64::from(intid.0), options(nostack))
        };
    }
}

/// How many ICC_AP1Rn_EL1 registers exist for the priority bits
/// ICC_CTLR_EL1 (`ctlr`) says are implemented (PRIbits, bits \[10:8\], plus
/// one): one with 5 bits, two with 6, four with 7 (12.2.4).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
fn active_priority_registers(ctlr: u64) -> usize {
    match ((ctlr >> 8) & 0x7) + 1 {
        7 => 4,
        6 => 2,
        _ => 1,
    }
}

/// The INTID an ICC_IAR1_EL1 read (`iar`) acknowledged: bits \[23:0\];
/// none for the special INTIDs 1020 to 1023 (1023: nothing pending).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
fn acknowledged(iar: u64) -> Option<crate::id::IntId> {
    let intid = (iar & 0xff_ffff) as u32;
    (!(1020..1024).contains(&intid)).then_some(crate::id::IntId(intid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::{FrameKind, Gicd, ReadAccess, RegisterFrame, WriteAccess};
    use core::cell::RefCell;
    use std::vec::Vec;

    #[test]
    fn active_priority_registers_follow_the_priority_bits() {
        // ICC_CTLR_EL1.PRIbits = 4 (QEMU's 5 bits), 5, 6.
        assert_eq!(active_priority_registers(4 << 8 | 0x400), 1);
        assert_eq!(active_priority_registers(5 << 8), 2);
        assert_eq!(active_priority_registers(6 << 8), 4);
        assert_eq!(active_priority_registers(0), 1);
    }

    #[test]
    fn special_intids_acknowledge_nothing() {
        use crate::id::IntId;
        assert_eq!(acknowledged(8192), Some(IntId(8192)));
        assert_eq!(
            acknowledged(1 << 24 | 27),
            Some(IntId(27)),
            "bits above 23 ignored"
        );
        assert_eq!(acknowledged(1019), Some(IntId(1019)));
        for special in 1020..1024 {
            assert_eq!(acknowledged(special), None);
        }
        assert_eq!(acknowledged(1024), Some(IntId(1024)));
    }

    /// A distributor whose GICD_CTLR.RWP reads 1 for `busy_reads` reads
    /// after each write, and which records the writes.
    struct Distributor {
        ctlr: RefCell<(u64, u32)>,
        typer: u64,
        busy_reads: u32,
        writes: RefCell<Vec<u64>>,
    }

    impl RegisterFrame for Distributor {
        type Kind = Gicd;
        fn load(&self, access: ReadAccess<Gicd>) -> u64 {
            if access.offset() == GICD_TYPER.offset() {
                return self.typer;
            }
            let (value, busy) = &mut *self.ctlr.borrow_mut();
            let rwp = u64::from(*busy > 0) << 31;
            *busy = busy.saturating_sub(1);
            *value | rwp
        }
        fn store(&self, _: WriteAccess<Gicd>, value: u64) {
            *self.ctlr.borrow_mut() = (value, self.busy_reads);
            self.writes.borrow_mut().push(value);
        }
    }

    fn distributor(busy_reads: u32, typer: u64) -> Distributor {
        assert_eq!(Gicd::SIZE, 0x1_0000);
        Distributor {
            ctlr: RefCell::new((0x13, 0)),
            typer,
            busy_reads,
            writes: RefCell::new(Vec::new()),
        }
    }

    #[test]
    fn the_distributor_is_turned_off_then_on_with_affinity_routing_and_group_1() {
        let gicd = distributor(2, 0);
        enable_distributor(&gicd, WaitPolicy::default()).unwrap();
        // Everything off, then ARE_NS | EnableGrp1NS; both waited for (the
        // RWP reads are used up).
        assert_eq!(*gicd.writes.borrow(), [0, 0x12]);
        assert_eq!(gicd.ctlr.borrow().1, 0);
    }

    #[test]
    fn a_distributor_write_that_never_takes_effect_is_a_timeout() {
        let gicd = distributor(u32::MAX, 0);
        let wait = WaitPolicy {
            poll_budget: 10,
            ..WaitPolicy::default()
        };
        assert_eq!(
            enable_distributor(&gicd, wait),
            Err(ItsError::Timeout {
                waiting_for: WaitFor::DistributorWrite,
                polls: 10
            })
        );
        assert_eq!(*gicd.writes.borrow(), [0], "nothing more written");
    }

    /// A redistributor's GICR_WAKER whose ChildrenAsleep follows
    /// ProcessorSleep `asleep_reads` reads late.
    struct Waker {
        value: RefCell<(u64, u32)>,
        asleep_reads: u32,
    }

    impl RegisterFrame for Waker {
        type Kind = crate::registers::Gicr;
        fn load(&self, _: ReadAccess<crate::registers::Gicr>) -> u64 {
            let (value, late) = &mut *self.value.borrow_mut();
            let asleep = if *late > 0 {
                0b100
            } else {
                (*value & 0b10) << 1
            };
            *late = late.saturating_sub(1);
            (*value & 0b10) | asleep
        }
        fn store(&self, _: WriteAccess<crate::registers::Gicr>, value: u64) {
            *self.value.borrow_mut() = (value, self.asleep_reads);
        }
    }

    #[test]
    fn a_redistributor_is_woken_and_waited_for() {
        let asleep = Waker {
            value: RefCell::new((0b110, 0)),
            asleep_reads: 3,
        };
        wake_redistributor(&asleep, WaitPolicy::default()).unwrap();
        let (value, late) = *asleep.value.borrow();
        assert_eq!(
            (value & 0b10, late),
            (0, 0),
            "awake, ChildrenAsleep waited out"
        );
        let never = Waker {
            value: RefCell::new((0b110, 0)),
            asleep_reads: u32::MAX,
        };
        let wait = WaitPolicy {
            poll_budget: 5,
            ..WaitPolicy::default()
        };
        assert_eq!(
            wake_redistributor(&never, wait),
            Err(ItsError::Timeout {
                waiting_for: WaitFor::RedistributorWake,
                polls: 5
            })
        );
    }

    #[test]
    fn lpi_id_bits_come_from_gicd_typer() {
        // QEMU's virt: IDbits 15 (16 bits), LPIS.
        let lpis = 15 << 19 | 1 << 17;
        assert_eq!(lpi_id_bits(&distributor(0, lpis)), Ok(16));
        assert_eq!(lpi_id_bits(&distributor(0, 23 << 19 | 1 << 17)), Ok(24));
        assert_eq!(
            lpi_id_bits(&distributor(0, 15 << 19)),
            Err(ItsError::NoLpis)
        );
    }
}
