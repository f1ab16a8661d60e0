//! The tables the ITS walks in memory: the Device table, the Collection
//! table (flat or two-level, as GITS_BASERn describes them), the ITTs, and
//! the model's formats of their entries (DTE, CTE, ITE).

use crate::commands::Fault;
use crate::registers::{QUEUE_PAGE, bits};
use crate::state::{Gic, ItsMut};
use crate::{CommandError, TableKind, Translation};
use gicv3_its::registers::GITS_BASER;
use gicv3_its::{CollectionId, IntId, RdBase};
use std::collections::BTreeMap;
use tock_registers::LocalRegisterCopy;

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

impl ItsMut<'_> {
    pub(crate) fn table(&self, kind: TableKind) -> Option<Table> {
        let wanted = match kind {
            TableKind::Devices => GITS_BASER::Type::Devices,
            TableKind::Collections => GITS_BASER::Type::Collections,
            TableKind::Vpes => GITS_BASER::Type::VPEs,
        };
        self.its.baser.iter().find_map(|&value| {
            let r = LocalRegisterCopy::<u64, GITS_BASER::Register>::new(value);
            if !r.matches_all(wanted) || !r.is_set(GITS_BASER::Valid) {
                return None;
            }
            let page = QUEUE_PAGE << (2 * r.read(GITS_BASER::Page_Size));
            let mut base = value & bits(GITS_BASER::Physical_Address);
            if page == 0x1_0000 {
                // With 64K pages, address bits [15:12] hold bits [51:48].
                base = (base & !0xf000) | ((value >> 12) & 0xf) << 48;
            }
            Some(Table {
                base,
                page,
                bytes: (r.read(GITS_BASER::Size) as usize + 1) * page,
                entry: r.read(GITS_BASER::Entry_Size) as usize + 1,
                indirect: r.is_set(GITS_BASER::Indirect),
            })
        })
    }

    /// The physical address of entry `index` of a table.
    pub(crate) fn table_entry(&self, kind: TableKind, index: u64) -> Result<u64, Fault> {
        let missing = CommandError::NoTableEntry(kind, index);
        let t = self.table(kind).ok_or(missing)?;
        let (entry, bytes) = (t.entry as u64, t.bytes as u64);
        if !t.indirect {
            let offset = index
                .checked_mul(entry)
                .filter(|offset| offset + entry <= bytes);
            return Ok(t.base + offset.ok_or(missing)?);
        }
        let per_page = (t.page / t.entry) as u64;
        let l1 = index / per_page;
        if (l1 + 1) * 8 > bytes {
            return Err(missing.into());
        }
        let l1_entry = self
            .gic
            .arena
            .read_entry(t.base + l1 * 8, 8, "level-1 table entry")?;
        if l1_entry & L1_VALID == 0 {
            return Err(missing.into());
        }
        Ok((l1_entry & L1_ADDRESS) + (index % per_page) * entry)
    }

    /// Calls `f(index, first 8 bytes)` for every entry of a table the GIC can
    /// reach (pages outside live allocations are skipped).
    pub(crate) fn walk_table(&self, kind: TableKind, mut f: impl FnMut(u64, u64)) {
        let Some(t) = self.table(kind) else { return };
        let per_page = (t.page / t.entry) as u64;
        let mut scan = |base: u64, first: u64| {
            let Ok(page) = self.gic.arena.read_vec(base, t.page, "table page") else {
                return;
            };
            for (i, entry) in page.chunks_exact(t.entry).enumerate() {
                f(
                    first + i as u64,
                    u64::from_le_bytes(entry[..8].try_into().expect("8 bytes")),
                );
            }
        };
        if t.indirect {
            for l1 in 0..t.bytes as u64 / 8 {
                let entry = self
                    .gic
                    .arena
                    .read_entry(t.base + l1 * 8, 8, "")
                    .unwrap_or(0);
                if entry & L1_VALID != 0 {
                    scan(entry & L1_ADDRESS, l1 * per_page);
                }
            }
        } else {
            for page in 0..(t.bytes / t.page) as u64 {
                scan(t.base + page * t.page as u64, page * per_page);
            }
        }
    }

    /// A device's DTE and its address.
    pub(crate) fn device(&self, device_id: u32) -> Result<(u64, Dte), Fault> {
        if self.gic.config.devbits < 32 && device_id >> self.gic.config.devbits != 0 {
            return Err(CommandError::DeviceOutOfRange(device_id).into());
        }
        // An ITS that decodes fewer DeviceID bits than it reports ignores
        // the higher ones.
        let decoded = self.gic.config.decoded_devbits.unwrap_or(32);
        let index = u64::from(device_id) & ((1 << decoded) - 1);
        let address = self.table_entry(TableKind::Devices, index)?;
        let raw = self
            .gic
            .arena
            .read_entry(address, TABLE_ENTRY_SIZE, "device table entry")?;
        Ok((address, Dte::decode(raw)))
    }

    /// The ITE of an event of a mapped device, valid or not, and its address.
    pub(crate) fn event(&self, device_id: u32, event_id: u32) -> Result<(u64, Ite), Fault> {
        let (_, dte) = self.device(device_id)?;
        if !dte.valid {
            return Err(CommandError::DeviceNotMapped(device_id).into());
        }
        if u64::from(event_id) >= dte.events() {
            return Err(CommandError::EventOutOfRange(device_id, event_id).into());
        }
        let size = self.gic.config.itt_entry_size;
        let address = dte.itt + u64::from(event_id) * size as u64;
        Ok((
            address,
            Ite::decode(self.gic.arena.read_entry(address, size, "ITT entry")?),
        ))
    }

    pub(crate) fn mapped_event(&self, device_id: u32, event_id: u32) -> Result<(u64, Ite), Fault> {
        match self.event(device_id, event_id)? {
            (_, ite) if !ite.valid => Err(CommandError::EventNotMapped(device_id, event_id).into()),
            found => Ok(found),
        }
    }

    pub(crate) fn collection_slot(&self, icid: u16) -> Result<CollectionSlot, Fault> {
        let cid_bits = self.gic.config.cid_bits.unwrap_or(16);
        if cid_bits < 16 && icid >> cid_bits != 0 {
            return Err(CommandError::CollectionOutOfRange(icid).into());
        }
        if icid < u16::from(self.gic.config.hcc) {
            return Ok(CollectionSlot::Internal(icid));
        }
        Ok(CollectionSlot::Table(
            self.table_entry(TableKind::Collections, icid.into())?,
        ))
    }

    /// The redistributor a mapped collection targets.
    pub(crate) fn target(&self, icid: u16) -> Result<usize, Fault> {
        let rdbase = match self.collection_slot(icid)? {
            CollectionSlot::Internal(icid) => self.its.internal_collections.get(&icid).copied(),
            CollectionSlot::Table(address) => {
                let raw = self.gic.arena.read_entry(
                    address,
                    TABLE_ENTRY_SIZE,
                    "collection table entry",
                )?;
                (raw & 1 != 0).then_some((raw >> 1) & RDBASE_FIELD)
            }
        };
        Ok(self
            .gic
            .resolve_rdbase(rdbase.ok_or(CommandError::CollectionNotMapped(icid))?)?)
    }

    pub(crate) fn translate(&self, device_id: u32, event_id: u32) -> Result<Translation, Fault> {
        let (_, ite) = self.mapped_event(device_id, event_id)?;
        let processor = self.target(ite.icid)?;
        Ok(Translation {
            intid: IntId(ite.intid),
            icid: CollectionId(ite.icid),
            processor,
        })
    }

    pub(crate) fn valid_devices(&self) -> Vec<(u32, Dte)> {
        let mut found = Vec::new();
        let devbits = self.gic.config.devbits;
        self.walk_table(TableKind::Devices, |index, raw| {
            let dte = Dte::decode(raw);
            if dte.valid && index >> devbits == 0 {
                found.push((index as u32, dte));
            }
        });
        found
    }

    pub(crate) fn mappings(&self) -> BTreeMap<(u32, u32), (u32, u16)> {
        let mut map = BTreeMap::new();
        let size = self.gic.config.itt_entry_size;
        for (device_id, dte) in self.valid_devices() {
            let len = dte.events() as usize * size;
            let Ok(itt) = self.gic.arena.read_vec(dte.itt, len, "ITT") else {
                continue;
            };
            for (event_id, entry) in itt.chunks_exact(size).enumerate() {
                let ite = Ite::decode(u64::from_le_bytes(entry[..8].try_into().expect("8 bytes")));
                if ite.valid {
                    map.insert((device_id, event_id as u32), (ite.intid, ite.icid));
                }
            }
        }
        map
    }

    pub(crate) fn valid_collections(&self) -> BTreeMap<u16, usize> {
        let mut fields = self.its.internal_collections.clone();
        let hcc = u64::from(self.gic.config.hcc);
        self.walk_table(TableKind::Collections, |index, raw| {
            if raw & 1 != 0 && (hcc..=u16::MAX.into()).contains(&index) {
                fields.insert(index as u16, (raw >> 1) & RDBASE_FIELD);
            }
        });
        fields
            .into_iter()
            .filter_map(|(icid, field)| Some((icid, self.gic.resolve_rdbase(field).ok()?)))
            .collect()
    }
}

impl Gic {
    pub(crate) fn resolve_rdbase(&self, field: u64) -> Result<usize, CommandError> {
        let found = if self.config.pta {
            self.config
                .redistributors
                .iter()
                .position(|&a| RdBase::physical_address(a).field() == field)
        } else {
            u16::try_from(field)
                .ok()
                .and_then(|number| self.config.redistributor_index(number))
        };
        found.ok_or(CommandError::BadRdbase(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
