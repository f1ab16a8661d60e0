//! The ITS's own tables, described by GITS_BASERn (Arm IHI 0069 5.2.1,
//! 12.19.1): the Device table (DeviceID -> ITT) and the Collection table
//! (ICID -> redistributor). The ITS writes their entries; software only
//! allocates, zeroes and describes them, and for a two-level Device table
//! fills in the level-1 entries that point at level-2 pages.

use crate::base_register;
use crate::error::{Bookkeeping, ItsError};
use crate::id::DeviceId;
use crate::memory::{self, DmaMemory, DmaRegion, DmaRequest, MemoryAttributes};
use crate::quirks::Quirks;
use crate::registers::{GITS_BASER, GITS_BASER_RO, GITS_CBASER, GitsFrame, ReadOnlyFields};
use crate::store::Map;
use tock_registers::LocalRegisterCopy;
use tock_registers::fields::FieldValue;

/// What a GITS_BASERn holds (its read-only Type field).
pub(crate) type TableType = GITS_BASER_RO::Type::Value;
/// Number of GITS_BASERn registers.
pub(crate) const BASER_COUNT: usize = 8;
/// GITS_BASERn.Size is 8 bits: at most 256 pages.
const MAX_PAGES: usize = 256;
/// A level-1 entry of a two-level table: bit 63 Valid, address of the page.
const LEVEL1_VALID: u64 = 1 << 63;
const LEVEL1_ENTRY_SIZE: usize = 8;

/// Page sizes in the order they are tried: the largest first, so that one
/// level-2 page covers the most devices.
const PAGE_SIZES: [(usize, GITS_BASER::Page_Size::Value); 3] = [
    (65536, GITS_BASER::Page_Size::Value::Size64K),
    (16384, GITS_BASER::Page_Size::Value::Size16K),
    (4096, GITS_BASER::Page_Size::Value::Size4K),
];

/// The caller's room for the records of a table's level-2 pages
/// ([`crate::ItsStorage`]).
pub(crate) type PageRoom = &'static mut [Option<(usize, DmaRegion)>];

/// How a table's memory is laid out and described to the ITS.
#[derive(Debug)]
pub(crate) struct ItsTable {
    /// Which GITS_BASERn describes it.
    pub baser_index: usize,
    /// Bytes per entry (GITS_BASERn.Entry_Size + 1).
    pub entry_size: usize,
    /// Page size negotiated with the ITS.
    pub page_size: usize,
    /// Two-level: `memory` holds level-1 entries.
    pub indirect: bool,
    /// Memory attributes in force.
    pub attributes: MemoryAttributes,
    /// Number of IDs the table can hold.
    pub capacity: u64,
    /// The flat table, or the level-1 table.
    memory: DmaRegion,
    /// Level-2 pages by level-1 index (two-level tables only).
    level2: Map<usize, DmaRegion>,
    /// The ITS's quirks, for where level-2 pages may lie.
    quirks: Quirks,
}

/// What a table should be able to hold, and how large a flat one may be.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableRequest {
    /// The table type (GITS_BASERn.Type).
    pub table_type: TableType,
    /// ID bits the table must cover.
    pub id_bits: u32,
    /// Largest flat table in bytes before a two-level one is used.
    pub max_flat_bytes: usize,
    /// Memory attributes to try first.
    pub attributes: MemoryAttributes,
    /// The ITS's quirks (where its memory may lie).
    pub quirks: Quirks,
}

/// GITS_BASERn index and entry size of the first table of `table_type`.
pub(crate) fn find_baser<F: GitsFrame>(frame: &F, table_type: TableType) -> Option<(usize, usize)> {
    (0..BASER_COUNT).find_map(|index| {
        let baser = read_baser(frame, index);
        let fixed = baser.read_only();
        (fixed.read_as_enum(GITS_BASER_RO::Type) == Some(table_type))
            .then(|| (index, fixed.read(GITS_BASER_RO::Entry_Size) as usize + 1))
    })
}

fn read_baser<F: GitsFrame>(frame: &F, index: usize) -> Baser {
    frame.read(GITS_BASER[index])
}

