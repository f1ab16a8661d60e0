//! The ITS's walks of its tables: the Device table (flat or indirect),
//! the ITTs and the Collection table, read and written through the arena.

use super::{Gic, ItsMut};
use crate::commands::Fault;
use crate::registers::{QUEUE_PAGE, bits};
use crate::tables::{
    CollectionSlot, Dte, Ite, L1_ADDRESS, L1_VALID, RDBASE_FIELD, TABLE_ENTRY_SIZE, Table,
};
use crate::{CommandError, TableKind, Translation};
use gicv3_its::registers::GITS_BASER;
use gicv3_its::registers::{GITS_BASER_RO, ReadOnlyFields};
use gicv3_its::{CollectionId, IntId, RdBase};
use std::collections::BTreeMap;
use tock_registers::LocalRegisterCopy;

impl ItsMut<'_> {
    pub(crate) fn table(&self, kind: TableKind) -> Option<Table> {
        let wanted = match kind {
            TableKind::Devices => GITS_BASER_RO::Type::Devices,
            TableKind::Collections => GITS_BASER_RO::Type::Collections,
            TableKind::Vpes => GITS_BASER_RO::Type::VPEs,
        };
        self.its.baser.iter().find_map(|&value| {
            let r = LocalRegisterCopy::<u64, GITS_BASER::Register>::new(value);
            if !r.read_only().matches_all(wanted) || !r.is_set(GITS_BASER::Valid) {
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
                entry: r.read_only().read(GITS_BASER_RO::Entry_Size) as usize + 1,
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
