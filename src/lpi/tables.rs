//! The LPI property table (one configuration byte per LPI, shared by every
//! redistributor) and the pending tables (one bit per INTID, one table per
//! redistributor), laid out in one region (Arm IHI 0069 5.1.1, 5.1.2).
//!
//! The layout depends only on the region and the ID bits, so that two
//! kernels given the same region (a boot kernel and the hibernated kernel
//! it resumes) compute the same addresses, and a redistributor whose
//! EnableLPIs cannot be cleared can be adopted when its registers already
//! point at exactly these tables.

use super::FIRST_LPI;
use crate::id::IntId;
use crate::memory::{DmaMemory, DmaRegion, MemoryAttributes};
use crate::registers::{GICR_PENDBASER, GICR_PROPBASER};
use tock_registers::LocalRegisterCopy;

/// Default LPI priority (lower is more urgent): a middle value.
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// Pending tables are 64 KiB aligned (GICR_PENDBASER bits \[15:0\] are RES0).
pub(crate) const PENDING_ALIGN: usize = 65536;

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

/// The property table and the pending tables, placed in one region.
#[derive(Debug)]
pub(crate) struct LpiTables {
    region: DmaRegion,
    id_bits: u32,
    max_redistributors: usize,
    /// How CPU writes reach the GIC; the most conservative any
    /// redistributor needed.
    pub(crate) attributes: MemoryAttributes,
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

    /// Bytes of a region holding the property table and `redistributors`
    /// pending tables, each 64 KiB aligned.
    pub const fn region_bytes(id_bits: u32, redistributors: usize) -> usize {
        Self::property_bytes(id_bits).next_multiple_of(PENDING_ALIGN)
            + redistributors * Self::pending_bytes(id_bits).next_multiple_of(PENDING_ALIGN)
    }

    /// Lays the tables out in `region` (64 KiB aligned): the property table
    /// first, then one pending table per redistributor, indexed by
    /// processor number.
    pub fn place(region: DmaRegion, id_bits: u32, attributes: MemoryAttributes) -> Self {
        let per_pending = Self::pending_bytes(id_bits).next_multiple_of(PENDING_ALIGN);
        let first = Self::property_bytes(id_bits).next_multiple_of(PENDING_ALIGN);
        let max_redistributors = region.size().saturating_sub(first) / per_pending;
        Self {
            region,
            id_bits,
            max_redistributors,
            attributes,
        }
    }

    /// The interrupt ID bits the tables cover.
    pub fn id_bits(&self) -> u32 {
        self.id_bits
    }

    /// How many redistributors have a pending table.
    pub fn max_redistributors(&self) -> usize {
        self.max_redistributors
    }

    /// The region's memory.
    pub fn region(&self) -> &DmaRegion {
        &self.region
    }

