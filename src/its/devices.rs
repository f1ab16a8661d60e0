//! Devices and their events: an ITT per device (MAPD), an LPI per event
//! (MAPTI, INV), and what can be done to a mapped event (DISCARD, MOVI,
//! INT, CLEAR, a new configuration), Arm IHI 0069 5.3.

use super::{Its, ItsFeatures, Targets, live_processors};
use crate::command::{ItsCommand, RdBase};
use crate::error::ItsError;
use crate::id::{CollectionId, DeviceId, EventId, IntId};
use crate::lpi::{DEFAULT_PRIORITY, LpiConfig};
use crate::memory::{self, DmaMemory, DmaRequest, MemoryAttributes};
use crate::registers::GitsFrame;
use crate::registry::EventMapping;

/// ITT base addresses are 256-byte aligned (MAPD's ITT_addr is bits \[51:8\]).
const ITT_ALIGN: usize = 256;

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// EventID bits for `events` events: at least one, so an ITT has at least
    /// two entries (MAPD Size + 1 bits, 5.3.9).
    fn event_id_bits(&self, events: u32) -> Result<u32, ItsError> {
        let max = self.max_events();
        if events == 0 || events > max {
            return Err(ItsError::EventCountOutOfRange {
                requested: events,
                max,
            });
        }
        let bits = events.checked_next_power_of_two().map_or(32, u32::ilog2);
        Ok(bits.max(1))
    }

    /// Bytes of the ITT for a device with `events` events.
    ///
    /// # Errors
    /// [`ItsError::EventCountOutOfRange`] for zero events or more than
    /// [`Its::max_events`].
    pub fn itt_bytes(&self, events: u32) -> Result<usize, ItsError> {
        self.event_id_bits(events)?;
        Ok(self.itt_request(events).size)
    }

    /// What the ITT of a device with `events` events (at least one) is
    /// allocated with: a power of two entries, at least two, 256-byte
    /// aligned, where the ITS reaches.
    pub(crate) fn itt_request(&self, events: u32) -> DmaRequest {
        itt_request(&self.features, events)
    }

    fn itt_attributes(&self) -> MemoryAttributes {
        // The ITS reads ITTs like its other tables; clean them if any table
        // needed cleaning.
        if self.device_table.attributes.needs_cache_clean() {
            self.device_table.attributes
        } else {
            self.attributes
        }
    }

    /// Maps a device with room for `events` events: allocates its ITT
    /// (zeroed, 256-byte aligned) and sends MAPD V=1 (5.3.9).
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceIdOutOfRange`] for a DeviceID beyond
    /// [`Its::max_device_id`]; [`ItsError::EventCountOutOfRange`] for zero
    /// events or more than [`Its::max_events`];
    /// [`ItsError::DeviceAlreadyMapped`] if the device is mapped already;
    /// [`ItsError::OutOfMemory`] if there is no memory for the ITT, a level-2
    /// Device table page or the registry's record;
    /// [`ItsError::StorageFull`] if the caller's storage has no room for the
    /// device, its events or a level-2 page's record;
    /// [`ItsError::UnencodableAddress`] if the platform gave the ITT or the
    /// page where the ITS cannot reach; [`ItsError::Timeout`] if the ITS does
    /// not consume the MAPD in time, or [`ItsError::CommandStalled`] if it
    /// stalls on it (then [`Its::recover`], which gives the ITT back). Nothing
    /// is sent to the ITS before every other check has passed.
    pub fn map_device(&mut self, device_id: DeviceId, events: u32) -> Result<(), ItsError> {
        self.check_active()?;
        if u64::from(device_id.0) >= self.device_limit {
            return Err(ItsError::DeviceIdOutOfRange {
                device_id,
                max: self.max_device_id(),
            });
        }
        self.event_id_bits(events)?;
        if self.registry.device(device_id).is_some() {
            return Err(ItsError::DeviceAlreadyMapped { device_id });
        }
        let request = self.itt_request(events);
        self.device_table
            .ensure_entry(self.channel.memory_mut(), device_id)?;
        // The ITT first (a device of too many events fails here, before the
        // registry asks for room for them), then the registry's room: after
        // MAPD there must be nothing left that can fail.
        let itt = memory::allocate(self.channel.memory_mut(), request)?;
        if let Err(error) = self.registry.reserve_device(events) {
            self.channel.memory_mut().deallocate(itt, request);
            return Err(error);
        }
        itt.clean(
            self.channel.memory(),
            self.itt_attributes(),
            0,
            request.size,
        );
        let size = ItsCommand::mapd_size(events);
        let command = ItsCommand::Mapd {
            device_id,
            size,
            itt_address: itt.phys(),
            valid: true,
        };
        if let Err(error) = self.execute(&[command], &[]) {
            // The ITS may or may not have taken the mapping: keep the ITT
            // away from everyone until `recover` has cleared the tables.
            // (One at most: every mapping waits for `recover`, or a save
            // that disables the ITS, and both give it back.)
            self.quarantine = Some((itt, request));
            return Err(error);
        }
        log::info!(
            "its: MAPD dev {device_id:#x} valid 1 itt {:#x} size {size}",
            itt.phys(),
        );
        self.registry.insert_device(device_id, itt, events);
        Ok(())
    }

    /// Unmaps a device (DISCARD per event, then MAPD V=0), then frees its
    /// ITT and its LPIs.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::Timeout`] if the ITS does not consume the commands
    /// in time, or [`ItsError::CommandStalled`] if it stalls on one (then
    /// [`Its::recover`]).
    pub fn unmap_device(&mut self, device_id: DeviceId) -> Result<(), ItsError> {
        self.check_active()?;
        let record = self
            .registry
            .device(device_id)
            .ok_or(ItsError::DeviceNotMapped { device_id })?;
        let registry = &self.registry;
        let syncs = Targets::of(&self.domain, &self.features).syncs(|| {
            live_processors(registry, record.events().map(|(_, mapping)| mapping.icid()))
        });
        // DISCARD each event first: MAPD V=0 drops the translations but not
        // the LPIs' pending state (5.3.5, 5.3.9), and the LPIs are about to
        // be freed for reuse. Then SYNC every redistributor they went to, so
        // nothing through the old ITT is still in flight. Streamed from the
        // registry: no list of a device's events is built.
        let discards = record.events().map(|(event_id, _)| ItsCommand::Discard {
            device_id,
            event_id,
        });
        let unmap = ItsCommand::Mapd {
            device_id,
            size: record.mapd_size(),
            itt_address: record.itt_address(),
            valid: false,
        };
        let result = self
            .channel
            .send(discards.chain(core::iter::once(unmap)), syncs);
        self.recovery_after(result)?;
        log::info!("its: MAPD dev {device_id:#x} valid 0");
        let domain = &self.domain;
        let removed = self
            .registry
            .remove_device(device_id, |mapping| domain.free(mapping.intid()));
        if let Some((itt, events)) = removed {
            let request = self.itt_request(events);
            self.channel.memory_mut().deallocate(itt, request);
        }
        Ok(())
    }

    /// Frees an unmapped event's LPI and disables it in the property table
    /// (the registry has already dropped the mapping).
    fn forget_event(&mut self, mapping: EventMapping) {
        self.domain.free(mapping.intid());
    }

    fn check_event(
        &self,
        device_id: DeviceId,
        event_id: EventId,
    ) -> Result<Option<EventMapping>, ItsError> {
        let record = self
            .registry
            .device(device_id)
            .ok_or(ItsError::DeviceNotMapped { device_id })?;
        if event_id.0 >= record.event_count() {
            return Err(ItsError::EventIdOutOfRange {
                device_id,
                event_id,
                events: record.event_count(),
            });
        }
        Ok(record.event(event_id))
    }

    fn mapped_event(
        &self,
        device_id: DeviceId,
        event_id: EventId,
    ) -> Result<EventMapping, ItsError> {
        self.check_event(device_id, event_id)?
            .ok_or(ItsError::EventNotMapped {
                device_id,
                event_id,
            })
    }

    /// Maps an event of a mapped device to a newly allocated LPI, enabled at
    /// the default priority, in collection `icid` (MAPTI, then INV so the
    /// redistributor loads the LPI's configuration, 5.3.11, 5.3.6). Returns
    /// the LPI's INTID.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventAlreadyMapped`] if the event is mapped
    /// already; [`ItsError::CollectionNotMapped`] if `icid` is not mapped;
    /// [`ItsError::RedistributorNotReady`] if the redistributor of `icid` is
    /// not ready now; [`ItsError::LpiSpaceExhausted`] if the domain has no free
    /// LPI; [`ItsError::Timeout`] if the ITS does not consume the commands in
    /// time, or [`ItsError::CommandStalled`] if it stalls on one (the LPI is
    /// freed again; then [`Its::recover`]).
    pub fn map_event(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        icid: CollectionId,
    ) -> Result<IntId, ItsError> {
        self.map_event_with(device_id, event_id, icid, None)
    }

    /// Like [`Its::map_event`], to the LPI the caller chooses: for kernels
    /// that number their interrupts themselves. Fails with
    /// [`ItsError::LpiInUse`] if any ITS of the domain already maps it.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventAlreadyMapped`] if the event is mapped
    /// already; [`ItsError::CollectionNotMapped`] if `icid` is not mapped;
    /// [`ItsError::RedistributorNotReady`] if the redistributor of `icid` is
    /// not ready now; [`ItsError::LpiOutOfRange`] if `intid` is not an LPI of
    /// the domain; [`ItsError::LpiInUse`] if it is allocated already;
    /// [`ItsError::Timeout`] if the ITS does not consume the commands in time,
    /// or [`ItsError::CommandStalled`] if it stalls on one (the LPI is freed
    /// again; then [`Its::recover`]).
    pub fn map_event_to_lpi(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        icid: CollectionId,
        intid: IntId,
    ) -> Result<(), ItsError> {
        self.map_event_with(device_id, event_id, icid, Some(intid))
            .map(|_| ())
    }

    fn map_event_with(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        icid: CollectionId,
        chosen: Option<IntId>,
    ) -> Result<IntId, ItsError> {
        self.check_active()?;
        if self.check_event(device_id, event_id)?.is_some() {
            return Err(ItsError::EventAlreadyMapped {
                device_id,
                event_id,
            });
        }
        // A collection waiting for its redistributor (after a restore)
        // takes events too: MAPTI needs only its ICID (5.3.11). Its INVALL
        // at `restore_collections` loads their configuration; until then
        // there is nothing to INV or SYNC.
        let target = match self.rdbase_of_collection(icid) {
            Ok(rdbase) => Some(rdbase),
            Err(ItsError::CollectionDeferred { .. }) => None,
            Err(error) => return Err(error),
        };
        let config = LpiConfig::new(DEFAULT_PRIORITY, true);
        let intid = match chosen {
            Some(intid) => self.domain.reserve(intid, config).map(|()| intid)?,
            None => self.domain.allocate(config)?,
        };
        let mapti = ItsCommand::Mapti {
            device_id,
            event_id,
            intid,
            icid,
        };
        let inv = ItsCommand::Inv {
            device_id,
            event_id,
        };
        let sent = match target {
            Some(rdbase) => self.execute(&[mapti, inv], &[rdbase]),
            None => self.execute(&[mapti], &[]),
        };
        if let Err(error) = sent {
            self.domain.free(intid);
            return Err(error);
        }
        log::info!("its: MAPTI dev {device_id:#x} event {event_id} -> LPI {intid} icid {icid}");
        self.registry
            .set_event(device_id, event_id, EventMapping::new(intid, icid, config));
        Ok(intid)
    }

    /// Unmaps one event (DISCARD, which also clears its pending state,
    /// 5.3.5) and frees its LPI.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventNotMapped`] if the event is not
    /// mapped; [`ItsError::CollectionDeferred`] if its collection waits for its
    /// redistributor after a restore; [`ItsError::RedistributorNotReady`] if
    /// that redistributor is not ready now; [`ItsError::Timeout`] if the ITS
    /// does not consume the commands in time, or [`ItsError::CommandStalled`]
    /// if it stalls on one (then [`Its::recover`]).
    pub fn unmap_event(&mut self, device_id: DeviceId, event_id: EventId) -> Result<(), ItsError> {
        self.check_active()?;
        let mapping = self.mapped_event(device_id, event_id)?;
        let rdbase = self.rdbase_of_collection(mapping.icid())?;
        self.execute(
            &[ItsCommand::Discard {
                device_id,
                event_id,
            }],
            &[rdbase],
        )?;
        log::debug!("its: DISCARD dev {device_id:#x} event {event_id}");
        self.registry.set_event(device_id, event_id, None);
        self.forget_event(mapping);
        Ok(())
    }

    /// Moves an event to collection `icid` (MOVI, 5.3.13); a pending LPI
    /// moves with it.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventNotMapped`] if the event is not
    /// mapped; [`ItsError::CollectionNotMapped`] if `icid` is not mapped;
    /// [`ItsError::CollectionDeferred`] if `icid` or the event's collection
    /// waits for its redistributor after a restore;
    /// [`ItsError::RedistributorNotReady`] if the redistributor of either is
    /// not ready now; [`ItsError::Timeout`] if the ITS does not consume the
    /// commands in time, or [`ItsError::CommandStalled`] if it stalls on one
    /// (then [`Its::recover`]).
    pub fn move_event(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        icid: CollectionId,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let mapping = self.mapped_event(device_id, event_id)?;
        let to = self.rdbase_of_collection(icid)?;
        let from = self.rdbase_of_collection(mapping.icid())?;
        let syncs: &[RdBase] = if from == to { &[from] } else { &[from, to] };
        self.execute(
            &[ItsCommand::Movi {
                device_id,
                event_id,
                icid,
            }],
            syncs,
        )?;
        log::debug!("its: MOVI dev {device_id:#x} event {event_id} -> icid {icid}");
        self.registry.set_event(
            device_id,
            event_id,
            EventMapping::new(mapping.intid(), icid, mapping.config()),
        );
        Ok(())
    }

    /// Makes an event's LPI pending as if the device had signalled it (INT,
    /// 5.3.4).
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventNotMapped`] if the event is not
    /// mapped; [`ItsError::CollectionDeferred`] if its collection waits for its
    /// redistributor after a restore; [`ItsError::RedistributorNotReady`] if
    /// that redistributor is not ready now; [`ItsError::Timeout`] if the ITS
    /// does not consume the commands in time, or [`ItsError::CommandStalled`]
    /// if it stalls on one (then [`Its::recover`]).
    pub fn send_int(&mut self, device_id: DeviceId, event_id: EventId) -> Result<(), ItsError> {
        self.event_command(
            device_id,
            event_id,
            ItsCommand::Int {
                device_id,
                event_id,
            },
        )
    }

    /// Clears an event's pending LPI (CLEAR, 5.3.3).
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventNotMapped`] if the event is not
    /// mapped; [`ItsError::CollectionDeferred`] if its collection waits for its
    /// redistributor after a restore; [`ItsError::RedistributorNotReady`] if
    /// that redistributor is not ready now; [`ItsError::Timeout`] if the ITS
    /// does not consume the commands in time, or [`ItsError::CommandStalled`]
    /// if it stalls on one (then [`Its::recover`]).
    pub fn clear(&mut self, device_id: DeviceId, event_id: EventId) -> Result<(), ItsError> {
        self.event_command(
            device_id,
            event_id,
            ItsCommand::Clear {
                device_id,
                event_id,
            },
        )
    }

    fn event_command(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        command: ItsCommand,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let mapping = self.mapped_event(device_id, event_id)?;
        let rdbase = self.rdbase_of_collection(mapping.icid())?;
        self.execute(&[command], &[rdbase])
    }

    /// Sets the LPI priority and enable bit of many events at once: every
    /// property byte is written first, then each collection they are in is
    /// reloaded once (INVALL, 5.3.7) and each redistributor synchronised,
    /// instead of one INV per event as [`Its::configure_event`] sends. Every
    /// event is checked before anything is written: an unmapped one, or one
    /// in a collection still waiting for its redistributor, is an error with
    /// nothing changed.
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`],
    /// [`ItsError::EventIdOutOfRange`] or [`ItsError::EventNotMapped`] if one
    /// of `events` is not mapped, [`ItsError::CollectionDeferred`] if the
    /// collection of one waits for its redistributor after a restore, or
    /// [`ItsError::RedistributorNotReady`] if that redistributor is not ready
    /// now (nothing is changed then); [`ItsError::Timeout`] if the ITS does not
    /// consume the commands in time, or [`ItsError::CommandStalled`] if it
    /// stalls on one (the new configuration is written and recorded all the
    /// same; then [`Its::recover`]).
    pub fn configure_events(
        &mut self,
        events: &[(DeviceId, EventId)],
        priority: u8,
        enabled: bool,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let config = LpiConfig::new(priority, enabled);
        // Every event mapped, in a collection live on a ready redistributor
        // (its INVALL must be followed by a SYNC), before anything changes.
        for &(device_id, event_id) in events {
            let mapping = self.mapped_event(device_id, event_id)?;
            self.rdbase_of_collection(mapping.icid())?;
        }
        for &(device_id, event_id) in events {
            let mapping = self.mapped_event(device_id, event_id)?;
            self.domain.set_config(mapping.intid(), config);
            self.registry.set_event(
                device_id,
                event_id,
                EventMapping::new(mapping.intid(), mapping.icid(), config),
            );
        }
        // One INVALL per collection that any of the events is in, in ICID
        // order, then the SYNCs; collections are few, events may be many,
        // and no list of either is built.
        let registry = &self.registry;
        let icids = || {
            events
                .iter()
                .filter_map(|&(device_id, event_id)| registry.event(device_id, event_id))
                .map(|mapping| mapping.icid())
        };
        let syncs =
            Targets::of(&self.domain, &self.features).syncs(|| live_processors(registry, icids()));
        let invalls = registry
            .collections()
            .map(|(icid, _)| icid)
            .filter(|&icid| icids().any(|concerned| concerned == icid))
            .map(|icid| ItsCommand::Invall { icid });
        let result = self.channel.send(invalls, syncs);
        self.recovery_after(result)
    }

    /// Sets an event's LPI priority and enable bit in the property table and
    /// makes the redistributor reload it (INV, 5.3.6).
    ///
    /// # Errors
    /// [`ItsError::Saved`] while the ITS is saved or a restore has not
    /// finished; [`ItsError::NeedsRecovery`] after a failed command, until
    /// [`Its::recover`]; [`ItsError::DeviceNotMapped`] if the device is not
    /// mapped; [`ItsError::EventIdOutOfRange`] for an EventID beyond the
    /// device's events; [`ItsError::EventNotMapped`] if the event is not
    /// mapped; [`ItsError::CollectionDeferred`] if its collection waits for its
    /// redistributor after a restore; [`ItsError::RedistributorNotReady`] if
    /// that redistributor is not ready now; [`ItsError::Timeout`] if the ITS
    /// does not consume the commands in time, or [`ItsError::CommandStalled`]
    /// if it stalls on one (the new configuration is written and recorded all
    /// the same; then [`Its::recover`]).
    pub fn configure_event(
        &mut self,
        device_id: DeviceId,
        event_id: EventId,
        priority: u8,
        enabled: bool,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let mapping = self.mapped_event(device_id, event_id)?;
        let rdbase = self.rdbase_of_collection(mapping.icid())?;
        let config = LpiConfig::new(priority, enabled);
        self.domain.set_config(mapping.intid(), config);
        let result = self.execute(
            &[ItsCommand::Inv {
                device_id,
                event_id,
            }],
            &[rdbase],
        );
        self.registry.set_event(
            device_id,
            event_id,
            EventMapping::new(mapping.intid(), mapping.icid(), config),
        );
        result
    }
}

/// What the ITT of a device with `events` events is allocated with: a
/// power of two of entries (two at least), in 256-byte units.
pub(super) fn itt_request(features: &ItsFeatures, events: u32) -> DmaRequest {
    let entries = events
        .max(2)
        .checked_next_power_of_two()
        .map_or(1 << 32, u64::from);
    let bytes = (entries as usize * features.itt_entry_size).next_multiple_of(ITT_ALIGN);
    DmaRequest::for_gic(bytes, ITT_ALIGN, features.quirks)
}
