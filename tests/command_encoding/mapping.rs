//! The mapping commands: MAPD, MAPC, MAPTI and MAPI.

use super::*;

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
