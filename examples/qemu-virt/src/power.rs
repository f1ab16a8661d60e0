//! Ending the kernel: the verdict through semihosting, or PSCI power-off.

use crate::platform::PsciConduit;
use crate::semihosting;
use core::sync::atomic::{AtomicU8, Ordering};
use smccc::{Hvc, Smc};

/// 0: unknown, 1: HVC, 2: SMC.
static CONDUIT: AtomicU8 = AtomicU8::new(0);

/// Records how PSCI is reached (from the DTB).
pub fn set_psci_conduit(conduit: Option<PsciConduit>) {
    let value = match conduit {
        None => 0,
        Some(PsciConduit::Hvc) => 1,
        Some(PsciConduit::Smc) => 2,
    };
    CONDUIT.store(value, Ordering::Release);
}

/// How PSCI is reached, if the DTB said.
pub fn psci_conduit() -> Option<PsciConduit> {
    match CONDUIT.load(Ordering::Acquire) {
        1 => Some(PsciConduit::Hvc),
        2 => Some(PsciConduit::Smc),
        _ => None,
    }
}

/// Ends QEMU with `status` as its exit status (semihosting SYS_EXIT).
pub fn exit(status: u32) -> ! {
    semihosting::exit(status)
}

/// Resets the machine through PSCI SYSTEM_RESET: QEMU (without
/// `-no-reboot`) starts the kernel again from its entry, RAM intact; with no
/// PSCI, waits for ever.
pub fn system_reset() -> ! {
    let _ = match CONDUIT.load(Ordering::Acquire) {
        1 => smccc::psci::system_reset::<Hvc>(),
        2 => smccc::psci::system_reset::<Smc>(),
        _ => Ok(()),
    };
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// Powers the machine off through PSCI SYSTEM_OFF (QEMU exits with 0); with
/// no PSCI, waits for ever.
pub fn system_off() -> ! {
    let _ = match CONDUIT.load(Ordering::Acquire) {
        1 => smccc::psci::system_off::<Hvc>(),
        2 => smccc::psci::system_off::<Smc>(),
        _ => Ok(()),
    };
    loop {
        aarch64_cpu::asm::wfi();
    }
}
