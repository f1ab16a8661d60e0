//! What the model reports: translations, the rules a driver broke
//! ([`Violation`]), why a command or an MSI failed, and counters.

use crate::{GicrRegister, GicrVlpiRegister, GitsRegister};
use gicv3_its::{CollectionId, DmaRequest, IntId, ItsCommand};
use std::collections::BTreeMap;

#[cfg(doc)]
use crate::{ItsModel, ModelConfig};

/// Where an event is routed, as found in the tables in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The LPI.
    pub intid: IntId,
    /// The collection of the ITE.
    pub icid: CollectionId,
    /// The target redistributor (index into [`ModelConfig::redistributors`]).
    pub processor: usize,
}

/// The table a table walk failed in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// The Device table.
    Devices,
    /// The Collection table.
    Collections,
    /// The vPE table of a GICv4 ITS ([`ModelConfig::vpe_table`]): the model
    /// walks none of it, but memory it describes belongs to the ITS.
    ///
    /// [`ModelConfig::vpe_table`]: crate::ModelConfig::vpe_table
    Vpes,
}

/// A GIC access outside the arena or outside every live allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryFault {
    /// Physical address of the access.
    pub address: u64,
    /// Its length in bytes.
    pub len: usize,
    /// What the GIC was accessing.
    pub what: &'static str,
}

/// Why the ITS could not execute a command (or translate an event).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// A command number the model does not implement.
    Undecodable,
    /// This DeviceID is beyond GITS_TYPER.Devbits.
    DeviceOutOfRange(u32),
    /// This DeviceID or ICID is beyond what the table's GITS_BASERn covers,
    /// the BASER is not valid, or the level-1 entry covering it is not valid.
    NoTableEntry(TableKind, u64),
    /// The DTE of this DeviceID is not valid.
    DeviceNotMapped(u32),
    /// MAPD V=1 over the valid DTE of this DeviceID (the model remaps anyway).
    DeviceAlreadyMapped(u32),
    /// MAPD with this Size: more EventID bits than GITS_TYPER.ID_bits allows.
    SizeOutOfRange(u8),
    /// (DeviceID, EventID): the EventID is beyond the device's ITT.
    EventOutOfRange(u32, u32),
    /// (DeviceID, EventID): the ITE is not valid.
    EventNotMapped(u32, u32),
    /// (DeviceID, EventID): MAPTI/MAPI over a valid ITE (the model remaps anyway).
    EventAlreadyMapped(u32, u32),
    /// This INTID is not in 8192..2^lpi_id_bits.
    IntidOutOfRange(u32),
    /// This ICID is beyond GITS_TYPER.CIDbits.
    CollectionOutOfRange(u16),
    /// This collection is not mapped.
    CollectionNotMapped(u16),
    /// This RDbase field names no redistributor.
    BadRdbase(u64),
}