/// A GITS_BASERn value.
type Baser = LocalRegisterCopy<u64, GITS_BASER::Register>;

impl ItsTable {
    /// Negotiates page size and indirection for the table in
    /// GITS_BASER<`baser_index`> and allocates it zeroed;
    /// [`ItsTable::program`] then describes it to the ITS. The caller
    /// guarantees the ITS is disabled and quiescent.
    pub(crate) fn create<F: GitsFrame, M: DmaMemory>(
        frame: &F,
        memory: &mut M,
        baser_index: usize,
        entry_size: usize,
        request: TableRequest,
    ) -> Result<Self, ItsError> {
        let page_size = negotiate_page_size(frame, baser_index);
        let wanted_ids = 1u64 << request.id_bits.min(32);
        let flat_bytes = wanted_ids.saturating_mul(entry_size as u64);
        let largest_flat = (MAX_PAGES * page_size) as u64;
        let mut max_flat = (request.max_flat_bytes as u64).min(largest_flat);
        let ids_per_page = (page_size / entry_size) as u64;

        let mut indirect = false;
        if flat_bytes > max_flat && request.table_type == TableType::Devices {
            indirect = try_indirect(frame, baser_index, page_size);
            if !indirect {
                // Flat tables only (Indirect is RAZ/WI): as large as
                // GITS_BASERn.Size can describe, rather than the caller's
                // preference, so that higher DeviceIDs (PCI requester IDs
                // of buses beyond the first few) still map.
                max_flat = largest_flat;
            }
        }
        let (capacity, bytes) = if indirect {
            let level1_entries = wanted_ids.div_ceil(ids_per_page);
            let max_level1 = (MAX_PAGES * page_size / LEVEL1_ENTRY_SIZE) as u64;
            let level1_entries = level1_entries.min(max_level1);
            (
                (level1_entries * ids_per_page).min(wanted_ids),
                (level1_entries as usize * LEVEL1_ENTRY_SIZE).next_multiple_of(page_size),
            )
        } else {
            let bytes = flat_bytes.min(max_flat).max(page_size as u64) as usize;
            let bytes = bytes.next_multiple_of(page_size);
            (((bytes / entry_size) as u64).min(wanted_ids), bytes)
        };
        let table_request = DmaRequest::for_gic(bytes, page_size, request.quirks);
        let region = memory::allocate(memory, table_request)?;
        if page_size != 65536 && region.phys() >> 48 != 0 {
            // Only 64 KiB pages can encode address bits [51:48].
            let phys = region.phys();
            memory.deallocate(region, table_request);
            return Err(ItsError::UnencodableAddress { phys });
        }
        Ok(Self {
            baser_index,
            entry_size,
            page_size,
            indirect,
            attributes: request.attributes,
            capacity,
            memory: region,
            level2: Map::empty(Bookkeeping::TablePages),
            quirks: request.quirks,
        })
    }

    /// The GITS_BASERn value describing this table with `attributes`.
    pub(crate) fn baser(&self, attributes: MemoryAttributes) -> Baser {
        let phys = self.memory.phys();
        let address_field = if self.page_size == 65536 {
            // With 64 KiB pages, bits [15:12] of the field hold PA[51:48].
            ((phys & 0x0000_ffff_ffff_0000) | ((phys >> 48) & 0xf) << 12) >> 12
        } else {
            (phys & 0x0000_ffff_ffff_f000) >> 12
        };
        let page_size_field = page_size_field(self.page_size);
        let pages = (self.memory.size() / self.page_size) as u64;
        Baser::new(
            (GITS_BASER::Valid::SET
                + GITS_BASER::Indirect.val(self.indirect as u64)
                + FieldValue::from(page_size_field)
                + GITS_BASER::Size.val(pages - 1)
                + GITS_BASER::Physical_Address.val(address_field)
                + GITS_BASER::Shareability.val(attributes.shareability())
                + GITS_BASER::InnerCache.val(attributes.inner_cache()))
            .value,
        )
    }

