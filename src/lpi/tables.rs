//! The LPI property table (one configuration byte per LPI, shared by every
//! redistributor) and the pending tables (one bit per INTID, one table per
//! redistributor), Arm IHI 0069 5.1.1, 5.1.2.
//!
//! Two layouts:
//! - **allocated** ([`crate::LpiDomain::new`]): the property table has a
//!   region of its own, and each redistributor's pending table is allocated
//!   when the redistributor is first initialised, so any number of CPUs,
//!   numbered in any way, costs one pending table each;
//! - **fixed** ([`crate::LpiDomain::with_region`]): everything lies in one
//!   region that every kernel booted on the machine agrees on, the pending
//!   table of processor number `p` at an offset computed from the region
//!   alone, so that two kernels (a boot kernel and the hibernated kernel it
//!   resumes) compute the same addresses. Tables a previous owner left in
//!   use inside that region may be adopted where they are.

use crate::error::{Bookkeeping, ItsError};
use crate::id::{IntId, ProcessorNumber};
use crate::memory::{self, DmaMemory, DmaRegion, DmaRequest, MemoryAttributes};
use crate::quirks::Quirks;
use crate::registers::{GICR_PENDBASER, GICR_PROPBASER};
use crate::store::Map;
use tock_registers::LocalRegisterCopy;

/// The first LPI INTID, as a number ([`IntId::FIRST_LPI`]).
const FIRST_LPI: u32 = IntId::FIRST_LPI.0;

mod adopt;

pub(crate) use adopt::Refusal;

/// Default LPI priority (lower is more urgent): a middle value.
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// Pending tables are 64 KiB aligned (GICR_PENDBASER bits \[15:0\] are RES0).
pub(crate) const PENDING_ALIGN: usize = 65536;
/// The property table is 4 KiB aligned (GICR_PROPBASER bits \[11:0\]).
pub(crate) const PROPERTY_ALIGN: usize = 4096;

/// An LPI configuration byte (5.1.1): priority in bits \[7:2\], bit 1 RES1,
/// bit 0 Enable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpiConfig(u8);

impl LpiConfig {
    /// Priority `priority` (bits \[1:0\] ignored), enabled or not.
    pub const fn new(priority: u8, enabled: bool) -> Self {
        Self((priority & 0xfc) | 0b10 | enabled as u8)
    }

    /// A disabled LPI at the default priority: what every LPI nobody maps
    /// is configured as.
    pub const DISABLED: Self = Self::new(DEFAULT_PRIORITY, false);

    /// The byte stored in the property table.
    pub const fn byte(self) -> u8 {
        self.0
    }

    /// The priority.
    pub const fn priority(self) -> u8 {
        self.0 & 0xfc
    }

    /// Whether the LPI is enabled.
    pub const fn enabled(self) -> bool {
        self.0 & 1 != 0
    }
}

/// A GICR_PROPBASER value.
pub(crate) type Propbaser = LocalRegisterCopy<u64, GICR_PROPBASER::Register>;
/// A GICR_PENDBASER value.
pub(crate) type Pendbaser = LocalRegisterCopy<u64, GICR_PENDBASER::Register>;

/// Where a table lies: one of the domain's regions, and an offset in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    region: Region,
    offset: usize,
}

/// One of the domain's regions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Region {
    /// The first: the property table's, and in a fixed layout every
    /// table's.
    First,
    /// The pending table allocated for a processor (allocated layout).
    Own(ProcessorNumber),
}

/// How the tables are laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The property table in region 0, each pending table allocated.
    Allocated,
    /// Everything in region 0, pending tables by processor number.
    Fixed,
}

/// The property table and the pending tables.
#[derive(Debug)]
pub(crate) struct LpiTables {
    layout: Layout,
    id_bits: u32,
    /// The first region, which holds the property table (at first: an
    /// adopted one may lie elsewhere in it).
    first: DmaRegion,
    /// The pending tables allocated one by one (allocated layout).
    own: Map<ProcessorNumber, DmaRegion>,
    property: Place,
    /// Whether the property table at `property` has been written since it
    /// became the domain's.
    property_ready: bool,
    pending: Map<ProcessorNumber, Place>,
    /// Where the GIC can reach memory.
    quirks: Quirks,
    /// How CPU writes reach the GIC; the most conservative any
    /// redistributor needed.
    pub(crate) attributes: MemoryAttributes,
    /// What the base registers are asked for first (the caller's choice,
    /// non-cacheable where a quirk forced it).
    pub(crate) requested: MemoryAttributes,
    /// The attributes GICR_PROPBASER holds on the redistributors that run
    /// on the property table in place, once one does: every redistributor
    /// is asked for the same, so that their PROPBASERs agree (IHI 0069
    /// 12.11.33: those GICR_TYPER.CommonLPIAff groups must hold one value).
    pub(crate) property_attributes: Option<MemoryAttributes>,
}

