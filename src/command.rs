//! The ITS command encoder: the twelve physical commands of Arm IHI 0069
//! section 5.3, each as four little-endian doublewords (DW0..DW3).
//!
//! Field positions used by every command (5.3.1 to 5.3.24):
//! - DW0 bits \[7:0\]: command number; bits \[63:32\]: DeviceID.
//! - DW1 bits \[31:0\]: EventID; bits \[63:32\]: pINTID (MAPTI); bits \[4:0\]: Size
//!   (MAPD, number of EventID bits minus one).
//! - DW2 bits \[15:0\]: ICID; bits \[51:16\]: RDbase (MAPC, SYNC, MOVALL source);
//!   bits \[51:8\]: ITT_addr (MAPD); bit 63: V (MAPD, MAPC).
//! - DW3 bits \[51:16\]: the second RDbase (MOVALL target).

use crate::id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};

/// One command slot: 32 bytes.
pub const COMMAND_SIZE: usize = 32;

/// A target redistributor in the form GITS_TYPER.PTA asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RdBase(u64);

impl RdBase {
    /// PTA = 0: the redistributor's processor number (GICR_TYPER.Processor_Number).
    pub const fn processor_number(number: ProcessorNumber) -> Self {
        Self(number.0 as u64)
    }

    /// PTA = 1: the physical address of the redistributor's RD_base frame,
    /// which is 64 KiB aligned; bits \[51:16\] are encoded.
    pub const fn physical_address(address: u64) -> Self {
        Self((address >> 16) & RDBASE_MASK)
    }

    /// The RDbase field value (processor number, or address bits \[51:16\]).
    pub const fn field(self) -> u64 {
        self.0
    }

    /// Builds an `RdBase` from a raw field value (as decoded from a command).
    pub const fn from_field(field: u64) -> Self {
        Self(field & RDBASE_MASK)
    }
}

/// RDbase is 36 bits wide (DW2/DW3 bits \[51:16\]).
const RDBASE_MASK: u64 = (1 << 36) - 1;
/// ITT_addr is DW2 bits \[51:8\].
const ITT_ADDRESS_MASK: u64 = ((1 << 52) - 1) & !0xff;

/// A physical ITS command (Arm IHI 0069 5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItsCommand {
    /// Map a DeviceID to an ITT of `2^(size + 1)` entries at `itt_address`
    /// (256-byte aligned), or unmap it when `valid` is false (5.3.9).
    Mapd {
        /// The device.
        device_id: DeviceId,
        /// EventID bits minus one.
        size: u8,
        /// Physical address of the ITT.
        itt_address: u64,
        /// Map (true) or unmap (false).
        valid: bool,
    },
    /// Map a collection to a redistributor, or unmap it (5.3.8).
    Mapc {
        /// The collection.
        icid: CollectionId,
        /// The redistributor.
        rdbase: RdBase,
        /// Map (true) or unmap (false).
        valid: bool,
    },
    /// Map an event to an LPI in a collection (5.3.11).
    Mapti {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
        /// The LPI's INTID (8192 or more).
        intid: IntId,
        /// The collection.
        icid: CollectionId,
    },
    /// Map an event to the LPI with INTID equal to its EventID (5.3.10).
    Mapi {
        /// The device.
        device_id: DeviceId,
        /// The event, which is also the INTID.
        event_id: EventId,
        /// The collection.
        icid: CollectionId,
    },
    /// Reload the configuration of an event's LPI (5.3.6).
    Inv {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
    },
    /// Reload the configuration of every LPI of a collection (5.3.7).
    Invall {
        /// The collection.
        icid: CollectionId,
    },
    /// Wait until every earlier effect on a redistributor is visible (5.3.23).
    Sync {
        /// The redistributor.
        rdbase: RdBase,
    },
    /// Unmap an event and clear its pending state (5.3.5).
    Discard {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
    },
    /// Move an event to another collection (5.3.13).
    Movi {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
        /// The new collection.
        icid: CollectionId,
    },
    /// Move every pending LPI from one redistributor to another (5.3.12).
    Movall {
        /// Source.
        from: RdBase,
        /// Destination.
        to: RdBase,
    },
    /// Make an event's LPI pending, as if the device had sent it (5.3.4).
    Int {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
    },
    /// Clear an event's pending LPI (5.3.3).
    Clear {
        /// The device.
        device_id: DeviceId,
        /// The event.
        event_id: EventId,
    },
}

/// Command numbers, DW0 bits \[7:0\] (Table 5-14).
mod opcode {
    pub(super) const MOVI: u8 = 0x01;
    pub(super) const INT: u8 = 0x03;
    pub(super) const CLEAR: u8 = 0x04;
    pub(super) const SYNC: u8 = 0x05;
    pub(super) const MAPD: u8 = 0x08;
    pub(super) const MAPC: u8 = 0x09;
    pub(super) const MAPTI: u8 = 0x0a;
    pub(super) const MAPI: u8 = 0x0b;
    pub(super) const INV: u8 = 0x0c;
    pub(super) const INVALL: u8 = 0x0d;
    pub(super) const MOVALL: u8 = 0x0e;
    pub(super) const DISCARD: u8 = 0x0f;
}

