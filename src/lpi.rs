//! LPIs: the INTID allocator, the LPI configuration (property) table shared
//! by every redistributor, the pending table of each redistributor, and the
//! redistributor registers that point at them (Arm IHI 0069 5.1).
//!
//! GICR_PROPBASER and GICR_PENDBASER may only be written while
//! GICR_CTLR.EnableLPIs = 0, and on some GICs EnableLPIs cannot be cleared
//! once set (GICR_CTLR.CES = 0). [`LpiTables::place`] therefore lays the
//! tables out deterministically inside one region, so that two kernels given
//! the same region (a boot kernel and the hibernated kernel it resumes) compute
//! the same addresses, and a redistributor whose EnableLPIs is stuck can be
//! adopted when its registers already point at exactly those tables.

use crate::error::{ItsError, WaitFor};
use crate::id::{IntId, ProcessorNumber};
use crate::memory::{DmaMemory, DmaRegion, MemoryAttributes};
use crate::registers::{
    GICR_CTLR, GICR_PENDBASER, GICR_PROPBASER, GICR_TYPER, Gicr, GicrFrame, ReadWrite, Register,
};
use alloc::vec;
use alloc::vec::Vec;
use tock_registers::{LocalRegisterCopy, RegisterLongName};

/// The first LPI INTID.
pub const FIRST_LPI: u32 = 8192;
/// Default LPI priority (lower is more urgent): a middle value.
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// Pending tables are 64 KiB aligned (GICR_PENDBASER bits \[15:0\] are RES0).
const PENDING_ALIGN: usize = 65536;

/// An LPI configuration byte (5.1.1): priority in bits \[7:2\], bit 1 RES1,
/// bit 0 Enable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LpiConfig(u8);

impl LpiConfig {
    /// Priority `priority` (bits \[1:0\] ignored), enabled or not.
    pub const fn new(priority: u8, enabled: bool) -> Self {
        Self((priority & 0xfc) | 0b10 | enabled as u8)
    }

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

/// Hands out LPI INTIDs from `FIRST_LPI` to `2^id_bits - 1`, never one twice.
#[derive(Debug)]
pub struct LpiAllocator {
    /// One bit per LPI, set when allocated.
    used: Vec<u64>,
    count: u32,
    /// Where the next search starts, so sequential allocation is O(1).
    hint: u32,
}

impl LpiAllocator {
    /// An allocator for every LPI below `2^id_bits`.
    pub fn new(id_bits: u32) -> Self {
        let count = (1u32 << id_bits) - FIRST_LPI;
        Self {
            used: vec![0; count.div_ceil(64) as usize],
            count,
            hint: 0,
        }
    }

    /// Number of LPIs managed.
    pub fn capacity(&self) -> u32 {
        self.count
    }

    fn index(&self, intid: IntId) -> Result<u32, ItsError> {
        intid
            .0
            .checked_sub(FIRST_LPI)
            .filter(|index| *index < self.count)
            .ok_or(ItsError::LpiOutOfRange { intid })
    }

    fn is_used(&self, index: u32) -> bool {
        self.used[index as usize / 64] & (1 << (index % 64)) != 0
    }

    fn set(&mut self, index: u32, used: bool) {
        let word = &mut self.used[index as usize / 64];
        if used {
            *word |= 1 << (index % 64);
        } else {
            *word &= !(1 << (index % 64));
        }
    }

    /// Whether `intid` is allocated.
    pub fn is_allocated(&self, intid: IntId) -> bool {
        self.index(intid).is_ok_and(|index| self.is_used(index))
    }

    /// Allocates `count` consecutive LPIs and returns the first INTID.
    pub fn allocate(&mut self, count: u32) -> Result<IntId, ItsError> {
        let exhausted = ItsError::LpiSpaceExhausted { requested: count };
        if count == 0 || count > self.count {
            return Err(exhausted);
        }
        // Next fit from the hint, wrapping once.
        let mut start = if self.hint + count <= self.count {
            self.hint
        } else {
            0
        };
        let mut wrapped = false;
        loop {
            match (start..start + count).find(|index| self.is_used(*index)) {
                None => break,
                Some(used) => start = used + 1,
            }
            if start + count > self.count {
                if wrapped {
                    return Err(exhausted);
                }
                wrapped = true;
                start = 0;
            }
        }
        for index in start..start + count {
            self.set(index, true);
        }
        self.hint = (start + count) % self.count;
        Ok(IntId(FIRST_LPI + start))
    }

    /// Marks a specific LPI allocated (for MAPI, where INTID = EventID).
    pub fn reserve(&mut self, intid: IntId) -> Result<(), ItsError> {
        let index = self.index(intid)?;
        if self.is_used(index) {
            return Err(ItsError::LpiInUse { intid });
        }
        self.set(index, true);
        Ok(())
    }

