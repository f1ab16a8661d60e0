//! Completion interrupts: the handler of both completion LPIs counts them,
//! and the driver waits for the count to move (`wfe`, woken by the
//! interrupt or the timer's event stream) before it reads a completion
//! queue.

use super::VECTORS;
use crate::cpu;
use aarch64_cpu::registers::{CNTFRQ_EL0, CNTKCTL_EL1, ReadWriteable, Readable};
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use gicv3_its::IntId;

/// Interrupts handled per MSI-X vector. Leaked, so that the IRQ handler's
/// context stays valid whatever happens to the driver.
#[derive(Default)]
pub(super) struct Signals {
    pub(super) interrupts: [AtomicU32; VECTORS],
}

/// The IRQ handler of both completion LPIs: counts the interrupt for the
/// waiting driver and wakes it. `context` is the vector's counter.
pub(super) fn completion_interrupt(_intid: IntId, context: usize) {
    // SAFETY: `context` is the address of an `AtomicU32` in a `Signals` that
    // `Nvme::new` leaked, so it is valid for ever, and only used atomically.
    let counter = unsafe { &*(context as *const AtomicU32) };
    counter.fetch_add(1, Ordering::Release);
    // Wake a waiter on another CPU (this one wakes by the exception return).
    aarch64_cpu::asm::sev();
}

/// Waits until `signal` differs from `seen` (the handler ran) or `deadline`
/// passes; returns whether it did.
///
/// `wfe` rather than `wfi`: an interrupt taken between the check and the
/// `wfe` sets the event register on its exception return, so the `wfe`
/// returns at once and no wake-up is lost; and the generic timer's event
/// stream wakes it every ~100 us, which bounds the wait without a timer
/// interrupt (the kernel has none). Under TCG, QEMU's `wfe` only yields.
pub(super) fn wait_for_interrupt(signal: &AtomicU32, seen: u32, deadline: Duration) -> bool {
    enable_event_stream();
    loop {
        if signal.load(Ordering::Acquire) != seen {
            return true;
        }
        if cpu::now() >= deadline {
            return signal.load(Ordering::Acquire) != seen;
        }
        aarch64_cpu::asm::wfe();
    }
}

/// Enables the virtual counter's event stream at about 10 kHz (CNTKCTL_EL1).
fn enable_event_stream() {
    // An event on each 0 -> 1 transition of counter bit n: every 2^(n+1)
    // ticks.
    let per_event = (CNTFRQ_EL0.get() / 10_000).max(2);
    let bit = u64::from(per_event.ilog2() - 1).min(15);
    CNTKCTL_EL1.modify(
        CNTKCTL_EL1::EVNTEN::Enable
            + CNTKCTL_EL1::EVNTDIR::ZeroToOne
            + CNTKCTL_EL1::EVNTIS::CntVct0_15
            + CNTKCTL_EL1::EVNTI.val(bit),
    );
}
