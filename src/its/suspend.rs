//! Save, restore and recovery: the hooks that make hibernation, kexec-style
//! handover and command-queue failures safe.
//!
//! After [`Its::save`] the ITS holds no mapping at all: every device and
//! collection is unmapped by command, the ITS is disabled and quiescent, and
//! its tables are cleared, so nothing the ITS (or a hypervisor serialising
//! it) writes later can land in memory that a next kernel owns. That is the
//! hook a kernel runs before it snapshots itself, and the hook a boot kernel
//! runs before it jumps into a hibernation image.
//!
//! [`Its::restore`] rebuilds everything from the registry: it reprograms the
//! command queue (empty: CREADR = CWRITER = 0) and the tables, enables the ITS and
//! replays MAPC, MAPD and MAPTI, then one INVALL per collection and one SYNC
//! per redistributor. [`Its::recover`] does the same after a stalled or
//! timed-out command, so the hardware again holds exactly what the registry
//! says.

use crate::command::ItsCommand;
use crate::error::ItsError;
use crate::id::{DeviceId, EventId};
use crate::its::devices::itt_request;
use crate::its::probe::QUEUE_ALIGN;
use crate::its::{Its, ItsState, Targets, disable_and_quiesce};
use crate::memory::{DmaMemory, DmaRequest};
use crate::registers::{GITS_IIDR, GITS_TYPER, GitsFrame};
use core::mem::ManuallyDrop;

/// What [`Its::restore`] replayed.
#[must_use = "a restore may defer collections whose CPU is not ready: check `deferred_collections`"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Restored {
    /// Devices the ITS maps again (MAPD).
    pub devices: usize,
    /// Events the ITS maps again (MAPTI).
    pub events: usize,
    /// Collections mapped again (MAPC), onto redistributors that are ready.
    pub collections: usize,
    /// Collections not mapped yet because their redistributor is not ready
    /// (its CPU is offline, or [`crate::LpiDomain::init_redistributor`]
    /// has not run for it since the save): their events' MSIs are not
    /// delivered until [`Its::restore_collections`] maps them.
    pub deferred_collections: usize,
}

