//! Memory: the table layout the ITS imposes, and the bytes of every table
//! at each point.

use crate::*;
use gicv3_its::registers::GitsFrame;
use gicv3_its::registers::{GITS_BASER, GITS_BASER_RO, ReadOnlyFields};
use gicv3_its::{ItsCommand, ItsFeatures, MemoryUse};

/// The layout the ITS imposes on its tables, read from the hardware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Page size of the Device and Collection tables (GITS_BASERn.Page_Size
    /// as the driver negotiated it).
    pub page_size: usize,
    /// Bytes per Device table entry (GITS_BASERn.Entry_Size + 1).
    pub dte_size: usize,
    /// Bytes per Collection table entry; 0 without a Collection table.
    pub cte_size: usize,
    /// Bytes per ITT entry (GITS_TYPER.ITT_entry_size + 1).
    pub itt_entry_size: usize,
    /// Collections held in the ITS (GITS_TYPER.HCC).
    pub hcc: u16,
}

impl Geometry {
    /// Reads the page size and entry sizes from GITS_BASERn after probe.
    pub fn read<F: GitsFrame>(frame: &F, features: ItsFeatures) -> Self {
        let page = |index: usize| match frame.read(GITS_BASER[index]).read(GITS_BASER::Page_Size) {
            0 => 4096,
            1 => 16384,
            _ => 65536,
        };
        // Entry_Size is the entry's bytes minus one.
        let find = |table_type: GITS_BASER_RO::Type::Value| {
            (0..8).find_map(|index| {
                let baser = frame.read(GITS_BASER[index]).read_only();
                (baser.read_as_enum(GITS_BASER_RO::Type) == Some(table_type))
                    .then_some((index, baser.read(GITS_BASER_RO::Entry_Size) as usize + 1))
            })
        };
        let (dte_index, dte_size) = find(GITS_BASER_RO::Type::Value::Devices).unwrap_or((0, 8));
        Self {
            page_size: page(dte_index),
            dte_size,
            cte_size: find(GITS_BASER_RO::Type::Value::Collections).map_or(0, |(_, size)| size),
            itt_entry_size: features.itt_entry_size,
            hcc: features.hcc,
        }
    }
}

/// Bytes of the tables the ITS and the redistributors read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableBytes {
    /// The Device table (flat, or level 1 plus level-2 pages).
    pub device_table: usize,
    /// The Collection table.
    pub collection_table: usize,
    /// All ITTs.
    pub itts: usize,
    /// The LPI property table and the pending tables.
    pub lpi_tables: usize,
}

impl TableBytes {
    /// What the driver holds.
    pub fn of(memory: MemoryUse) -> Self {
        Self {
            device_table: memory.device_table,
            collection_table: memory.collection_table,
            itts: memory.itts,
            lpi_tables: memory.lpi_tables,
        }
    }

    /// The least memory the architecture (Arm IHI 0069) lets these mappings
    /// live in: `devices` devices at DeviceIDs [`FIRST_DEVICE_ID`].., each
    /// with `events` events mapped to distinct LPIs, [`COLLECTIONS`]
    /// collections on `redistributors` redistributors, at the page size the
    /// driver chose.
    ///
    /// - Device table: GITS_BASERn.Size counts pages, so a flat table covering
    ///   the largest DeviceID is that many DTEs rounded up to a page; a
    ///   two-level one is a page of level-1 entries (8 bytes each) plus one
    ///   level-2 page per page's worth of DeviceIDs in use (5.2.1, 12.19.1).
    ///   The smaller of the two. (Below page/DTE DeviceIDs the flat table is
    ///   one page and always the smaller.)
    /// - Collection table: likewise, ICIDs at or above HCC, rounded up to a
    ///   page; nothing when every collection is held in the ITS.
    /// - ITTs: MAPD's Size gives 2^(Size+1) entries, at least two (5.3.9),
    ///   of ITT_entry_size bytes. ITT_addr is bits \[51:8\], so ITTs start on
    ///   256-byte boundaries and no two share one: each is rounded up to 256
    ///   bytes. (The raw entries are less: 24, 96 and 384 bytes at 1, 8 and
    ///   32 events with 12-byte entries; the rest of the 256-byte granule can
    ///   only hold something that is not an ITT.)
    /// - LPI tables: the property table has one byte per LPI from INTID
    ///   8192 up to 2^IDbits, the pending table one bit per INTID from 0
    ///   (5.1.1, 5.1.2), where IDbits is the least (at least 14) that holds
    ///   8192 + mappings INTIDs; one pending table per redistributor. Their
    ///   alignment (4 KiB for PROPBASER, 64 KiB for PENDBASER) leaves gaps
    ///   between tables that other memory can use, so it is not counted.
    pub fn minimum(geometry: Geometry, devices: u32, events: u32, redistributors: usize) -> Self {
        let page = geometry.page_size;
        let round = |bytes: usize| bytes.max(1).next_multiple_of(page);
        let device_table = if devices == 0 {
            0
        } else {
            let last = (FIRST_DEVICE_ID + devices - 1) as usize;
            let flat = round((last + 1) * geometry.dte_size);
            let per_page = page / geometry.dte_size;
            let first_page = FIRST_DEVICE_ID as usize / per_page;
            let level2_pages = last / per_page - first_page + 1;
            let two_level = round((last / per_page + 1) * 8) + level2_pages * page;
            flat.min(two_level)
        };
        let in_table = COLLECTIONS.saturating_sub(geometry.hcc);
        let collection_table = if in_table == 0 || geometry.cte_size == 0 {
            0
        } else {
            round(usize::from(COLLECTIONS) * geometry.cte_size)
        };
        let entries = 1usize << (u32::from(ItsCommand::mapd_size(events)) + 1);
        let itts = devices as usize * (entries * geometry.itt_entry_size).next_multiple_of(256);
        let lpis = u64::from(devices) * u64::from(events);
        let id_bits = (u64::from(FIRST_LPI) + lpis)
            .next_power_of_two()
            .ilog2()
            .max(14);
        let lpi_tables =
            ((1usize << id_bits) - FIRST_LPI as usize) + redistributors * ((1usize << id_bits) / 8);
        Self {
            device_table,
            collection_table,
            itts,
            lpi_tables,
        }
    }
}

/// Memory at one point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryPoint {
    /// Devices mapped.
    pub devices: u32,
    /// Events per device.
    pub events: u32,
    /// What the driver holds.
    pub driver: TableBytes,
    /// The architecture's minimum for the same mappings.
    pub minimum: TableBytes,
    /// Bytes of heap the registry holds for these mappings.
    pub registry: usize,
    /// Registry bytes added per device by `map_device` (event slots included).
    pub registry_per_device: f64,
    /// Registry bytes added per event by `map_event`.
    pub registry_per_event: f64,
    /// Whether `registry` was measured by counting allocations (host) or is
    /// the driver's own estimate, `Its::memory_use().registry` (target).
    pub registry_measured: bool,
}

impl MemoryPoint {
    /// The budget for the registry: 16 bytes per mapped event plus
    /// 64 per device.
    pub fn registry_budget(&self) -> usize {
        16 * (self.devices * self.events) as usize + 64 * self.devices as usize
    }
}
