//! The ITS driver: probe, collections, devices and events.
//!
//! Every request flows one way: it is checked against the registry, encoded
//! as commands, pushed to the queue, published with one doorbell and waited
//! for; a mapping is recorded only once the ITS has consumed its commands.
//! An event's configuration (priority, enable) is the exception: it is
//! written to the property table, which the registry mirrors, before the
//! INV or INVALL, and stays recorded if that command fails (the table
//! holds it either way). Save, restore and recovery live in `suspend.rs`.

use crate::command::{ItsCommand, RdBase};
use crate::error::ItsError;
use crate::id::{CollectionId, DeviceId, ProcessorNumber};
use crate::lpi::{ItsSlot, LpiDomain};
use crate::memory::{DmaMemory, DmaRegion, DmaRequest, MemoryAttributes};
use crate::queue::{CommandQueue, QueueStats};
use crate::registers::{GITS_CTLR, GitsFrame};
use crate::registry::Registry;
use crate::storage::ItsStorage;
use crate::tables::ItsTable;
use core::mem::ManuallyDrop;

mod channel;
mod collections;
mod config;
mod devices;
mod features;
mod memory_source;
mod probe;
mod quiesce;
mod report;
mod suspend;
mod targets;

use channel::CommandChannel;
pub use config::{Batching, Doorbell, ItsConfig};
pub use features::ItsFeatures;
use memory_source::MemorySource;
pub(crate) use quiesce::disable_and_quiesce;
pub use quiesce::quiesce;
pub use report::{ItsState, MemoryUse};
pub use suspend::Restored;
use targets::{Targets, live_processors};

/// A GICv3 ITS and the LPIs it maps.
///
/// Dropping it runs [`Its::save`] (the ITS is left disabled, mapping
/// nothing and referring to none of the driver's memory), then gives the
/// ITTs back.
pub struct Its<F: GitsFrame, M: DmaMemory> {
    /// The frame, the memory (its own or the domain's) and the command
    /// queue; taken apart only by `Drop`, to give the queue back.
    channel: ManuallyDrop<CommandChannel<F, MemorySource<M>>>,
    features: ItsFeatures,
    /// The attributes the tables were asked with.
    attributes: MemoryAttributes,
    device_table: ItsTable,
    collection_table: Option<ItsTable>,
    /// Largest DeviceID + 1 and ICID + 1 that can be mapped.
    device_limit: u64,
    collection_limit: u32,
    /// The LPIs this ITS maps events to, shared with the other ITSes.
    domain: LpiDomain<M>,
    /// How the domain knows this ITS.
    slot: ItsSlot,
    registry: Registry,
    state: ItsState,
    /// The ITT the ITS may still reference after a failed MAPD: given back
    /// by `recover` or `save`, once the ITS is disabled and its tables
    /// invalid (one at most: no mapping runs until one of them has).
    quarantine: Option<(DmaRegion, DmaRequest)>,
    /// GITS_TYPER and GITS_IIDR when `save` ran, checked by `restore`.
    saved_identity: Option<(u64, u32)>,
    /// Where devices write their MSIs, if the caller said.
    doorbell: Option<Doorbell>,
}