    /// Frees one LPI. Freeing a free LPI is a no-op.
    pub fn free(&mut self, intid: IntId) {
        if let Ok(index) = self.index(intid) {
            self.set(index, false);
        }
    }

    /// Number of LPIs allocated.
    pub fn allocated(&self) -> u32 {
        self.used.iter().map(|word| word.count_ones()).sum()
    }
}

/// A redistributor this driver has set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedistributorInfo {
    /// GICR_TYPER.Processor_Number.
    pub processor_number: ProcessorNumber,
    /// Physical address of its RD_base frame.
    pub rd_base: u64,
    /// Whether its tables were adopted as found (EnableLPIs could not be
    /// cleared) rather than programmed.
    pub adopted: bool,
}

/// The LPI property table and the pending tables, placed in one region.
#[derive(Debug)]
pub struct LpiTables {
    region: DmaRegion,
    id_bits: u32,
    max_redistributors: usize,
    attributes: MemoryAttributes,
}

impl LpiTables {
    /// Bytes of the property table for `id_bits`: one byte per LPI.
    pub const fn property_bytes(id_bits: u32) -> usize {
        (1usize << id_bits) - FIRST_LPI as usize
    }

    /// Bytes of one pending table: one bit per INTID, SGIs/PPIs/SPIs included.
    pub const fn pending_bytes(id_bits: u32) -> usize {
        (1usize << id_bits) / 8
    }

