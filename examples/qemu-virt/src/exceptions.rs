//! Exception handlers: IRQs go to the dispatcher, anything else is fatal.

use crate::{console, irq, power};
use aarch64_rt::{ExceptionHandlers, RegisterStateRef, exception_handlers};

/// `hlt #0xf000`, the semihosting call.
const SEMIHOSTING_HLT: u32 = 0xd45e_0000;

pub struct Exceptions;

exception_handlers!(Exceptions);

impl ExceptionHandlers for Exceptions {
    extern "C" fn irq_current(_state: RegisterStateRef) {
        irq::handle_pending();
    }

    extern "C" fn sync_current(state: RegisterStateRef) {
        let esr: u64;
        let far: u64;
        // SAFETY: reading the syndrome registers has no side effects.
        unsafe {
            core::arch::asm!("mrs {}, esr_el1", out(reg) esr, options(nomem, nostack));
            core::arch::asm!("mrs {}, far_el1", out(reg) far, options(nomem, nostack));
        }
        // An Unknown-reason exception on the semihosting `hlt` means QEMU
        // runs without -semihosting: the verdict cannot be reported.
        let ec = esr >> 26;
        // SAFETY: ELR points at the instruction that trapped, which is mapped
        // code of this kernel.
        let instruction = unsafe { (state.elr as *const u32).read_volatile() };
        if ec == 0 && instruction == SEMIHOSTING_HLT {
            console::try_write_fmt(format_args!(
                "semihosting unavailable (run QEMU with -semihosting): the verdict is lost, powering off"
            ));
            power::system_off();
        }
        console::try_write_fmt(format_args!(
            "FATAL: synchronous exception: ESR {esr:#x} ELR {:#x} FAR {far:#x}",
            state.elr
        ));
        power::exit(3);
    }

    extern "C" fn fiq_current(_state: RegisterStateRef) {
        fatal("FIQ")
    }

    extern "C" fn serror_current(_state: RegisterStateRef) {
        fatal("SError")
    }

    extern "C" fn sync_lower(_state: RegisterStateRef) {
        fatal("synchronous exception from a lower EL")
    }

    extern "C" fn irq_lower(_state: RegisterStateRef) {
        fatal("IRQ from a lower EL")
    }

    extern "C" fn fiq_lower(_state: RegisterStateRef) {
        fatal("FIQ from a lower EL")
    }

    extern "C" fn serror_lower(_state: RegisterStateRef) {
        fatal("SError from a lower EL")
    }
}

fn fatal(what: &str) -> ! {
    console::try_write_fmt(format_args!("FATAL: unexpected {what}"));
    power::exit(3)
}
