//! What the caller chooses when probing an ITS: [`ItsConfig`], with how
//! commands reach it ([`Batching`]) and where devices send MSIs
//! ([`Doorbell`]).

use super::CommandQueue;
use crate::memory::MemoryAttributes;
use crate::quirks::QuirkOverrides;
use crate::wait::WaitPolicy;

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