    fn pending_offset(&self, slot: usize) -> usize {
        Self::property_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN)
            + slot * Self::pending_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN)
    }

    /// Bytes of a region holding the property table and `redistributors`
    /// pending tables.
    pub const fn region_bytes(id_bits: u32, redistributors: usize) -> usize {
        Self::property_bytes(id_bits).next_multiple_of(PENDING_ALIGN)
            + redistributors * Self::pending_bytes(id_bits).next_multiple_of(PENDING_ALIGN)
    }

    /// Allocates a region for `redistributors` redistributors.
    pub fn allocate<M: DmaMemory>(
        memory: &mut M,
        id_bits: u32,
        redistributors: usize,
    ) -> Result<Self, ItsError> {
        let size = Self::region_bytes(id_bits, redistributors);
        let region = memory
            .allocate_zeroed(size, PENDING_ALIGN)
            .ok_or(ItsError::OutOfMemory { size })?;
        Ok(Self::place(region, id_bits))
    }

    /// Lays the tables out in `region` (64 KiB aligned): the property table
    /// first, then one pending table per redistributor, each 64 KiB aligned,
    /// indexed by processor number. The layout depends only on the region and
    /// `id_bits`, so every kernel that gets the same region agrees on it.
    pub fn place(region: DmaRegion, id_bits: u32) -> Self {
        let per_pending = Self::pending_bytes(id_bits).next_multiple_of(PENDING_ALIGN);
        let first = Self::property_bytes(id_bits).next_multiple_of(PENDING_ALIGN);
        let max_redistributors = region.size().saturating_sub(first) / per_pending;
        Self {
            region,
            id_bits,
            max_redistributors,
            attributes: MemoryAttributes::InnerShareableWriteBack,
        }
    }

    /// The interrupt ID bits the tables cover.
    pub fn id_bits(&self) -> u32 {
        self.id_bits
    }

    /// Total bytes of the region.
    pub fn bytes(&self) -> usize {
        self.region.size()
    }

    /// Writes the configuration byte of `intid` and cleans it when needed.
    /// The redistributors see it after an INV, INVALL or GICR_INVLPIR.
    pub fn set_config<M: DmaMemory>(&mut self, memory: &M, intid: IntId, config: LpiConfig) {
        let offset = (intid.0 - FIRST_LPI) as usize;
        if self.region.write_u8(offset, config.byte()) {
            self.region.clean(memory, self.attributes, offset, 1);
        }
    }

    /// The configuration byte of `intid`.
    pub fn config(&self, intid: IntId) -> Option<LpiConfig> {
        let offset = intid.0.checked_sub(FIRST_LPI)? as usize;
        self.region.read_u8(offset).map(LpiConfig)
    }

    /// Sets every LPI's configuration to disabled at the default priority.
    pub fn reset_configs<M: DmaMemory>(&mut self, memory: &M) {
        let bytes = Self::property_bytes(self.id_bits);
        self.region
            .fill(0, bytes, LpiConfig::new(DEFAULT_PRIORITY, false).byte());
        self.region.clean(memory, self.attributes, 0, bytes);
    }

    fn propbaser(&self, attributes: MemoryAttributes) -> u64 {
        (GICR_PROPBASER::IDbits.val(u64::from(self.id_bits) - 1)
            + GICR_PROPBASER::Physical_Address.val(self.region.phys() >> 12)
            + GICR_PROPBASER::Shareability.val(attributes.shareability())
            + GICR_PROPBASER::InnerCache.val(attributes.inner_cache()))
        .value
    }

    fn pendbaser(&self, slot: usize, attributes: MemoryAttributes) -> u64 {
        let phys = self.region.phys() + self.pending_offset(slot) as u64;
        (GICR_PENDBASER::Physical_Address.val(phys >> 16)
            + GICR_PENDBASER::PTZ::SET
            + GICR_PENDBASER::Shareability.val(attributes.shareability())
            + GICR_PENDBASER::InnerCache.val(attributes.inner_cache()))
        .value
    }

    /// Points one redistributor at these tables and enables its LPIs.
    ///
    /// A redistributor found with EnableLPIs = 1 is first turned off (and
    /// waited for: GICR_CTLR.RWP) when it allows that; when EnableLPIs sticks,
    /// its tables are adopted if they are exactly these tables, and refused
    /// with [`ItsError::LpiTablesLocked`] otherwise. PROPBASER and PENDBASER
    /// are never written while EnableLPIs = 1.
    pub fn enable_redistributor<G: GicrFrame, M: DmaMemory>(
        &mut self,
        frame: &G,
        memory: &M,
        rd_base: u64,
        poll_budget: u32,
    ) -> Result<RedistributorInfo, ItsError> {
        let typer = frame.read(GICR_TYPER);
        let processor_number = ProcessorNumber(typer.read(GICR_TYPER::Processor_Number) as u16);
        if !typer.is_set(GICR_TYPER::PLPIS) {
            return Err(ItsError::RedistributorWithoutLpis { processor_number });
        }
        let slot = usize::from(processor_number.0);
        if slot >= self.max_redistributors {
            return Err(ItsError::UnknownRedistributor { processor_number });
        }
        let info = |adopted| RedistributorInfo {
            processor_number,
            rd_base,
            adopted,
        };

        if lpis_enabled(frame) && !disable_lpis(frame, poll_budget)? {
            // EnableLPIs is stuck: adopt the tables only if they are ours.
            let propbaser = frame.read(GICR_PROPBASER).get();
            let pendbaser = frame.read(GICR_PENDBASER).get();
            if self.is_ours(propbaser, pendbaser, slot) {
                // Keep the attributes the tables were programmed with, so
                // that configuration writes are cleaned when they must be.
                if (propbaser >> 10) & 0b11 == 0 || (pendbaser >> 10) & 0b11 == 0 {
                    self.attributes = MemoryAttributes::NonCacheable;
                }
                return Ok(info(true));
            }
            return Err(ItsError::LpiTablesLocked {
                processor_number,
                propbaser,
                pendbaser,
            });
        }

        // Zero the pending table (so PTZ is true) and program both tables.
        let offset = self.pending_offset(slot);
        let pending = Self::pending_bytes(self.id_bits);
        self.region.fill(offset, pending, 0);
        let property = program_with_fallback(frame, GICR_PROPBASER, |a| self.propbaser(a));
        let pending = program_with_fallback(frame, GICR_PENDBASER, |a| self.pendbaser(slot, a));
        // One region, one cleaning policy: clean if either table is not
        // snooped.
        self.attributes = if property.needs_cache_clean() || pending.needs_cache_clean() {
            MemoryAttributes::NonCacheable
        } else {
            property
        };
        let size = self.region.size();
        self.region.clean(memory, self.attributes, 0, size);

        frame.modify(GICR_CTLR, GICR_CTLR::EnableLPIs::SET);
        wait_rwp(frame, poll_budget)?;
        Ok(info(false))
    }

    /// Whether found PROPBASER/PENDBASER describe exactly this layout
    /// (addresses and ID bits; attributes may differ).
    fn is_ours(&self, propbaser: u64, pendbaser: u64, slot: usize) -> bool {
        let prop = LocalRegisterCopy::<u64, GICR_PROPBASER::Register>::new(propbaser);
        let pend = LocalRegisterCopy::<u64, GICR_PENDBASER::Register>::new(pendbaser);
        let pending_phys = self.region.phys() + self.pending_offset(slot) as u64;
        prop.read(GICR_PROPBASER::Physical_Address) == self.region.phys() >> 12
            && prop.read(GICR_PROPBASER::IDbits) + 1 == u64::from(self.id_bits)
            && pend.read(GICR_PENDBASER::Physical_Address) == pending_phys >> 16
    }

    /// Turns a redistributor's LPIs off, if it allows that, so that a next
    /// kernel can point it at its own tables. Returns whether EnableLPIs is
    /// now 0.
    pub fn disable_redistributor<G: GicrFrame>(
        frame: &G,
        poll_budget: u32,
    ) -> Result<bool, ItsError> {
        if !lpis_enabled(frame) {
            return Ok(true);
        }
        disable_lpis(frame, poll_budget)
    }

    /// Gives the region back.
    pub fn into_region(self) -> DmaRegion {
        self.region
    }
}

