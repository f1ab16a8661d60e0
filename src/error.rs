//! The crate's error type. Every variant is a condition the caller or the
//! hardware can cause; none of them leaves the registry and the ITS out of
//! step (each operation checks before it changes anything, and undoes its own
//! bookkeeping when the hardware fails it).

use crate::command::ItsCommand;
use crate::id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use core::fmt;

/// What a bounded wait was waiting for when it gave up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitFor {
    /// GITS_CREADR to reach GITS_CWRITER (commands consumed).
    CommandCompletion,
    /// Room in the command queue.
    QueueSpace,
    /// GITS_CTLR.Quiescent after clearing Enabled.
    Quiescent,
    /// GICR_CTLR.RWP to clear after changing EnableLPIs.
    RedistributorWrite,
    /// GICR_PWRR.RDPD to read 0 after powering the redistributor up.
    RedistributorPower,
    /// GICR_VPENDBASER.Dirty to read 0: the redistributor done with the
    /// pending table of a vPE a previous owner left resident.
    VpeTable,
    /// GICD_CTLR.RWP to clear after a write of GICD_CTLR.
    DistributorWrite,
    /// GICR_WAKER.ChildrenAsleep to read 0 after waking the redistributor.
    RedistributorWake,
}

/// A store of the driver's bookkeeping, named by [`ItsError::StorageFull`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bookkeeping {
    /// The registry's mapped devices, one entry each.
    Devices,
    /// The registry's event slots, one per EventID of every mapped device.
    Events,
    /// The registry's mapped collections.
    Collections,
    /// The level-2 pages of a two-level Device table.
    TablePages,
    /// The redistributors an LPI domain has seen, and their pending tables.
    Redistributors,
    /// The ITSes attached to an LPI domain.
    Itses,
    /// The LPI allocator's bitmap, one bit per LPI of the domain.
    LpiBitmap,
}