/// Enables the ITS and reads GITS_CTLR.Enabled back: KVM's emulated ITS
/// ignores the write while its Device or Collection table or its command
/// queue is not Valid.
pub(crate) fn enable<F: GitsFrame>(frame: &F) -> Result<(), ItsError> {
    frame.modify(GITS_CTLR, GITS_CTLR::Enabled::SET);
    if frame.read(GITS_CTLR).is_set(GITS_CTLR::Enabled) {
        Ok(())
    } else {
        Err(ItsError::EnableRefused)
    }
}

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// What the ITS supports.
    pub fn features(&self) -> ItsFeatures {
        self.features
    }

    /// Where the driver is in its life.
    pub fn state(&self) -> ItsState {
        self.state
    }

    /// Everything mapped.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Command, doorbell and polling counts so far.
    pub fn queue_stats(&self) -> QueueStats {
        self.channel.stats()
    }

    /// How commands reach the ITS from now on ([`ItsConfig::batching`] at
    /// probe). For benchmarks that compare both ways on one ITS.
    pub fn set_batching(&mut self, batching: Batching) {
        self.channel.set_batching(batching);
    }

    /// Number of LPI INTIDs allocated to events now.
    pub fn allocated_lpis(&self) -> u32 {
        self.registry.event_mappings() as u32
    }

    /// Keeps the registry and the Device table's page records in
    /// `storage` from now on, moving what they hold there: the way to map
    /// anything without the `alloc` feature, and a bound on what the driver
    /// may hold with it. Call it once, after probe; the storage serves this
    /// driver for good (it is not given back when the driver is dropped).
    ///
    /// # Errors
    /// [`ItsError::StorageClaimed`] if the storage serves a driver already;
    /// [`ItsError::StorageFull`] if it cannot hold what is recorded now.
    /// Nothing changes, and nothing is claimed, on an error.
    pub fn use_storage<const D: usize, const E: usize, const C: usize, const P: usize>(
        &mut self,
        storage: &'static ItsStorage<D, E, C, P>,
    ) -> Result<(), ItsError> {
        if storage.is_claimed() {
            return Err(ItsError::StorageClaimed);
        }
        storage.check((
            self.registry.device_count(),
            self.registry.event_slots(),
            self.registry.collection_count(),
            self.device_table.level2_pages(),
        ))?;
        let (registry, pages) = storage.claim().ok_or(ItsError::StorageClaimed)?;
        // Checked above: neither can fail.
        self.registry.move_to(registry)?;
        self.device_table.move_pages_to(pages)
    }

    /// The largest DeviceID that can be mapped.
    pub fn max_device_id(&self) -> DeviceId {
        DeviceId((self.device_limit - 1).min(u64::from(u32::MAX)) as u32)
    }

    /// The physical address `device_id`'s MSIs must be written to
    /// ([`ItsConfig::doorbell`]): GITS_TRANSLATER, or its place in a
    /// pre-ITS window.
    ///
    /// # Errors
    /// [`ItsError::NoDoorbell`] if probe was not told where the ITS is;
    /// [`ItsError::DeviceIdOutOfRange`] for a DeviceID beyond
    /// [`Its::max_device_id`].
    pub fn doorbell(&self, device_id: DeviceId) -> Result<u64, ItsError> {
        let doorbell = self.doorbell.ok_or(ItsError::NoDoorbell)?;
        if u64::from(device_id.0) >= self.device_limit {
            return Err(ItsError::DeviceIdOutOfRange {
                device_id,
                max: self.max_device_id(),
            });
        }
        Ok(doorbell.address(device_id.0))
    }

    /// The largest number of events a device can be mapped with.
    pub fn max_events(&self) -> u32 {
        1u32.checked_shl(self.features.event_id_bits)
            .map_or(u32::MAX, |n| n)
    }

    /// Memory in use, by kind.
    pub fn memory_use(&self) -> MemoryUse {
        MemoryUse {
            device_table: self.device_table.bytes(),
            collection_table: self.collection_table.as_ref().map_or(0, ItsTable::bytes),
            itts: self.registry.itt_bytes(),
            queue: self.channel.queue_bytes(),
            lpi_tables: self.domain.table_bytes(),
            registry: self.registry.heap_bytes(),
        }
    }

    /// The LPI domain this ITS maps events into.
    pub fn domain(&self) -> &LpiDomain<M> {
        &self.domain
    }

    /// The redistributors as this ITS names them (see [`Targets`]).
    fn targets(&self) -> Targets<'_, M> {
        Targets::of(&self.domain, &self.features)
    }

    /// The RDbase for a processor, in the form GITS_TYPER.PTA asks for:
    /// any redistributor the domain has initialised ([`Targets::any`]).
    pub(crate) fn rdbase(&self, processor_number: ProcessorNumber) -> Result<RdBase, ItsError> {
        self.targets().any(processor_number)
    }

    /// A redistributor whose LPIs are enabled now ([`Targets::ready`]).
    pub(crate) fn ready_rdbase(
        &self,
        processor_number: ProcessorNumber,
    ) -> Result<RdBase, ItsError> {
        self.targets().ready(processor_number)
    }

    /// The redistributor of a collection the ITS holds now, for SYNC.
    fn rdbase_of_collection(&self, icid: CollectionId) -> Result<RdBase, ItsError> {
        let record = self
            .registry
            .collection(icid)
            .ok_or(ItsError::CollectionNotMapped { icid })?;
        if !record.is_live() {
            return Err(ItsError::CollectionDeferred {
                icid,
                processor_number: record.processor_number(),
            });
        }
        self.ready_rdbase(record.processor_number())
    }

    /// Sends `commands`, then one SYNC per redistributor in `syncs`, and
    /// waits until the ITS has consumed them. A stall or timeout moves the
    /// driver to [`ItsState::NeedsRecovery`].
    fn execute(&mut self, commands: &[ItsCommand], syncs: &[RdBase]) -> Result<(), ItsError> {
        let result = self
            .channel
            .send(commands.iter().copied(), syncs.iter().copied());
        self.recovery_after(result)
    }

    /// `result` of sending commands, with the driver moved to
    /// [`ItsState::NeedsRecovery`] if it is a stall or a timeout.
    fn recovery_after(&mut self, result: Result<(), ItsError>) -> Result<(), ItsError> {
        if result.is_err() {
            self.state = ItsState::NeedsRecovery;
        }
        result
    }

    fn check_active(&self) -> Result<(), ItsError> {
        match self.state {
            ItsState::Active => Ok(()),
            ItsState::Saved | ItsState::Restoring => Err(ItsError::Saved),
            ItsState::NeedsRecovery => Err(ItsError::NeedsRecovery),
        }
    }
}
