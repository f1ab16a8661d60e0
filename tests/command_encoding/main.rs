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

mod mapping;
mod routing;

use gicv3_its::COMMAND_SIZE;
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ItsCommand, ProcessorNumber, RdBase};
use gicv3_its_model::decode_command;
use proptest::prelude::*;

/// Asserts that `cmd` encodes to exactly `expected`, and that the
/// hand-written vector decodes back to `cmd` by both readings of the spec
/// (the driver's `ItsCommand::decode` and the model's own
/// `decode_command`).
fn check(cmd: ItsCommand, expected: [u64; 4]) {
    check_encode_only(cmd, expected);
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