/// An error from the ITS driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItsError {
    /// The ITS does not support physical LPIs (GITS_TYPER.Physical = 0).
    NoPhysicalLpis,
    /// No GITS_BASERn describes a Device table.
    NoDeviceTable,
    /// Memory the platform gave cannot be described to the GIC: a table above
    /// 2^48 with 4 or 16 KiB pages, or an LPI region that is not 64 KiB
    /// aligned (GICR_PENDBASER holds address bits \[51:16\] only).
    UnencodableAddress {
        /// The physical address.
        phys: u64,
    },
    /// The DeviceID is beyond GITS_TYPER.Devbits or the device table.
    DeviceIdOutOfRange {
        /// The DeviceID asked for.
        device_id: DeviceId,
        /// The largest DeviceID that can be mapped.
        max: DeviceId,
    },
    /// More events than GITS_TYPER.ID_bits allows, or zero.
    EventCountOutOfRange {
        /// Events asked for.
        requested: u32,
        /// Largest number of events per device.
        max: u32,
    },
    /// The EventID is beyond what the device was mapped with.
    EventIdOutOfRange {
        /// The device.
        device_id: DeviceId,
        /// The EventID asked for.
        event_id: EventId,
        /// Number of events the device was mapped with.
        events: u32,
    },
    /// The device is already mapped.
    DeviceAlreadyMapped {
        /// The device.
        device_id: DeviceId,
    },
    /// The device is not mapped.
    DeviceNotMapped {
        /// The device.
        device_id: DeviceId,
    },
    /// The event is already mapped.
    EventAlreadyMapped {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
    },
    /// The event is not mapped.
    EventNotMapped {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
    },
    /// The collection ID is beyond what the ITS supports.
    CollectionOutOfRange {
        /// The collection asked for.
        icid: CollectionId,
        /// The largest collection ID.
        max: CollectionId,
    },
    /// The collection is already mapped.
    CollectionAlreadyMapped {
        /// The collection.
        icid: CollectionId,
    },
    /// The collection is not mapped.
    CollectionNotMapped {
        /// The collection.
        icid: CollectionId,
    },
    /// The collection was restored before its redistributor was ready and
    /// is not mapped yet: initialise the redistributor
    /// ([`crate::LpiDomain::init_redistributor`]), then
    /// [`crate::Its::restore_collections`].
    CollectionDeferred {
        /// The collection.
        icid: CollectionId,
        /// Its redistributor.
        processor_number: ProcessorNumber,
    },
    /// The collection still has events routed to it.
    CollectionInUse {
        /// The collection.
        icid: CollectionId,
        /// Number of events that still target it.
        events: usize,
    },
    /// No redistributor with this processor number was initialised.
    UnknownRedistributor {
        /// The processor number (GICR_TYPER.Processor_Number).
        processor_number: ProcessorNumber,
    },
    /// The redistributor was initialised, but its LPIs are not enabled now
    /// ([`crate::LpiDomain::save`] ran, or it was released): a collection
    /// must not be mapped onto it, nor SYNCed with it.
    RedistributorNotReady {
        /// The processor number.
        processor_number: ProcessorNumber,
    },
    /// The LPI table region has no pending table for this redistributor.
    NoPendingTable {
        /// The processor number.
        processor_number: ProcessorNumber,
        /// Pending tables the region holds (for processor numbers below).
        tables: usize,
    },
    /// The operation would move LPIs of other ITSes too (MOVALL moves a
    /// redistributor's pending LPIs whichever ITS routed them), and this
    /// ITS is not alone in its LPI domain.
    SharedLpiDomain {
        /// ITSes of the domain holding live mappings.
        itses: usize,
    },
    /// An ITS of the LPI domain still holds live mappings; save it first.
    ItsStillActive {
        /// How many ITSes are not saved.
        active: usize,
    },
    /// The redistributor supports virtual LPIs (GICR_TYPER.VLPIS = 1): a
    /// previous owner (a KVM host) may have left a vPE resident on it,
    /// whose pending table it keeps writing, so its VLPI_base frame is
    /// needed to make it stop
    /// ([`crate::LpiDomain::init_redistributor_with_vlpi`]).
    VlpiFrameNeeded {
        /// The processor number.
        processor_number: ProcessorNumber,
    },
    /// The GIC implements no LPIs (GICD_TYPER.LPIS = 0).
    NoLpis,
    /// [`crate::Its::doorbell`] without [`crate::ItsConfig::doorbell`]: the
    /// driver was not told where the ITS lies.
    NoDoorbell,
    /// The ITS did not take GITS_CTLR.Enabled = 1 (KVM's emulated ITS
    /// refuses while a table or the command queue is not Valid).
    EnableRefused,
    /// The redistributor does not support physical LPIs (GICR_TYPER.PLPIS = 0).
    RedistributorWithoutLpis {
        /// The processor number.
        processor_number: ProcessorNumber,
    },
    /// The redistributor had EnableLPIs set, it cannot be cleared, and its
    /// tables are not the ones the caller declared reserved.
    LpiTablesLocked {
        /// The processor number.
        processor_number: ProcessorNumber,
        /// GICR_PROPBASER as found.
        propbaser: u64,
        /// GICR_PENDBASER as found.
        pendbaser: u64,
    },
    /// The redistributor had EnableLPIs set, it cannot be cleared, and it
    /// uses another property table than the redistributors already
    /// running on the domain's: one property table is shared by all. The
    /// redistributors whose tables the domain must adopt come first (the
    /// boot CPU's, as Linux decides from it).
    LpiPropertyTableConflict {
        /// The processor number.
        processor_number: ProcessorNumber,
        /// GICR_PROPBASER as found.
        propbaser: u64,
    },
    /// The LPI table region given in the configuration cannot hold the
    /// property table and one pending table.
    LpiRegionTooSmall {
        /// Bytes given.
        size: usize,
        /// Bytes needed at least.
        needed: usize,
    },
    /// Not enough free LPI INTIDs.
    LpiSpaceExhausted {
        /// INTIDs asked for.
        requested: u32,
    },
    /// The INTID is not an LPI of the configured range.
    LpiOutOfRange {
        /// The INTID.
        intid: IntId,
    },
    /// The LPI is already allocated.
    LpiInUse {
        /// The INTID.
        intid: IntId,
    },
    /// A base register (GITS_CBASER, GITS_BASERn, GICR_PROPBASER,
    /// GICR_PENDBASER) did not read back as written in a field other than
    /// the memory attributes: the GIC cannot use the memory as described
    /// (an address beyond what it can reach, a size or page size it does
    /// not take).
    RegisterRefused {
        /// The register.
        register: &'static str,
        /// What was written.
        wrote: u64,
        /// What it read back.
        read: u64,
    },
    /// The platform could not provide table memory.
    OutOfMemory {
        /// Bytes asked for.
        size: usize,
    },
    /// Bookkeeping in room the caller gave ([`crate::ItsStorage`],
    /// [`crate::DomainStorage`]) is full, or too small for what is
    /// recorded already. Nothing changed.
    StorageFull {
        /// Which store.
        store: Bookkeeping,
        /// Its capacity: entries, or words of the LPI bitmap.
        capacity: usize,
    },
    /// Storage was given twice: the room of an [`crate::ItsStorage`] or a
    /// [`crate::DomainStorage`] serves one driver for good.
    StorageClaimed,
    /// A bounded wait gave up: its time ran out on the wait policy's
    /// clock, or its budget of register reads did.
    Timeout {
        /// What was being waited for.
        waiting_for: WaitFor,
        /// How many register reads (polls) were made.
        polls: u32,
    },
    /// The ITS stopped on a command it could not execute (GITS_CREADR.Stalled).
    /// Recovery: [`crate::Its::recover`].
    CommandStalled {
        /// The command at GITS_CREADR, if it decodes.
        command: Option<ItsCommand>,
        /// Its byte offset in the queue.
        offset: usize,
    },
    /// The operation needs an active ITS, but it is saved (or a restore has
    /// not finished).
    Saved,
    /// `restore` was called without a `save` before it.
    NotSaved,
    /// An earlier command stalled or timed out; [`crate::Its::recover`] must
    /// run before anything else is mapped.
    NeedsRecovery,
    /// `restore` found different hardware from what `save` recorded.
    HardwareMismatch {
        /// GITS_TYPER at save.
        saved_typer: u64,
        /// GITS_TYPER now.
        found_typer: u64,
        /// GITS_IIDR at save.
        saved_iidr: u32,
        /// GITS_IIDR now.
        found_iidr: u32,
    },
}

