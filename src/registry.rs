//! The device registry: every ITT allocation, event mapping and collection
//! this driver has made. It is the single source from which the ITS's state
//! can be rebuilt ([`crate::Its::restore`], [`crate::Its::recover`]) and torn
//! down ([`crate::Its::save`]).
//!
//! Events are stored per device in a vector indexed by EventID, so lookups
//! are O(log devices) and memory is 8 bytes per event slot.

use crate::command::ItsCommand;
use crate::error::ItsError;
use crate::id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use crate::lpi::LpiConfig;
use crate::memory::DmaRegion;
use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::num::NonZeroU32;

/// Where one event is routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventMapping {
    /// The LPI's INTID (8192 or more, hence non-zero).
    intid: NonZeroU32,
    /// The collection the LPI is delivered through.
    icid: CollectionId,
    /// The LPI's configuration byte, restored into the property table.
    config: LpiConfig,
}

impl EventMapping {
    /// An event routed to LPI `intid` (at least 8192) in collection `icid`.
    pub(crate) fn new(intid: IntId, icid: CollectionId, config: LpiConfig) -> Option<Self> {
        Some(Self {
            intid: NonZeroU32::new(intid.0)?,
            icid,
            config,
        })
    }

    /// The LPI.
    pub fn intid(&self) -> IntId {
        IntId(self.intid.get())
    }

    /// The collection.
    pub fn icid(&self) -> CollectionId {
        self.icid
    }

    /// The LPI's configuration.
    pub fn config(&self) -> LpiConfig {
        self.config
    }
}

/// A mapped device: its ITT and its events.
#[derive(Debug)]
pub struct DeviceRecord {
    /// The device.
    pub(crate) device_id: DeviceId,
    /// Whether the ITS currently holds this device's mapping (false after
    /// `save`, until `restore` replays it).
    pub(crate) live: bool,
    /// The ITT the device was mapped with.
    pub(crate) itt: DmaRegion,
    /// One slot per EventID the device may use.
    pub(crate) events: Box<[Option<EventMapping>]>,
}

impl DeviceRecord {
    /// The device.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// Physical address of the ITT.
    pub fn itt_address(&self) -> u64 {
        self.itt.phys()
    }

    /// Bytes of the ITT.
    pub fn itt_bytes(&self) -> usize {
        self.itt.size()
    }

    /// Number of events the device was mapped with.
    pub fn event_count(&self) -> u32 {
        self.events.len() as u32
    }

    /// MAPD's Size field: EventID bits minus one, for at least two entries
    /// (5.3.9).
    pub(crate) fn mapd_size(&self) -> u8 {
        ItsCommand::mapd_size(self.events.len() as u32)
    }

    /// The mapped events, as (EventID, mapping).
    pub fn events(&self) -> impl Iterator<Item = (EventId, EventMapping)> + '_ {
        self.events
            .iter()
            .enumerate()
            .filter_map(|(event_id, mapping)| Some((EventId(event_id as u32), (*mapping)?)))
    }

    /// Whether the ITS holds this device's mapping now.
    pub fn is_live(&self) -> bool {
        self.live
    }
}

/// The mapped devices, sorted by DeviceID: a binary search finds one, a
/// walk visits each once in order, and the heap holds each record once with
/// at most a quarter spare.
#[derive(Debug, Default)]
pub(crate) struct Devices {
    sorted: Vec<DeviceRecord>,
}

impl Devices {
    fn position(&self, device_id: DeviceId) -> Result<usize, usize> {
        self.sorted
            .binary_search_by_key(&device_id, |record| record.device_id)
    }

    pub(crate) fn get(&self, device_id: DeviceId) -> Option<&DeviceRecord> {
        Some(&self.sorted[self.position(device_id).ok()?])
    }

    pub(crate) fn get_mut(&mut self, device_id: DeviceId) -> Option<&mut DeviceRecord> {
        let index = self.position(device_id).ok()?;
        Some(&mut self.sorted[index])
    }

    /// Makes room for one more record, so that [`Devices::insert`] cannot
    /// fail: growing by a quarter (at least one), not doubling.
    pub(crate) fn reserve_one(&mut self) -> Result<(), ItsError> {
        if self.sorted.len() < self.sorted.capacity() {
            return Ok(());
        }
        let more = (self.sorted.len() / 4).max(1);
        self.sorted
            .try_reserve_exact(more)
            .map_err(|_| ItsError::OutOfMemory {
                size: more * core::mem::size_of::<DeviceRecord>(),
            })
    }

