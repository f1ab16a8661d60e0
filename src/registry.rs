//! The device registry: every ITT allocation, event mapping and collection
//! this driver has made. It is the single source from which the ITS's state
//! can be rebuilt ([`crate::Its::restore`], [`crate::Its::recover`]) and torn
//! down ([`crate::Its::save`]).
//!
//! Events are stored in one pool, each device's slots together and indexed
//! by EventID, so lookups are O(log devices) and memory is 8 bytes per
//! event slot.

use crate::command::ItsCommand;
use crate::error::{Bookkeeping, ItsError};
use crate::id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use crate::lpi::LpiConfig;
use crate::memory::DmaRegion;
use crate::store::{Map, Slots};
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
    #[inline]
    pub fn intid(&self) -> IntId {
        IntId(self.intid.get())
    }

    /// The collection.
    #[inline]
    pub fn icid(&self) -> CollectionId {
        self.icid
    }

    /// The LPI's configuration.
    #[inline]
    pub fn config(&self) -> LpiConfig {
        self.config
    }
}

/// What the registry keeps of a mapped device; its events lie in the
/// registry's event pool, from `first_event`, in DeviceID order.
#[derive(Debug)]
pub(crate) struct DeviceEntry {
    /// Whether the ITS currently holds this device's mapping (false after
    /// `save`, until `restore` replays it).
    live: bool,
    /// The ITT the device was mapped with.
    itt: DmaRegion,
    /// Where the device's event slots start in the pool.
    first_event: usize,
    /// One slot per EventID the device may use.
    events: u32,
}

/// A mapped device: its ITT and its events, as the registry holds them.
#[derive(Clone, Copy, Debug)]
pub struct DeviceRecord<'a> {
    device_id: DeviceId,
    entry: &'a DeviceEntry,
    /// The registry's event pool, of which the device's slots are a part
    /// (found only when asked for: a save needs none).
    pool: &'a [Option<EventMapping>],
}

impl<'a> DeviceRecord<'a> {
    /// The device.
    #[inline]
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// Physical address of the ITT.
    #[inline]
    pub fn itt_address(&self) -> u64 {
        self.entry.itt.phys()
    }

    /// Bytes of the ITT.
    pub fn itt_bytes(&self) -> usize {
        self.entry.itt.size()
    }

    /// Number of events the device was mapped with.
    #[inline]
    pub fn event_count(&self) -> u32 {
        self.entry.events
    }

    /// MAPD's Size field: EventID bits minus one, for at least two entries
    /// (5.3.9).
    #[inline]
    pub(crate) fn mapd_size(&self) -> u8 {
        ItsCommand::mapd_size(self.entry.events)
    }

    /// The mapping of one event, `None` if it is unmapped or beyond the
    /// device's events.
    #[inline]
    pub fn event(&self, event_id: EventId) -> Option<EventMapping> {
        *self.slots().get(event_id.0 as usize)?
    }

    /// One slot per EventID, `None` where no event is mapped: what a
    /// replay walks.
    #[inline]
    pub(crate) fn slots(&self) -> &'a [Option<EventMapping>] {
        let first = self.entry.first_event;
        let end = first + self.entry.events as usize;
        self.pool.get(first..end).unwrap_or_default()
    }

    /// The mapped events, as (EventID, mapping).
    #[inline]
    pub fn events(&self) -> impl Iterator<Item = (EventId, EventMapping)> + use<'a> {
        (0..)
            .zip(self.slots())
            .filter_map(|(event_id, mapping)| Some((EventId(event_id), (*mapping)?)))
    }

    /// Whether the ITS holds this device's mapping now.
    #[inline]
    pub fn is_live(&self) -> bool {
        self.entry.live
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
///
/// Devices and collections are kept sorted (a binary search finds one, a
/// walk visits them in ID order), and the events of every device lie in
/// one pool, 8 bytes a slot, in DeviceID order: on the heap with the
/// `alloc` feature, or in [`crate::ItsStorage`].
#[derive(Debug)]
pub struct Registry {
    devices: Map<DeviceId, DeviceEntry>,
    events: Slots<Option<EventMapping>>,
    collections: Map<CollectionId, CollectionRecord>,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            devices: Map::empty(Bookkeeping::Devices),
            events: Slots::empty(Bookkeeping::Events),
            collections: Map::empty(Bookkeeping::Collections),
        }
    }
}

impl Registry {
    #[inline]
    fn record<'a>(&'a self, device_id: DeviceId, entry: &'a DeviceEntry) -> DeviceRecord<'a> {
        DeviceRecord {
            device_id,
            entry,
            pool: self.events.used(),
        }
    }

