//! The ITS driver: probe, collections, devices and events.
//!
//! Every request flows one way: it is checked against the registry, encoded
//! as commands, pushed to the queue, published with one doorbell and waited
//! for; only when the ITS has consumed it does the registry record it. Save,
//! restore and recovery live in `suspend.rs`.

use crate::command::{ItsCommand, RdBase};
use crate::error::{ItsError, WaitFor};
use crate::id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use crate::lpi::{DEFAULT_PRIORITY, ItsSlot, LpiConfig, LpiDomain};
use crate::memory::{DmaMemory, DmaRegion, MemoryAttributes};
use crate::queue::{CommandQueue, QueueStats};
use crate::registers::{GITS_CTLR, GITS_IIDR, GITS_TYPER, GitsFrame};
use crate::registry::{DeviceRecord, EventMapping, Registry};
use crate::tables::{self, ItsTable, TableRequest};
use alloc::vec::Vec;
use tock_registers::LocalRegisterCopy;

mod suspend;

/// ITT base addresses are 256-byte aligned (MAPD's ITT_addr is bits \[51:8\]).
const ITT_ALIGN: usize = 256;

/// Choices the caller makes when probing.
#[derive(Debug)]
pub struct ItsConfig {
    /// Register polls before a wait gives up with [`ItsError::Timeout`].
    pub poll_budget: u32,
    /// Bytes of command queue: a multiple of 4 KiB, at most 1 MiB.
    pub queue_bytes: usize,
    /// Largest flat Device table before a two-level one is used (default one
    /// 64 KiB page). Level-2 pages are allocated when a device in their range
    /// is mapped, given back by `save` and allocated again by `restore`.
    pub max_flat_device_table_bytes: usize,
    /// DeviceID bits to support, at most GITS_TYPER.Devbits + 1. PCI needs 16.
    pub device_id_bits: u32,
    /// Collections to provide table memory for (one per CPU is typical).
    pub collections: u16,
    /// Memory attributes to ask for first.
    pub attributes: MemoryAttributes,
    /// How commands reach the ITS. [`Batching::OneAtATime`] exists as the
    /// benchmarks' baseline.
    pub batching: Batching,
}

/// How the driver hands commands to the ITS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Batching {
    /// Many commands per GITS_CWRITER write, one wait per operation (and
    /// one for a whole save or restore).
    #[default]
    Batched,
    /// One doorbell and one completion wait per command, the way a
    /// single-command driver path works. Slower; for comparison.
    OneAtATime,
}

impl Default for ItsConfig {
    fn default() -> Self {
        Self {
            poll_budget: 1_000_000,
            queue_bytes: CommandQueue::DEFAULT_BYTES,
            // One 64 KiB page: beyond that a two-level table costs less
            // (a level-1 page plus a page per 8192 DeviceIDs in use).
            max_flat_device_table_bytes: 64 * 1024,
            device_id_bits: 32,
            collections: 64,
            attributes: MemoryAttributes::InnerShareableWriteBack,
            batching: Batching::Batched,
        }
    }
}

/// What the ITS supports, read from GITS_TYPER at probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItsFeatures {
    /// GITS_TYPER as read.
    pub typer: u64,
    /// GITS_IIDR as read.
    pub iidr: u32,
    /// DeviceID bits the hardware supports (Devbits + 1).
    pub device_id_bits: u32,
    /// EventID bits the hardware supports (ID_bits + 1).
    pub event_id_bits: u32,
    /// Bytes per ITT entry (ITT_entry_size + 1).
    pub itt_entry_size: usize,
    /// RDbase is a physical address (PTA = 1) rather than a processor number.
    pub pta: bool,
    /// Collections held in the ITS without memory (HCC).
    pub hcc: u16,
    /// Collection ID bits (CIDbits + 1 when CIL = 1, else 16).
    pub collection_id_bits: u32,
}

impl ItsFeatures {
    fn read(typer: u64, iidr: u32) -> Self {
        let t = LocalRegisterCopy::<u64, GITS_TYPER::Register>::new(typer);
        Self {
            typer,
            iidr,
            device_id_bits: t.read(GITS_TYPER::Devbits) as u32 + 1,
            event_id_bits: t.read(GITS_TYPER::ID_bits) as u32 + 1,
            itt_entry_size: t.read(GITS_TYPER::ITT_entry_size) as usize + 1,
            pta: t.is_set(GITS_TYPER::PTA),
            hcc: t.read(GITS_TYPER::HCC) as u16,
            collection_id_bits: if t.is_set(GITS_TYPER::CIL) {
                t.read(GITS_TYPER::CIDbits) as u32 + 1
            } else {
                16
            },
        }
    }
}

