//! What the caller chooses when probing an ITS ([`ItsConfig`]), what the
//! ITS supports ([`ItsFeatures`], from GITS_TYPER and GITS_IIDR), and what
//! the driver reports about itself ([`ItsState`], [`MemoryUse`]).

use super::CommandQueue;
use crate::memory::MemoryAttributes;
use crate::quirks::{ITS_ERRATA, QuirkOverrides, Quirks};
use crate::registers::GITS_TYPER;
use crate::wait::WaitPolicy;
use tock_registers::LocalRegisterCopy;

/// Choices the caller makes when probing.
#[derive(Debug)]
pub struct ItsConfig {
    /// How long a wait for the ITS may take before it gives up with
    /// [`ItsError::Timeout`](crate::ItsError::Timeout).
    pub wait: WaitPolicy,
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
    /// Quirks to apply or ignore beyond what GITS_IIDR says.
    pub quirks: QuirkOverrides,
    /// How commands reach the ITS. [`Batching::OneAtATime`] exists as the
    /// benchmarks' baseline.
    pub batching: Batching,
    /// Where devices write their MSIs, for [`Its::doorbell`](crate::Its::doorbell).
    pub doorbell: Option<Doorbell>,
}

/// Where a device writes its MSIs (the address its MSI or MSI-X capability
/// is programmed with; the data is the EventID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doorbell {
    /// GITS_TRANSLATER of the ITS whose control frame lies at physical
    /// address `its_base` (the `reg` of its device tree node).
    Translater {
        /// Physical address of the ITS's 128 KiB.
        its_base: u64,
    },
    /// Socionext SynQuacer's pre-ITS (the ITS node's
    /// `socionext,synquacer-pre-its = <base size>`), which gives the ITS no
    /// DeviceID of its own: a device writes to `base` + 4 × DeviceID and
    /// the window forwards the write to GITS_TRANSLATER with that DeviceID
    /// (as Linux's workaround reads it). DeviceIDs are limited to what the
    /// window holds: log2(`size`) - 2 bits.
    PreIts {
        /// Physical address of the window.
        base: u64,
        /// Bytes of the window.
        size: u64,
    },
}

impl Doorbell {
    /// DeviceID bits the doorbell can carry, if it limits them.
    pub(crate) fn device_id_bits(self) -> Option<u32> {
        match self {
            Self::Translater { .. } => None,
            Self::PreIts { size, .. } => Some(size.max(1).ilog2().saturating_sub(2)),
        }
    }

    /// The address `device_id`'s MSIs go to.
    pub(crate) fn address(self, device_id: u32) -> u64 {
        match self {
            Self::Translater { its_base } => {
                its_base + crate::registers::GITS_TRANSLATER.offset() as u64
            }
            Self::PreIts { base, .. } => base + 4 * u64::from(device_id),
        }
    }
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
            wait: WaitPolicy::default(),
            queue_bytes: CommandQueue::DEFAULT_BYTES,
            // One 64 KiB page: beyond that a two-level table costs less
            // (a level-1 page plus a page per 8192 DeviceIDs in use).
            max_flat_device_table_bytes: 64 * 1024,
            device_id_bits: 32,
            collections: 64,
            attributes: MemoryAttributes::InnerShareableWriteBack,
            quirks: QuirkOverrides::default(),
            batching: Batching::Batched,
            doorbell: None,
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
    /// The quirks in force: known for this GITS_IIDR
    /// ([`crate::quirks::ITS_ERRATA`]) and as the caller overrode them.
    /// `device_id_bits` and `itt_entry_size` above already account for
    /// them.
    pub quirks: Quirks,
}

impl ItsFeatures {
    /// What GITS_TYPER and GITS_IIDR say, corrected by the quirks in force.
    pub(crate) fn read(typer: u64, iidr: u32, overrides: QuirkOverrides) -> Self {
        let t = LocalRegisterCopy::<u64, GITS_TYPER::Register>::new(typer);
        let quirks = overrides.resolve(ITS_ERRATA, iidr);
        let mut device_id_bits = t.read(GITS_TYPER::Devbits) as u32 + 1;
        if quirks.contains(Quirks::DEVICE_ID_20_BITS) {
            device_id_bits = device_id_bits.min(20);
        }
        let itt_entry_size = if quirks.contains(Quirks::ITT_ENTRY_16_BYTES) {
            16
        } else {
            t.read(GITS_TYPER::ITT_entry_size) as usize + 1
        };
        Self {
            typer,
            iidr,
            device_id_bits,
            event_id_bits: t.read(GITS_TYPER::ID_bits) as u32 + 1,
            itt_entry_size,
            pta: t.is_set(GITS_TYPER::PTA),
            hcc: t.read(GITS_TYPER::HCC) as u16,
            collection_id_bits: if t.is_set(GITS_TYPER::CIL) {
                t.read(GITS_TYPER::CIDbits) as u32 + 1
            } else {
                16
            },
            quirks,
        }
    }

    /// The attributes to ask for: non-shareable, non-cacheable when the
    /// ITS is known not to be coherent, else what the caller wants.
    pub(crate) fn attributes(&self, wanted: MemoryAttributes) -> MemoryAttributes {
        if self.quirks.contains(Quirks::NON_COHERENT) {
            MemoryAttributes::NonCacheable
        } else {
            wanted
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
    /// A command stalled or timed out; call [`Its::recover`](crate::Its::recover).
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