    fn pending_offset(&self, slot: usize) -> usize {
        Self::property_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN)
            + slot * Self::pending_bytes(self.id_bits).next_multiple_of(PENDING_ALIGN)
    }

    /// Writes the configuration byte of `intid` and cleans it when needed.
    /// The redistributors see it after an INV, INVALL or GICR_INVLPIR.
    pub fn set_config<M: DmaMemory>(&mut self, memory: &M, intid: IntId, config: LpiConfig) {
        let offset = (intid.0 - FIRST_LPI) as usize;
        if self.region.write_u8(offset, config.byte()) {
            self.region.clean(memory, self.attributes, offset, 1);
        }
    }

    /// Writes many configuration bytes, as [`LpiTables::set_config`] does
    /// one: plain stores into the property table, each cleaned only when
    /// the GIC needs it (the redistributors read the table after an INV,
    /// INVALL or GICR_INVLPIR, ordered by the barrier before the register
    /// write that sends it).
    pub fn set_configs<M: DmaMemory>(
        &mut self,
        memory: &M,
        configs: impl FnOnce(&mut dyn FnMut(IntId, LpiConfig)),
    ) {
        if self.attributes.needs_cache_clean() {
            configs(&mut |intid, config| self.set_config(memory, intid, config));
            return;
        }
        let bytes = Self::property_bytes(self.id_bits).min(self.region.size());
        let table = self.region.virt().as_ptr();
        configs(&mut |intid, config| {
            let offset = intid.0.wrapping_sub(FIRST_LPI) as usize;
            if offset < bytes {
                // SAFETY: `offset` is inside the property table, which is
                // inside the region (`bytes` is clamped to its size), and
                // `DmaRegion::new`'s caller promised the region is ours.
                unsafe { table.add(offset).write(config.byte()) };
            }
        });
    }

    /// Writes `count` configuration bytes from `first`, all `config`.
    pub fn fill_configs<M: DmaMemory>(
        &mut self,
        memory: &M,
        first: IntId,
        count: u32,
        config: LpiConfig,
    ) {
        let offset = (first.0 - FIRST_LPI) as usize;
        self.region.fill(offset, count as usize, config.byte());
        self.region
            .clean(memory, self.attributes, offset, count as usize);
    }

    /// The configuration byte of `intid`.
    pub fn config(&self, intid: IntId) -> Option<LpiConfig> {
        let offset = intid.0.checked_sub(FIRST_LPI)? as usize;
        self.region.read_u8(offset).map(LpiConfig)
    }

    /// Zeroes the pending table of redistributor `slot`, so that
    /// GICR_PENDBASER.PTZ = 1 is true.
    pub fn clear_pending<M: DmaMemory>(&mut self, memory: &M, slot: usize) {
        let offset = self.pending_offset(slot);
        let bytes = Self::pending_bytes(self.id_bits);
        self.region.fill(offset, bytes, 0);
        self.region.clean(memory, self.attributes, offset, bytes);
    }

    /// Cleans the whole region when the GIC does not snoop.
    pub fn clean_all<M: DmaMemory>(&self, memory: &M) {
        self.region
            .clean(memory, self.attributes, 0, self.region.size());
    }

    /// The GICR_PROPBASER value describing the property table.
    pub fn propbaser(&self, attributes: MemoryAttributes) -> Propbaser {
        Propbaser::new(
            (GICR_PROPBASER::IDbits.val(u64::from(self.id_bits) - 1)
                + GICR_PROPBASER::Physical_Address.val(self.region.phys() >> 12)
                + GICR_PROPBASER::Shareability.val(attributes.shareability())
                + GICR_PROPBASER::InnerCache.val(attributes.inner_cache()))
            .value,
        )
    }

    /// The GICR_PENDBASER value describing the pending table of `slot`
    /// (PTZ set: the caller zeroed it).
    pub fn pendbaser(&self, slot: usize, attributes: MemoryAttributes) -> Pendbaser {
        let phys = self.region.phys() + self.pending_offset(slot) as u64;
        Pendbaser::new(
            (GICR_PENDBASER::Physical_Address.val(phys >> 16)
                + GICR_PENDBASER::PTZ::SET
                + GICR_PENDBASER::Shareability.val(attributes.shareability())
                + GICR_PENDBASER::InnerCache.val(attributes.inner_cache()))
            .value,
        )
    }

    /// Whether found PROPBASER/PENDBASER describe exactly this layout for
    /// `slot` (addresses and ID bits; attributes may differ).
    pub fn is_ours(&self, propbaser: Propbaser, pendbaser: Pendbaser, slot: usize) -> bool {
        let pending_phys = self.region.phys() + self.pending_offset(slot) as u64;
        propbaser.read(GICR_PROPBASER::Physical_Address) == self.region.phys() >> 12
            && propbaser.read(GICR_PROPBASER::IDbits) + 1 == u64::from(self.id_bits)
            && pendbaser.read(GICR_PENDBASER::Physical_Address) == pending_phys >> 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::tests::Recorder;

    #[test]
    fn config_byte_layout() {
        // 5.1.1: priority in [7:2], bit 1 RES1, bit 0 Enable.
        assert_eq!(LpiConfig::new(0xa0, true).byte(), 0xa3);
        assert_eq!(LpiConfig::new(0xa3, false).byte(), 0xa2);
        assert_eq!(LpiConfig::new(0xff, true).priority(), 0xfc);
        assert_eq!(LpiConfig::DISABLED.byte(), 0xa2);
    }

    #[test]
    fn table_layout_is_deterministic() {
        assert_eq!(LpiTables::property_bytes(16), 65536 - 8192);
        assert_eq!(LpiTables::pending_bytes(16), 8192);
        // Property table rounded to 64 KiB, then 64 KiB per pending table.
        assert_eq!(LpiTables::region_bytes(16, 2), 3 * 65536);
    }

    #[test]
    fn a_config_says_whether_its_lpi_is_enabled() {
        assert!(LpiConfig::new(0xa0, true).enabled());
        assert!(!LpiConfig::new(0xa0, false).enabled());
        assert!(!LpiConfig::DISABLED.enabled());
    }

    /// Tables for 14 ID bits over `buffer` (64 KiB aligned in the GIC's
    /// view: its physical address is made up).
    fn tables_in(buffer: &mut [u8]) -> LpiTables {
        let virt = core::ptr::NonNull::new(buffer.as_mut_ptr()).unwrap();
        // SAFETY: `buffer`, which outlives the tables in each test and is
        // used through them only.
        let region = unsafe { DmaRegion::new(virt, 0x10_0000, buffer.len()) };
        LpiTables::place(region, 14, MemoryAttributes::InnerShareableWriteBack)
    }

    #[test]
    fn each_redistributor_has_its_own_pending_table_and_no_more_fit() {
        // 14 bits: 8 KiB of properties and 2 KiB per pending table, each
        // 64 KiB aligned: room for two pending tables in 192 KiB.
        let mut buffer = std::vec![0u8; 3 * 65536];
        let tables = tables_in(&mut buffer);
        assert_eq!(tables.max_redistributors(), 2);
        assert_eq!(tables.pending_offset(0), 65536);
        assert_eq!(tables.pending_offset(1), 2 * 65536);
    }

    #[test]
    fn found_base_registers_are_ours_only_if_address_id_bits_and_pending_table_agree() {
        let mut buffer = std::vec![0u8; 3 * 65536];
        let tables = tables_in(&mut buffer);
        let prop = |address: u64, id_bits: u64| {
            Propbaser::new(
                (GICR_PROPBASER::Physical_Address.val(address >> 12)
                    + GICR_PROPBASER::IDbits.val(id_bits - 1))
                .value,
            )
        };
        let pend = |address: u64| {
            Pendbaser::new(GICR_PENDBASER::Physical_Address.val(address >> 16).value)
        };
        let (base, pending_1) = (0x10_0000, 0x10_0000 + 2 * 65536);
        assert!(tables.is_ours(prop(base, 14), pend(pending_1), 1));
        assert!(!tables.is_ours(prop(base + 65536, 14), pend(pending_1), 1));
        assert!(!tables.is_ours(prop(base, 16), pend(pending_1), 1));
        assert!(!tables.is_ours(prop(base, 14), pend(pending_1), 0));
    }

    #[test]
    fn set_configs_writes_nothing_beyond_the_property_table() {
        // A region of exactly the 8 KiB property table, inside a larger
        // buffer: INTID 2^14 would be the byte after it.
        let mut buffer = std::vec![0u8; 8192 + 64];
        let mut tables = tables_in(&mut buffer[..8192]);
        tables.set_configs(&Recorder::default(), |set| {
            set(IntId(16383), LpiConfig::new(0xa0, true));
            set(IntId(16384), LpiConfig::new(0xa0, true));
        });
        assert_eq!(buffer[8191], 0xa3);
        assert_eq!(buffer[8192], 0, "nothing past the table");
    }
}
