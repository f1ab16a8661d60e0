//! Every field of every descriptor covers the bits the spec gives it:
//! checked against masks written out by hand from Arm IHI 0069 (chapter 12's
//! register descriptions) and, for GICR_PWRR, the GIC-600 TRM, not computed
//! from the descriptors. QEMU's ITS checks the fields it implements on every
//! QEMU run; these vectors are what checks the others (power, GICv4, RWP,
//! Quiescent, the table attributes), which the driver and the model would
//! otherwise read the same way, right or wrong.

use super::*;
use tock_registers::RegisterLongName;
use tock_registers::fields::Field;

/// The bits a 64-bit field covers.
fn bits64<R: RegisterLongName>(field: Field<u64, R>) -> u64 {
    field.mask << field.shift
}

/// The bits a 32-bit field covers.
fn bits32<R: RegisterLongName>(field: Field<u32, R>) -> u32 {
    field.mask << field.shift
}

#[test]
fn gits_fields_cover_their_spec_bits() {
    // GITS_CTLR: Enabled [0], ImDe [1], Quiescent [31].
    assert_eq!(bits32(GITS_CTLR::Enabled), 0x0000_0001);
    assert_eq!(bits32(GITS_CTLR::ImDe), 0x0000_0002);
    assert_eq!(bits32(GITS_CTLR_RO::Quiescent), 0x8000_0000);
    // GITS_IIDR.
    assert_eq!(bits32(GITS_IIDR::Implementer), 0x0000_0fff);
    assert_eq!(bits32(GITS_IIDR::Revision), 0x0000_f000);
    assert_eq!(bits32(GITS_IIDR::Variant), 0x000f_0000);
    assert_eq!(bits32(GITS_IIDR::ProductID), 0xff00_0000);
    // GITS_TYPER.
    assert_eq!(bits64(GITS_TYPER::Physical), 1 << 0);
    assert_eq!(bits64(GITS_TYPER::Virtual), 1 << 1);
    assert_eq!(bits64(GITS_TYPER::ITT_entry_size), 0xf0);
    assert_eq!(bits64(GITS_TYPER::ID_bits), 0x1f00);
    assert_eq!(bits64(GITS_TYPER::Devbits), 0x3_e000);
    assert_eq!(bits64(GITS_TYPER::SEIS), 1 << 18);
    assert_eq!(bits64(GITS_TYPER::PTA), 1 << 19);
    assert_eq!(bits64(GITS_TYPER::HCC), 0xff00_0000);
    assert_eq!(bits64(GITS_TYPER::CIDbits), 0xf_0000_0000);
    assert_eq!(bits64(GITS_TYPER::CIL), 1 << 36);
    // GITS_CBASER.
    assert_eq!(bits64(GITS_CBASER::Size), 0xff);
    assert_eq!(bits64(GITS_CBASER::Shareability), 0xc00);
    assert_eq!(bits64(GITS_CBASER::Physical_Address), 0x000f_ffff_ffff_f000);
    assert_eq!(bits64(GITS_CBASER::OuterCache), 0x00e0_0000_0000_0000);
    assert_eq!(bits64(GITS_CBASER::InnerCache), 0x3800_0000_0000_0000);
    assert_eq!(bits64(GITS_CBASER::Valid), 0x8000_0000_0000_0000);
    // GITS_CWRITER and GITS_CREADR: Offset [19:5].
    assert_eq!(bits64(GITS_CWRITER::Retry), 1);
    assert_eq!(bits64(GITS_CWRITER::Offset), 0xf_ffe0);
    assert_eq!(bits64(GITS_CREADR::Stalled), 1);
    assert_eq!(bits64(GITS_CREADR::Offset), 0xf_ffe0);
    // GITS_BASERn.
    assert_eq!(bits64(GITS_BASER::Size), 0xff);
    assert_eq!(bits64(GITS_BASER::Page_Size), 0x300);
    assert_eq!(bits64(GITS_BASER::Shareability), 0xc00);
    assert_eq!(bits64(GITS_BASER::Physical_Address), 0x0000_ffff_ffff_f000);
    assert_eq!(bits64(GITS_BASER_RO::Entry_Size), 0x001f_0000_0000_0000);
    assert_eq!(bits64(GITS_BASER::OuterCache), 0x00e0_0000_0000_0000);
    assert_eq!(bits64(GITS_BASER_RO::Type), 0x0700_0000_0000_0000);
    assert_eq!(bits64(GITS_BASER::InnerCache), 0x3800_0000_0000_0000);
    assert_eq!(bits64(GITS_BASER::Indirect), 0x4000_0000_0000_0000);
    assert_eq!(bits64(GITS_BASER::Valid), 0x8000_0000_0000_0000);
    // The named values: Page_Size 4K/16K/64K = 0/1/2, Type Devices 1,
    // vPEs 2, Collections 4.
    assert_eq!(GITS_BASER::Page_Size::Size16K.value, 1 << 8);
    assert_eq!(GITS_BASER::Page_Size::Size64K.value, 2 << 8);
    assert_eq!(GITS_BASER_RO::Type::Devices.value, 1 << 56);
    assert_eq!(GITS_BASER_RO::Type::VPEs.value, 2 << 56);
    assert_eq!(GITS_BASER_RO::Type::Collections.value, 4 << 56);
}