    /// Inserts a device not mapped yet, after [`Devices::reserve_one`].
    pub(crate) fn insert(&mut self, record: DeviceRecord) {
        if let Err(index) = self.position(record.device_id) {
            self.sorted.insert(index, record);
        }
    }

    pub(crate) fn remove(&mut self, device_id: DeviceId) -> Option<DeviceRecord> {
        let record = self.sorted.remove(self.position(device_id).ok()?);
        if self.sorted.capacity() > 2 * self.sorted.len() {
            self.sorted
                .shrink_to(self.sorted.len() + self.sorted.len() / 4);
        }
        Some(record)
    }

    pub(crate) fn iter(&self) -> core::slice::Iter<'_, DeviceRecord> {
        self.sorted.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> core::slice::IterMut<'_, DeviceRecord> {
        self.sorted.iter_mut()
    }

    pub(crate) fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Every record, the list left empty.
    pub(crate) fn take(&mut self) -> Vec<DeviceRecord> {
        core::mem::take(&mut self.sorted)
    }

    fn heap_bytes(&self) -> usize {
        self.sorted.capacity() * core::mem::size_of::<DeviceRecord>()
    }
}

/// A mapped collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectionRecord {
    processor_number: ProcessorNumber,
    events: usize,
    live: bool,
}

impl CollectionRecord {
    /// The redistributor's processor number.
    pub fn processor_number(&self) -> ProcessorNumber {
        self.processor_number
    }

    /// Events currently routed to the collection.
    pub fn events(&self) -> usize {
        self.events
    }

    /// Whether the ITS holds the mapping now: false while the ITS is
    /// saved, and after a restore until the redistributor is ready
    /// ([`crate::Its::restore_collections`]).
    pub fn is_live(&self) -> bool {
        self.live
    }
}

/// Everything the driver has mapped: a device, its ITT and events, or a
/// collection is recorded here once the ITS has consumed the commands that
/// map it, and is *live* while the ITS holds that mapping.
#[derive(Debug, Default)]
pub struct Registry {
    devices: Devices,
    collections: BTreeMap<CollectionId, CollectionRecord>,
}

impl Registry {
    /// The record of a device.
    pub fn device(&self, device_id: DeviceId) -> Option<&DeviceRecord> {
        self.devices.get(device_id)
    }

    /// Every device, in DeviceID order.
    pub fn devices(&self) -> impl Iterator<Item = (DeviceId, &DeviceRecord)> {
        self.devices.iter().map(|record| (record.device_id, record))
    }

