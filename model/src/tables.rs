//! The tables the ITS walks in memory: the Device table, the Collection
//! table (flat or two-level, as GITS_BASERn describes them), the ITTs, and
//! the model's formats of their entries (DTE, CTE, ITE).

/// Bytes per DTE and per CTE (GITS_BASERn.Entry_Size + 1).
pub(crate) const TABLE_ENTRY_SIZE: usize = 8;
/// Level-1 entry: Valid and address bits \[51:12\].
pub(crate) const L1_VALID: u64 = 1 << 63;
pub(crate) const L1_ADDRESS: u64 = ((1 << 52) - 1) & !0xfff;
/// The RDbase field of MAPC and of a CTE: 36 bits.
pub(crate) const RDBASE_FIELD: u64 = (1 << 36) - 1;

/// An ITS table as its GITS_BASERn describes it.
pub(crate) struct Table {
    pub(crate) base: u64,
    pub(crate) page: usize,
    pub(crate) bytes: usize,
    pub(crate) entry: usize,
    pub(crate) indirect: bool,
}

/// Where a collection's mapping lives: in the ITS (ICID < HCC) or at a CTE.
pub(crate) enum CollectionSlot {
    Internal(u16),
    Table(u64),
}

/// An Interrupt Translation Entry.
#[derive(Clone, Copy)]
pub(crate) struct Ite {
    pub(crate) valid: bool,
    pub(crate) intid: u32,
    pub(crate) icid: u16,
}

impl Ite {
    pub(crate) fn decode(raw: u64) -> Self {
        Self {
            valid: raw & 1 != 0,
            intid: (raw >> 1) as u32,
            icid: (raw >> 33) as u16,
        }
    }

    pub(crate) fn encode(self) -> u64 {
        u64::from(self.valid) | u64::from(self.intid) << 1 | u64::from(self.icid) << 33
    }
}

/// A Device Table Entry.
#[derive(Clone, Copy)]
pub(crate) struct Dte {
    pub(crate) valid: bool,
    /// EventID bits minus one.
    pub(crate) size: u8,
    pub(crate) itt: u64,
}

impl Dte {
    pub(crate) fn decode(raw: u64) -> Self {
        Self {
            valid: raw & 1 != 0,
            size: ((raw >> 1) & 0x1f) as u8,
            itt: ((raw >> 6) & ((1 << 44) - 1)) << 8,
        }
    }

    pub(crate) fn encode(self) -> u64 {
        u64::from(self.valid) | u64::from(self.size) << 1 | (self.itt >> 8) << 6
    }

    pub(crate) fn events(self) -> u64 {
        1 << (u32::from(self.size) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::{CommandError, TableKind};

    use gicv3_its::{CollectionId, RdBase};
    use std::collections::BTreeMap;

    use crate::test_rig::*;
    use crate::{GitsRegister as G, ModelConfig};
    use gicv3_its::{DeviceId, EventId, ProcessorNumber};

    #[test]
    fn indirect_device_table_with_32_bit_device_ids() {
        let mut rig = Rig::bare(ModelConfig {
            devbits: 32,
            ..Default::default()
        });
        // One 4K level-1 page: 512 entries, each a 4K page of 512 DTEs.
        let mut level1 = rig.alloc(4096, 4096);
        rig.gits.write_register(
            G::Baser(0),
            VALID | 1 << 62 | level1.phys() | INNER_SHAREABLE,
        );
        assert_eq!(
            rig.gits.read_register(G::Baser(0)) & (1 << 62 | 3 << 8),
            1 << 62
        );
        let level2 = rig.alloc(4096, 4096);
        assert!(level1.write_u64(9 * 8, L1_VALID | level2.phys()));
        rig.clean(&level1);
        rig.gits.write_register(G::Ctlr, 1);
        rig.map(0x1234, 0, RdBase::processor_number(ProcessorNumber(0)));
        let unmap = |device_id| unmapd(device_id);
        rig.submit(&[unmap(0x10), unmap(512 * 512), unmap(u32::MAX)]);
        assert_eq!(
            rig.model
                .translate(DeviceId(0x1234), EventId(0))
                .map(|t| t.intid),
            Some(LPI_ID)
        );
        assert_eq!(rig.model.valid_device_ids(), [DeviceId(0x1234)]);
        let missing = |id| CommandError::NoTableEntry(TableKind::Devices, id);
        assert_eq!(
            command_errors(&rig.model),
            [missing(0x10), missing(512 * 512), missing(u32::MAX.into())]
        );
    }

    #[test]
    fn hcc_collections_without_a_table() {
        let config = ModelConfig {
            hcc: 4,
            collection_table: false,
            cid_bits: Some(4),
            ..Default::default()
        };
        let mut rig = Rig::new(config);
        assert_eq!(rig.gits.read_register(G::Baser(1)), 0);
        let mapc = |icid| mapc(icid, RdBase::processor_number(ProcessorNumber(1)));
        rig.submit(&[mapc(2), mapc(5), mapc(16)]);
        assert_eq!(
            rig.model.valid_collections(),
            BTreeMap::from([(CollectionId(2), 1)])
        );
        let errors = [
            CommandError::NoTableEntry(TableKind::Collections, 5),
            CommandError::CollectionOutOfRange(16),
        ];
        assert_eq!(command_errors(&rig.model), errors);
        rig.model.reset();
        assert!(rig.model.valid_collections().is_empty());
        assert_eq!(rig.gits.read_register(G::Ctlr), 1 << 31);
    }

    #[test]
    fn device_ids_beyond_the_decoded_bits_share_a_dte() {
        let mut rig = Rig::new(ModelConfig {
            devbits: 24,
            decoded_devbits: Some(12),
            ..Default::default()
        });
        assert_eq!(rig.gits.read_register(G::Typer) >> 13 & 0x1f, 23);
        let rd0 = RdBase::processor_number(ProcessorNumber(0));
        rig.map(5, 0, rd0);
        rig.map(0x1005, 0, rd0);
        assert_eq!(
            command_errors(&rig.model),
            [CommandError::DeviceAlreadyMapped(0x1005)]
        );
        assert_eq!(rig.model.valid_device_ids(), [DeviceId(5)]);
        assert_eq!(
            rig.model.translate(DeviceId(0x1005), EventId(0)),
            rig.model.translate(DeviceId(5), EventId(0))
        );
    }
}