/// What a save does with the LPIs of this ITS's events that are pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    /// Left pending, for a restore on the same redistributors.
    Keep,
    /// Discarded, for a next kernel.
    Discard,
}

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// Unmaps every device and collection, disables the ITS and waits until
    /// it is quiescent, then clears its tables. The registry keeps every
    /// mapping for [`Its::restore`]. Calling it again while saved does
    /// nothing.
    ///
    /// Teardown is one MAPD V=0 per device and one MAPC V=0 per collection:
    /// MAPD V=0 drops a device's events with it (5.3.9), so there is no
    /// DISCARD per event. Then one SYNC per redistributor and one wait.
    ///
    /// If the ITS does not consume the teardown (stall or timeout) it is
    /// disabled anyway and its tables are cleared, which also leaves it
    /// holding nothing; the error is returned only if it does not become
    /// quiescent.
    ///
    /// The devices must be quiet first: no MSI in flight and none raised
    /// until [`Its::restore`] (stop them, or mask their MSI and MSI-X
    /// vectors). An MSI that reaches a saved ITS is dropped; one to a
    /// DeviceID it no longer maps is a translation error, which on an ITS
    /// with GITS_TYPER.SEIS = 1 can raise a System Error.
    ///
    /// Pending state: save leaves an LPI that is pending in its
    /// redistributor pending (no DISCARD), and restore maps the same LPI to
    /// the same event. So it is still delivered after restore if the
    /// redistributor kept its state, that is when it still runs on the
    /// domain's tables ([`crate::LpiDomain::init_redistributor`] changed
    /// nothing: an in-memory handover, a snapshot without a reset). After a
    /// power cycle, or once a redistributor was released or reprogrammed,
    /// its pending LPIs are gone (its pending table is zeroed when it is
    /// programmed again): drivers must check their devices for work after a
    /// restore, as they would after any resume. Before a handover to
    /// another kernel, use [`Its::save_for_handover`].
    ///
    /// On a GIC that does not snoop, the Device and Collection tables are
    /// rewritten from the CPU (zeroed, cleaned and invalidated), so that no
    /// stale cache line of an entry the ITS wrote survives in a snapshot.
    ///
    /// # Errors
    /// [`ItsError::Timeout`] if the ITS does not become quiescent (the
    /// state is then [`ItsState::NeedsRecovery`]).
    pub fn save(&mut self) -> Result<(), ItsError> {
        self.save_with(Pending::Keep)
    }

    /// [`Its::save`] before control passes to another kernel (a boot kernel
    /// jumping into a hibernation image, kexec): every mapped event is also
    /// discarded (DISCARD, 5.3.5), so that no LPI of this kernel's stays
    /// pending in a redistributor the next kernel takes as it is (one whose
    /// EnableLPIs cannot be cleared, or one running on the same tables),
    /// where it would fire for whatever the next kernel maps to that INTID.
    /// A later [`Its::restore`] replays everything as after `save`.
    ///
    /// # Errors
    /// As [`Its::save`].
    pub fn save_for_handover(&mut self) -> Result<(), ItsError> {
        self.save_with(Pending::Discard)
    }

    fn save_with(&mut self, pending: Pending) -> Result<(), ItsError> {
        if self.state == ItsState::Saved {
            return Ok(());
        }
        // After a failed command the ITS's queue is not trusted: go straight
        // to disabling it, which (with Valid = 0 below) drops everything.
        let torn_down = self.state != ItsState::NeedsRecovery
            && match self.tear_down(pending) {
                Ok(()) => true,
                Err(error) => {
                    log::warn!("its: teardown not consumed ({error}); disabling the ITS anyway");
                    false
                }
            };
        if let Err(error) = disable_and_quiesce(self.channel.frame(), self.channel.wait()) {
            // What the ITS holds is unknown now; the registry still knows
            // everything, for `recover` or another `save`.
            self.state = ItsState::NeedsRecovery;
            return Err(error);
        }
        self.invalidate_tables();
        // Disabled, quiescent, its tables invalid: the ITS refers to no ITT.
        self.give_back_quarantine();
        if torn_down && !self.device_table.attributes.needs_cache_clean() {
            // The ITS itself made every entry it wrote invalid (MAPD V=0,
            // MAPC V=0): only the level-2 pages go back, so the cost grows
            // with what was mapped, not with the size of the tables.
            self.release_level2_pages();
        } else {
            // Not torn down, or the CPU may hold stale lines of what the
            // ITS wrote: rewrite the tables from the CPU.
            self.clear_tables();
        }
        self.registry.forget_hardware();
        self.saved_identity = Some((self.features.typer, self.features.iidr));
        self.state = ItsState::Saved;
        self.domain.set_active(self.slot, false);
        log::info!(
            "its: saved: {} devices and {} collections unmapped, ITS disabled",
            self.registry.device_count(),
            self.registry.collection_count()
        );
        Ok(())
    }

    /// Rebuilds the ITS from the registry after [`Its::save`], on the same
    /// hardware or after a reset of it.
    ///
    /// Checks that GITS_TYPER and GITS_IIDR are what `save` saw, reprograms
    /// the command queue and the tables, enables the ITS and replays every
    /// mapping. If it fails part-way (for example no memory for a level-2
    /// table page), the devices already replayed stay live, the state is
    /// [`ItsState::Restoring`], [`Its::unreplayed_devices`] lists the rest,
    /// and calling `restore` again continues. Redistributors must have been
    /// set up again ([`crate::LpiDomain::init_redistributor`]) first if they were reset.
    ///
    /// Returns what was replayed: a collection whose redistributor is not
    /// ready yet is mapped later ([`Its::restore_collections`]), and
    /// [`Restored::deferred_collections`] counts those, so that a restore
    /// that maps nothing a CPU can take cannot pass for success.
    ///
    /// # Errors
    /// [`ItsError::NotSaved`] without a `save` before it, or once a failed
    /// command left the ITS needing [`Its::recover`];
    /// [`ItsError::HardwareMismatch`] if GITS_TYPER or GITS_IIDR changed;
    /// [`ItsError::Timeout`] if the ITS does not quiesce or consume the
    /// replay; [`ItsError::RegisterRefused`] or [`ItsError::EnableRefused`]
    /// if the ITS no longer takes its tables (the ITS stays saved);
    /// [`ItsError::OutOfMemory`] or [`ItsError::UnencodableAddress`] for a
    /// level-2 table page (the state is then [`ItsState::Restoring`]: call
    /// `restore` again); [`ItsError::CommandStalled`] (then
    /// [`Its::recover`]).
    pub fn restore(&mut self) -> Result<Restored, ItsError> {
        match self.state {
            ItsState::Active | ItsState::NeedsRecovery => return Err(ItsError::NotSaved),
            ItsState::Saved => {
                let (saved_typer, saved_iidr) = self.saved_identity.ok_or(ItsError::NotSaved)?;
                let found_typer = self.channel.frame().read(GITS_TYPER).get();
                let found_iidr = self.channel.frame().read(GITS_IIDR).get();
                if (found_typer, found_iidr) != (saved_typer, saved_iidr) {
                    return Err(ItsError::HardwareMismatch {
                        saved_typer,
                        found_typer,
                        saved_iidr,
                        found_iidr,
                    });
                }
                // The ITS may have been reset or used by another kernel
                // since `save`: force it off, and Valid = 0 drops whatever it
                // holds (another kernel's mappings, a stalled queue) before
                // our tables go in.
                disable_and_quiesce(self.channel.frame(), self.channel.wait())?;
                self.invalidate_tables();
                if let Err(error) = self.reinitialise() {
                    // Still saved: nothing is Valid, and restore may be
                    // tried again.
                    self.invalidate_tables();
                    return Err(error);
                }
                self.domain.set_active(self.slot, true);
                self.state = ItsState::Restoring;
            }
            ItsState::Restoring => {}
        }
        self.replay()?;
        self.state = ItsState::Active;
        let deferred_collections = self
            .registry
            .collections()
            .filter(|(_, record)| !record.is_live())
            .count();
        let restored = Restored {
            devices: self.registry.device_count(),
            events: self.registry.event_mappings(),
            collections: self.registry.collection_count() - deferred_collections,
            deferred_collections,
        };
        log::info!(
            "its: restored: {} devices, {} events, {} collections replayed, {deferred_collections} waiting for their redistributor",
            restored.devices,
            restored.events,
            restored.collections,
        );
        Ok(restored)
    }

    /// Brings the ITS back after a command stalled or timed out: disables it,
    /// clears its tables and queue, gives back ITTs of failed mappings, and
    /// replays the registry, so that the hardware again holds exactly what the
    /// registry says. The operation that failed is not in the registry (or,
    /// for an unmap, still is) and can be retried.
    ///
    /// # Errors
    /// [`ItsError::Timeout`] if the ITS does not become quiescent, or does not
    /// consume the replay in time; [`ItsError::RegisterRefused`] or
    /// [`ItsError::EnableRefused`] if the ITS no longer takes its tables or
    /// queue, or to be enabled (it stays disabled); [`ItsError::OutOfMemory`]
    /// or [`ItsError::UnencodableAddress`] for a level-2 Device table page (the
    /// state is then [`ItsState::Restoring`]: [`Its::restore`] continues);
    /// [`ItsError::CommandStalled`] if the ITS stalls on the replay (then
    /// `recover` again).
    pub fn recover(&mut self) -> Result<(), ItsError> {
        disable_and_quiesce(self.channel.frame(), self.channel.wait())?;
        // Valid = 0 before any memory is given back: the ITS (or KVM, which
        // keeps devices until then) must no longer refer to it.
        self.invalidate_tables();
        self.clear_tables();
        self.registry.forget_hardware();
        self.give_back_quarantine();
        if let Err(error) = self.reinitialise() {
            self.invalidate_tables();
            return Err(error);
        }
        // Whatever the state was (saved, too), the ITS holds live mappings
        // again: the domain must count it.
        self.domain.set_active(self.slot, true);
        self.state = ItsState::Restoring;
        self.replay()?;
        self.state = ItsState::Active;
        log::info!("its: recovered");
        Ok(())
    }

    /// DeviceIDs that a partial restore has not replayed yet.
    pub fn unreplayed_devices(&self) -> impl Iterator<Item = DeviceId> + '_ {
        self.registry
            .devices()
            .filter(|(_, record)| !record.is_live())
            .map(|(device_id, _)| device_id)
    }

    /// Streams MAPD V=0 for every live device (after a DISCARD per event
    /// with [`Pending::Discard`]) and MAPC V=0 for every collection, then a
    /// SYNC per redistributor, and waits once.
    fn tear_down(&mut self, pending: Pending) -> Result<(), ItsError> {
        // Commands go to the ring as they are generated from the registry:
        // no list of them, or of the redistributors, is built, so a save
        // needs no heap.
        let targets = Targets::of(&self.domain, &self.features);
        let registry = &self.registry;
        let live = || {
            registry
                .collections()
                .filter(|(_, record)| record.is_live())
        };
        let syncs = targets.syncs(|| live().map(|(_, record)| record.processor_number()));
        let unmaps = live().filter_map(|(icid, record)| {
            let rdbase = targets.any(record.processor_number()).ok()?;
            log::info!("its: MAPC icid {icid} valid 0 (save)");
            Some(ItsCommand::Mapc {
                icid,
                rdbase,
                valid: false,
            })
        });
        let queued = &mut self.channel;
        if let Pending::Discard = pending {
            for (device_id, record) in registry.devices().filter(|(_, r)| r.is_live()) {
                for (event_id, mapping) in record.events() {
                    // Only an event whose collection is mapped can have an
                    // LPI pending.
                    let collection = registry.collection(mapping.icid());
                    if collection.is_some_and(|record| record.is_live()) {
                        queued.submit(ItsCommand::Discard {
                            device_id,
                            event_id,
                        })?;
                    }
                }
            }
        }
        for (device_id, record) in registry.devices().filter(|(_, r)| r.is_live()) {
            log::info!("its: MAPD dev {device_id:#x} valid 0 (save)");
            queued.submit(ItsCommand::Mapd {
                device_id,
                size: record.mapd_size(),
                itt_address: record.itt_address(),
                valid: false,
            })?;
        }
        for command in unmaps {
            queued.submit(command)?;
        }
        for rdbase in syncs {
            queued.submit(ItsCommand::Sync { rdbase })?;
        }
        queued.finish()
    }

    /// Marks the queue and every table invalid in CBASER and BASERn, so the
    /// ITS refers to none of our memory (and KVM drops whatever it still
    /// holds, even mappings some other kernel left). Only while the ITS is
    /// disabled and quiescent.
    fn invalidate_tables(&mut self) {
        self.channel.invalidate_queue();
        self.device_table.invalidate(self.channel.frame());
        if let Some(table) = &self.collection_table {
            table.invalidate(self.channel.frame());
        }
    }

    /// Gives the Device table's level-2 pages back and clears the level-1
    /// entries that pointed at them. Only while the ITS is disabled,
    /// quiescent and invalidated.
    fn release_level2_pages(&mut self) {
        self.device_table.release_level2(self.channel.memory_mut());
    }

    /// Zeroes the Device and Collection tables (giving level-2 pages back).
    /// Only while the ITS is disabled and quiescent.
    fn clear_tables(&mut self) {
        self.device_table.clear(self.channel.memory_mut());
        if let Some(table) = &mut self.collection_table {
            table.clear(self.channel.memory_mut());
        }
    }

    /// Reprograms the queue (empty: CWRITER = 0) and the BASERs, zeroes
    /// every ITT so no stale entry can be revived by MAPD, rewrites the LPI
    /// configuration of every mapped event, and enables the ITS. The caller
    /// has disabled the ITS, waited for quiescence and invalidated the
    /// tables. Fails (leaving the ITS disabled) only if the ITS refuses a
    /// table it took before, or to be enabled.
    /// Gives back the ITT a failed MAPD left, once the ITS is disabled and
    /// its tables invalid (it can refer to it no more).
    fn give_back_quarantine(&mut self) {
        if let Some((itt, request)) = self.quarantine.take() {
            self.channel.memory_mut().deallocate(itt, request);
        }
    }

    fn reinitialise(&mut self) -> Result<(), ItsError> {
        self.channel.program_queue(self.attributes)?;
        self.device_table
            .program(self.channel.frame(), self.channel.memory(), self.attributes)?;
        if let Some(table) = &mut self.collection_table {
            table.program(self.channel.frame(), self.channel.memory(), self.attributes)?;
        }
        let itt_attributes = self.device_table.attributes;
        for itt in self.registry.itts_mut() {
            let size = itt.size();
            itt.fill(0, size, 0);
            itt.clean(self.channel.memory(), itt_attributes, 0, size);
        }
        // The property table may have been rewritten by another kernel (it
        // can live outside the hibernation image): put back every mapped
        // LPI's configuration; INVALL in `replay` makes it take effect.
        let registry = &self.registry;
        self.domain.restore_configs(|write| {
            registry.for_each_event_mapping(|mapping| write(mapping.intid(), mapping.config()));
        });
        super::enable(self.channel.frame())
    }

    /// Replays every collection and every device not yet live, then INVALL
    /// per collection and SYNC per redistributor, with as few doorbells as
    /// the queue allows. Devices whose commands were consumed become live;
    /// the first failure stops the replay.
    fn replay(&mut self) -> Result<(), ItsError> {
        // Collections whose redistributor is ready now; the others wait for
        // `restore_collections`. Events are mapped whatever their
        // collection (MAPTI needs only a valid ICID, 5.3.11).
        let targets = Targets::of(&self.domain, &self.features);
        let registry = &self.registry;
        let ready = || {
            registry
                .collections()
                .filter(|(_, record)| !record.is_live())
                .filter_map(move |(icid, record)| {
                    Some((icid, targets.ready(record.processor_number()).ok()?))
                })
        };
        let mapc = ready().map(|(icid, rdbase)| {
            log::info!(
                "its: MAPC icid {icid} valid 1 rdbase {:#x} (restore)",
                rdbase.field()
            );
            ItsCommand::Mapc {
                icid,
                rdbase,
                valid: true,
            }
        });
        let invall = ready().map(|(icid, _)| ItsCommand::Invall { icid });
        // Every collection the ITS holds after the replay: those live
        // before it and those it maps.
        let syncs = targets
            .syncs(|| {
                registry
                    .collections()
                    .map(|(_, record)| record.processor_number())
            })
            .map(|rdbase| ItsCommand::Sync { rdbase });

        // Commands go to the ring as they are generated: no list of them is
        // built, so a resume needs no heap. The registry is only read here;
        // `live` is set once the ITS has consumed everything.
        let queued = &mut self.channel;
        let mut failure = None;
        let mut stopped_at = None;
        let result = (|| {
            for command in mapc {
                queued.submit(command)?;
            }
            for (device_id, record) in registry.devices().filter(|(_, r)| !r.is_live()) {
                if let Err(error) = self
                    .device_table
                    .ensure_entry(queued.memory_mut(), device_id)
                {
                    failure = Some(error);
                    stopped_at = Some(device_id);
                    break;
                }
                log::info!(
                    "its: MAPD dev {device_id:#x} valid 1 itt {:#x} (restore)",
                    record.itt_address()
                );
                queued.submit(ItsCommand::Mapd {
                    device_id,
                    size: record.mapd_size(),
                    itt_address: record.itt_address(),
                    valid: true,
                })?;
                // A plain walk of the slots: the cheapest (a replay's
                // commands are mostly these).
                for (event_id, slot) in (0..).zip(record.slots()) {
                    if let Some(mapping) = slot {
                        queued.submit(ItsCommand::Mapti {
                            device_id,
                            event_id: EventId(event_id),
                            intid: mapping.intid(),
                            icid: mapping.icid(),
                        })?;
                    }
                }
            }
            for command in invall.chain(syncs) {
                queued.submit(command)?;
            }
            queued.finish()
        })();
        if let Err(error) = result {
            self.state = ItsState::NeedsRecovery;
            return Err(error);
        }
        // The collections mapped: those that were ready, as they still are.
        self.registry.set_collections_live(|_, record| {
            let processor_number = record.processor_number();
            (!record.is_live() && targets.ready(processor_number).is_ok())
                .then_some(processor_number)
        });
        // Everything before the device that could not be replayed is live.
        self.registry.set_devices_live_before(stopped_at);
        failure.map_or(Ok(()), Err)
    }
}