/// Where the driver is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItsState {
    /// Mappings are live; map and unmap work.
    Active,
    /// `save` ran: the ITS holds no mapping and is disabled.
    Saved,
    /// `restore` started but did not replay every device; call it again.
    Restoring,
    /// A command stalled or timed out; call [`Its::recover`].
    NeedsRecovery,
}

/// Memory use, for benchmarks and leak checks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Device table (flat or level 1, plus level-2 pages).
    pub device_table: usize,
    /// Collection table.
    pub collection_table: usize,
    /// All ITTs.
    pub itts: usize,
    /// Command queue.
    pub queue: usize,
    /// LPI property and pending tables (the domain's, shared by every ITS
    /// of the domain).
    pub lpi_tables: usize,
    /// The registry's own heap use (approximate).
    pub registry: usize,
}

/// A GICv3 ITS and the LPIs it maps.
pub struct Its<F: GitsFrame, M: DmaMemory> {
    pub(crate) frame: F,
    pub(crate) memory: M,
    pub(crate) features: ItsFeatures,
    pub(crate) poll_budget: u32,
    pub(crate) attributes: MemoryAttributes,
    pub(crate) batching: Batching,
    pub(crate) queue: CommandQueue,
    pub(crate) device_table: ItsTable,
    pub(crate) collection_table: Option<ItsTable>,
    /// Largest DeviceID + 1 and ICID + 1 that can be mapped.
    pub(crate) device_limit: u64,
    pub(crate) collection_limit: u32,
    /// The LPIs this ITS maps events to, shared with the other ITSes.
    pub(crate) domain: LpiDomain<M>,
    /// How the domain knows this ITS.
    pub(crate) slot: ItsSlot,
    pub(crate) registry: Registry,
    pub(crate) state: ItsState,
    /// ITTs the ITS may still reference after a failed command: given back
    /// only by `recover`, once the ITS is disabled and its tables cleared.
    pub(crate) quarantine: Vec<DmaRegion>,
    /// GITS_TYPER and GITS_IIDR when `save` ran, checked by `restore`.
    pub(crate) saved_identity: Option<(u64, u32)>,
}

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// Probes the ITS behind `frame`, allocates its tables and command queue
    /// from `memory`, and enables it. Its events are mapped to LPIs of
    /// `domain`, which other ITSes may share.
    ///
    /// An ITS left enabled (by firmware or a previous kernel) is disabled and
    /// waited for until quiescent first: GITS_CBASER and GITS_BASERn are only
    /// written while Enabled = 0 and Quiescent = 1 (12.19.2, 12.19.1).
    pub fn probe(
        frame: F,
        mut memory: M,
        domain: &LpiDomain<M>,
        config: ItsConfig,
    ) -> Result<Self, ItsError> {
        let typer = frame.read(GITS_TYPER).get();
        let features = ItsFeatures::read(typer, frame.read(GITS_IIDR).get());
        if !frame.read(GITS_TYPER).is_set(GITS_TYPER::Physical) {
            return Err(ItsError::NoPhysicalLpis);
        }
        disable_and_quiesce(&frame, config.poll_budget)?;
        // Whatever a previous owner left Valid (tables of any type, a
        // queue) stops being the ITS's before anything is allocated.
        tables::invalidate_all(&frame);

        // Allocate everything first, then describe it to the ITS: a failure
        // part-way gives the memory back with no register pointing at it.
        let Allocation {
            mut device_table,
            mut collection_table,
            ring,
        } = Allocation::new(&frame, &mut memory, &config, &features)?;
        device_table.program(&frame, &memory, config.attributes);
        if let Some(table) = &mut collection_table {
            table.program(&frame, &memory, config.attributes);
        }
        let collection_limit = collection_table
            .as_ref()
            .map_or(0, |table| table.capacity as u32)
            .max(u32::from(features.hcc))
            .min(1 << features.collection_id_bits);
        let mut queue = CommandQueue::new(ring, config.attributes);
        queue.program(&frame, &memory, config.attributes);

        let device_limit = device_table.capacity;
        let its = Self {
            frame,
            memory,
            features,
            poll_budget: config.poll_budget,
            attributes: config.attributes,
            batching: config.batching,
            queue,
            device_table,
            collection_table,
            device_limit,
            collection_limit,
            slot: domain.attach(),
            domain: domain.clone(),
            registry: Registry::default(),
            state: ItsState::Active,
            quarantine: Vec::new(),
            saved_identity: None,
        };
        its.enable();
        log::info!(
            "its: probed TYPER {:#x}, {} DeviceID bits ({} device table), {} collections, {}-bit LPIs",
            typer,
            its.device_limit.ilog2(),
            if its.device_table.indirect {
                "two-level"
            } else {
                "flat"
            },
            its.collection_limit,
            its.domain.id_bits(),
        );
        Ok(its)
    }

    pub(crate) fn enable(&self) {
        self.frame.modify(GITS_CTLR, GITS_CTLR::Enabled::SET);
    }

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
        self.queue.stats()
    }

    /// How commands reach the ITS from now on ([`ItsConfig::batching`] at
    /// probe). For benchmarks that compare both ways on one ITS.
    pub fn set_batching(&mut self, batching: Batching) {
        self.batching = batching;
    }

    /// Number of LPI INTIDs allocated to events now.
    pub fn allocated_lpis(&self) -> u32 {
        self.registry.mappings().count() as u32
    }

    /// The largest DeviceID that can be mapped.
    pub fn max_device_id(&self) -> DeviceId {
        DeviceId((self.device_limit - 1).min(u64::from(u32::MAX)) as u32)
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
            queue: self.queue.ring().size(),
            lpi_tables: self.domain.table_bytes(),
            registry: self.registry.heap_bytes(),
        }
    }

    /// The LPI domain this ITS maps events into.
    pub fn domain(&self) -> &LpiDomain<M> {
        &self.domain
    }

    /// The platform memory (for inspection by the caller).
    pub fn memory(&self) -> &M {
        &self.memory
    }

    /// The RDbase for a processor, in the form GITS_TYPER.PTA asks for.
    /// Any redistributor the domain has initialised, ready or not: for
    /// commands that only name it (MAPC V=0).
    pub(crate) fn rdbase(&self, processor_number: ProcessorNumber) -> Result<RdBase, ItsError> {
        let (rd_base, _) = self.domain.target(processor_number)?;
        Ok(self.encode_rdbase(processor_number, rd_base))
    }

    /// A redistributor whose LPIs are enabled now: for MAPC V=1 and for
    /// SYNC, which must not target one that is not (5.3.8, 5.3.23).
    pub(crate) fn ready_rdbase(
        &self,
        processor_number: ProcessorNumber,
    ) -> Result<RdBase, ItsError> {
        match self.domain.target(processor_number)? {
            (rd_base, true) => Ok(self.encode_rdbase(processor_number, rd_base)),
            (_, false) => Err(ItsError::RedistributorNotReady { processor_number }),
        }
    }

    fn encode_rdbase(&self, processor_number: ProcessorNumber, rd_base: u64) -> RdBase {
        if self.features.pta {
            RdBase::physical_address(rd_base)
        } else {
            RdBase::processor_number(processor_number)
        }
    }

    fn rdbase_of_collection(&self, icid: CollectionId) -> Result<RdBase, ItsError> {
        let record = self
            .registry
            .collections
            .get(&icid)
            .ok_or(ItsError::CollectionNotMapped { icid })?;
        self.ready_rdbase(record.processor_number)
    }

    fn check_active(&self) -> Result<(), ItsError> {
        match self.state {
            ItsState::Active => Ok(()),
            ItsState::Saved | ItsState::Restoring => Err(ItsError::Saved),
            ItsState::NeedsRecovery => Err(ItsError::NeedsRecovery),
        }
    }

    /// Pushes `commands`, then one SYNC per redistributor in `syncs`,
    /// publishes them (one doorbell unless the ring fills) and waits until
    /// the ITS has consumed them. A stall or timeout moves the driver to
    /// [`ItsState::NeedsRecovery`].
    pub(crate) fn execute(
        &mut self,
        commands: &[ItsCommand],
        syncs: &[RdBase],
    ) -> Result<(), ItsError> {
        let mut queued = submitter!(self);
        let syncs = syncs.iter().map(|&rdbase| ItsCommand::Sync { rdbase });
        let result = commands
            .iter()
            .copied()
            .chain(syncs)
            .try_for_each(|command| queued.submit(command))
            .and_then(|()| queued.finish());
        if result.is_err() {
            self.state = ItsState::NeedsRecovery;
        }
        result
    }

    /// Maps collection `icid` to the redistributor of `processor_number`
    /// (MAPC V=1, 5.3.8).
    pub fn map_collection(
        &mut self,
        icid: CollectionId,
        processor_number: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        self.check_icid(icid)?;
        if self.registry.collections.contains_key(&icid) {
            return Err(ItsError::CollectionAlreadyMapped { icid });
        }
        let rdbase = self.ready_rdbase(processor_number)?;
        self.execute(
            &[ItsCommand::Mapc {
                icid,
                rdbase,
                valid: true,
            }],
            &[rdbase],
        )?;
        log::info!("its: MAPC icid {icid} valid 1 rdbase {:#x}", rdbase.field());
        self.registry.collections.insert(
            icid,
            crate::registry::CollectionRecord {
                processor_number,
                events: 0,
            },
        );
        Ok(())
    }

    fn check_icid(&self, icid: CollectionId) -> Result<(), ItsError> {
        if u32::from(icid.0) >= self.collection_limit {
            return Err(ItsError::CollectionOutOfRange {
                icid,
                max: CollectionId(self.collection_limit.saturating_sub(1) as u16),
            });
        }
        Ok(())
    }

    /// Unmaps a collection that no event targets any more (MAPC V=0).
    pub fn unmap_collection(&mut self, icid: CollectionId) -> Result<(), ItsError> {
        self.check_active()?;
        let record = *self
            .registry
            .collections
            .get(&icid)
            .ok_or(ItsError::CollectionNotMapped { icid })?;
        if record.events > 0 {
            return Err(ItsError::CollectionInUse {
                icid,
                events: record.events,
            });
        }
        let rdbase = self.ready_rdbase(record.processor_number)?;
        self.execute(
            &[ItsCommand::Mapc {
                icid,
                rdbase,
                valid: false,
            }],
            &[rdbase],
        )?;
        log::info!("its: MAPC icid {icid} valid 0");
        self.registry.collections.remove(&icid);
        Ok(())
    }

    /// Moves every collection of one redistributor to another, for example
    /// when its CPU goes offline: MAPC to the new one for each, then one
    /// MOVALL so that LPIs already pending on the old one follow (5.3.12;
    /// MOVALL moves all of a redistributor's pending LPIs, which is why this
    /// moves all of its collections together).
    pub fn move_collections(
        &mut self,
        from: ProcessorNumber,
        to: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.check_active()?;
        let from_rdbase = self.ready_rdbase(from)?;
        let to_rdbase = self.ready_rdbase(to)?;
        if from == to {
            return Ok(());
        }
        let moving: Vec<CollectionId> = self
            .registry
            .collections
            .iter()
            .filter(|(_, record)| record.processor_number == from)
            .map(|(&icid, _)| icid)
            .collect();
        let mut commands: Vec<ItsCommand> = moving
            .iter()
            .map(|&icid| ItsCommand::Mapc {
                icid,
                rdbase: to_rdbase,
                valid: true,
            })
            .collect();
        commands.push(ItsCommand::Movall {
            from: from_rdbase,
            to: to_rdbase,
        });
        self.execute(&commands, &[from_rdbase, to_rdbase])?;
        for icid in moving {
            log::info!(
                "its: MAPC icid {icid} valid 1 rdbase {:#x} (moved)",
                to_rdbase.field()
            );
            if let Some(record) = self.registry.collections.get_mut(&icid) {
                record.processor_number = to;
            }
        }
        Ok(())
    }

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
    pub fn itt_bytes(&self, events: u32) -> Result<usize, ItsError> {
        let bits = self.event_id_bits(events)?;
        Ok(((1usize << bits) * self.features.itt_entry_size).next_multiple_of(ITT_ALIGN))
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
    pub fn map_device(&mut self, device_id: DeviceId, events: u32) -> Result<(), ItsError> {
        self.check_active()?;
        if u64::from(device_id.0) >= self.device_limit {
            return Err(ItsError::DeviceIdOutOfRange {
                device_id,
                max: self.max_device_id(),
            });
        }
        let bits = self.event_id_bits(events)?;
        if self.registry.devices.contains_key(&device_id) {
            return Err(ItsError::DeviceAlreadyMapped { device_id });
        }
        let bytes = self.itt_bytes(events)?;
        self.device_table
            .ensure_entry(&mut self.memory, device_id)?;
        // The registry's slots before the hardware changes: after MAPD there
        // must be nothing left that can fail.
        let mut slots = Vec::new();
        slots
            .try_reserve_exact(events as usize)
            .map_err(|_| ItsError::OutOfMemory {
                size: events as usize * core::mem::size_of::<Option<EventMapping>>(),
            })?;
        slots.resize(events as usize, None);
        let itt = self
            .memory
            .allocate_zeroed(bytes, ITT_ALIGN)
            .ok_or(ItsError::OutOfMemory { size: bytes })?;
        itt.clean(&self.memory, self.itt_attributes(), 0, bytes);
        let command = ItsCommand::Mapd {
            device_id,
            size: (bits - 1) as u8,
            itt_address: itt.phys(),
            valid: true,
        };
        if let Err(error) = self.execute(&[command], &[]) {
            // The ITS may or may not have taken the mapping: keep the ITT
            // away from everyone until `recover` has cleared the tables.
            self.quarantine.push(itt);
            return Err(error);
        }
        log::info!(
            "its: MAPD dev {device_id:#x} valid 1 itt {:#x} size {}",
            itt.phys(),
            bits - 1
        );
        self.registry.devices.insert(
            device_id,
            DeviceRecord {
                itt,
                size: (bits - 1) as u8,
                events: slots,
                live: true,
            },
        );
        Ok(())
    }

    /// Unmaps a device (DISCARD per event, then MAPD V=0), then frees its
    /// ITT and its LPIs.
    pub fn unmap_device(&mut self, device_id: DeviceId) -> Result<(), ItsError> {
        self.check_active()?;
        let record = self
            .registry
            .devices
            .get(&device_id)
            .ok_or(ItsError::DeviceNotMapped { device_id })?;
        // DISCARD each event first: MAPD V=0 drops the translations but not
        // the LPIs' pending state (5.3.5, 5.3.9), and the LPIs are about to
        // be freed for reuse. Then SYNC every redistributor they went to, so
        // nothing through the old ITT is still in flight.
        let mut commands: Vec<ItsCommand> = record
            .events()
            .map(|(event_id, _)| ItsCommand::Discard {
                device_id,
                event_id,
            })
            .collect();
        commands.push(ItsCommand::Mapd {
            device_id,
            size: record.size,
            itt_address: record.itt.phys(),
            valid: false,
        });
        let targets = self.event_targets(record);
        self.execute(&commands, &targets)?;
        log::info!("its: MAPD dev {device_id:#x} valid 0");
        if let Some(record) = self.registry.remove_device(device_id) {
            for (_, mapping) in record.events() {
                self.forget_event(mapping);
            }
            self.memory.deallocate(record.itt);
        }
        Ok(())
    }

    fn event_targets(&self, record: &DeviceRecord) -> Vec<RdBase> {
        let mut targets: Vec<RdBase> = record
            .events()
            .filter_map(|(_, mapping)| self.rdbase_of_collection(mapping.icid()).ok())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        targets
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
            .devices
            .get(&device_id)
            .ok_or(ItsError::DeviceNotMapped { device_id })?;
        record
            .events
            .get(event_id.0 as usize)
            .copied()
            .ok_or(ItsError::EventIdOutOfRange {
                device_id,
                event_id,
                events: record.events.len() as u32,
            })
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
        let rdbase = self.rdbase_of_collection(icid)?;
        let config = LpiConfig::new(DEFAULT_PRIORITY, true);
        let intid = match chosen {
            Some(intid) => self.domain.reserve(intid, config).map(|()| intid)?,
            None => self.domain.allocate(config)?,
        };
        let commands = [
            ItsCommand::Mapti {
                device_id,
                event_id,
                intid,
                icid,
            },
            ItsCommand::Inv {
                device_id,
                event_id,
            },
        ];
        if let Err(error) = self.execute(&commands, &[rdbase]) {
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

    /// Sets an event's LPI priority and enable bit in the property table and
    /// makes the redistributor reload it (INV, 5.3.6).
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

/// What `probe` allocates before it programs any register.
struct Allocation {
    device_table: ItsTable,
    collection_table: Option<ItsTable>,
    ring: DmaRegion,
}

impl Allocation {
    /// Allocates the tables and the queue. On failure, what was allocated so
    /// far is given back: nothing has been described to the hardware yet.
    fn new<F: GitsFrame, M: DmaMemory>(
        frame: &F,
        memory: &mut M,
        config: &ItsConfig,
        features: &ItsFeatures,
    ) -> Result<Self, ItsError> {
        let (index, entry) =
            tables::find_baser(frame, tables::DEVICES).ok_or(ItsError::NoDeviceTable)?;
        let device_table = ItsTable::create(
            frame,
            memory,
            index,
            entry,
            TableRequest {
                table_type: tables::DEVICES,
                id_bits: config.device_id_bits.min(features.device_id_bits),
                max_flat_bytes: config.max_flat_device_table_bytes,
                attributes: config.attributes,
            },
        )?;
        let give_back = |memory: &mut M, device_table: ItsTable, collections: Option<ItsTable>| {
            device_table.release(memory);
            if let Some(table) = collections {
                table.release(memory);
            }
        };
        let mut collection_table = None;
        if let Some((index, entry)) = tables::find_baser(frame, tables::COLLECTIONS) {
            let request = TableRequest {
                table_type: tables::COLLECTIONS,
                id_bits: u32::from(config.collections.max(1))
                    .next_power_of_two()
                    .ilog2(),
                max_flat_bytes: usize::MAX,
                attributes: config.attributes,
            };
            match ItsTable::create(frame, memory, index, entry, request) {
                Ok(table) => collection_table = Some(table),
                Err(error) => {
                    give_back(memory, device_table, None);
                    return Err(error);
                }
            }
        }
        // GITS_CBASER.Size counts 4 KiB pages, at most 256 of them.
        let queue_bytes = config
            .queue_bytes
            .clamp(4096, 1 << 20)
            .next_multiple_of(4096);
        let Some(ring) = memory.allocate_zeroed(queue_bytes, 65536) else {
            give_back(memory, device_table, collection_table);
            return Err(ItsError::OutOfMemory { size: queue_bytes });
        };
        Ok(Self {
            device_table,
            collection_table,
            ring,
        })
    }
}

/// A [`Submitter`] over a driver's queue. A macro rather than a method so
/// that it borrows only the fields it needs, leaving the registry and the
/// tables usable while commands are generated from them.
macro_rules! submitter {
    ($its:expr) => {
        $crate::its::Submitter {
            queue: &mut $its.queue,
            frame: &$its.frame,
            memory: &mut $its.memory,
            poll_budget: $its.poll_budget,
            batching: $its.batching,
        }
    };
}
pub(crate) use submitter;

/// Feeds commands to the queue in the configured batching mode: with
/// [`Batching::Batched`] the ring is only published when full and by
/// `finish`; with [`Batching::OneAtATime`] every command is published and
/// waited for.
pub(crate) struct Submitter<'a, F: GitsFrame, M: DmaMemory> {
    pub(crate) queue: &'a mut CommandQueue,
    pub(crate) frame: &'a F,
    pub(crate) memory: &'a mut M,
    pub(crate) poll_budget: u32,
    pub(crate) batching: Batching,
}

impl<F: GitsFrame, M: DmaMemory> Submitter<'_, F, M> {
    pub(crate) fn submit(&mut self, command: ItsCommand) -> Result<(), ItsError> {
        self.queue
            .push(self.frame, &*self.memory, command, self.poll_budget)?;
        if self.batching == Batching::OneAtATime {
            self.queue.publish_and_wait(self.frame, self.poll_budget)?;
        }
        Ok(())
    }

    /// Publishes what is left and waits until the ITS has consumed it all.
    pub(crate) fn finish(&mut self) -> Result<(), ItsError> {
        self.queue.publish_and_wait(self.frame, self.poll_budget)
    }

    /// The platform memory, for allocations between commands.
    pub(crate) fn memory_mut(&mut self) -> &mut M {
        self.memory
    }
}

/// Clears GITS_CTLR.Enabled if set and waits, at most `poll_budget` reads,
/// for GITS_CTLR.Quiescent (12.19.6): only then may CBASER and BASERn be
/// written, and only then does the ITS hold no cached table state.
pub(crate) fn disable_and_quiesce<F: GitsFrame>(
    frame: &F,
    poll_budget: u32,
) -> Result<(), ItsError> {
    let mut ctlr = frame.read(GITS_CTLR);
    if ctlr.is_set(GITS_CTLR::Enabled) {
        ctlr.modify(GITS_CTLR::Enabled::CLEAR);
        frame.write(GITS_CTLR, ctlr);
    }
    for _ in 0..poll_budget {
        let ctlr = frame.read(GITS_CTLR);
        if ctlr.is_set(GITS_CTLR::Quiescent) && !ctlr.is_set(GITS_CTLR::Enabled) {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(ItsError::Timeout {
        waiting_for: WaitFor::Quiescent,
        polls: poll_budget,
    })
}