#[test]
fn gicr_fields_cover_their_spec_bits() {
    // GICR_CTLR: EnableLPIs [0], CES [1], RWP [3], UWP [31].
    assert_eq!(bits32(GICR_CTLR::EnableLPIs), 1 << 0);
    assert_eq!(bits32(GICR_CTLR_RO::CES), 1 << 1);
    assert_eq!(bits32(GICR_CTLR_RO::RWP), 1 << 3);
    assert_eq!(bits32(GICR_CTLR_RO::UWP), 1 << 31);
    // GICR_WAKER: ProcessorSleep [1], ChildrenAsleep [2].
    assert_eq!(bits32(GICR_WAKER::ProcessorSleep), 1 << 1);
    assert_eq!(bits32(GICR_WAKER::ChildrenAsleep), 1 << 2);
    // GICR_PWRR (GIC-600 TRM): RDPD [0], RDAG [1], RDGPD [2], RDGPO [3].
    assert_eq!(bits32(GICR_PWRR::RDPD), 1 << 0);
    assert_eq!(bits32(GICR_PWRR::RDAG), 1 << 1);
    assert_eq!(bits32(GICR_PWRR_RO::RDGPD), 1 << 2);
    assert_eq!(bits32(GICR_PWRR_RO::RDGPO), 1 << 3);
    // GICR_SYNCR: Busy [0].
    assert_eq!(bits32(GICR_SYNCR::Busy), 1);
    // GICR_TYPER.
    assert_eq!(bits64(GICR_TYPER::PLPIS), 1 << 0);
    assert_eq!(bits64(GICR_TYPER::VLPIS), 1 << 1);
    assert_eq!(bits64(GICR_TYPER::Dirty), 1 << 2);
    assert_eq!(bits64(GICR_TYPER::DirectLPI), 1 << 3);
    assert_eq!(bits64(GICR_TYPER::Last), 1 << 4);
    assert_eq!(bits64(GICR_TYPER::RVPEID), 1 << 7);
    assert_eq!(bits64(GICR_TYPER::Processor_Number), 0x00ff_ff00);
    assert_eq!(bits64(GICR_TYPER::Affinity_Value), 0xffff_ffff_0000_0000);
    // GICR_PROPBASER.
    assert_eq!(bits64(GICR_PROPBASER::IDbits), 0x1f);
    assert_eq!(bits64(GICR_PROPBASER::InnerCache), 0x380);
    assert_eq!(bits64(GICR_PROPBASER::Shareability), 0xc00);
    assert_eq!(
        bits64(GICR_PROPBASER::Physical_Address),
        0x000f_ffff_ffff_f000
    );
    assert_eq!(bits64(GICR_PROPBASER::OuterCache), 0x0700_0000_0000_0000);
    // GICR_PENDBASER.
    assert_eq!(bits64(GICR_PENDBASER::InnerCache), 0x380);
    assert_eq!(bits64(GICR_PENDBASER::Shareability), 0xc00);
    assert_eq!(
        bits64(GICR_PENDBASER::Physical_Address),
        0x000f_ffff_ffff_0000
    );
    assert_eq!(bits64(GICR_PENDBASER::OuterCache), 0x0700_0000_0000_0000);
    assert_eq!(bits64(GICR_PENDBASER::PTZ), 1 << 62);
    // GICR_VPENDBASER (GICv4.1 layout for Dirty): Dirty [60],
    // PendingLast [61], Valid [63]; GICR_VPROPBASER Valid [63] (GICv4.1).
    assert_eq!(bits64(GICR_VPENDBASER::Dirty), 1 << 60);
    assert_eq!(bits64(GICR_VPENDBASER::PendingLast), 1 << 61);
    assert_eq!(bits64(GICR_VPENDBASER::Valid), 1 << 63);
    assert_eq!(bits64(GICR_VPROPBASER::Valid), 1 << 63);
    // GICR_INVLPIR: INTID [31:0].
    assert_eq!(bits64(GICR_INVLPIR::INTID), 0xffff_ffff);
}
