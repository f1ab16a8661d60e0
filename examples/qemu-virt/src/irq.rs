//! Interrupt dispatch: the IRQ exception acknowledges each pending INTID,
//! runs the handler registered for it, counts it, and ends it.
//!
//! Handlers live in a fixed table of atomics, so registering one never
//! allocates and the IRQ path takes no lock: any CPU may take any interrupt
//! while another CPU holds whatever lock it likes (the ITS driver's too).
//! Each slot counts the interrupts it handled per CPU, so a test can tell
//! on which CPU an LPI was taken.

use crate::cpu::{self, MAX_CPUS};
use crate::gic::{SPURIOUS, cpu_interface};
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use gicv3_its::IntId;

/// An interrupt handler and the context it gets.
pub type Handler = fn(intid: IntId, context: usize);

const SLOTS: usize = 32;
const FREE: u32 = u32::MAX;

struct Slot {
    /// The first INTID handled; [`FREE`] when the slot is unused.
    intid: AtomicU32,
    /// How many INTIDs from `intid` on.
    span: AtomicU32,
    handler: AtomicUsize,
    context: AtomicUsize,
    count: AtomicU32,
    /// Affinity of the CPU that last handled it.
    cpu: AtomicU32,
    /// Handled per CPU index ([`cpu::this_cpu`]).
    per_cpu: [AtomicU32; MAX_CPUS],
}

static SLOTS_TABLE: [Slot; SLOTS] = [const {
    Slot {
        intid: AtomicU32::new(FREE),
        span: AtomicU32::new(1),
        handler: AtomicUsize::new(0),
        context: AtomicUsize::new(0),
        count: AtomicU32::new(0),
        cpu: AtomicU32::new(0),
        per_cpu: [const { AtomicU32::new(0) }; MAX_CPUS],
    }
}; SLOTS];

/// Interrupts taken with no handler registered.
static UNHANDLED: AtomicU32 = AtomicU32::new(0);
/// The INTID of the last one of those.
static LAST_UNHANDLED: AtomicU32 = AtomicU32::new(0);

/// The handler table is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

/// Calls `handler(intid, context)` for every `intid` taken, and counts them.
pub fn register(intid: IntId, handler: Handler, context: usize) -> Result<(), TableFull> {
    register_range(intid, 1, handler, context)
}

/// Calls `handler(intid, context)` for every INTID from `first` to
/// `first + span - 1` taken, and counts them together (the handler tells
/// them apart).
pub fn register_range(
    first: IntId,
    span: u32,
    handler: Handler,
    context: usize,
) -> Result<(), TableFull> {
    unregister(first);
    let slot = SLOTS_TABLE
        .iter()
        .find(|slot| {
            slot.intid
                .compare_exchange(FREE, FREE - 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
        .ok_or(TableFull)?;
    slot.handler.store(handler as usize, Ordering::Relaxed);
    slot.context.store(context, Ordering::Relaxed);
    slot.span.store(span.max(1), Ordering::Relaxed);
    slot.count.store(0, Ordering::Relaxed);
    for count in &slot.per_cpu {
        count.store(0, Ordering::Relaxed);
    }
    // Publish last: the IRQ path matches on `intid`.
    slot.intid.store(first.0, Ordering::Release);
    Ok(())
}

/// Removes the handler registered at `intid`, if any.
pub fn unregister(intid: IntId) {
    for slot in SLOTS_TABLE.iter() {
        if slot.intid.load(Ordering::Acquire) == intid.0 {
            slot.intid.store(FREE, Ordering::Release);
        }
    }
}

/// How many times `intid` was handled since it was registered.
pub fn count(intid: IntId) -> u32 {
    find(intid.0).map_or(0, |slot| slot.count.load(Ordering::Acquire))
}

/// The affinity of the CPU that last handled `intid`.
pub fn last_cpu(intid: IntId) -> Option<u32> {
    find(intid.0).map(|slot| slot.cpu.load(Ordering::Acquire))
}

/// How many times CPU `cpu` (an index, [`cpu::this_cpu`]) handled `intid`
/// since it was registered.
pub fn count_on(intid: IntId, cpu: usize) -> u32 {
    find(intid.0)
        .and_then(|slot| slot.per_cpu.get(cpu))
        .map_or(0, |count| count.load(Ordering::Acquire))
}

/// Interrupts taken that had no handler, and the last such INTID.
pub fn unhandled() -> (u32, u32) {
    (
        UNHANDLED.load(Ordering::Acquire),
        LAST_UNHANDLED.load(Ordering::Acquire),
    )
}

fn find(intid: u32) -> Option<&'static Slot> {
    SLOTS_TABLE.iter().find(|slot| {
        let first = slot.intid.load(Ordering::Acquire);
        // FREE - 1 marks a slot being filled in.
        first < FREE - 1 && intid.wrapping_sub(first) < slot.span.load(Ordering::Relaxed)
    })
}

/// Handles every pending interrupt; called from the IRQ vector.
pub fn handle_pending() {
    loop {
        let intid = cpu_interface::acknowledge();
        if (1020..=SPURIOUS).contains(&intid) {
            return;
        }
        match find(intid) {
            Some(slot) => {
                let handler = slot.handler.load(Ordering::Relaxed);
                let context = slot.context.load(Ordering::Relaxed);
                // SAFETY: `handler` was stored from a `Handler` in `register`
                // before `intid` was published with Release ordering.
                let handler: Handler = unsafe { core::mem::transmute::<usize, Handler>(handler) };
                handler(IntId(intid), context);
                slot.cpu.store(crate::cpu::affinity(), Ordering::Release);
                if let Some(count) = slot.per_cpu.get(cpu::this_cpu()) {
                    count.fetch_add(1, Ordering::AcqRel);
                }
                slot.count.fetch_add(1, Ordering::AcqRel);
            }
            None => {
                UNHANDLED.fetch_add(1, Ordering::AcqRel);
                LAST_UNHANDLED.store(intid, Ordering::Release);
                log::warn!("irq: INTID {intid} has no handler");
            }
        }
        cpu_interface::end_of_interrupt(intid);
    }
}
