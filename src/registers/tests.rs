//! Every register lands at its spec offset with its width: checked through
//! [`MmioFrame`] on fake frames in memory, against offsets written out from
//! the spec's register maps (Arm IHI 0069 tables 12-26 and 12-22), not read
//! from the descriptors.

use super::MmioFrame;
use super::*;
use core::ptr::NonNull;
use std::vec;

/// A zeroed, 8-byte aligned buffer of `bytes`.
fn fake_frame(bytes: usize) -> std::boxed::Box<[u64]> {
    vec![0u64; bytes / 8].into_boxed_slice()
}

/// The `width`-byte little-endian value at `offset` of `frame`.
fn at(frame: &[u64], offset: usize, width: usize) -> u64 {
    let word = frame[offset / 8] >> ((offset % 8) * 8);
    if width == 8 {
        word
    } else {
        word & ((1 << (width * 8)) - 1)
    }
}

#[test]
fn gits_registers_are_at_their_spec_offsets() {
    let mut frame = fake_frame(0x2_0000);
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: a 128 KiB, 8-byte aligned buffer that only `gits` uses while
    // it lives.
    let gits = unsafe { MmioFrame::<Gits>::new(base) };
    gits.write(GITS_CTLR, LocalRegisterCopy::new(0x8000_0001));
    gits.write(GITS_CBASER, LocalRegisterCopy::new(0x1111));
    gits.write(GITS_CWRITER, LocalRegisterCopy::new(0x2220));
    gits.write(GITS_BASER[0], LocalRegisterCopy::new(0x3333));
    gits.write(GITS_BASER[7], LocalRegisterCopy::new(0x4444));
    gits.write(GITS_TRANSLATER, LocalRegisterCopy::new(0x66));
    for (offset, width, value) in [
        (0x0, 4, 0x8000_0001),
        (0x80, 8, 0x1111),
        (0x88, 8, 0x2220),
        (0x100, 8, 0x3333),
        (0x138, 8, 0x4444),
        (0x10040, 4, 0x66),
    ] {
        assert_eq!(at(&frame, offset, width), value, "offset {offset:#x}");
    }
    // Nothing else was written.
    let written: usize = frame.iter().filter(|word| **word != 0).count();
    assert_eq!(written, 6);

    frame[0x8 / 8] = 0x1f_0001_efb1; // TYPER
    frame[0x90 / 8] = 0x40; // CREADR
    frame[0] |= 0x0100_043b << 32; // IIDR at 0x4
    // A fresh pointer: the writes above went through `frame`.
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: as above.
    let gits = unsafe { MmioFrame::<Gits>::new(base) };
    assert_eq!(gits.read(GITS_TYPER).get(), 0x1f_0001_efb1);
    assert_eq!(gits.read(GITS_CREADR).get(), 0x40);
    assert_eq!(gits.read(GITS_IIDR).get(), 0x0100_043b);
    assert_eq!(gits.read(GITS_CTLR).get(), 0x8000_0001);
    assert_eq!(gits.read(GITS_BASER[7]).get(), 0x4444);
}

