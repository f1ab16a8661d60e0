//! The device registry: every ITT allocation, event mapping and collection
//! this driver has made. It is the single source from which the ITS's state
//! can be rebuilt ([`crate::Its::restore`], [`crate::Its::recover`]) and torn
//! down ([`crate::Its::save`]).
//!
//! Events are stored per device in a vector indexed by EventID, so lookups
//! are O(log devices) and memory is 8 bytes per event slot.

use crate::id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use crate::lpi::LpiConfig;
use crate::memory::DmaRegion;
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
    pub fn new(intid: IntId, icid: CollectionId, config: LpiConfig) -> Option<Self> {
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
    /// The ITT the device was mapped with.
    pub(crate) itt: DmaRegion,
    /// MAPD's Size field: EventID bits minus one.
    pub(crate) size: u8,
    /// One slot per EventID the device may use.
    pub(crate) events: Vec<Option<EventMapping>>,
    /// Whether the ITS currently holds this device's mapping (false after
    /// `save`, until `restore` replays it).
    pub(crate) live: bool,
}

impl DeviceRecord {
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

/// A mapped collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CollectionRecord {
    /// The redistributor's processor number.
    pub processor_number: ProcessorNumber,
    /// Events currently routed to the collection.
    pub events: usize,
}

/// Everything the driver has mapped.
#[derive(Debug, Default)]
pub struct Registry {
    pub(crate) devices: BTreeMap<DeviceId, DeviceRecord>,
    pub(crate) collections: BTreeMap<CollectionId, CollectionRecord>,
}

impl Registry {
    /// The record of a device.
    pub fn device(&self, device_id: DeviceId) -> Option<&DeviceRecord> {
        self.devices.get(&device_id)
    }

    /// Every device, in DeviceID order.
    pub fn devices(&self) -> impl Iterator<Item = (DeviceId, &DeviceRecord)> {
        self.devices.iter().map(|(id, record)| (*id, record))
    }

    /// Every collection, in ICID order.
    pub fn collections(&self) -> impl Iterator<Item = (CollectionId, CollectionRecord)> + '_ {
        self.collections.iter().map(|(id, record)| (*id, *record))
    }

    /// The mapping of one event.
    pub fn event(&self, device_id: DeviceId, event_id: EventId) -> Option<EventMapping> {
        *self
            .devices
            .get(&device_id)?
            .events
            .get(event_id.0 as usize)?
    }

    /// Every event mapping as ((DeviceID, EventID), mapping).
    pub fn mappings(&self) -> impl Iterator<Item = ((DeviceId, EventId), EventMapping)> + '_ {
        self.devices.iter().flat_map(|(device_id, record)| {
            record
                .events()
                .map(move |(event_id, mapping)| ((*device_id, event_id), mapping))
        })
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
            .get_mut(&device_id)
            .and_then(|record| record.events.get_mut(event_id.0 as usize))
        else {
            return;
        };
        let old = core::mem::replace(slot, mapping);
        self.count_event(old, -1);
        self.count_event(mapping, 1);
    }

    /// Removes a device, and its events from their collections' counts.
    pub(crate) fn remove_device(&mut self, device_id: DeviceId) -> Option<DeviceRecord> {
        let record = self.devices.remove(&device_id)?;
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

    /// Bytes of ITT memory held.
    pub fn itt_bytes(&self) -> usize {
        self.devices.values().map(|record| record.itt.size()).sum()
    }

    /// Bytes of heap the registry itself uses, approximately: one map node per
    /// device and collection plus the event vectors.
    pub fn heap_bytes(&self) -> usize {
        let per_device = core::mem::size_of::<(DeviceId, DeviceRecord)>();
        let per_collection = core::mem::size_of::<(CollectionId, CollectionRecord)>();
        let events: usize = self
            .devices
            .values()
            .map(|record| record.events.capacity() * core::mem::size_of::<Option<EventMapping>>())
            .sum();
        self.devices.len() * per_device + self.collections.len() * per_collection + events
    }
}
