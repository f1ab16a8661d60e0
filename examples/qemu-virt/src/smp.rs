//! Starting a second CPU, so that the tests can move an LPI to another
//! redistributor (MOVI across CPUs). The CPU enters `secondary_boot`
//! (boot.rs) through PSCI CPU_ON, switches to the kernel's page tables,
//! enables its GIC CPU interface and then only takes interrupts.

use crate::platform::PsciConduit;
use crate::{cpu, gic, paging, power};
use aarch64_rt::Stack;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use smccc::{Hvc, Smc};

/// Stack pages of the secondary CPU.
const STACK_PAGES: usize = 8;
/// Affinity of the secondary once it runs.
static ONLINE: AtomicU32 = AtomicU32::new(u32::MAX);

static mut SECONDARY_STACK: Stack<STACK_PAGES> = Stack::new();

unsafe extern "C" {
    fn secondary_boot();
}

/// Why the secondary did not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmpError {
    /// The DTB describes no PSCI.
    NoPsci,
    /// CPU_ON failed.
    CpuOn(smccc::psci::Error),
    /// The CPU did not report in.
    Timeout,
    /// A secondary already runs (there is one stack).
    AlreadyStarted,
}

/// Starts the CPU with `mpidr`; returns its affinity once it takes
/// interrupts. Only one secondary can be started.
pub fn start_secondary(mpidr: u64) -> Result<u32, SmpError> {
    if ONLINE.load(Ordering::Acquire) != u32::MAX {
        return Err(SmpError::AlreadyStarted);
    }
    let stack_end = (&raw mut SECONDARY_STACK).wrapping_add(1) as u64;
    let entry = secondary_boot as *const () as u64;
    let result = match power::psci_conduit() {
        Some(PsciConduit::Hvc) => smccc::psci::cpu_on::<Hvc>(mpidr, entry, stack_end),
        Some(PsciConduit::Smc) => smccc::psci::cpu_on::<Smc>(mpidr, entry, stack_end),
        None => return Err(SmpError::NoPsci),
    };
    result.map_err(SmpError::CpuOn)?;
    if !cpu::wait_until(Duration::from_secs(1), || {
        ONLINE.load(Ordering::Acquire) != u32::MAX
    }) {
        return Err(SmpError::Timeout);
    }
    Ok(ONLINE.load(Ordering::Acquire))
}

/// The secondary's Rust entry, from `secondary_boot` with the MMU on (the
/// initial map), the stack set and the vectors installed.
#[unsafe(no_mangle)]
extern "C" fn secondary_main() -> ! {
    paging::activate_on_this_cpu();
    gic::cpu_interface::enable();
    ONLINE.store(cpu::affinity(), Ordering::Release);
    cpu::enable_irqs();
    loop {
        aarch64_cpu::asm::wfi();
    }
}