impl<F: GitsFrame, M: DmaMemory> Drop for Its<F, M> {
    /// Dropping the driver runs [`Its::save`], so the ITS is left disabled,
    /// holding no mapping and referring to none of the driver's memory; then
    /// everything it allocated goes back to its provider (its own, or the
    /// domain's with [`Its::probe_sharing`]): the ITTs, the tables and the
    /// queue. The LPI tables stay: a redistributor whose EnableLPIs cannot
    /// be cleared still points at them. If the ITS does not become
    /// quiescent nothing is given back.
    fn drop(&mut self) {
        if let Err(error) = self.save() {
            log::warn!("its: dropped without a clean save ({error}); its memory is kept");
            // SAFETY: `drop` runs once and nothing uses the channel after
            // this: it is dropped as a field would be.
            unsafe { ManuallyDrop::drop(&mut self.channel) };
            return;
        }
        let mut registry = core::mem::take(&mut self.registry);
        self.domain.detach(
            self.slot,
            registry.mappings().map(|(_, mapping)| mapping.intid()),
        );
        let memory = self.channel.memory_mut();
        let features = &self.features;
        registry.clear_devices(|itt, events| {
            memory.deallocate(itt, itt_request(features, events));
        });
        if let Some((itt, request)) = self.quarantine.take() {
            memory.deallocate(itt, request);
        }
        // Save left GITS_BASERn and GITS_CBASER invalid: the ITS refers to
        // none of them any more.
        self.device_table.give_back(memory);
        if let Some(table) = self.collection_table.as_mut() {
            table.give_back(memory);
        }
        // SAFETY: `drop` runs once and nothing uses the channel after this.
        let channel = unsafe { ManuallyDrop::take(&mut self.channel) };
        let (mut memory, ring) = channel.into_memory_and_ring();
        let request = DmaRequest::for_gic(ring.size(), QUEUE_ALIGN, self.features.quirks);
        memory.deallocate(ring, request);
    }
}
