//! Probing an ITS: whatever a previous owner left is disabled and
//! invalidated, every table and the queue are allocated before any register
//! describes them, then the ITS is enabled (Arm IHI 0069 12.19.1, 12.19.2,
//! 12.19.6).

use super::{
    CommandChannel, Doorbell, Its, ItsConfig, ItsFeatures, ItsState, MemorySource, quiesce,
};
use crate::error::ItsError;
use crate::lpi::{ItsSlot, LpiDomain};
use crate::memory::{self, DmaMemory, DmaRequest, MemoryAttributes};
use crate::queue::CommandQueue;
use crate::registers::{GITS_CBASER, GITS_CTLR, GITS_IIDR, GITS_TYPER, GitsFrame};
use crate::registry::Registry;
use crate::tables::{self, ItsTable, TableRequest};
use core::mem::ManuallyDrop;

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// Probes the ITS behind `frame`, allocates its tables and command queue
    /// from `memory`, and enables it. Its events are mapped to LPIs of
    /// `domain`, which other ITSes may share.
    ///
    /// An ITS left enabled (by firmware or a previous kernel) is disabled and
    /// waited for until quiescent first: GITS_CBASER and GITS_BASERn are only
    /// written while Enabled = 0 and Quiescent = 1 (12.19.2, 12.19.1).
    ///
    /// # Errors
    /// [`ItsError::NoPhysicalLpis`] if GITS_TYPER.Physical = 0;
    /// [`ItsError::Timeout`] if an ITS left enabled does not become quiescent;
    /// [`ItsError::NoDeviceTable`] if no GITS_BASERn describes a Device table;
    /// [`ItsError::OutOfMemory`] if `memory` has no room for a table or the
    /// queue; [`ItsError::UnencodableAddress`] if it gives a table or the queue
    /// where the ITS cannot reach, or a table above 2^48 that only 64 KiB pages
    /// can describe; [`ItsError::RegisterRefused`] if GITS_BASERn or
    /// GITS_CBASER does not take its table or the queue;
    /// [`ItsError::EnableRefused`] if the ITS does not take GITS_CTLR.Enabled =
    /// 1. The memory allocated so far is given back.
    pub fn probe(
        frame: F,
        memory: M,
        domain: &LpiDomain<M>,
        config: ItsConfig,
    ) -> Result<Self, ItsError> {
        Self::probe_with(frame, MemorySource::Own(memory), domain, config)
    }

    /// [`Its::probe`] with the domain's memory provider instead of one of
    /// its own: every allocation, given back and cleaned through the
    /// provider that [`LpiDomain::new`] or [`LpiDomain::with_region`] was
    /// given, under the domain's lock. One provider then serves the LPI
    /// tables and every ITS, and need not be `Clone` (a kernel's own frame
    /// allocator, say).
    ///
    /// # Errors
    /// As [`Its::probe`].
    pub fn probe_sharing(
        frame: F,
        domain: &LpiDomain<M>,
        config: ItsConfig,
    ) -> Result<Self, ItsError> {
        Self::probe_with(frame, MemorySource::Domain(domain.clone()), domain, config)
    }

    fn probe_with(
        frame: F,
        memory: MemorySource<M>,
        domain: &LpiDomain<M>,
        config: ItsConfig,
    ) -> Result<Self, ItsError> {
        let slot = domain.attach()?;
        let probed = Self::probe_attached(frame, memory, domain, slot, config);
        if probed.is_err() {
            domain.detach(slot, core::iter::empty());
        }
        probed
    }

    fn probe_attached(
        frame: F,
        mut memory: MemorySource<M>,
        domain: &LpiDomain<M>,
        slot: ItsSlot,
        config: ItsConfig,
    ) -> Result<Self, ItsError> {
        let typer = frame.read(GITS_TYPER).get();
        let features = ItsFeatures::read(typer, frame.read(GITS_IIDR).get(), config.quirks);
        let attributes = features.attributes(config.attributes);
        if !frame.read(GITS_TYPER).is_set(GITS_TYPER::Physical) {
            return Err(ItsError::NoPhysicalLpis);
        }
        let left = frame.read(GITS_CTLR);
        if left.is_set(GITS_CTLR::Enabled) {
            // Expected after a kexec from Linux, which tears nothing down:
            // worth a line, as every mapping it made dies here.
            log::info!(
                "its: left enabled by a previous owner (GITS_CTLR {:#x}, GITS_CBASER {:#x}): disabling it and dropping its tables",
                left.get(),
                frame.read(GITS_CBASER).get()
            );
        }
        // Whatever a previous owner left Valid (tables of any type, a
        // queue) stops being the ITS's before anything is allocated.
        quiesce(&frame, config.wait)?;

        // Allocate everything first, then describe it to the ITS: a failure
        // part-way gives the memory back with no register pointing at it.
        let Allocation {
            mut device_table,
            mut collection_table,
            mut queue,
        } = Allocation::new(&frame, &mut memory, &config, &features, attributes)?;
        let programmed = device_table
            .program(&frame, &memory, attributes)
            .and_then(|()| match &mut collection_table {
                Some(table) => table.program(&frame, &memory, attributes),
                None => Ok(()),
            })
            .and_then(|()| queue.program(&frame, attributes))
            .and_then(|()| super::enable(&frame));
        if let Err(error) = programmed {
            // The ITS refused a table, or to be enabled (so it is still
            // disabled and quiescent): nothing may stay Valid before the
            // memory goes back.
            tables::invalidate_all(&frame);
            device_table.release(&mut memory);
            if let Some(table) = collection_table {
                table.release(&mut memory);
            }
            let ring = queue.into_ring();
            let request = DmaRequest::for_gic(ring.size(), QUEUE_ALIGN, features.quirks);
            memory.deallocate(ring, request);
            return Err(error);
        }
        let collection_limit = collection_table
            .as_ref()
            .map_or(0, |table| table.capacity as u32)
            .max(u32::from(features.hcc))
            .min(1 << features.collection_id_bits);

        let device_limit = device_table.capacity;
        let its = Self {
            channel: ManuallyDrop::new(CommandChannel::new(
                frame,
                memory,
                queue,
                config.wait,
                config.batching,
            )),
            features,
            attributes,
            device_table,
            collection_table,
            device_limit,
            collection_limit,
            slot,
            domain: domain.clone(),
            registry: Registry::default(),
            state: ItsState::Active,
            quarantine: None,
            saved_identity: None,
            doorbell: config.doorbell,
        };
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
}

