//! The LPI tables' unit tests: sizes, placement, configuration bytes and
//! the PROPBASER/PENDBASER values.

use super::*;
use crate::memory::tests::Recorder;

#[test]
fn config_byte_layout() {
    // 5.1.1: priority in [7:2], bit 1 RES1, bit 0 Enable.
    assert_eq!(LpiConfig::new(0xa0, true).byte(), 0xa3);
    assert_eq!(LpiConfig::new(0xa3, false).byte(), 0xa2);
    assert_eq!(LpiConfig::new(0xff, true).priority(), 0xfc);
    assert_eq!(LpiConfig::DISABLED.byte(), 0xa2);
    assert!(LpiConfig::new(0xa0, true).enabled());
    assert!(!LpiConfig::DISABLED.enabled());
}

#[test]
fn table_sizes() {
    assert_eq!(LpiTables::property_bytes(16), 65536 - 8192);
    assert_eq!(LpiTables::pending_bytes(16), 8192);
    // Property table rounded to 64 KiB, then 64 KiB per pending table.
    assert_eq!(LpiTables::region_bytes(16, 2), 3 * 65536);
}

/// The physical address the tests give their buffers.
pub(super) const PHYS: u64 = 0x10_0000;

/// A fixed layout for 14 ID bits over `buffer` (64 KiB aligned in the
/// GIC's view: its physical address is made up).
pub(super) fn fixed(buffer: &mut [u8]) -> LpiTables {
    let virt = core::ptr::NonNull::new(buffer.as_mut_ptr()).unwrap();
    // SAFETY: `buffer`, which outlives the tables in each test and is
    // used through them only.
    let region = unsafe { DmaRegion::new(virt, PHYS, buffer.len()) };
    LpiTables::fixed(
        region,
        14,
        MemoryAttributes::InnerShareableWriteBack,
        Quirks::empty(),
    )
}

pub(super) fn prop(address: u64, id_bits: u64) -> Propbaser {
    Propbaser::new(
        (GICR_PROPBASER::Physical_Address.val(address >> 12)
            + GICR_PROPBASER::IDbits.val(id_bits - 1))
        .value,
    )
}

pub(super) fn pend(address: u64) -> Pendbaser {
    Pendbaser::new(GICR_PENDBASER::Physical_Address.val(address >> 16).value)
}

pub(super) const P0: ProcessorNumber = ProcessorNumber(0);
pub(super) const P1: ProcessorNumber = ProcessorNumber(1);

#[test]
fn a_fixed_layout_has_a_slot_per_processor_number_that_fits() {
    // 14 bits: 8 KiB of properties and 2 KiB per pending table, each
    // 64 KiB aligned: room for two pending tables in 192 KiB.
    let mut buffer = std::vec![0u8; 3 * 65536];
    let mut tables = fixed(&mut buffer);
    assert_eq!(tables.fixed_slots(), Some(2));
    assert_eq!(
        tables.place_pending(&mut Recorder::default(), P0),
        Ok(PHYS + 65536)
    );
    assert_eq!(
        tables.place_pending(&mut Recorder::default(), P1),
        Ok(PHYS + 2 * 65536)
    );
    assert_eq!(
        tables.place_pending(&mut Recorder::default(), ProcessorNumber(2)),
        Err(ItsError::NoPendingTable {
            processor_number: ProcessorNumber(2),
            tables: 2
        })
    );
}

#[test]
fn found_base_registers_are_ours_only_if_address_id_bits_and_pending_table_agree() {
    let mut buffer = std::vec![0u8; 3 * 65536];
    let tables = fixed(&mut buffer);
    let pending_1 = PHYS + 2 * 65536;
    assert!(tables.is_ours(prop(PHYS, 14), pend(pending_1), P1));
    assert!(!tables.is_ours(prop(PHYS + 65536, 14), pend(pending_1), P1));
    assert!(!tables.is_ours(prop(PHYS, 16), pend(pending_1), P1));
    assert!(!tables.is_ours(prop(PHYS, 14), pend(pending_1), P0));
    // No slot: never ours.
    assert!(!tables.is_ours(prop(PHYS, 14), pend(pending_1), ProcessorNumber(7)));
}

#[test]
fn a_kept_pending_table_is_the_slot_it_runs_on() {
    let mut buffer = std::vec![0u8; 3 * 65536];
    let mut tables = fixed(&mut buffer);
    tables.keep_pending(P1);
    assert_eq!(
        tables.pending.get(P1),
        Some(&Place {
            region: Region::First,
            offset: 2 * 65536
        })
    );
    tables.keep_pending(ProcessorNumber(7));
    assert_eq!(tables.pending.len(), 1, "no slot, nothing kept");
}

#[test]
fn set_configs_writes_nothing_beyond_the_property_table() {
    // A region of exactly the 8 KiB property table, inside a larger
    // buffer: INTID 2^14 would be the byte after it.
    let mut buffer = std::vec![0u8; 8192 + 64];
    let mut tables = fixed(&mut buffer[..8192]);
    tables.set_configs(&Recorder::default(), |set| {
        set(IntId(16383), LpiConfig::new(0xa0, true));
        set(IntId(16384), LpiConfig::new(0xa0, true));
    });
    assert_eq!(buffer[8191], 0xa3);
    assert_eq!(buffer[8192], 0, "nothing past the table");
}

#[test]
fn configs_are_read_only_once_the_property_table_is_written() {
    let mut buffer = std::vec![0u8; 3 * 65536];
    let mut tables = fixed(&mut buffer);
    let memory = Recorder::default();
    assert_eq!(tables.config(IntId(8192)), None, "not written yet");
    assert_eq!(tables.written_property(), None);
    tables.write_property(&memory, None, |_| true);
    assert_eq!(tables.config(IntId(8192)), Some(LpiConfig::DISABLED));
    assert_eq!(tables.config(IntId(16383)), Some(LpiConfig::DISABLED));
    assert_eq!(tables.config(IntId(16384)), None, "beyond 14 bits");
    assert_eq!(tables.written_property(), Some(tables.property));
}

#[test]
fn a_property_table_that_moves_keeps_the_kept_bytes_whichever_way_it_overlaps() {
    let mut buffer = std::vec![0u8; 3 * 65536];
    let mut tables = fixed(&mut buffer);
    let memory = Recorder::default();
    tables.write_property(&memory, None, |_| false);
    let (low, high) = (IntId(8193), IntId(8192 + 5000));
    let (one, two) = (LpiConfig::new(0x40, true), LpiConfig::new(0x80, true));
    tables.set_config(&memory, low, one);
    tables.set_config(&memory, high, two);
    tables.set_config(&memory, IntId(8195), one);
    let kept = |intid: IntId| intid == low || intid == high;
    // Up by 4 KiB, across itself: copied from the top down.
    for offset in [4096, 0] {
        let from = tables.written_property();
        tables.property = Place {
            region: Region::First,
            offset,
        };
        tables.write_property(&memory, from, kept);
        assert_eq!(tables.config(low), Some(one), "to {offset}");
        assert_eq!(tables.config(high), Some(two), "to {offset}");
        assert_eq!(
            tables.config(IntId(8195)),
            Some(LpiConfig::DISABLED),
            "not kept, to {offset}"
        );
    }
}

#[test]
fn byte_ranges_overlap_only_where_they_share_a_byte() {
    assert!(overlap((0, 10), (9, 1)));
    assert!(!overlap((0, 10), (10, 1)));
    assert!(!overlap((10, 1), (0, 10)));
    assert!(overlap((5, 1), (0, 10)));
}