/// A rule of the architecture the driver broke. Tests assert there are none.
/// With several ITSes, one list holds every ITS's: a violation does not say
/// which ITS it happened on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// GITS_CBASER or GITS_BASERn written while GITS_CTLR.Enabled = 1 or
    /// Quiescent = 0. The write was ignored.
    WriteWhileEnabled(GitsRegister),
    /// GICR_PROPBASER or GICR_PENDBASER of this redistributor written while
    /// its EnableLPIs = 1, or while GICR_CTLR.RWP = 1 (a change of
    /// EnableLPIs not complete yet). The write was ignored.
    WriteWhileLpisEnabled(usize, GicrRegister),
    /// EnableLPIs set on this redistributor with GICR_PENDBASER.PTZ = 1
    /// over a pending table that is not all zero (as the GIC sees it).
    PendingTableNotZero(usize),
    /// This GITS_CWRITER value is outside the queue, misaligned or has
    /// reserved bits set. The write was ignored.
    BadCwriter(u64),
    /// A command the ITS could not execute; it was skipped (but the
    /// `...AlreadyMapped` ones are executed anyway).
    Command {
        /// Byte offset of the command in the queue.
        offset: usize,
        /// The command, if it decodes.
        command: Option<ItsCommand>,
        /// What was wrong.
        error: CommandError,
    },
    /// A GIC access outside the arena or a live allocation. From the command
    /// queue, this stalls the queue.
    Memory(MemoryFault),
    /// `deallocate` of a region (at this physical address) that is not one
    /// the model handed out.
    BadDeallocation(u64),
    /// A vPE a previous owner left resident on this redistributor got a
    /// virtual LPI, and the redistributor wrote its pending table, at this
    /// address: memory the kernel running now owns.
    ResidentVpeWrote(usize, u64),
    /// GICR_VPENDBASER of this redistributor written while Dirty = 1, or
    /// (GICv4.1) GICR_VPROPBASER while a vPE is resident or Dirty = 1:
    /// UNPREDICTABLE.
    /// The write was ignored.
    VpeRegisterWrittenTooEarly(usize, GicrVlpiRegister),
    /// `deallocate` of a region (at `phys`) with another request than the
    /// one it was allocated for.
    DeallocatedWithAnotherRequest {
        /// Its physical address.
        phys: u64,
        /// What `allocate_zeroed` was asked.
        asked: DmaRequest,
        /// What `deallocate` was given.
        given: DmaRequest,
    },
    /// `deallocate` of memory (at this physical address) the GIC still uses
    /// for the named purpose.
    DeallocatedInUse(u64, &'static str),
    /// `clean_invalidate_to_poc` of memory (at this virtual address) outside the arena.
    CleanOutsideArena(usize),
    /// A register of this redistributor written while it is powered down
    /// (GICR_PWRR, [`ModelConfig::redistributor_power`]). The write was
    /// ignored.
    RedistributorPoweredDown(usize, GicrRegister),
}

/// Why [`ItsModel::send_msi`] did not deliver an LPI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiError {
    /// GITS_CTLR.Enabled = 0: the write to GITS_TRANSLATER was ignored.
    ItsDisabled,
    /// The tables do not translate the event.
    Untranslatable(CommandError),
    /// A table walk hit memory outside the live allocations.
    Memory(MemoryFault),
    /// This redistributor has EnableLPIs = 0: the LPI was dropped.
    LpisDisabled(usize),
    /// This INTID is beyond GICR_PROPBASER.IDbits: dropped.
    LpiOutOfRange(IntId),
    /// This LPI is disabled in its (cached) configuration. It was made
    /// pending and is delivered once enabled and invalidated.
    LpiDisabled(IntId),
}

/// Counters of what the driver did to the model, summed over every ITS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModelStats {
    /// GITS_CWRITER writes (doorbells).
    pub doorbells: u64,
    /// GITS_CREADR reads (polls).
    pub polls: u64,
    /// Commands processed, by name ("MAPD", "MAPTI", ...), errors included.
    pub commands: BTreeMap<&'static str, u64>,
    /// [`ItsModel::send_msi`] calls.
    pub msis: u64,
    /// `clean_invalidate_to_poc` calls.
    pub cleans: u64,
    /// Bytes those calls asked to clean: what cache maintenance costs a
    /// GIC that does not snoop.
    pub bytes_cleaned: u64,
    /// Successful allocations.
    pub allocations: u64,
    /// Bytes allocated now (rounded up to 64-byte lines).
    pub bytes_allocated: usize,
    /// Largest `bytes_allocated` seen.
    pub peak_bytes_allocated: usize,
}

/// The command's mnemonic.
pub fn command_name(command: &ItsCommand) -> &'static str {
    match command {
        ItsCommand::Mapd { .. } => "MAPD",
        ItsCommand::Mapc { .. } => "MAPC",
        ItsCommand::Mapti { .. } => "MAPTI",
        ItsCommand::Mapi { .. } => "MAPI",
        ItsCommand::Inv { .. } => "INV",
        ItsCommand::Invall { .. } => "INVALL",
        ItsCommand::Sync { .. } => "SYNC",
        ItsCommand::Discard { .. } => "DISCARD",
        ItsCommand::Movi { .. } => "MOVI",
        ItsCommand::Movall { .. } => "MOVALL",
        ItsCommand::Int { .. } => "INT",
        ItsCommand::Clear { .. } => "CLEAR",
    }
}
