//! The soak figures (`qemu/run --soak`): what each hibernation cycle cost
//! in time, memory and MSIs, and the rule that a cycle leaks no memory.

use super::Hibernation;
use crate::cpu;
use alloc::format;
use core::time::Duration;
use gicv3_its::MemoryUse;
use log::info;

/// Memory use before and after a cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    its: MemoryUse,
    heap: usize,
}

impl Sample {
    fn take(hibernation: &Hibernation) -> Self {
        Self {
            its: hibernation.kernel.its.its.memory_use(),
            heap: crate::heap::usage().0,
        }
    }

    fn tables(&self) -> usize {
        self.its.device_table + self.its.collection_table + self.its.queue + self.its.lpi_tables
    }

    fn its_total(&self) -> usize {
        self.tables() + self.its.itts + self.its.registry
    }
}

/// Where a cycle started: memory, MSI counts and time.
pub(super) struct CycleStart {
    before: Sample,
    triggered: u64,
    handled: u64,
    start: Duration,
}

impl Hibernation {
    /// The figures at the start of a cycle, before it hibernates.
    pub(super) fn cycle_start(&self) -> CycleStart {
        let before = Sample::take(self);
        let (triggered, handled) = (self.triggered, self.handled);
        let start = cpu::now();
        CycleStart {
            before,
            triggered,
            handled,
            start,
        }
    }

    /// Reports cycle `cycle` of `cycles`, begun at `begun`, after the
    /// resumed kernel's checks; a change in the ITS's or the heap's memory
    /// fails it.
    pub(super) fn cycle_done(&mut self, cycle: u32, cycles: u32, begun: CycleStart) {
        let CycleStart {
            before,
            triggered,
            handled,
            start,
        } = begun;
        let after = Sample::take(self);
        let elapsed = cpu::now().saturating_sub(start);
        info!(
            "PM: cycle {cycle}/{cycles} done in {} ms: ITS memory before {} after {} bytes (ITTs {} -> {}, tables {} -> {}), heap in use {} -> {} bytes, MSIs triggered {} handled {} (total {} / {})",
            elapsed.as_millis(),
            before.its_total(),
            after.its_total(),
            before.its.itts,
            after.its.itts,
            before.tables(),
            after.tables(),
            before.heap,
            after.heap,
            self.triggered - triggered,
            self.handled - handled,
            self.triggered,
            self.handled
        );
        if before.its != after.its || before.heap != after.heap {
            self.fail(format!(
                "cycle {cycle}: memory changed: {:?} -> {:?}",
                before, after
            ));
        }
    }
}