impl LpiTables {
    /// Bytes of the property table for `id_bits`: one byte per LPI.
    pub(super) const fn property_bytes(id_bits: u32) -> usize {
        (1usize << id_bits) - FIRST_LPI as usize
    }

    /// Bytes of one pending table: one bit per INTID, SGIs/PPIs/SPIs included.
    pub(super) const fn pending_bytes(id_bits: u32) -> usize {
        (1usize << id_bits) / 8
    }

    /// Bytes of a fixed-layout region holding the property table and the
    /// pending tables of processor numbers below `redistributors`, each
    /// 64 KiB aligned.
    pub(super) const fn region_bytes(id_bits: u32, redistributors: usize) -> usize {
        Self::property_bytes(id_bits).next_multiple_of(PENDING_ALIGN)
            + redistributors * Self::pending_bytes(id_bits).next_multiple_of(PENDING_ALIGN)
    }

    /// Tables with the property table at the start of `property` (4 KiB
    /// aligned, at least [`LpiTables::property_bytes`]) and every pending
    /// table allocated when its redistributor is initialised.
    #[cfg(test)]
    pub(super) fn allocated(
        property: DmaRegion,
        id_bits: u32,
        attributes: MemoryAttributes,
        quirks: Quirks,
    ) -> Self {
        Self::new(Layout::Allocated, property, id_bits, attributes, quirks)
    }

    /// Tables laid out in `region` (64 KiB aligned): the property table
    /// first, then one pending table per processor number.
    #[cfg(test)]
    pub(super) fn fixed(
        region: DmaRegion,
        id_bits: u32,
        attributes: MemoryAttributes,
        quirks: Quirks,
    ) -> Self {
        Self::new(Layout::Fixed, region, id_bits, attributes, quirks)
    }

    /// Tables laid out in `region` as `layout` says: the property table
    /// at its start, and the pending tables each allocated
    /// ([`Layout::Allocated`]) or at their slots after it
    /// ([`Layout::Fixed`]).
    pub(crate) fn new(
        layout: Layout,
        region: DmaRegion,
        id_bits: u32,
        attributes: MemoryAttributes,
        quirks: Quirks,
    ) -> Self {
        Self {
            layout,
            id_bits,
            first: region,
            own: Map::empty(Bookkeeping::Redistributors),
            property: Place {
                region: Region::First,
                offset: 0,
            },
            property_ready: false,
            pending: Map::empty(Bookkeeping::Redistributors),
            quirks,
            attributes,
            requested: attributes,
            property_attributes: None,
        }
    }

    /// The interrupt ID bits the tables cover.
    pub(super) fn id_bits(&self) -> u32 {
        self.id_bits
    }

