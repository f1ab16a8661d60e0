//! Every physical ITS command checked against 32-byte vectors computed by hand
//! from Arm IHI 0069 (GIC architecture specification), section 5.3 "ITS
//! commands", the command layout tables of 5.3.3 to 5.3.23.
//!
//! The expected words below were written out by hand from the spec's field
//! positions, not produced by the encoder. Field positions used (DWn is the
//! n-th little-endian doubleword of the 32-byte command):
//!
//! | field     | position      | commands                                      |
//! |-----------|---------------|-----------------------------------------------|
//! | command   | DW0[7:0]      | all                                           |
//! | DeviceID  | DW0[63:32]    | MAPD MAPTI MAPI INV DISCARD MOVI INT CLEAR    |
//! | Size      | DW1[4:0]      | MAPD                                          |
//! | EventID   | DW1[31:0]     | MAPTI MAPI INV DISCARD MOVI INT CLEAR         |
//! | pINTID    | DW1[63:32]    | MAPTI                                         |
//! | ICID      | DW2[15:0]     | MAPC MAPTI MAPI INVALL MOVI                   |
//! | ITT_addr  | DW2[51:8]     | MAPD                                          |
//! | RDbase    | DW2[51:16]    | MAPC SYNC MOVALL (RDbase1)                    |
//! | RDbase2   | DW3[51:16]    | MOVALL                                        |
//! | V         | DW2[63]       | MAPD MAPC                                     |
//!
//! Command numbers (DW0[7:0]): MOVI 0x01, INT 0x03, CLEAR 0x04, SYNC 0x05,
//! MAPD 0x08, MAPC 0x09, MAPTI 0x0A, MAPI 0x0B, INV 0x0C, INVALL 0x0D,
//! MOVALL 0x0E, DISCARD 0x0F.
//!
//! RDbase: with GITS_TYPER.PTA = 0 the field holds the processor number, so a
//! 16-bit processor number lands in DW2[31:16]; with PTA = 1 it holds bits
//! [51:16] of the RD_base frame's physical address, so the encoded doubleword
//! carries the address bits [51:16] in place.
//!
//! Every bit not listed for a command is RES0 and must be zero; each test
//! compares all 256 bits, so a stray bit anywhere fails it.

use gicv3_its::COMMAND_SIZE;
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ItsCommand, ProcessorNumber, RdBase};
use gicv3_its_model::decode_command;
use proptest::prelude::*;

/// Asserts that `cmd` encodes to exactly `expected`, that the hand-written
/// vector decodes back to `cmd` by both readings of the spec (the driver's
/// `ItsCommand::decode` and the model's own `decode_command`), and that
/// decode(encode(cmd)) == cmd.
fn check(cmd: ItsCommand, expected: [u64; 4]) {
    let got = cmd.encode();
    assert_eq!(
        got,
        expected,
        "encode({cmd:?})\n  got      {}\n  expected {}",
        hex(got),
        hex(expected)
    );
    assert_eq!(
        ItsCommand::decode(expected),
        Some(cmd),
        "decode({})",
        hex(expected)
    );
    assert_eq!(
        decode_command(expected),
        Some(cmd),
        "the model's decode_command({})",
        hex(expected)
    );
    assert_eq!(
        ItsCommand::decode(got),
        Some(cmd),
        "decode(encode({cmd:?}))"
    );
}

/// Asserts only the encoding: for inputs outside a field's range (address
/// bits the command cannot carry), which therefore do not round-trip.
fn check_encode_only(cmd: ItsCommand, expected: [u64; 4]) {
    let got = cmd.encode();
    assert_eq!(
        got,
        expected,
        "encode({cmd:?})\n  got      {}\n  expected {}",
        hex(got),
        hex(expected)
    );
}

fn hex(words: [u64; 4]) -> String {
    format!(
        "[{:#018x}, {:#018x}, {:#018x}, {:#018x}]",
        words[0], words[1], words[2], words[3]
    )
}