    /// Writes GITS_BASERn and reads it back (see [`base_register`]): the
    /// table stays with `wanted` attributes if the ITS takes them and they
    /// are coherent, else it becomes non-cacheable and is cleaned. The
    /// caller guarantees the ITS is disabled and quiescent.
    pub(crate) fn program<F: GitsFrame, M: DmaMemory>(
        &mut self,
        frame: &F,
        memory: &M,
        wanted: MemoryAttributes,
    ) -> Result<(), ItsError> {
        let register = GITS_BASER[self.baser_index];
        self.attributes = base_register::program(frame, register, wanted, |a| self.baser(a))?;
        self.clean_all(memory);
        Ok(())
    }

    /// Writes GITS_BASERn with Valid = 0: the ITS may no longer use the
    /// table memory, and KVM's emulated ITS drops every device (or
    /// collection) it still holds. The caller guarantees the ITS is disabled
    /// and quiescent.
    pub(crate) fn invalidate<F: GitsFrame>(&self, frame: &F) {
        let mut value = self.baser(self.attributes);
        value.modify(GITS_BASER::Valid::CLEAR);
        frame.write(GITS_BASER[self.baser_index], value);
    }

    fn clean_all<M: DmaMemory>(&self, memory: &M) {
        self.memory
            .clean(memory, self.attributes, 0, self.memory.size());
        for page in self.level2.values() {
            page.clean(memory, self.attributes, 0, page.size());
        }
    }

    /// Makes sure the entry for `device_id`, below [`ItsTable::capacity`]
    /// (the caller checks), has memory: for a two-level table, allocates and
    /// links its level-2 page if it has none. The ITS may be enabled (5.2.1:
    /// a level-1 entry may be made valid at any time).
    pub(crate) fn ensure_entry<M: DmaMemory>(
        &mut self,
        memory: &mut M,
        device_id: DeviceId,
    ) -> Result<(), ItsError> {
        let id = device_id.0;
        if !self.indirect {
            return Ok(());
        }
        let index = self.level1_index(id);
        if self.level2.contains(index) {
            return Ok(());
        }
        // Room for the page's record before the page: nothing to undo.
        self.level2.reserve_one()?;
        let page = memory::allocate(memory, self.page_request())?;
        page.clean(memory, self.attributes, 0, self.page_size);
        self.memory
            .write_u64(index * LEVEL1_ENTRY_SIZE, LEVEL1_VALID | page.phys());
        self.memory.clean(
            memory,
            self.attributes,
            index * LEVEL1_ENTRY_SIZE,
            LEVEL1_ENTRY_SIZE,
        );
        // Reserved above: this cannot fail.
        let _ = self.level2.insert(index, page);
        Ok(())
    }

    /// Number of level-2 pages allocated.
    pub(crate) fn level2_pages(&self) -> usize {
        self.level2.len()
    }

    /// Moves the records of level-2 pages into the caller's room
    /// ([`crate::ItsStorage`]).
    ///
    /// # Errors
    /// [`ItsError::StorageFull`] if `room` cannot hold those recorded.
    pub(crate) fn move_pages_to(&mut self, room: PageRoom) -> Result<(), ItsError> {
        self.level2.move_to(room)
    }

    fn level1_index(&self, id: u32) -> usize {
        id as usize / (self.page_size / self.entry_size)
    }

    /// Gives every level-2 page back and clears the level-1 entries that
    /// pointed at them, leaving the rest of the table as it is. The caller
    /// guarantees the ITS is disabled and quiescent.
    pub(crate) fn release_level2<M: DmaMemory>(&mut self, memory: &mut M) {
        let request = self.page_request();
        let (table, attributes) = (&mut self.memory, self.attributes);
        self.level2.drain(|index, page| {
            let offset = index * LEVEL1_ENTRY_SIZE;
            table.write_u64(offset, 0);
            table.clean(memory, attributes, offset, LEVEL1_ENTRY_SIZE);
            memory.deallocate(page, request);
        });
    }

    /// What a level-2 page is allocated with: a page, aligned to its size.
    fn page_request(&self) -> DmaRequest {
        DmaRequest::for_gic(self.page_size, self.page_size, self.quirks)
    }