    /// Pending tables a fixed layout has room for (processor numbers
    /// below); `None` for the allocated layout, which has no limit.
    pub(super) fn fixed_slots(&self) -> Option<usize> {
        (self.layout == Layout::Fixed).then(|| {
            let first = Self::property_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN);
            let per_table = Self::pending_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN);
            self.first.size().saturating_sub(first) / per_table
        })
    }

    /// Bytes of memory the tables take: every region.
    pub(super) fn bytes(&self) -> usize {
        self.first.size() + self.own.values().map(DmaRegion::size).sum::<usize>()
    }

    /// Every region's physical range, for reachability checks.
    pub(super) fn ranges(&self) -> impl Iterator<Item = (u64, usize)> + '_ {
        core::iter::once(&self.first)
            .chain(self.own.values())
            .map(|region| (region.phys(), region.size()))
    }

    fn region(&self, region: Region) -> Option<&DmaRegion> {
        match region {
            Region::First => Some(&self.first),
            Region::Own(processor_number) => self.own.get(processor_number),
        }
    }

    fn region_mut(&mut self, region: Region) -> Option<&mut DmaRegion> {
        match region {
            Region::First => Some(&mut self.first),
            Region::Own(processor_number) => self.own.get_mut(processor_number),
        }
    }

    /// Makes room to record `processor_number`'s pending table (and the
    /// region of one allocated for it), so that placing, keeping or
    /// adopting it cannot fail for want of room.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`].
    pub(super) fn reserve_pending(
        &mut self,
        processor_number: ProcessorNumber,
    ) -> Result<(), ItsError> {
        self.pending.reserve_for(processor_number)?;
        if self.layout == Layout::Allocated {
            self.own.reserve_for(processor_number)?;
        }
        Ok(())
    }

    /// Moves the records of pending tables into the caller's room
    /// ([`crate::DomainStorage`]).
    pub(super) fn move_to(
        &mut self,
        pending: &'static mut [Option<(ProcessorNumber, Place)>],
        own: &'static mut [Option<(ProcessorNumber, DmaRegion)>],
    ) -> Result<(), ItsError> {
        self.pending.move_to(pending)?;
        self.own.move_to(own)
    }

    fn phys(&self, place: Place) -> u64 {
        self.region(place.region)
            .map_or(0, |region| region.phys() + place.offset as u64)
    }

    /// Where the fixed layout puts processor number `p`'s pending table,
    /// if the region has room for it.
    fn fixed_slot(&self, processor_number: ProcessorNumber) -> Option<Place> {
        let slot = usize::from(processor_number.0);
        (slot < self.fixed_slots()?).then(|| Place {
            region: Region::First,
            offset: Self::property_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN)
                + slot * Self::pending_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN),
        })
    }

    /// The pending table `processor_number` has, or would have in a fixed
    /// layout.
    fn pending_place(&self, processor_number: ProcessorNumber) -> Option<Place> {
        self.pending
            .get(processor_number)
            .copied()
            .or_else(|| self.fixed_slot(processor_number))
    }

    /// Whether `len` bytes at `place` cross another table of the domain's
    /// (the property table, or a pending table other than
    /// `processor_number`'s). Fixed layout only, where every table lies in
    /// the one region.
    fn overlaps(&self, place: Place, len: usize, processor_number: ProcessorNumber) -> bool {
        let crosses = |other: Place, other_len: usize| {
            overlap((place.offset, len), (other.offset, other_len))
        };
        let pending_len = Self::pending_bytes(self.id_bits);
        crosses(self.property, Self::property_bytes(self.id_bits))
            || self
                .pending
                .iter()
                .any(|(owner, &other)| owner != processor_number && crosses(other, pending_len))
    }

    /// Gives `processor_number` a pending table: the one it has, its slot
    /// in a fixed layout, or a newly allocated one, and returns its
    /// physical address. The table is not zeroed here
    /// ([`LpiTables::clear_pending`]).
    pub(super) fn place_pending<M: DmaMemory>(
        &mut self,
        memory: &mut M,
        processor_number: ProcessorNumber,
    ) -> Result<u64, ItsError> {
        if let Some(&place) = self.pending.get(processor_number) {
            return Ok(self.phys(place));
        }
        let bytes = Self::pending_bytes(self.id_bits);
        let place = match self.layout {
            Layout::Fixed => {
                let no_table = ItsError::NoPendingTable {
                    processor_number,
                    tables: self.fixed_slots().unwrap_or(0),
                };
                let place = self.fixed_slot(processor_number).ok_or(no_table)?;
                if self.overlaps(place, bytes, processor_number) {
                    // An adopted table lies where this one would go.
                    return Err(no_table);
                }
                place
            }
            Layout::Allocated => {
                let request = DmaRequest::for_gic(bytes, PENDING_ALIGN, self.quirks);
                // Room for both records first: nothing to undo after.
                self.reserve_pending(processor_number)?;
                let region = memory::allocate(memory, request)?;
                // Reserved: this cannot fail.
                let _ = self.own.insert(processor_number, region);
                Place {
                    region: Region::Own(processor_number),
                    offset: 0,
                }
            }
        };
        self.pending.insert(processor_number, place)?;
        Ok(self.phys(place))
    }

    /// Writes the configuration byte of `intid` and cleans it when needed.
    /// The redistributors see it after an INV, INVALL or GICR_INVLPIR.
    pub(super) fn set_config<M: DmaMemory>(&mut self, memory: &M, intid: IntId, config: LpiConfig) {
        let offset = self.property.offset + (intid.0 - FIRST_LPI) as usize;
        let attributes = self.attributes;
        let Some(region) = self.region_mut(self.property.region) else {
            return;
        };
        if region.write_u8(offset, config.byte()) {
            region.clean(memory, attributes, offset, 1);
        }
    }

    /// Writes many configuration bytes, as [`LpiTables::set_config`] does
    /// one: plain stores into the property table, each cleaned only when
    /// the GIC needs it (the redistributors read the table after an INV,
    /// INVALL or GICR_INVLPIR, ordered by the barrier before the register
    /// write that sends it).
    pub(super) fn set_configs<M: DmaMemory>(
        &mut self,
        memory: &M,
        configs: impl FnOnce(&mut dyn FnMut(IntId, LpiConfig)),
    ) {
        if self.attributes.needs_cache_clean() {
            configs(&mut |intid, config| self.set_config(memory, intid, config));
            return;
        }
        let Some(region) = self.region(self.property.region) else {
            return;
        };
        let bytes = Self::property_bytes(self.id_bits)
            .min(region.size().saturating_sub(self.property.offset));
        let table = region.virt().as_ptr().wrapping_add(self.property.offset);
        configs(&mut |intid, config| {
            let offset = intid.0.wrapping_sub(FIRST_LPI) as usize;
            if offset < bytes {
                // SAFETY: `offset` is inside the property table, which is
                // inside its region (`bytes` is clamped to what the region
                // holds past the table's start), and `DmaRegion::new`'s
                // caller promised the region is ours.
                unsafe { table.add(offset).write(config.byte()) };
            }
        });
    }

    /// Writes `count` configuration bytes from `first`, all `config`.
    pub(super) fn fill_configs<M: DmaMemory>(
        &mut self,
        memory: &M,
        first: IntId,
        count: u32,
        config: LpiConfig,
    ) {
        let offset = self.property.offset + (first.0 - FIRST_LPI) as usize;
        let attributes = self.attributes;
        if let Some(region) = self.region_mut(self.property.region) {
            region.fill(offset, count as usize, config.byte());
            region.clean(memory, attributes, offset, count as usize);
        }
    }

    /// The configuration byte of `intid`, once the property table in place
    /// has been written.
    pub(super) fn config(&self, intid: IntId) -> Option<LpiConfig> {
        let index = intid.0.checked_sub(FIRST_LPI)? as usize;
        if !self.property_ready || index >= Self::property_bytes(self.id_bits) {
            return None;
        }
        self.region(self.property.region)?
            .read_u8(self.property.offset + index)
            .map(LpiConfig)
    }

    /// Whether the property table in place has been written since it
    /// became the domain's ([`LpiTables::write_property`]).
    pub(super) fn property_ready(&self) -> bool {
        self.property_ready
    }

    /// Where the property table in place lies, if it has been written
    /// ([`LpiTables::write_property`]): what a property table that
    /// replaces it copies the allocated LPIs' bytes from.
    pub(super) fn written_property(&self) -> Option<Place> {
        self.property_ready.then_some(self.property)
    }

    /// Writes the whole property table in place, which makes it the
    /// domain's: every LPI disabled at the default priority, except those
    /// `kept` names, whose bytes are copied from the written table at
    /// `from` that this one replaces (in the same region; the two may
    /// overlap, so the copy runs in the direction that reads every byte
    /// before it is overwritten, as a memmove does).
    pub(super) fn write_property<M: DmaMemory>(
        &mut self,
        memory: &M,
        from: Option<Place>,
        kept: impl Fn(IntId) -> bool,
    ) {
        let count = Self::property_bytes(self.id_bits);
        let to = self.property;
        self.property_ready = true;
        let Some(from) = from.filter(|from| *from != to) else {
            self.fill_configs(memory, IntId(FIRST_LPI), count as u32, LpiConfig::DISABLED);
            return;
        };
        let attributes = self.attributes;
        let Some(region) = self.region_mut(to.region) else {
            return;
        };
        let copy = |index: usize, region: &mut DmaRegion| {
            let intid = IntId(FIRST_LPI + index as u32);
            let byte = if kept(intid) {
                region.read_u8(from.offset + index)
            } else {
                None
            };
            region.write_u8(
                to.offset + index,
                byte.unwrap_or(LpiConfig::DISABLED.byte()),
            );
        };
        if to.offset <= from.offset {
            (0..count).for_each(|index| copy(index, region));
        } else {
            (0..count).rev().for_each(|index| copy(index, region));
        }
        region.clean(memory, attributes, to.offset, count);
    }

    /// Zeroes the pending table of `processor_number` (placed first), so
    /// that GICR_PENDBASER.PTZ = 1 is true.
    pub(super) fn clear_pending<M: DmaMemory>(
        &mut self,
        memory: &M,
        processor_number: ProcessorNumber,
    ) {
        let Some(place) = self.pending.get(processor_number).copied() else {
            return;
        };
        let bytes = Self::pending_bytes(self.id_bits);
        let attributes = self.attributes;
        if let Some(region) = self.region_mut(place.region) {
            region.fill(place.offset, bytes, 0);
            region.clean(memory, attributes, place.offset, bytes);
        }
    }

    /// Cleans every table to the Point of Coherency when the GIC does not
    /// snoop.
    pub(super) fn clean_all<M: DmaMemory>(&self, memory: &M) {
        let property = Self::property_bytes(self.id_bits);
        let pending = Self::pending_bytes(self.id_bits);
        let places = core::iter::once((self.property, property))
            .chain(self.pending.values().map(|place| (*place, pending)));
        for (place, bytes) in places {
            if let Some(region) = self.region(place.region) {
                region.clean(memory, self.attributes, place.offset, bytes);
            }
        }
    }

    /// The GICR_PROPBASER value describing the property table.
    pub(super) fn propbaser(&self, attributes: MemoryAttributes) -> Propbaser {
        Propbaser::new(
            (GICR_PROPBASER::IDbits.val(u64::from(self.id_bits) - 1)
                + GICR_PROPBASER::Physical_Address.val(self.phys(self.property) >> 12)
                + GICR_PROPBASER::Shareability.val(attributes.shareability())
                + GICR_PROPBASER::InnerCache.val(attributes.inner_cache()))
            .value,
        )
    }

    /// The GICR_PENDBASER value describing the pending table at `phys`
    /// (PTZ set: the caller zeroed it).
    pub(super) fn pendbaser(phys: u64, attributes: MemoryAttributes) -> Pendbaser {
        Pendbaser::new(
            (GICR_PENDBASER::Physical_Address.val(phys >> 16)
                + GICR_PENDBASER::PTZ::SET
                + GICR_PENDBASER::Shareability.val(attributes.shareability())
                + GICR_PENDBASER::InnerCache.val(attributes.inner_cache()))
            .value,
        )
    }

    /// Whether found PROPBASER/PENDBASER describe exactly the domain's
    /// tables for `processor_number` (addresses and ID bits; attributes
    /// may differ): its pending table, or its slot in a fixed layout.
    pub(super) fn is_ours(
        &self,
        propbaser: Propbaser,
        pendbaser: Pendbaser,
        processor_number: ProcessorNumber,
    ) -> bool {
        let Some(pending) = self.pending_place(processor_number) else {
            return false;
        };
        propbaser.read(GICR_PROPBASER::Physical_Address) == self.phys(self.property) >> 12
            && propbaser.read(GICR_PROPBASER::IDbits) + 1 == u64::from(self.id_bits)
            && pendbaser.read(GICR_PENDBASER::Physical_Address) == self.phys(pending) >> 16
    }

    /// Marks `processor_number`'s pending table (its slot) as in use, for a
    /// redistributor found running on exactly the domain's tables.
    pub(super) fn keep_pending(&mut self, processor_number: ProcessorNumber) {
        if let Some(place) = self.pending_place(processor_number) {
            // Reserved by the caller ([`LpiTables::reserve_pending`]).
            let _ = self.pending.insert(processor_number, place);
        }
    }
}

/// Whether two byte ranges (offset, length) of one region overlap.
fn overlap(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

#[cfg(test)]
pub(super) mod tests;