#[test]
fn gicr_lpi_registers_are_at_their_spec_offsets() {
    let mut frame = fake_frame(0x1_0000);
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: a 64 KiB, 8-byte aligned buffer that only `gicr` uses.
    let gicr = unsafe { MmioFrame::<Gicr>::new(base) };
    gicr.write(GICR_CTLR, LocalRegisterCopy::new(1));
    gicr.write(GICR_WAKER, LocalRegisterCopy::new(2));
    gicr.write(GICR_PROPBASER, LocalRegisterCopy::new(0x70));
    gicr.write(GICR_PENDBASER, LocalRegisterCopy::new(0x78));
    gicr.write(GICR_INVLPIR, LocalRegisterCopy::new(0xa0));
    gicr.write(GICR_INVALLR, LocalRegisterCopy::new(0xb0));
    for (offset, width, value) in [
        (0x0, 4, 1),
        (0x14, 4, 2),
        (0x70, 8, 0x70),
        (0x78, 8, 0x78),
        (0xa0, 8, 0xa0),
        (0xb0, 8, 0xb0),
    ] {
        assert_eq!(at(&frame, offset, width), value, "offset {offset:#x}");
    }
    frame[0x8 / 8] = 0x0000_0001_0000_0111; // TYPER: Processor_Number 1, PLPIS
    frame[0xc0 / 8] = 1; // SYNCR.Busy
    frame[0] |= 0x43b << 32; // IIDR
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: as above.
    let gicr = unsafe { MmioFrame::<Gicr>::new(base) };
    let typer = gicr.read(GICR_TYPER);
    assert_eq!(typer.read(GICR_TYPER::Processor_Number), 1);
    assert!(typer.is_set(GICR_TYPER::PLPIS));
    assert_eq!(gicr.read(GICR_SYNCR).get(), 1);
    assert_eq!(gicr.read(GICR_WAKER).get(), 2);
    assert_eq!(gicr.read(GICR_IIDR).read(GICR_IIDR::Implementer), 0x43b);
}

#[test]
fn narrow_registers_are_one_access_of_their_width() {
    /// A frame kind with byte and halfword registers.
    enum Narrow {}
    impl FrameKind for Narrow {
        const SIZE: usize = 16;
        const NAME: &'static str = "narrow";
    }
    const BYTE: Register<Narrow, u8> = Register::new(3, "BYTE");
    const HALF: Register<Narrow, u16> = Register::new(6, "HALF");
    let mut frame = fake_frame(16);
    frame[0] = 0x1122_3344_5566_7788;
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: a 16-byte, 8-byte aligned buffer that only `narrow` uses.
    let narrow = unsafe { MmioFrame::<Narrow>::new(base) };
    assert_eq!(narrow.read(BYTE).get(), 0x55);
    assert_eq!(narrow.read(HALF).get(), 0x1122);
    narrow.write(BYTE, LocalRegisterCopy::new(0xaa));
    narrow.write(HALF, LocalRegisterCopy::new(0xbbcc));
    assert_eq!(frame[0], 0xbbcc_3344_aa66_7788);
}

#[test]
fn modify_changes_only_the_given_fields() {
    let mut frame = fake_frame(0x1_0000);
    frame[0] = 0b1010; // GICR_CTLR: RWP and CES set
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: a 64 KiB, 8-byte aligned buffer that only `gicr` uses.
    let gicr = unsafe { MmioFrame::<Gicr>::new(base) };
    gicr.modify(GICR_CTLR, GICR_CTLR::EnableLPIs::SET);
    assert_eq!(gicr.read(GICR_CTLR).get(), 0b1011);
    // write_fields: the given fields, and 0 everywhere else.
    gicr.write_fields(GICR_CTLR, GICR_CTLR::EnableLPIs::SET);
    assert_eq!(frame[0], 0b1);
}

#[test]
fn widths_are_their_sizes_in_bytes() {
    use super::Width;
    let sizes = [Width::U8, Width::U16, Width::U32, Width::U64].map(Width::bytes);
    assert_eq!(sizes, [1, 2, 4, 8]);
}

#[test]
#[should_panic(expected = "aligned to its width")]
fn a_register_not_aligned_to_its_width_is_refused() {
    // At run time a panic; in a `const` item, as every descriptor is, a
    // compile error.
    let _ = Register::<Gits, u64, GITS_CBASER::Register, ReadWrite>::new(0x84, "misaligned");
}

#[test]
fn registers_and_frames_print_their_names_and_places() {
    assert_eq!(format!("{GITS_CWRITER:?}"), "GITS_CWRITER (+0x88)");
    let mut frame = fake_frame(0x2_0000);
    let base = NonNull::new(frame.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: a 128 KiB, 8-byte aligned buffer that only `gits` uses while
    // it lives.
    let gits = unsafe { MmioFrame::<Gits>::new(base) };
    assert_eq!(format!("{gits:?}"), format!("MmioFrame<GITS>({base:p})"));
}
