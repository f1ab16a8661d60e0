//! The commands that act on mapped events and collections: INV, INVALL,
//! SYNC, DISCARD, MOVI, MOVALL, INT and CLEAR.

use super::*;

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