    /// Zeroes every entry and gives level-2 pages back, so that the table
    /// refers to no memory but its own. The caller guarantees the ITS is
    /// disabled and quiescent (it holds no mapping from this table).
    pub(crate) fn clear<M: DmaMemory>(&mut self, memory: &mut M) {
        let size = self.memory.size();
        self.memory.fill(0, size, 0);
        self.memory.clean(memory, self.attributes, 0, size);
        self.free_level2(memory);
    }

    /// Gives every level-2 page back, leaving the level-1 entries as they
    /// are (the caller clears them, or gives the table back too).
    fn free_level2<M: DmaMemory>(&mut self, memory: &mut M) {
        let request = self.page_request();
        self.level2
            .drain(|_, page| memory.deallocate(page, request));
    }

    /// Bytes of memory the table uses now (level 1 or flat, plus level 2).
    pub(crate) fn bytes(&self) -> usize {
        self.memory.size() + self.level2.len() * self.page_size
    }

    /// Gives all memory back.
    pub(crate) fn release<M: DmaMemory>(mut self, memory: &mut M) {
        self.give_back(memory);
    }

    /// Gives all memory back, leaving a table of no bytes (for a driver
    /// being dropped). The caller guarantees the ITS is disabled and
    /// quiescent and GITS_BASERn invalid. Nothing is zeroed: memory comes
    /// back from its provider zeroed anyway.
    pub(crate) fn give_back<M: DmaMemory>(&mut self, memory: &mut M) {
        self.free_level2(memory);
        let request = DmaRequest::for_gic(self.memory.size(), self.page_size, self.quirks);
        memory.deallocate(self.memory.take(), request);
    }
}

/// Writes Valid = 0 to GITS_CBASER and to every implemented GITS_BASERn,
/// so that nothing a previous owner programmed is the ITS's any more (and
/// KVM drops whatever devices and collections it held). The caller
/// guarantees the ITS is disabled and quiescent.
pub(crate) fn invalidate_all<F: GitsFrame>(frame: &F) {
    frame.modify(GITS_CBASER, GITS_CBASER::Valid::CLEAR);
    for register in GITS_BASER {
        let mut baser = frame.read(register);
        if baser.read_only().read_as_enum(GITS_BASER_RO::Type) != Some(TableType::Unimplemented) {
            baser.modify(GITS_BASER::Valid::CLEAR);
            frame.write(register, baser);
        }
    }
}

/// Finds the largest page size the ITS accepts for GITS_BASERn: write it,
/// read it back (an unsupported size reads back as something else). An ITS
/// with one page size may make Page_Size read-only: then the write of that
/// size is the one that reads back as written.
fn negotiate_page_size<F: GitsFrame>(frame: &F, index: usize) -> usize {
    let register = GITS_BASER[index];
    let accepted = PAGE_SIZES.iter().find(|(_, field)| {
        frame.write_fields(register, (*field).into());
        read_baser(frame, index).read_as_enum(GITS_BASER::Page_Size) == Some(*field)
    });
    // Page_Size reads 3 (reserved) whatever is written: no size is known
    // to work, and programming the table will fail on the read-back.
    accepted.map_or(4096, |(size, _)| *size)
}

/// GITS_BASERn.Page_Size's encoding of `page_size`.
fn page_size_field(page_size: usize) -> GITS_BASER::Page_Size::Value {
    PAGE_SIZES
        .iter()
        .find(|(size, _)| *size == page_size)
        .map_or(GITS_BASER::Page_Size::Value::Size4K, |(_, field)| *field)
}

/// Whether GITS_BASERn.Indirect sticks (it is RAZ/WI when unsupported),
/// asked with the page size already negotiated.
fn try_indirect<F: GitsFrame>(frame: &F, index: usize, page_size: usize) -> bool {
    frame.write_fields(
        GITS_BASER[index],
        GITS_BASER::Indirect::SET + FieldValue::from(page_size_field(page_size)),
    );
    read_baser(frame, index).is_set(GITS_BASER::Indirect)
}