    /// Every collection, in ICID order.
    pub fn collections(&self) -> impl Iterator<Item = (CollectionId, CollectionRecord)> + '_ {
        self.collections.iter().map(|(id, record)| (*id, *record))
    }

    /// The mapping of one event.
    pub fn event(&self, device_id: DeviceId, event_id: EventId) -> Option<EventMapping> {
        *self
            .devices
            .get(device_id)?
            .events
            .get(event_id.0 as usize)?
    }

    /// Every event mapping as ((DeviceID, EventID), mapping).
    pub fn mappings(&self) -> impl Iterator<Item = ((DeviceId, EventId), EventMapping)> + '_ {
        self.devices.iter().flat_map(|record| {
            record
                .events()
                .map(move |(event_id, mapping)| ((record.device_id, event_id), mapping))
        })
    }

    /// Calls `f` with every event mapping, without its IDs: the cheapest
    /// walk (two plain loops), for what needs only the LPIs and their
    /// configuration, as a restore rewriting the property table.
    pub(crate) fn for_each_event_mapping(&self, mut f: impl FnMut(&EventMapping)) {
        for record in self.devices.iter() {
            for mapping in record.events.iter().flatten() {
                f(mapping);
            }
        }
    }

    /// Records (or with `None` forgets) the mapping of one event of a mapped
    /// device, keeping every collection's event count in step.
    pub(crate) fn set_event(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        mapping: Option<EventMapping>,
    ) {
        let Some(slot) = self
            .devices
            .get_mut(device_id)
            .and_then(|record| record.events.get_mut(event_id.0 as usize))
        else {
            return;
        };
        let old = core::mem::replace(slot, mapping);
        self.count_event(old, -1);
        self.count_event(mapping, 1);
    }

    /// Records that the ITS holds nothing of the registry any more (after
    /// its tables were invalidated): no device is live, no collection
    /// mapped.
    pub(crate) fn forget_hardware(&mut self) {
        for record in self.devices.iter_mut() {
            record.live = false;
        }
        for record in self.collections.values_mut() {
            record.live = false;
        }
    }

    /// Removes a device, and its events from their collections' counts.
    pub(crate) fn remove_device(&mut self, device_id: DeviceId) -> Option<DeviceRecord> {
        let record = self.devices.remove(device_id)?;
        for (_, mapping) in record.events() {
            self.count_event(Some(mapping), -1);
        }
        Some(record)
    }

    fn count_event(&mut self, mapping: Option<EventMapping>, delta: isize) {
        if let Some(collection) = mapping.and_then(|m| self.collections.get_mut(&m.icid())) {
            collection.events = collection.events.saturating_add_signed(delta);
        }
    }

    /// The record of a collection.
    pub(crate) fn collection(&self, icid: CollectionId) -> Option<CollectionRecord> {
        self.collections.get(&icid).copied()
    }

    /// Records a collection the ITS now holds on `processor_number`, or
    /// one it holds again (after a restore, or moved), keeping its events.
    pub(crate) fn set_collection_live(
        &mut self,
        icid: CollectionId,
        processor_number: ProcessorNumber,
    ) {
        let record = self.collections.entry(icid).or_insert(CollectionRecord {
            processor_number,
            events: 0,
            live: true,
        });
        record.processor_number = processor_number;
        record.live = true;
    }

    /// Records as live every collection for which `to` names the
    /// processor it is now held on (by a restore or a move), in ICID order.
    pub(crate) fn set_collections_live(
        &mut self,
        mut to: impl FnMut(CollectionId, CollectionRecord) -> Option<ProcessorNumber>,
    ) {
        for (&icid, record) in self.collections.iter_mut() {
            if let Some(processor_number) = to(icid, *record) {
                record.processor_number = processor_number;
                record.live = true;
            }
        }
    }

    /// Forgets an unmapped collection.
    pub(crate) fn remove_collection(&mut self, icid: CollectionId) {
        self.collections.remove(&icid);
    }

    /// Number of devices recorded, live or not.
    pub(crate) fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Number of collections recorded, live or not.
    pub(crate) fn collection_count(&self) -> usize {
        self.collections.len()
    }

    /// Makes room for one more device, so that [`Registry::insert_device`]
    /// cannot fail.
    pub(crate) fn reserve_device(&mut self) -> Result<(), ItsError> {
        self.devices.reserve_one()
    }

    /// Records a device the ITS now holds, after
    /// [`Registry::reserve_device`].
    pub(crate) fn insert_device(&mut self, record: DeviceRecord) {
        self.devices.insert(record);
    }

    /// Every device's ITT, for the CPU to rewrite.
    pub(crate) fn itts_mut(&mut self) -> impl Iterator<Item = &mut DmaRegion> {
        self.devices.iter_mut().map(|record| &mut record.itt)
    }

    /// Records that the ITS holds every device before `stopped_at` (all of
    /// them with `None`): a replay got that far.
    pub(crate) fn set_devices_live_before(&mut self, stopped_at: Option<DeviceId>) {
        for record in self.devices.iter_mut() {
            if stopped_at.is_none_or(|stop| record.device_id < stop) {
                record.live = true;
            }
        }
    }

    /// Every device record, the registry left without any.
    pub(crate) fn take_devices(&mut self) -> Vec<DeviceRecord> {
        self.devices.take()
    }

    /// Bytes of ITT memory held.
    pub fn itt_bytes(&self) -> usize {
        self.devices.iter().map(|record| record.itt.size()).sum()
    }

    /// Bytes of heap the registry itself uses, approximately: the device
    /// list, each device's event slots, and a map node per collection.
    pub fn heap_bytes(&self) -> usize {
        let per_collection = core::mem::size_of::<(CollectionId, CollectionRecord)>();
        let events: usize = self
            .devices
            .iter()
            .map(|record| core::mem::size_of_val::<[Option<EventMapping>]>(&record.events))
            .sum();
        self.devices.heap_bytes() + self.collections.len() * per_collection + events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_record_fits_the_budget() {
        // 64 bytes per device with a quarter spare: at most 51 per record.
        assert!(core::mem::size_of::<DeviceRecord>() <= 48);
        assert_eq!(core::mem::size_of::<Option<EventMapping>>(), 8);
    }
}