fn lpis_enabled<G: GicrFrame>(frame: &G) -> bool {
    frame.read(GICR_CTLR).is_set(GICR_CTLR::EnableLPIs)
}

/// Clears EnableLPIs and waits for RWP; `false` when the bit stuck.
fn disable_lpis<G: GicrFrame>(frame: &G, poll_budget: u32) -> Result<bool, ItsError> {
    frame.modify(GICR_CTLR, GICR_CTLR::EnableLPIs::CLEAR);
    wait_rwp(frame, poll_budget)?;
    Ok(!lpis_enabled(frame))
}

fn wait_rwp<G: GicrFrame>(frame: &G, poll_budget: u32) -> Result<(), ItsError> {
    for _ in 0..poll_budget {
        if !frame.read(GICR_CTLR).is_set(GICR_CTLR::RWP) {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(ItsError::Timeout {
        waiting_for: WaitFor::RedistributorWrite,
        polls: poll_budget,
    })
}

/// Writes a base register with shareable, cacheable attributes; if the
/// Shareability field reads back 0, rewrites it non-cacheable (the CPU then
/// cleans what it writes). Returns the attributes in force.
fn program_with_fallback<G: GicrFrame, F: RegisterLongName>(
    frame: &G,
    register: Register<Gicr, u64, F, ReadWrite>,
    value: impl Fn(MemoryAttributes) -> u64,
) -> MemoryAttributes {
    let wanted = MemoryAttributes::InnerShareableWriteBack;
    frame.write(register, LocalRegisterCopy::new(value(wanted)));
    // Shareability is bits [11:10] in both PROPBASER and PENDBASER.
    if (frame.read(register).get() >> 10) & 0b11 == 0 {
        frame.write(
            register,
            LocalRegisterCopy::new(value(MemoryAttributes::NonCacheable)),
        );
        MemoryAttributes::NonCacheable
    } else {
        wanted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_byte_layout() {
        // 5.1.1: priority in [7:2], bit 1 RES1, bit 0 Enable.
        assert_eq!(LpiConfig::new(0xa0, true).byte(), 0xa3);
        assert_eq!(LpiConfig::new(0xa3, false).byte(), 0xa2);
        assert_eq!(LpiConfig::new(0xff, true).priority(), 0xfc);
    }

    #[test]
    fn allocates_every_lpi_once_then_reports_exhaustion() {
        let mut lpis = LpiAllocator::new(14);
        assert_eq!(lpis.capacity(), 8192);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..8192 {
            let intid = lpis.allocate(1).unwrap();
            assert!((FIRST_LPI..16384).contains(&intid.0));
            assert!(seen.insert(intid), "LPI {intid} handed out twice");
        }
        assert_eq!(
            lpis.allocate(1),
            Err(ItsError::LpiSpaceExhausted { requested: 1 })
        );
        lpis.free(IntId(9000));
        assert_eq!(lpis.allocate(1), Ok(IntId(9000)));
    }

    #[test]
    fn ranges_are_contiguous_and_skip_used_lpis() {
        let mut lpis = LpiAllocator::new(14);
        lpis.reserve(IntId(FIRST_LPI + 2)).unwrap();
        let first = lpis.allocate(4).unwrap();
        assert!(first.0 > FIRST_LPI + 2);
        for intid in first.0..first.0 + 4 {
            assert!(lpis.is_allocated(IntId(intid)));
        }
        assert_eq!(
            lpis.reserve(first),
            Err(ItsError::LpiInUse { intid: first })
        );
        assert_eq!(
            lpis.reserve(IntId(100)),
            Err(ItsError::LpiOutOfRange { intid: IntId(100) })
        );
        assert_eq!(lpis.allocated(), 5);
        // Wraps around to find room before the hint once the end is full.
        let mut small = LpiAllocator::new(14);
        let a = small.allocate(8000).unwrap();
        small.allocate(192).unwrap();
        for intid in a.0..a.0 + 50 {
            small.free(IntId(intid));
        }
        assert_eq!(small.allocate(50), Ok(a));
        assert_eq!(
            small.allocate(200),
            Err(ItsError::LpiSpaceExhausted { requested: 200 })
        );
    }

    #[test]
    fn table_layout_is_deterministic() {
        assert_eq!(LpiTables::property_bytes(16), 65536 - 8192);
        assert_eq!(LpiTables::pending_bytes(16), 8192);
        // Property table rounded to 64 KiB, then 64 KiB per pending table.
        assert_eq!(LpiTables::region_bytes(16, 2), 3 * 65536);
    }
}
