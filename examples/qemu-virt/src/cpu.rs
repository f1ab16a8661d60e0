//! The few things the kernel asks of the CPU itself: masking IRQs, waiting,
//! the counter, its affinity, and cleaning data caches for devices.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTP_CTL_EL0, CNTPCT_EL0, CNTV_CTL_EL0, CurrentEL, DAIF, MPIDR_EL1, Readable,
    Writeable,
};
use core::time::Duration;

/// Masks IRQs until dropped, then restores the previous mask.
pub struct IrqGuard {
    daif: u64,
}

impl IrqGuard {
    /// Masks IRQs.
    pub fn new() -> Self {
        let daif = DAIF.get();
        DAIF.set(daif | (1 << 7));
        Self { daif }
    }
}

impl Drop for IrqGuard {
    fn drop(&mut self) {
        DAIF.set(self.daif);
    }
}

/// The exception level the kernel runs at.
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// Unmasks IRQs (PSTATE.I = 0).
pub fn enable_irqs() {
    // SAFETY: only changes the IRQ mask; the vector table is installed by
    // aarch64-rt's entry code before `main`.
    unsafe { core::arch::asm!("msr daifclr, #2", options(nomem, nostack)) };
}

/// Stops this CPU's EL1 physical and virtual timers (CNTP_CTL_EL0 =
/// CNTV_CTL_EL0 = 0): the kernel uses neither, and Linux kexecs with its
/// virtual timer armed, whose PPI (INTID 27) would fire at once and for
/// ever.
pub fn stop_timers() {
    CNTP_CTL_EL0.set(0);
    CNTV_CTL_EL0.set(0);
    barrier::isb(barrier::SY);
}

/// Time since boot, from the generic timer's physical counter.
pub fn now() -> Duration {
    let frequency = CNTFRQ_EL0.get().max(1);
    let ticks = CNTPCT_EL0.get();
    Duration::from_nanos((u128::from(ticks) * 1_000_000_000 / u128::from(frequency)) as u64)
}

/// Spins (with `wfe`-free polling) until `done` returns true or `timeout`
/// passes; returns whether `done` did.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = now() + timeout;
    loop {
        if done() {
            return true;
        }
        if now() >= deadline {
            return done();
        }
        core::hint::spin_loop();
    }
}

/// This CPU's affinity (Aff3.Aff2.Aff1.Aff0), in GICR_TYPER's layout.
pub fn affinity() -> u32 {
    affinity_of(MPIDR_EL1.get())
}

/// The affinity in an MPIDR value, in GICR_TYPER's layout.
pub fn affinity_of(mpidr: u64) -> u32 {
    ((mpidr >> 8) & 0xff00_0000) as u32 | (mpidr & 0x00ff_ffff) as u32
}

/// Cleans `len` bytes from `start` to the Point of Coherency, so that a
/// device that does not snoop the caches reads what the CPU wrote.
pub fn clean_to_poc(start: usize, len: usize) {
    for_each_line(start, len, |address| {
        // SAFETY: `dc cvac` only writes back a cache line; the caller's
        // range is mapped (a clean of an unmapped address would fault, not
        // corrupt).
        unsafe { core::arch::asm!("dc cvac, {}", in(reg) address, options(nostack)) };
    });
    barrier::dsb(barrier::SY);
}

/// Cleans and invalidates `len` bytes from `start` to the Point of
/// Coherency: a device that does not snoop reads what the CPU wrote, and
/// the CPU keeps no line of it that could later hide (or overwrite) what
/// the device writes there.
pub fn clean_invalidate_to_poc(start: usize, len: usize) {
    for_each_line(start, len, |address| {
        // SAFETY: `dc civac` writes back and drops a cache line, which
        // loses nothing; the caller's range is mapped.
        unsafe { core::arch::asm!("dc civac, {}", in(reg) address, options(nostack)) };
    });
    barrier::dsb(barrier::SY);
}

/// Calls `f` with the address of every data cache line `start..start + len`
/// touches.
fn for_each_line(start: usize, len: usize, mut f: impl FnMut(usize)) {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    // CTR_EL0.DminLine: log2 of the smallest data cache line, in words.
    let line = 4usize << ((ctr >> 16) & 0xf);
    let end = start.saturating_add(len);
    let mut address = start & !(line - 1);
    while address < end {
        f(address);
        address += line;
    }
}

/// CPUs the kernel can drive: one cluster of 16 on QEMU's `virt`, enough
/// for the 4 to 16 cores this crate's kernels have.
pub const MAX_CPUS: usize = 16;

/// The index of the CPU running this (its place in the DTB's `/cpus`).
pub fn this_cpu() -> usize {
    let index: u64;
    // SAFETY: reading TPIDR_EL1, which only `set_this_cpu` writes.
    unsafe { core::arch::asm!("mrs {}, tpidr_el1", out(reg) index, options(nomem, nostack)) };
    index as usize
}

/// Records this CPU's index, once, as it comes up (smp.rs).
pub fn set_this_cpu(index: usize) {
    // SAFETY: TPIDR_EL1 is this kernel's per-CPU register, holding the
    // CPU's index and nothing else.
    unsafe { core::arch::asm!("msr tpidr_el1, {}", in(reg) index as u64, options(nomem, nostack)) };
}
