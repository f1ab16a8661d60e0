//! The model's own reading of the command layouts (Arm IHI 0069 5.3, the
//! tables of each command's doublewords): the driver encodes with
//! `ItsCommand::encode`, and the model decodes with this, written from the
//! spec and not from the driver, so that a field both got wrong the same way
//! is the only kind of mistake the host tests cannot see. The hand-computed
//! vectors of `tests/command_encoding/` check both readings.
//!
//! The model turns what it reads into the driver's `ItsCommand` values: the
//! type is only the list of commands and their fields.

use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ItsCommand, RdBase};

/// Bits `high..=low` of `word`.
const fn field(word: u64, high: u32, low: u32) -> u64 {
    (word >> low) & (u64::MAX >> (63 - (high - low)))
}

/// The command numbers, DW0 bits [7:0] (5.3, the summary of ITS commands).
const MOVI: u64 = 0x01;
const INT: u64 = 0x03;
const CLEAR: u64 = 0x04;
const SYNC: u64 = 0x05;
const MAPD: u64 = 0x08;
const MAPC: u64 = 0x09;
const MAPTI: u64 = 0x0a;
const MAPI: u64 = 0x0b;
const INV: u64 = 0x0c;
const INVALL: u64 = 0x0d;
const MOVALL: u64 = 0x0e;
const DISCARD: u64 = 0x0f;

/// Decodes the four doublewords of one command as an ITS reads them, or
/// `None` for a command number the model does not implement (the GICv4
/// virtual commands, VSYNC and the rest, and reserved numbers).
pub fn decode_command(dw: [u64; 4]) -> Option<ItsCommand> {
    // DeviceID: DW0 [63:32]; EventID: DW1 [31:0]; ICID: DW2 [15:0];
    // RDbase: DW2 [51:16] (and DW3 [51:16] for MOVALL's second); V: DW2 [63].
    let device_id = DeviceId(field(dw[0], 63, 32) as u32);
    let event_id = EventId(field(dw[1], 31, 0) as u32);
    let icid = CollectionId(field(dw[2], 15, 0) as u16);
    let rdbase = |word: u64| RdBase::from_field(field(word, 51, 16));
    let valid = field(dw[2], 63, 63) == 1;
    Some(match field(dw[0], 7, 0) {
        MAPD => ItsCommand::Mapd {
            device_id,
            // Size: DW1 [4:0]; ITT_addr: DW2 [51:8], the address's bits
            // [51:8] in place.
            size: field(dw[1], 4, 0) as u8,
            itt_address: field(dw[2], 51, 8) << 8,
            valid,
        },
        MAPC => ItsCommand::Mapc {
            icid,
            rdbase: rdbase(dw[2]),
            valid,
        },
        MAPTI => ItsCommand::Mapti {
            device_id,
            event_id,
            // pINTID: DW1 [63:32].
            intid: IntId(field(dw[1], 63, 32) as u32),
            icid,
        },
        MAPI => ItsCommand::Mapi {
            device_id,
            event_id,
            icid,
        },
        INV => ItsCommand::Inv {
            device_id,
            event_id,
        },
        INVALL => ItsCommand::Invall { icid },
        SYNC => ItsCommand::Sync {
            rdbase: rdbase(dw[2]),
        },
        DISCARD => ItsCommand::Discard {
            device_id,
            event_id,
        },
        MOVI => ItsCommand::Movi {
            device_id,
            event_id,
            icid,
        },
        MOVALL => ItsCommand::Movall {
            from: rdbase(dw[2]),
            to: rdbase(dw[3]),
        },
        INT => ItsCommand::Int {
            device_id,
            event_id,
        },
        CLEAR => ItsCommand::Clear {
            device_id,
            event_id,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_the_bits_the_spec_names() {
        assert_eq!(field(0xabcd_0000_0000_0000, 63, 48), 0xabcd);
        assert_eq!(field(u64::MAX, 63, 63), 1);
        assert_eq!(field(u64::MAX, 51, 16), (1 << 36) - 1);
        assert_eq!(field(0x1f_ffe0, 4, 0), 0);
    }

    /// Bits the spec leaves reserved do not leak into a field.
    #[test]
    fn reserved_bits_are_ignored() {
        let mapd = decode_command([MAPD | 0xff00, 0xffff_ffe3, 0x7ff0_0000_1234_56ff, !0]);
        assert_eq!(
            mapd,
            Some(ItsCommand::Mapd {
                device_id: DeviceId(0),
                size: 3,
                itt_address: 0x0000_0000_1234_5600,
                valid: false,
            })
        );
        assert_eq!(decode_command([0x0a << 8, 0, 0, 0]), None);
        assert_eq!(decode_command([0x20, 0, 0, 0]), None, "VINVALL is GICv4");
    }
}