    /// The record of a device.
    pub fn device(&self, device_id: DeviceId) -> Option<DeviceRecord<'_>> {
        Some(self.record(device_id, self.devices.get(device_id)?))
    }

    /// Every device, in DeviceID order.
    #[inline]
    pub fn devices(&self) -> impl Iterator<Item = (DeviceId, DeviceRecord<'_>)> {
        self.devices
            .iter()
            .map(|(device_id, entry)| (device_id, self.record(device_id, entry)))
    }

    /// Every collection, in ICID order.
    pub fn collections(&self) -> impl Iterator<Item = (CollectionId, CollectionRecord)> + '_ {
        self.collections.iter().map(|(id, record)| (id, *record))
    }

    /// The mapping of one event.
    pub fn event(&self, device_id: DeviceId, event_id: EventId) -> Option<EventMapping> {
        self.device(device_id)?.event(event_id)
    }

    /// Every event mapping as ((DeviceID, EventID), mapping).
    pub fn mappings(&self) -> impl Iterator<Item = ((DeviceId, EventId), EventMapping)> + '_ {
        self.devices().flat_map(|(device_id, record)| {
            record
                .events()
                .map(move |(event_id, mapping)| ((device_id, event_id), mapping))
        })
    }

    /// Number of events mapped, of every device: a count of the pool's
    /// filled slots.
    pub fn event_mappings(&self) -> usize {
        self.events
            .used()
            .iter()
            .filter(|slot| slot.is_some())
            .count()
    }

    /// Calls `f` with every event mapping, without its IDs: the cheapest
    /// walk (one plain loop over the pool), for what needs only the LPIs
    /// and their configuration, as a restore rewriting the property table.
    #[inline]
    pub(crate) fn for_each_event_mapping(&self, mut f: impl FnMut(&EventMapping)) {
        for mapping in self.events.used().iter().flatten() {
            f(mapping);
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
        let Some(entry) = self.devices.get(device_id) else {
            return;
        };
        if event_id.0 >= entry.events {
            return;
        }
        let Some(slot) = self
            .events
            .used_mut()
            .get_mut(entry.first_event + event_id.0 as usize)
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
        for (_, entry) in self.devices.iter_mut() {
            entry.live = false;
        }
        for (_, record) in self.collections.iter_mut() {
            record.live = false;
        }
    }

    /// Removes a device, its events from the pool and from their
    /// collections' counts, and gives each of them to `forget`; returns
    /// its ITT and event count.
    pub(crate) fn remove_device(
        &mut self,
        device_id: DeviceId,
        mut forget: impl FnMut(EventMapping),
    ) -> Option<(DmaRegion, u32)> {
        // The devices after it (from its place on) hold the later slots.
        let place = self.devices.rank(device_id);
        let entry = self.devices.remove(device_id)?;
        let first = entry.first_event;
        let count = entry.events as usize;
        for at in first..first + count {
            let mapping = self.events.used_mut().get_mut(at).and_then(Option::take);
            if let Some(mapping) = mapping {
                self.count_event(Some(mapping), -1);
                forget(mapping);
            }
        }
        self.events.remove(first, count);
        for (_, later) in self.devices.iter_mut_from(place) {
            later.first_event -= count;
        }
        Some((entry.itt, entry.events))
    }

    fn count_event(&mut self, mapping: Option<EventMapping>, delta: isize) {
        if let Some(collection) = mapping.and_then(|m| self.collections.get_mut(m.icid())) {
            collection.events = collection.events.saturating_add_signed(delta);
        }
    }

    /// The record of a collection.
    pub(crate) fn collection(&self, icid: CollectionId) -> Option<CollectionRecord> {
        self.collections.get(icid).copied()
    }

    /// Makes room for one more collection, so that
    /// [`Registry::set_collection_live`] cannot fail.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`].
    pub(crate) fn reserve_collection(&mut self) -> Result<(), ItsError> {
        self.collections.reserve_one()
    }

    /// Records a collection the ITS now holds on `processor_number`, or
    /// one it holds again (after a restore, or moved), keeping its events;
    /// a new one after [`Registry::reserve_collection`].
    pub(crate) fn set_collection_live(
        &mut self,
        icid: CollectionId,
        processor_number: ProcessorNumber,
    ) {
        if let Some(record) = self.collections.get_mut(icid) {
            record.processor_number = processor_number;
            record.live = true;
            return;
        }
        let record = CollectionRecord {
            processor_number,
            events: 0,
            live: true,
        };
        // Reserved by the caller: this cannot fail.
        let _ = self.collections.insert(icid, record);
    }

    /// Records as live every collection for which `to` names the
    /// processor it is now held on (by a restore or a move), in ICID order.
    pub(crate) fn set_collections_live(
        &mut self,
        mut to: impl FnMut(CollectionId, CollectionRecord) -> Option<ProcessorNumber>,
    ) {
        for (icid, record) in self.collections.iter_mut() {
            if let Some(processor_number) = to(icid, *record) {
                record.processor_number = processor_number;
                record.live = true;
            }
        }
    }

    /// Forgets an unmapped collection.
    pub(crate) fn remove_collection(&mut self, icid: CollectionId) {
        self.collections.remove(icid);
    }

    /// Number of devices recorded, live or not.
    pub(crate) fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Number of event slots of every device recorded.
    pub(crate) fn event_slots(&self) -> usize {
        self.events.len()
    }

    /// Number of collections recorded, live or not.
    pub(crate) fn collection_count(&self) -> usize {
        self.collections.len()
    }

    /// Makes room for one more device of `events` events, so that
    /// [`Registry::insert_device`] cannot fail.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`] for the event
    /// slots or the device's entry; nothing changes but spare room.
    pub(crate) fn reserve_device(&mut self, events: u32) -> Result<(), ItsError> {
        self.events.reserve(events as usize)?;
        self.devices.reserve_one()
    }

    /// Records a device the ITS now holds, not recorded yet, after
    /// [`Registry::reserve_device`]: its event slots go after those of the
    /// devices before it.
    pub(crate) fn insert_device(&mut self, device_id: DeviceId, itt: DmaRegion, events: u32) {
        if self.devices.contains(device_id) {
            return;
        }
        // Its slots go where those of the device after it start, or last;
        // the devices after it move up.
        let place = self.devices.rank(device_id);
        let first_event = self
            .devices
            .iter_from(place)
            .next()
            .map_or(self.events.len(), |(_, next)| next.first_event);
        if !self.events.insert(first_event, events as usize) {
            return;
        }
        for (_, later) in self.devices.iter_mut_from(place) {
            later.first_event += events as usize;
        }
        let entry = DeviceEntry {
            live: true,
            itt,
            first_event,
            events,
        };
        // Reserved by the caller: this cannot fail.
        let _ = self.devices.insert(device_id, entry);
    }

    /// Every device's ITT, for the CPU to rewrite.
    pub(crate) fn itts_mut(&mut self) -> impl Iterator<Item = &mut DmaRegion> {
        self.devices.iter_mut().map(|(_, entry)| &mut entry.itt)
    }

    /// Records that the ITS holds every device before `stopped_at` (all of
    /// them with `None`): a replay got that far.
    pub(crate) fn set_devices_live_before(&mut self, stopped_at: Option<DeviceId>) {
        for (device_id, entry) in self.devices.iter_mut() {
            if stopped_at.is_none_or(|stop| device_id < stop) {
                entry.live = true;
            }
        }
    }

    /// Forgets every device, giving each one's ITT and event count to
    /// `give_back`, in DeviceID order.
    pub(crate) fn clear_devices(&mut self, mut give_back: impl FnMut(DmaRegion, u32)) {
        self.devices
            .drain(|_, entry| give_back(entry.itt, entry.events));
        self.events.remove(0, self.events.len());
    }

    /// Moves everything recorded into the caller's room, which the
    /// registry keeps from now on ([`crate::ItsStorage`]). The caller has
    /// checked that the room holds what is recorded
    /// ([`crate::ItsStorage`]'s `check`): a store too small fails, and those
    /// before it have moved.
    ///
    /// # Errors
    /// [`ItsError::StorageFull`] for a store the room cannot hold.
    pub(crate) fn move_to(&mut self, room: RegistryRoom) -> Result<(), ItsError> {
        self.devices.move_to(room.devices)?;
        self.events.move_to(room.events)?;
        self.collections.move_to(room.collections)
    }

    /// Bytes of ITT memory held.
    pub fn itt_bytes(&self) -> usize {
        self.devices.values().map(|entry| entry.itt.size()).sum()
    }

    /// Bytes of heap the registry itself uses: the device list, the event
    /// pool and the collection list, with their spare room (none without
    /// the `alloc` feature).
    pub fn heap_bytes(&self) -> usize {
        self.devices.heap_bytes() + self.events.heap_bytes() + self.collections.heap_bytes()
    }
}

/// The caller's room for a registry ([`crate::ItsStorage`]).
pub(crate) struct RegistryRoom {
    pub(crate) devices: &'static mut [Option<(DeviceId, DeviceEntry)>],
    pub(crate) events: &'static mut [Option<EventMapping>],
    pub(crate) collections: &'static mut [Option<(CollectionId, CollectionRecord)>],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_record_fits_the_budget() {
        // 64 bytes per device with a quarter spare: at most 51 per record.
        assert!(core::mem::size_of::<Option<(DeviceId, DeviceEntry)>>() <= 48);
        assert_eq!(core::mem::size_of::<Option<EventMapping>>(), 8);
    }
}