impl fmt::Display for ItsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoPhysicalLpis => write!(f, "the ITS does not support physical LPIs"),
            Self::NoDeviceTable => write!(f, "no GITS_BASERn describes a device table"),
            Self::UnencodableAddress { phys } => {
                write!(f, "the GIC cannot be given memory at {phys:#x}")
            }
            Self::DeviceIdOutOfRange { device_id, max } => {
                write!(f, "DeviceID {device_id} is beyond the largest, {max}")
            }
            Self::EventCountOutOfRange { requested, max } => {
                write!(
                    f,
                    "{requested} events per device asked for; 1 to {max} allowed"
                )
            }
            Self::EventIdOutOfRange {
                device_id,
                event_id,
                events,
            } => write!(
                f,
                "EventID {event_id} of device {device_id} is beyond its {events} events"
            ),
            Self::DeviceAlreadyMapped { device_id } => {
                write!(f, "device {device_id} is already mapped")
            }
            Self::DeviceNotMapped { device_id } => write!(f, "device {device_id} is not mapped"),
            Self::EventAlreadyMapped {
                device_id,
                event_id,
            } => write!(
                f,
                "event {event_id} of device {device_id} is already mapped"
            ),
            Self::EventNotMapped {
                device_id,
                event_id,
            } => write!(f, "event {event_id} of device {device_id} is not mapped"),
            Self::CollectionOutOfRange { icid, max } => {
                write!(f, "collection {icid} is beyond the largest, {max}")
            }
            Self::CollectionAlreadyMapped { icid } => {
                write!(f, "collection {icid} is already mapped")
            }
            Self::CollectionNotMapped { icid } => write!(f, "collection {icid} is not mapped"),
            Self::CollectionDeferred {
                icid,
                processor_number,
            } => write!(
                f,
                "collection {icid} waits for redistributor {processor_number} to be ready"
            ),
            Self::CollectionInUse { icid, events } => {
                write!(f, "collection {icid} still has {events} events")
            }
            Self::UnknownRedistributor { processor_number } => write!(
                f,
                "no redistributor with processor number {processor_number} was initialised"
            ),
            Self::RedistributorNotReady { processor_number } => write!(
                f,
                "redistributor {processor_number} does not have its LPIs enabled now"
            ),
            Self::NoPendingTable {
                processor_number,
                tables,
            } => write!(
                f,
                "no pending table for redistributor {processor_number}: the LPI region has {tables}"
            ),
            Self::SharedLpiDomain { itses } => write!(
                f,
                "{itses} ITSes share the LPI domain: MOVALL would move the others' LPIs too"
            ),
            Self::ItsStillActive { active } => {
                write!(f, "{active} ITSes of the LPI domain are not saved")
            }
            Self::RedistributorWithoutLpis { processor_number } => write!(
                f,
                "redistributor {processor_number} does not support physical LPIs"
            ),
            Self::LpiTablesLocked {
                processor_number,
                propbaser,
                pendbaser,
            } => write!(
                f,
                "redistributor {processor_number} has LPIs enabled for good with \
                 PROPBASER {propbaser:#x} PENDBASER {pendbaser:#x}, not the reserved tables"
            ),
            Self::EnableRefused => write!(f, "the ITS refused to be enabled"),
            Self::NoDoorbell => write!(f, "the ITS's physical address was not given"),
            Self::NoLpis => write!(f, "the GIC implements no LPIs"),
            Self::VlpiFrameNeeded { processor_number } => write!(
                f,
                "redistributor {processor_number} supports virtual LPIs: give its VLPI_base frame"
            ),
            Self::LpiPropertyTableConflict {
                processor_number,
                propbaser,
            } => write!(
                f,
                "redistributor {processor_number} has LPIs enabled for good with \
                 PROPBASER {propbaser:#x}, not the property table the others use"
            ),
            Self::LpiRegionTooSmall { size, needed } => {
                write!(f, "LPI table region of {size} bytes; {needed} needed")
            }
            Self::LpiSpaceExhausted { requested } => {
                write!(f, "no room for {requested} more LPIs")
            }
            Self::LpiOutOfRange { intid } => write!(f, "INTID {intid} is not a configured LPI"),
            Self::LpiInUse { intid } => write!(f, "LPI {intid} is already allocated"),
            Self::RegisterRefused {
                register,
                wrote,
                read,
            } => write!(f, "{register} did not take {wrote:#x}: it reads {read:#x}"),
            Self::OutOfMemory { size } => {
                write!(f, "could not allocate {size} bytes of GIC memory")
            }
            Self::StorageFull { store, capacity } => {
                write!(
                    f,
                    "no room for more {store:?}: the storage holds {capacity}"
                )
            }
            Self::StorageClaimed => write!(f, "the storage serves another driver already"),
            Self::Timeout { waiting_for, polls } => {
                write!(f, "gave up waiting for {waiting_for:?} after {polls} reads")
            }
            Self::CommandStalled { command, offset } => {
                write!(
                    f,
                    "the ITS stalled on {command:?} at queue offset {offset:#x}"
                )
            }
            Self::Saved => write!(f, "the ITS is saved; restore it first"),
            Self::NotSaved => write!(f, "restore without a save"),
            Self::NeedsRecovery => write!(f, "a command failed earlier; recover the ITS first"),
            Self::HardwareMismatch {
                saved_typer,
                found_typer,
                saved_iidr,
                found_iidr,
            } => write!(
                f,
                "different ITS: TYPER {found_typer:#x} IIDR {found_iidr:#x}, \
                 saved TYPER {saved_typer:#x} IIDR {saved_iidr:#x}"
            ),
        }
    }
}

impl core::error::Error for ItsError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::DeviceId;
    use alloc::string::ToString;

    #[test]
    fn an_error_says_what_was_wrong_with_which_value() {
        let error = ItsError::DeviceIdOutOfRange {
            device_id: DeviceId(0x10000),
            max: DeviceId(0xffff),
        };
        assert_eq!(
            error.to_string(),
            "DeviceID 0x10000 is beyond the largest, 0xffff"
        );
    }
}