const VALID: u64 = 1 << 63;

/// DW0 with a command number and a DeviceID.
const fn dw0(opcode: u8, device_id: DeviceId) -> u64 {
    opcode as u64 | (device_id.0 as u64) << 32
}

impl ItsCommand {
    /// MAPD's Size field for a device with `events` events: the EventID
    /// bits it needs minus one, with at least one bit, so that its ITT has
    /// at least two entries (5.3.9).
    #[inline]
    pub const fn mapd_size(events: u32) -> u8 {
        let bits = match events.checked_next_power_of_two() {
            Some(power) => power.ilog2(),
            None => 32,
        };
        // One bit at the least: 0 and 1 bits both give Size 0.
        bits.saturating_sub(1) as u8
    }

    /// Encodes the command as the four doublewords the ITS reads.
    #[inline]
    pub const fn encode(self) -> [u64; 4] {
        match self {
            Self::Mapd {
                device_id,
                size,
                itt_address,
                valid,
            } => [
                dw0(opcode::MAPD, device_id),
                (size & 0x1f) as u64,
                (itt_address & ITT_ADDRESS_MASK) | if valid { VALID } else { 0 },
                0,
            ],
            Self::Mapc {
                icid,
                rdbase,
                valid,
            } => [
                opcode::MAPC as u64,
                0,
                icid.0 as u64 | rdbase.0 << 16 | if valid { VALID } else { 0 },
                0,
            ],
            Self::Mapti {
                device_id,
                event_id,
                intid,
                icid,
            } => [
                dw0(opcode::MAPTI, device_id),
                event_id.0 as u64 | (intid.0 as u64) << 32,
                icid.0 as u64,
                0,
            ],
            Self::Mapi {
                device_id,
                event_id,
                icid,
            } => [
                dw0(opcode::MAPI, device_id),
                event_id.0 as u64,
                icid.0 as u64,
                0,
            ],
            Self::Inv {
                device_id,
                event_id,
            } => [dw0(opcode::INV, device_id), event_id.0 as u64, 0, 0],
            Self::Invall { icid } => [opcode::INVALL as u64, 0, icid.0 as u64, 0],
            Self::Sync { rdbase } => [opcode::SYNC as u64, 0, rdbase.0 << 16, 0],
            Self::Discard {
                device_id,
                event_id,
            } => [dw0(opcode::DISCARD, device_id), event_id.0 as u64, 0, 0],
            Self::Movi {
                device_id,
                event_id,
                icid,
            } => [
                dw0(opcode::MOVI, device_id),
                event_id.0 as u64,
                icid.0 as u64,
                0,
            ],
            Self::Movall { from, to } => [opcode::MOVALL as u64, 0, from.0 << 16, to.0 << 16],
            Self::Int {
                device_id,
                event_id,
            } => [dw0(opcode::INT, device_id), event_id.0 as u64, 0, 0],
            Self::Clear {
                device_id,
                event_id,
            } => [dw0(opcode::CLEAR, device_id), event_id.0 as u64, 0, 0],
        }
    }

    /// Decodes four doublewords, or `None` for a command number this crate
    /// does not send (virtual commands, reserved numbers).
    pub const fn decode(words: [u64; 4]) -> Option<Self> {
        let device_id = DeviceId((words[0] >> 32) as u32);
        let event_id = EventId(words[1] as u32);
        let icid = CollectionId(words[2] as u16);
        let rdbase = RdBase::from_field(words[2] >> 16);
        Some(match words[0] as u8 {
            opcode::MAPD => Self::Mapd {
                device_id,
                size: (words[1] & 0x1f) as u8,
                itt_address: words[2] & ITT_ADDRESS_MASK,
                valid: words[2] & VALID != 0,
            },
            opcode::MAPC => Self::Mapc {
                icid,
                rdbase,
                valid: words[2] & VALID != 0,
            },
            opcode::MAPTI => Self::Mapti {
                device_id,
                event_id,
                intid: IntId((words[1] >> 32) as u32),
                icid,
            },
            opcode::MAPI => Self::Mapi {
                device_id,
                event_id,
                icid,
            },
            opcode::INV => Self::Inv {
                device_id,
                event_id,
            },
            opcode::INVALL => Self::Invall { icid },
            opcode::SYNC => Self::Sync { rdbase },
            opcode::DISCARD => Self::Discard {
                device_id,
                event_id,
            },
            opcode::MOVI => Self::Movi {
                device_id,
                event_id,
                icid,
            },
            opcode::MOVALL => Self::Movall {
                from: rdbase,
                to: RdBase::from_field(words[3] >> 16),
            },
            opcode::INT => Self::Int {
                device_id,
                event_id,
            },
            opcode::CLEAR => Self::Clear {
                device_id,
                event_id,
            },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapd_size_is_event_id_bits_minus_one_with_two_entries_at_least() {
        for (events, size) in [(1, 0), (2, 0), (3, 1), (4, 1), (5, 2), (32, 4), (33, 5)] {
            assert_eq!(ItsCommand::mapd_size(events), size, "{events} events");
        }
        assert_eq!(ItsCommand::mapd_size(u32::MAX), 31);
    }
}