/// The 32 bytes the ITS reads from the command queue.
fn le_bytes(words: [u64; 4]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

#[test]
fn command_slot_is_32_bytes() {
    assert_eq!(COMMAND_SIZE, 32);
}

#[test]
fn rdbase_field_values() {
    // PTA = 0: the field is the processor number itself.
    assert_eq!(RdBase::processor_number(ProcessorNumber(3)).field(), 0x3);
    assert_eq!(
        RdBase::processor_number(ProcessorNumber(0xFFFF)).field(),
        0xFFFF
    );
    // PTA = 1: the field is address bits [51:16] (36 bits).
    assert_eq!(
        RdBase::physical_address(0x0008_0000_2F10_0000).field(),
        0x8_0000_2F10
    );
    assert_eq!(
        RdBase::physical_address(0x000F_FFFF_FFFF_0000).field(),
        0xF_FFFF_FFFF
    );
    // Address bits [15:0] and [63:52] are not part of the field.
    assert_eq!(
        RdBase::physical_address(0xFFFF_FFFF_FFFF_FFFF).field(),
        0xF_FFFF_FFFF
    );
}

// ---------------------------------------------------------------- MAPD 5.3.9

#[test]
fn mapd_typical() {
    // DW0[7:0]=0x08 MAPD, DW0[63:32]=DeviceID 0x1234,
    // DW1[4:0]=Size 15 (16 EventID bits), DW2[51:8]=ITT_addr 0x8765_4300,
    // DW2[63]=V 1.
    check(
        ItsCommand::Mapd {
            device_id: DeviceId(0x1234),
            size: 15,
            itt_address: 0x0000_0000_8765_4300,
            valid: true,
        },
        [
            0x0000_1234_0000_0008,
            0x0000_0000_0000_000F,
            0x8000_0000_8765_4300,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapd_maximum_fields() {
    // DW0[7:0]=0x08, DW0[63:32]=DeviceID 0xFFFF_FFFF, DW1[4:0]=Size 31,
    // DW2[51:8]=ITT_addr all ones (bits [51:8] of 0x000F_FFFF_FFFF_FF00),
    // DW2[63]=V 1; DW2[62:52] and DW2[7:0] RES0.
    check(
        ItsCommand::Mapd {
            device_id: DeviceId(0xFFFF_FFFF),
            size: 31,
            itt_address: 0x000F_FFFF_FFFF_FF00,
            valid: true,
        },
        [
            0xFFFF_FFFF_0000_0008,
            0x0000_0000_0000_001F,
            0x800F_FFFF_FFFF_FF00,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapd_itt_address_bit_51() {
    // DW2[51]=ITT_addr bit 51 only, DW2[63]=V 1; DW0[63:32]=DeviceID 0x1,
    // DW1[4:0]=Size 0.
    check(
        ItsCommand::Mapd {
            device_id: DeviceId(0x1),
            size: 0,
            itt_address: 0x0008_0000_0000_0000,
            valid: true,
        },
        [
            0x0000_0001_0000_0008,
            0x0000_0000_0000_0000,
            0x8008_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapd_unmap() {
    // V=0 (DW2[63]=0) with Size and ITT_addr zero, as software sends an
    // unmap: only DW0[7:0]=0x08 and DW0[63:32]=DeviceID 0x1234 are set.
    check(
        ItsCommand::Mapd {
            device_id: DeviceId(0x1234),
            size: 0,
            itt_address: 0,
            valid: false,
        },
        [
            0x0000_1234_0000_0008,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapd_reserved_bits_stay_zero() {
    // ITT_addr is DW2[51:8] only: address bits [7:0] and [63:52] must not
    // reach DW2 (DW2[7:0] and DW2[62:52] are RES0, DW2[63] is V).
    check_encode_only(
        ItsCommand::Mapd {
            device_id: DeviceId(0xFFFF_FFFF),
            size: 31,
            itt_address: 0xFFFF_FFFF_FFFF_FFFF,
            valid: true,
        },
        [
            0xFFFF_FFFF_0000_0008,
            0x0000_0000_0000_001F,
            0x800F_FFFF_FFFF_FF00,
            0x0000_0000_0000_0000,
        ],
    );
    // Low byte only: DW2[7:0] stays zero, DW2[51:8]=0x8765_43.
    check_encode_only(
        ItsCommand::Mapd {
            device_id: DeviceId(0x1234),
            size: 15,
            itt_address: 0x0000_0000_8765_43FF,
            valid: true,
        },
        [
            0x0000_1234_0000_0008,
            0x0000_0000_0000_000F,
            0x8000_0000_8765_4300,
            0x0000_0000_0000_0000,
        ],
    );
    // High bits only: address bits [63:52] set, of which bit 63 must not be
    // mistaken for V: with V=0, DW2 carries just ITT_addr bit 8.
    check_encode_only(
        ItsCommand::Mapd {
            device_id: DeviceId(0x1234),
            size: 15,
            itt_address: 0xFFF0_0000_0000_0100,
            valid: false,
        },
        [
            0x0000_1234_0000_0008,
            0x0000_0000_0000_000F,
            0x0000_0000_0000_0100,
            0x0000_0000_0000_0000,
        ],
    );
    // Size is DW1[4:0]: a value wider than 5 bits must not set DW1[7:5].
    check_encode_only(
        ItsCommand::Mapd {
            device_id: DeviceId(0x1234),
            size: 0xFF,
            itt_address: 0x0000_0000_8765_4300,
            valid: true,
        },
        [
            0x0000_1234_0000_0008,
            0x0000_0000_0000_001F,
            0x8000_0000_8765_4300,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapd_byte_layout() {
    let cmd = ItsCommand::Mapd {
        device_id: DeviceId(0x1234),
        size: 15,
        itt_address: 0x0000_0000_8765_4300,
        valid: true,
    };
    #[rustfmt::skip]
    let expected: [u8; 32] = [
        // DW0: byte 0 = 0x08 MAPD, bytes 4..8 = DeviceID 0x1234 little-endian.
        0x08, 0x00, 0x00, 0x00, 0x34, 0x12, 0x00, 0x00,
        // DW1: byte 8 = Size 15 (bits [4:0]).
        0x0F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // DW2: bytes 17..20 = ITT_addr bits [31:8] (0x43, 0x65, 0x87),
        // byte 23 bit 7 = V.
        0x00, 0x43, 0x65, 0x87, 0x00, 0x00, 0x00, 0x80,
        // DW3: RES0.
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(le_bytes(cmd.encode()), expected);

    let max = ItsCommand::Mapd {
        device_id: DeviceId(0xFFFF_FFFF),
        size: 31,
        itt_address: 0x000F_FFFF_FFFF_FF00,
        valid: true,
    };
    #[rustfmt::skip]
    let expected_max: [u8; 32] = [
        // DW0: 0x08, RES0 [31:8], DeviceID 0xFFFF_FFFF.
        0x08, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
        // DW1: Size 31 = 0x1F, bits [7:5] RES0.
        0x1F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // DW2: byte 16 RES0 (address [7:0]), bytes 17..22 ITT_addr [51:8]:
        // byte 22 = 0x0F (bits [51:48]), byte 23 = 0x80 (V, bits [62:56] RES0).
        0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x80,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(le_bytes(max.encode()), expected_max);
}

// ---------------------------------------------------------------- MAPC 5.3.8

#[test]
fn mapc_typical_processor_number() {
    // DW0[7:0]=0x09 MAPC, DW2[15:0]=ICID 5,
    // DW2[51:16]=RDbase processor number 3 (PTA=0), DW2[63]=V 1.
    check(
        ItsCommand::Mapc {
            icid: CollectionId(5),
            rdbase: RdBase::processor_number(ProcessorNumber(3)),
            valid: true,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x8000_0000_0003_0005,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapc_maximum_processor_number_and_icid() {
    // DW2[15:0]=ICID 0xFFFF, DW2[31:16]=processor number 0xFFFF (PTA=0),
    // DW2[51:32]=0, DW2[63]=V 1.
    check(
        ItsCommand::Mapc {
            icid: CollectionId(0xFFFF),
            rdbase: RdBase::processor_number(ProcessorNumber(0xFFFF)),
            valid: true,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x8000_0000_FFFF_FFFF,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapc_physical_address_bit_51() {
    // PTA=1: DW2[51:16]=RD_base address bits [51:16] of 0x0008_0000_2F10_0000
    // (bit 51 set), DW2[15:0]=ICID 1, DW2[63]=V 1.
    check(
        ItsCommand::Mapc {
            icid: CollectionId(1),
            rdbase: RdBase::physical_address(0x0008_0000_2F10_0000),
            valid: true,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x8008_0000_2F10_0001,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapc_maximum_physical_address() {
    // PTA=1: DW2[51:16] all ones, DW2[15:0]=ICID 0xFFFF, DW2[63]=V 1,
    // DW2[62:52] RES0.
    check(
        ItsCommand::Mapc {
            icid: CollectionId(0xFFFF),
            rdbase: RdBase::physical_address(0x000F_FFFF_FFFF_0000),
            valid: true,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x800F_FFFF_FFFF_FFFF,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapc_unmap() {
    // V=0 (DW2[63]=0), DW2[15:0]=ICID 5, RDbase 0.
    check(
        ItsCommand::Mapc {
            icid: CollectionId(5),
            rdbase: RdBase::processor_number(ProcessorNumber(0)),
            valid: false,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapc_reserved_bits_stay_zero() {
    // An all-ones address: only bits [51:16] are carried; DW2[62:52] stay
    // RES0 and nothing leaks into ICID DW2[15:0] (ICID 0 here).
    check_encode_only(
        ItsCommand::Mapc {
            icid: CollectionId(0),
            rdbase: RdBase::physical_address(0xFFFF_FFFF_FFFF_FFFF),
            valid: true,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x800F_FFFF_FFFF_0000,
            0x0000_0000_0000_0000,
        ],
    );
    // Same with V=0: address bit 63 must not become V.
    check_encode_only(
        ItsCommand::Mapc {
            icid: CollectionId(0),
            rdbase: RdBase::physical_address(0xFFFF_FFFF_FFFF_FFFF),
            valid: false,
        },
        [
            0x0000_0000_0000_0009,
            0x0000_0000_0000_0000,
            0x000F_FFFF_FFFF_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

// --------------------------------------------------------------- MAPTI 5.3.11

#[test]
fn mapti_typical() {
    // DW0[7:0]=0x0A MAPTI, DW0[63:32]=DeviceID 0x0001_0203,
    // DW1[31:0]=EventID 0x0405_0607, DW1[63:32]=pINTID 8193 (0x2001),
    // DW2[15:0]=ICID 0x0A0B.
    check(
        ItsCommand::Mapti {
            device_id: DeviceId(0x0001_0203),
            event_id: EventId(0x0405_0607),
            intid: IntId(0x2001),
            icid: CollectionId(0x0A0B),
        },
        [
            0x0001_0203_0000_000A,
            0x0000_2001_0405_0607,
            0x0000_0000_0000_0A0B,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapti_maximum_fields() {
    // DW0[63:32]=DeviceID 0xFFFF_FFFF, DW1[31:0]=EventID 0xFFFF_FFFF,
    // DW1[63:32]=pINTID 0xFFFF_FFFF, DW2[15:0]=ICID 0xFFFF; DW0[31:8],
    // DW2[63:16] and DW3 RES0.
    check(
        ItsCommand::Mapti {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
            intid: IntId(0xFFFF_FFFF),
            icid: CollectionId(0xFFFF),
        },
        [
            0xFFFF_FFFF_0000_000A,
            0xFFFF_FFFF_FFFF_FFFF,
            0x0000_0000_0000_FFFF,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapti_byte_layout() {
    let cmd = ItsCommand::Mapti {
        device_id: DeviceId(0x0001_0203),
        event_id: EventId(0x0405_0607),
        intid: IntId(0x2001),
        icid: CollectionId(0x0A0B),
    };
    #[rustfmt::skip]
    let expected: [u8; 32] = [
        // DW0: byte 0 = 0x0A MAPTI, bytes 4..8 = DeviceID 0x0001_0203 LE.
        0x0A, 0x00, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00,
        // DW1: bytes 8..12 = EventID 0x0405_0607 LE, bytes 12..16 = pINTID 0x2001 LE.
        0x07, 0x06, 0x05, 0x04, 0x01, 0x20, 0x00, 0x00,
        // DW2: bytes 16..18 = ICID 0x0A0B LE.
        0x0B, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        // DW3: RES0.
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(le_bytes(cmd.encode()), expected);

    let max = ItsCommand::Mapti {
        device_id: DeviceId(0xFFFF_FFFF),
        event_id: EventId(0xFFFF_FFFF),
        intid: IntId(0xFFFF_FFFF),
        icid: CollectionId(0xFFFF),
    };
    #[rustfmt::skip]
    let expected_max: [u8; 32] = [
        0x0A, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    assert_eq!(le_bytes(max.encode()), expected_max);
}

// ---------------------------------------------------------------- MAPI 5.3.10

#[test]
fn mapi_typical() {
    // DW0[7:0]=0x0B MAPI, DW0[63:32]=DeviceID 0x1234,
    // DW1[31:0]=EventID 0x2000 (also the INTID), DW2[15:0]=ICID 5;
    // DW1[63:32] RES0 (MAPI has no pINTID field).
    check(
        ItsCommand::Mapi {
            device_id: DeviceId(0x1234),
            event_id: EventId(0x2000),
            icid: CollectionId(5),
        },
        [
            0x0000_1234_0000_000B,
            0x0000_0000_0000_2000,
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn mapi_maximum_fields() {
    // DW0[63:32]=0xFFFF_FFFF, DW1[31:0]=0xFFFF_FFFF, DW1[63:32] RES0,
    // DW2[15:0]=ICID 0xFFFF.
    check(
        ItsCommand::Mapi {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
            icid: CollectionId(0xFFFF),
        },
        [
            0xFFFF_FFFF_0000_000B,
            0x0000_0000_FFFF_FFFF,
            0x0000_0000_0000_FFFF,
            0x0000_0000_0000_0000,
        ],
    );
}

// ----------------------------------------------------------------- INV 5.3.6

#[test]
fn inv_typical() {
    // DW0[7:0]=0x0C INV, DW0[63:32]=DeviceID 0x1234, DW1[31:0]=EventID 0x42.
    check(
        ItsCommand::Inv {
            device_id: DeviceId(0x1234),
            event_id: EventId(0x42),
        },
        [
            0x0000_1234_0000_000C,
            0x0000_0000_0000_0042,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn inv_maximum_fields() {
    // DW0[63:32]=0xFFFF_FFFF, DW1[31:0]=0xFFFF_FFFF, DW1[63:32] RES0.
    check(
        ItsCommand::Inv {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
        },
        [
            0xFFFF_FFFF_0000_000C,
            0x0000_0000_FFFF_FFFF,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

// -------------------------------------------------------------- INVALL 5.3.7

#[test]
fn invall_typical() {
    // DW0[7:0]=0x0D INVALL, DW2[15:0]=ICID 5; DW0[63:8] RES0.
    check(
        ItsCommand::Invall {
            icid: CollectionId(5),
        },
        [
            0x0000_0000_0000_000D,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn invall_maximum_icid() {
    // DW2[15:0]=ICID 0xFFFF, DW2[63:16] RES0.
    check(
        ItsCommand::Invall {
            icid: CollectionId(0xFFFF),
        },
        [
            0x0000_0000_0000_000D,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_FFFF,
            0x0000_0000_0000_0000,
        ],
    );
}

// ---------------------------------------------------------------- SYNC 5.3.23

#[test]
fn sync_typical_processor_number() {
    // DW0[7:0]=0x05 SYNC, DW2[51:16]=RDbase processor number 3 (PTA=0);
    // DW2[15:0] RES0.
    check(
        ItsCommand::Sync {
            rdbase: RdBase::processor_number(ProcessorNumber(3)),
        },
        [
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
            0x0000_0000_0003_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn sync_maximum_processor_number() {
    // DW2[31:16]=processor number 0xFFFF (PTA=0), rest RES0.
    check(
        ItsCommand::Sync {
            rdbase: RdBase::processor_number(ProcessorNumber(0xFFFF)),
        },
        [
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
            0x0000_0000_FFFF_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn sync_physical_address() {
    // PTA=1: DW2[51:16]=address bits [51:16] of 0x0008_0000_2F10_0000.
    check(
        ItsCommand::Sync {
            rdbase: RdBase::physical_address(0x0008_0000_2F10_0000),
        },
        [
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
            0x0008_0000_2F10_0000,
            0x0000_0000_0000_0000,
        ],
    );
    // PTA=1 maximum: DW2[51:16] all ones, DW2[63:52] and DW2[15:0] RES0.
    check(
        ItsCommand::Sync {
            rdbase: RdBase::physical_address(0x000F_FFFF_FFFF_0000),
        },
        [
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
            0x000F_FFFF_FFFF_0000,
            0x0000_0000_0000_0000,
        ],
    );
    // All-ones address: only bits [51:16] are carried.
    check_encode_only(
        ItsCommand::Sync {
            rdbase: RdBase::physical_address(0xFFFF_FFFF_FFFF_FFFF),
        },
        [
            0x0000_0000_0000_0005,
            0x0000_0000_0000_0000,
            0x000F_FFFF_FFFF_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

// ------------------------------------------------------------- DISCARD 5.3.5

#[test]
fn discard_typical() {
    // DW0[7:0]=0x0F DISCARD, DW0[63:32]=DeviceID 0x1234,
    // DW1[31:0]=EventID 0x42.
    check(
        ItsCommand::Discard {
            device_id: DeviceId(0x1234),
            event_id: EventId(0x42),
        },
        [
            0x0000_1234_0000_000F,
            0x0000_0000_0000_0042,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn discard_maximum_fields() {
    // DW0[63:32]=0xFFFF_FFFF, DW1[31:0]=0xFFFF_FFFF.
    check(
        ItsCommand::Discard {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
        },
        [
            0xFFFF_FFFF_0000_000F,
            0x0000_0000_FFFF_FFFF,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

// ---------------------------------------------------------------- MOVI 5.3.13

#[test]
fn movi_typical() {
    // DW0[7:0]=0x01 MOVI, DW0[63:32]=DeviceID 0x1234,
    // DW1[31:0]=EventID 0x42, DW2[15:0]=ICID 7.
    check(
        ItsCommand::Movi {
            device_id: DeviceId(0x1234),
            event_id: EventId(0x42),
            icid: CollectionId(7),
        },
        [
            0x0000_1234_0000_0001,
            0x0000_0000_0000_0042,
            0x0000_0000_0000_0007,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn movi_maximum_fields() {
    // DW0[63:32]=0xFFFF_FFFF, DW1[31:0]=0xFFFF_FFFF, DW2[15:0]=0xFFFF.
    check(
        ItsCommand::Movi {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
            icid: CollectionId(0xFFFF),
        },
        [
            0xFFFF_FFFF_0000_0001,
            0x0000_0000_FFFF_FFFF,
            0x0000_0000_0000_FFFF,
            0x0000_0000_0000_0000,
        ],
    );
}

// -------------------------------------------------------------- MOVALL 5.3.12

#[test]
fn movall_typical_processor_numbers() {
    // DW0[7:0]=0x0E MOVALL, DW2[51:16]=RDbase1 processor 1,
    // DW3[51:16]=RDbase2 processor 2 (PTA=0).
    check(
        ItsCommand::Movall {
            from: RdBase::processor_number(ProcessorNumber(1)),
            to: RdBase::processor_number(ProcessorNumber(2)),
        },
        [
            0x0000_0000_0000_000E,
            0x0000_0000_0000_0000,
            0x0000_0000_0001_0000,
            0x0000_0000_0002_0000,
        ],
    );
}

#[test]
fn movall_maximum_processor_numbers() {
    // DW2[31:16]=0xFFFF, DW3[31:16]=0xFFFE (PTA=0); DW2/DW3[15:0] RES0.
    check(
        ItsCommand::Movall {
            from: RdBase::processor_number(ProcessorNumber(0xFFFF)),
            to: RdBase::processor_number(ProcessorNumber(0xFFFE)),
        },
        [
            0x0000_0000_0000_000E,
            0x0000_0000_0000_0000,
            0x0000_0000_FFFF_0000,
            0x0000_0000_FFFE_0000,
        ],
    );
}

#[test]
fn movall_physical_addresses() {
    // PTA=1: DW2[51:16]=bits [51:16] of 0x0008_0000_2F10_0000 (bit 51 set),
    // DW3[51:16]=bits [51:16] of 0x000F_FFFF_FFFF_0000 (all ones).
    check(
        ItsCommand::Movall {
            from: RdBase::physical_address(0x0008_0000_2F10_0000),
            to: RdBase::physical_address(0x000F_FFFF_FFFF_0000),
        },
        [
            0x0000_0000_0000_000E,
            0x0000_0000_0000_0000,
            0x0008_0000_2F10_0000,
            0x000F_FFFF_FFFF_0000,
        ],
    );
    // And the other way round, so each RDbase has a distinct value in each
    // doubleword.
    check(
        ItsCommand::Movall {
            from: RdBase::physical_address(0x000F_FFFF_FFFF_0000),
            to: RdBase::physical_address(0x0008_0000_2F10_0000),
        },
        [
            0x0000_0000_0000_000E,
            0x0000_0000_0000_0000,
            0x000F_FFFF_FFFF_0000,
            0x0008_0000_2F10_0000,
        ],
    );
}

// ----------------------------------------------------------------- INT 5.3.4

#[test]
fn int_typical() {
    // DW0[7:0]=0x03 INT, DW0[63:32]=DeviceID 0x1234, DW1[31:0]=EventID 0x42.
    check(
        ItsCommand::Int {
            device_id: DeviceId(0x1234),
            event_id: EventId(0x42),
        },
        [
            0x0000_1234_0000_0003,
            0x0000_0000_0000_0042,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn int_maximum_fields() {
    // DW0[63:32]=0xFFFF_FFFF, DW1[31:0]=0xFFFF_FFFF.
    check(
        ItsCommand::Int {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
        },
        [
            0xFFFF_FFFF_0000_0003,
            0x0000_0000_FFFF_FFFF,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

// --------------------------------------------------------------- CLEAR 5.3.3

#[test]
fn clear_typical() {
    // DW0[7:0]=0x04 CLEAR, DW0[63:32]=DeviceID 0x1234,
    // DW1[31:0]=EventID 0x42.
    check(
        ItsCommand::Clear {
            device_id: DeviceId(0x1234),
            event_id: EventId(0x42),
        },
        [
            0x0000_1234_0000_0004,
            0x0000_0000_0000_0042,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

#[test]
fn clear_maximum_fields() {
    // DW0[63:32]=0xFFFF_FFFF, DW1[31:0]=0xFFFF_FFFF.
    check(
        ItsCommand::Clear {
            device_id: DeviceId(0xFFFF_FFFF),
            event_id: EventId(0xFFFF_FFFF),
        },
        [
            0xFFFF_FFFF_0000_0004,
            0x0000_0000_FFFF_FFFF,
            0x0000_0000_0000_0000,
            0x0000_0000_0000_0000,
        ],
    );
}

// --------------------------------------------------------------------- decode

#[test]
fn decode_rejects_numbers_this_crate_does_not_send() {
    // Reserved physical numbers and the GICv4 virtual commands (VMOVI 0x21,
    // VMOVP 0x22, VSGI 0x23, VSYNC 0x25, VMAPP 0x29, VMAPTI 0x2A, VMAPI 0x2B,
    // VINVALL 0x2D, INVDB 0x2E).
    for number in [
        0x00u64, 0x02, 0x06, 0x07, 0x10, 0x21, 0x22, 0x23, 0x25, 0x29, 0x2A, 0x2B, 0x2D, 0x2E, 0xFF,
    ] {
        assert_eq!(
            ItsCommand::decode([number, 0, 0, 0]),
            None,
            "command number {number:#04x}"
        );
        assert_eq!(
            decode_command([number, 0, 0, 0]),
            None,
            "the model, command number {number:#04x}"
        );
    }
}

// ---------------------------------------------------------- round-trip, all 12

fn rdbase() -> impl Strategy<Value = RdBase> {
    prop_oneof![
        any::<u16>().prop_map(|n| RdBase::processor_number(ProcessorNumber(n))),
        // 64 KiB aligned addresses below 2^52.
        (0u64..(1 << 36)).prop_map(|frame| RdBase::physical_address(frame << 16)),
    ]
}

fn command() -> impl Strategy<Value = ItsCommand> {
    prop_oneof![
        (any::<u32>(), 0u8..=31, 0u64..(1 << 44)).prop_map(|(device_id, size, itt)| {
            ItsCommand::Mapd {
                device_id: DeviceId(device_id),
                size,
                itt_address: itt << 8,
                valid: true,
            }
        }),
        any::<u32>().prop_map(|device_id| ItsCommand::Mapd {
            device_id: DeviceId(device_id),
            size: 0,
            itt_address: 0,
            valid: false,
        }),
        (any::<u16>(), rdbase(), any::<bool>()).prop_map(|(icid, rdbase, valid)| {
            ItsCommand::Mapc {
                icid: CollectionId(icid),
                rdbase: if valid {
                    rdbase
                } else {
                    RdBase::processor_number(ProcessorNumber(0))
                },
                valid,
            }
        }),
        (any::<u32>(), any::<u32>(), any::<u32>(), any::<u16>()).prop_map(
            |(device_id, event_id, intid, icid)| ItsCommand::Mapti {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
                intid: IntId(intid),
                icid: CollectionId(icid),
            }
        ),
        (any::<u32>(), any::<u32>(), any::<u16>()).prop_map(|(device_id, event_id, icid)| {
            ItsCommand::Mapi {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
                icid: CollectionId(icid),
            }
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(device_id, event_id)| ItsCommand::Inv {
            device_id: DeviceId(device_id),
            event_id: EventId(event_id),
        }),
        any::<u16>().prop_map(|icid| ItsCommand::Invall {
            icid: CollectionId(icid),
        }),
        rdbase().prop_map(|rdbase| ItsCommand::Sync { rdbase }),
        (any::<u32>(), any::<u32>()).prop_map(|(device_id, event_id)| ItsCommand::Discard {
            device_id: DeviceId(device_id),
            event_id: EventId(event_id),
        }),
        (any::<u32>(), any::<u32>(), any::<u16>()).prop_map(|(device_id, event_id, icid)| {
            ItsCommand::Movi {
                device_id: DeviceId(device_id),
                event_id: EventId(event_id),
                icid: CollectionId(icid),
            }
        }),
        (rdbase(), rdbase()).prop_map(|(from, to)| ItsCommand::Movall { from, to }),
        (any::<u32>(), any::<u32>()).prop_map(|(device_id, event_id)| ItsCommand::Int {
            device_id: DeviceId(device_id),
            event_id: EventId(event_id),
        }),
        (any::<u32>(), any::<u32>()).prop_map(|(device_id, event_id)| ItsCommand::Clear {
            device_id: DeviceId(device_id),
            event_id: EventId(event_id),
        }),
    ]
}

/// The command number each variant must carry in DW0[7:0].
fn command_number(cmd: &ItsCommand) -> u64 {
    match cmd {
        ItsCommand::Movi { .. } => 0x01,
        ItsCommand::Int { .. } => 0x03,
        ItsCommand::Clear { .. } => 0x04,
        ItsCommand::Sync { .. } => 0x05,
        ItsCommand::Mapd { .. } => 0x08,
        ItsCommand::Mapc { .. } => 0x09,
        ItsCommand::Mapti { .. } => 0x0A,
        ItsCommand::Mapi { .. } => 0x0B,
        ItsCommand::Inv { .. } => 0x0C,
        ItsCommand::Invall { .. } => 0x0D,
        ItsCommand::Movall { .. } => 0x0E,
        ItsCommand::Discard { .. } => 0x0F,
    }
}

proptest! {
    #[test]
    fn decode_inverts_encode(cmd in command()) {
        let words = cmd.encode();
        prop_assert_eq!(words[0] & 0xFF, command_number(&cmd));
        // DW0[31:8] is RES0 in every physical command.
        prop_assert_eq!(words[0] & 0xFFFF_FF00, 0);
        prop_assert_eq!(ItsCommand::decode(words), Some(cmd));
        prop_assert_eq!(decode_command(words), Some(cmd));
    }
}