/// The command queue is 64 KiB aligned: KVM's ITS ignores GITS_CBASER's
/// address bits \[15:12\], so any other alignment would put its queue
/// elsewhere.
pub(super) const QUEUE_ALIGN: usize = 65536;

/// What `probe` allocates before it programs any register.
struct Allocation {
    device_table: ItsTable,
    collection_table: Option<ItsTable>,
    queue: CommandQueue,
}

impl Allocation {
    /// Allocates the tables and the queue. On failure, what was allocated so
    /// far is given back: nothing has been described to the hardware yet.
    fn new<F: GitsFrame, M: DmaMemory>(
        frame: &F,
        memory: &mut M,
        config: &ItsConfig,
        features: &ItsFeatures,
        attributes: MemoryAttributes,
    ) -> Result<Self, ItsError> {
        let (index, entry) =
            tables::find_baser(frame, tables::TableType::Devices).ok_or(ItsError::NoDeviceTable)?;
        let device_table = ItsTable::create(
            frame,
            memory,
            index,
            entry,
            TableRequest {
                table_type: tables::TableType::Devices,
                id_bits: config.device_id_bits.min(features.device_id_bits).min(
                    config
                        .doorbell
                        .and_then(Doorbell::device_id_bits)
                        .unwrap_or(32),
                ),
                max_flat_bytes: config.max_flat_device_table_bytes,
                attributes,
                quirks: features.quirks,
            },
        )?;
        let give_back = |memory: &mut M, device_table: ItsTable, collections: Option<ItsTable>| {
            device_table.release(memory);
            if let Some(table) = collections {
                table.release(memory);
            }
        };
        let mut collection_table = None;
        if let Some((index, entry)) = tables::find_baser(frame, tables::TableType::Collections) {
            let request = TableRequest {
                table_type: tables::TableType::Collections,
                id_bits: u32::from(config.collections.max(1))
                    .next_power_of_two()
                    .ilog2(),
                max_flat_bytes: usize::MAX,
                attributes,
                quirks: features.quirks,
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
        let request = DmaRequest::for_gic(queue_bytes, QUEUE_ALIGN, features.quirks);
        let ring = match memory::allocate(&mut *memory, request) {
            Ok(ring) => ring,
            Err(error) => {
                give_back(memory, device_table, collection_table);
                return Err(error);
            }
        };
        let queue = match CommandQueue::new(ring, attributes) {
            Ok(queue) => queue,
            Err(ring) => {
                // Allocated as asked (whole pages, 64 KiB aligned), a ring
                // is always one CBASER encodes; memory from a DmaMemory
                // that broke its contract goes back.
                let phys = ring.phys();
                memory.deallocate(ring, request);
                give_back(memory, device_table, collection_table);
                return Err(ItsError::UnencodableAddress { phys });
            }
        };
        Ok(Self {
            device_table,
            collection_table,
            queue,
        })
    }
}
