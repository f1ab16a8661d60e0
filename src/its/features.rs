//! What an ITS supports ([`ItsFeatures`]): GITS_TYPER and GITS_IIDR as
//! read at probe, corrected by the quirks known for that GITS_IIDR and those
//! the caller named.

use crate::memory::MemoryAttributes;
use crate::quirks::{ITS_ERRATA, QuirkOverrides, Quirks};
use crate::registers::GITS_TYPER;
use tock_registers::LocalRegisterCopy;

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
