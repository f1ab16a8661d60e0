//! The driver's side: mapping the benchmark's devices, events and
//! collections, and timing its save and restore.

use crate::*;
use alloc::vec::Vec;
use gicv3_its::registers::GitsFrame;
use gicv3_its::{CollectionId, DeviceId, DmaMemory, EventId, Its, ItsError, ProcessorNumber};

/// Maps collection `icid` to `processor(icid)` for every benchmark collection
/// not mapped yet.
pub fn map_collections<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    processor: impl Fn(CollectionId) -> ProcessorNumber,
) -> Result<(), ItsError> {
    for icid in (0..COLLECTIONS).map(CollectionId) {
        if !its.registry().collections().any(|(id, _)| id == icid) {
            its.map_collection(icid, processor(icid))?;
        }
    }
    Ok(())
}

/// Maps devices `from..to` (by index; DeviceID [`FIRST_DEVICE_ID`] + index),
/// each with room for `events` events, none of them mapped yet.
pub fn map_devices<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    from: u32,
    to: u32,
    events: u32,
) -> Result<(), ItsError> {
    (from..to).try_for_each(|index| its.map_device(DeviceId(FIRST_DEVICE_ID + index), events))
}

/// Maps every event of devices `from..to` to an LPI in collection
/// [`icid`]`(index, event)`.
pub fn map_events<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    from: u32,
    to: u32,
    events: u32,
) -> Result<(), ItsError> {
    for index in from..to {
        for event in 0..events {
            its.map_event(
                DeviceId(FIRST_DEVICE_ID + index),
                EventId(event),
                icid(index, event),
            )?;
        }
    }
    Ok(())
}

/// Unmaps every device (their LPIs and ITTs are given back).
pub fn unmap_devices<F: GitsFrame, M: DmaMemory>(its: &mut Its<F, M>) -> Result<(), ItsError> {
    let ids: Vec<DeviceId> = its.registry().devices().map(|(id, _)| id).collect();
    ids.into_iter().try_for_each(|id| its.unmap_device(id))
}

/// Times `runs` rounds of `save` then `restore` on a mapped driver. Returns
/// the counts of the first round (every round does the same) and the median
/// time of each, save first. `now_ns` is a monotonic clock in nanoseconds.
pub fn time_driver<F: GitsFrame, M: DmaMemory>(
    its: &mut Its<F, M>,
    runs: usize,
    now_ns: &dyn Fn() -> u64,
) -> Result<[(Counts, u64); 2], ItsError> {
    let mut counts = [Counts::default(); 2];
    let mut times = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    for run in 0..runs.max(1) {
        let s0 = its.queue_stats();
        let t0 = now_ns();
        its.save()?;
        let t1 = now_ns();
        let s1 = its.queue_stats();
        let _ = its.restore()?;
        let t2 = now_ns();
        let s2 = its.queue_stats();
        if run == 0 {
            counts = [Counts::between(s0, s1), Counts::between(s1, s2)];
        }
        times[0].push(t1 - t0);
        times[1].push(t2 - t1);
    }
    let [save, restore] = &mut times;
    Ok([(counts[0], median(save)), (counts[1], median(restore))])
}
