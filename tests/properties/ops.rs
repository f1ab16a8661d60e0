//! The operations both property tests draw from, and the errors a random
//! operation may legitimately get.

use crate::support::ModelIts;
use gicv3_its::{CollectionId, DeviceId, EventId, ItsError, ProcessorNumber};
use proptest::prelude::*;

#[derive(Clone, Debug)]
pub enum Op {
    MapDevice {
        device: u32,
        events: u32,
    },
    UnmapDevice {
        device: u32,
    },
    MapEvent {
        device: u32,
        event: u32,
        icid: u16,
    },
    UnmapEvent {
        device: u32,
        event: u32,
    },
    MoveEvent {
        device: u32,
        event: u32,
        icid: u16,
    },
    MoveCollections {
        from: u16,
        to: u16,
    },
    ConfigureEvent {
        device: u32,
        event: u32,
        priority: u8,
        enabled: bool,
    },
    Save,
    Restore,
    /// Power cycle while saved: registers reset, memory kept.
    ResetWhileSaved,
    /// The next `n` allocations succeed, then one fails (cleared afterwards).
    FailAllocationAfter {
        n: usize,
    },
    /// The command `n` commands from now stalls; recover afterwards.
    StallAfter {
        n: u64,
    },
}

/// A few DeviceIDs spread over level-2 pages when the table is two-level.
pub const DEVICES: [u32; 6] = [0x0, 0x8, 0x10, 0x2000, 0x4001, 0xffff];

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => mapping_op(),
        2 => Just(Op::Save),
        2 => Just(Op::Restore),
        1 => Just(Op::ResetWhileSaved),
        1 => (0usize..3).prop_map(|n| Op::FailAllocationAfter { n }),
        1 => (1u64..6).prop_map(|n| Op::StallAfter { n }),
    ]
}

/// The operations on one ITS's mappings (no save, restore or fault).
pub fn mapping_op() -> impl Strategy<Value = Op> {
    let device = prop::sample::select(DEVICES.to_vec());
    prop_oneof![
        4 => (device.clone(), 1u32..10).prop_map(|(device, events)| Op::MapDevice { device, events }),
        1 => device.clone().prop_map(|device| Op::UnmapDevice { device }),
        8 => (device.clone(), 0u32..10, 0u16..4)
            .prop_map(|(device, event, icid)| Op::MapEvent { device, event, icid }),
        2 => (device.clone(), 0u32..10).prop_map(|(device, event)| Op::UnmapEvent { device, event }),
        2 => (device.clone(), 0u32..10, 0u16..4)
            .prop_map(|(device, event, icid)| Op::MoveEvent { device, event, icid }),
        1 => (0u16..4, 0u16..4).prop_map(|(from, to)| Op::MoveCollections { from, to }),
        2 => (device, 0u32..10, any::<u8>(), any::<bool>())
            .prop_map(|(device, event, priority, enabled)| Op::ConfigureEvent { device, event, priority, enabled }),
    ]
}

/// Errors a random operation may legitimately get; anything else fails.
pub fn expected_error(error: &ItsError) -> bool {
    matches!(
        error,
        ItsError::DeviceAlreadyMapped { .. }
            | ItsError::DeviceNotMapped { .. }
            | ItsError::EventAlreadyMapped { .. }
            | ItsError::EventNotMapped { .. }
            | ItsError::EventIdOutOfRange { .. }
            | ItsError::Saved
            | ItsError::NotSaved
            | ItsError::OutOfMemory { .. }
            | ItsError::StorageFull { .. }
            | ItsError::CommandStalled { .. }
            | ItsError::NeedsRecovery
    )
}

/// Runs a mapping operation on `its`; `None` for the others, which each
/// test runs its own way.
pub fn apply(its: &mut ModelIts, op: &Op) -> Option<Result<(), ItsError>> {
    Some(match *op {
        Op::MapDevice { device, events } => its.map_device(DeviceId(device), events),
        Op::UnmapDevice { device } => its.unmap_device(DeviceId(device)),
        Op::MapEvent {
            device,
            event,
            icid,
        } => its
            .map_event(DeviceId(device), EventId(event), CollectionId(icid))
            .map(|_| ()),
        Op::UnmapEvent { device, event } => its.unmap_event(DeviceId(device), EventId(event)),
        Op::MoveEvent {
            device,
            event,
            icid,
        } => its.move_event(DeviceId(device), EventId(event), CollectionId(icid)),
        Op::MoveCollections { from, to } => {
            its.move_collections(ProcessorNumber(from), ProcessorNumber(to))
        }
        Op::ConfigureEvent {
            device,
            event,
            priority,
            enabled,
        } => its.configure_event(DeviceId(device), EventId(event), priority, enabled),
        Op::Save
        | Op::Restore
        | Op::ResetWhileSaved
        | Op::FailAllocationAfter { .. }
        | Op::StallAfter { .. } => return None,
    })
}
