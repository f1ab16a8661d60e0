//! The ITS tests: initialisation, an edu's MSI delivered once per trigger,
//! INT, CLEAR, DISCARD and MOVI (to another collection and another CPU),
//! typed errors, an unmapped device's MSI not translated, and save/restore
//! keeping the edu's LPI.

use super::{
    Outcome, Rig, SYNTHETIC_DEVICE, SYNTHETIC_EVENTS, count_only, edu_rig, wait_for_count,
};

/// Two more synthetic DeviceIDs, next to [`SYNTHETIC_DEVICE`].
const SYNTHETIC_DEVICE_2: DeviceId = DeviceId(SYNTHETIC_DEVICE.0 + 1);
const SYNTHETIC_DEVICE_3: DeviceId = DeviceId(SYNTHETIC_DEVICE.0 + 2);
use crate::edu::Edu;
use crate::msi;
use crate::msi::{ICID, MsiRoute};
use crate::pci::Function;
use crate::{cpu, irq, smp};
use alloc::format;
use gicv3_its::{CollectionId, DeviceId, EventId, ItsError, ItsState, ProcessorNumber};
use log::info;

/// A second collection on the same CPU, for MOVI (beyond the CPUs' own,
/// whose ICIDs are their indexes).
const SECOND_ICID: CollectionId = CollectionId(cpu::MAX_CPUS as u16);
/// edu MSIs raised by the delivery test.
const EDU_TRIGGERS: u32 = 5;

pub(super) fn its_init(rig: &mut Rig) -> Outcome {
    let its = &rig.kernel.its;
    ensure!(
        its.its.state() == ItsState::Active,
        "state {:?}",
        its.its.state()
    );
    let features = its.its.features();
    ensure!(
        features.device_id_bits >= 16,
        "only {} DeviceID bits",
        features.device_id_bits
    );
    ensure!(
        its.its.max_device_id() >= DeviceId(0xffff),
        "max DeviceID {:#x}",
        its.its.max_device_id()
    );
    // One collection per online CPU, on its own redistributor.
    let collections: alloc::vec::Vec<_> = its.its.registry().collections().collect();
    let cpus = &rig.kernel.cpus;
    ensure!(
        collections.len() == smp::online().count()
            && smp::online().all(|cpu| {
                collections.iter().any(|(icid, record)| {
                    *icid == msi::collection(cpu)
                        && record.is_live()
                        && Some(record.processor_number()) == cpus.processor_number(cpu)
                })
            }),
        "collections {collections:?}"
    );
    let its_base = rig
        .kernel
        .platform
        .its
        .first()
        .map(|node| node.frames.start);
    ensure!(
        its_base.map(|base| base + 0x1_0040) == Some(its.doorbell()),
        "doorbell {:#x}, ITS at {its_base:x?}",
        its.doorbell()
    );
    Ok(())
}

fn first_edu(functions: &[Function]) -> Option<(&Function, Edu)> {
    functions
        .iter()
        .find_map(|function| Some((function, Edu::new(function)?)))
}

pub(super) fn edu_msi_delivered_once_per_trigger(rig: &mut Rig) -> Outcome {
    let host = rig.host.as_ref().ok_or("no PCI host bridge")?;
    let (function, edu) = first_edu(&rig.kernel.functions).ok_or("no edu device (-device edu)")?;
    let (_, alive) = edu.identify();
    ensure!(alive, "edu liveness check failed");
    let route = rig
        .kernel
        .its
        .route(host, function, 1)
        .map_err(|e| format!("routing the edu MSI: {e}"))?;
    let expected_device_id = rig
        .kernel
        .its
        .device_id(host, function)
        .map_err(|e| format!("{e}"))?;
    ensure!(
        route.device_id == expected_device_id,
        "DeviceID {:#x}",
        route.device_id
    );
    let lpi = route.lpis[0];
    irq::register(lpi, crate::demo::edu_interrupt, edu.context()).map_err(|_| "IRQ table full")?;
    info!(
        "test: edu {} requester ID {:#x} DeviceID {:#x} EventID 0 LPI {lpi}",
        function.bdf,
        function.bdf.requester_id(),
        route.device_id
    );
    for n in 1..=EDU_TRIGGERS {
        edu.raise(1);
        wait_for_count(lpi, n)?;
    }
    rig.edu = Some((edu, route));
    Ok(())
}

pub(super) fn int_raises_lpi_once(rig: &mut Rig) -> Outcome {
    let its = &mut rig.kernel.its.its;
    its.map_device(SYNTHETIC_DEVICE, SYNTHETIC_EVENTS)
        .map_err(|e| format!("MAPD: {e}"))?;
    for event in 0..SYNTHETIC_EVENTS {
        let lpi = its
            .map_event(SYNTHETIC_DEVICE, EventId(event), ICID)
            .map_err(|e| format!("MAPTI event {event}: {e}"))?;
        irq::register(lpi, count_only, 0).map_err(|_| "IRQ table full")?;
        rig.synthetic_lpis[event as usize] = lpi;
    }
    let lpi = rig.synthetic_lpis[0];
    its.send_int(SYNTHETIC_DEVICE, EventId(0))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(lpi, 1)?;
    its.send_int(SYNTHETIC_DEVICE, EventId(0))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(lpi, 2)
}

pub(super) fn clear_removes_pending_lpi(rig: &mut Rig) -> Outcome {
    let its = &mut rig.kernel.its.its;
    let lpi = rig.synthetic_lpis[1];
    {
        // With IRQs masked the LPI stays pending at the redistributor.
        let _masked = cpu::IrqGuard::new();
        its.send_int(SYNTHETIC_DEVICE, EventId(1))
            .map_err(|e| format!("INT: {e}"))?;
        its.clear(SYNTHETIC_DEVICE, EventId(1))
            .map_err(|e| format!("CLEAR: {e}"))?;
    }
    wait_for_count(lpi, 0)?;
    // The event still works afterwards.
    its.send_int(SYNTHETIC_DEVICE, EventId(1))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(lpi, 1)
}

pub(super) fn discard_removes_mapping_and_pending_lpi(rig: &mut Rig) -> Outcome {
    let its = &mut rig.kernel.its.its;
    let lpi = rig.synthetic_lpis[2];
    {
        let _masked = cpu::IrqGuard::new();
        its.send_int(SYNTHETIC_DEVICE, EventId(2))
            .map_err(|e| format!("INT: {e}"))?;
        its.unmap_event(SYNTHETIC_DEVICE, EventId(2))
            .map_err(|e| format!("DISCARD: {e}"))?;
    }
    wait_for_count(lpi, 0)?;
    let error = its.send_int(SYNTHETIC_DEVICE, EventId(2));
    ensure!(
        error
            == Err(ItsError::EventNotMapped {
                device_id: SYNTHETIC_DEVICE,
                event_id: EventId(2)
            }),
        "INT after DISCARD: {error:?}"
    );
    // The event can be mapped again; its LPI may differ.
    let lpi = its
        .map_event(SYNTHETIC_DEVICE, EventId(2), ICID)
        .map_err(|e| format!("MAPTI again: {e}"))?;
    irq::register(lpi, count_only, 0).map_err(|_| "IRQ table full")?;
    rig.synthetic_lpis[2] = lpi;
    its.send_int(SYNTHETIC_DEVICE, EventId(2))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(lpi, 1)
}

pub(super) fn movi_moves_pending_lpi(rig: &mut Rig) -> Outcome {
    let processor = rig.kernel.its.processor_number;
    let its = &mut rig.kernel.its.its;
    let lpi = rig.synthetic_lpis[3];
    its.map_collection(SECOND_ICID, processor)
        .map_err(|e| format!("MAPC: {e}"))?;
    {
        // Pending in collection ICID, then moved: it must arrive once, from
        // the new collection.
        let _masked = cpu::IrqGuard::new();
        its.send_int(SYNTHETIC_DEVICE, EventId(3))
            .map_err(|e| format!("INT: {e}"))?;
        its.move_event(SYNTHETIC_DEVICE, EventId(3), SECOND_ICID)
            .map_err(|e| format!("MOVI: {e}"))?;
    }
    wait_for_count(lpi, 1)?;
    let mapping = its.registry().event(SYNTHETIC_DEVICE, EventId(3));
    ensure!(
        mapping.is_some_and(|m| m.icid() == SECOND_ICID && m.intid() == lpi),
        "registry after MOVI: {mapping:?}"
    );
    its.send_int(SYNTHETIC_DEVICE, EventId(3))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(lpi, 2)?;
    // A collection with events in it cannot be unmapped; move back first.
    its.move_event(SYNTHETIC_DEVICE, EventId(3), ICID)
        .map_err(|e| format!("MOVI back: {e}"))?;
    its.unmap_collection(SECOND_ICID)
        .map_err(|e| format!("MAPC V=0: {e}"))
}

pub(super) fn movi_to_another_cpu(rig: &mut Rig) -> Outcome {
    let ours = cpu::this_cpu();
    let Some(other) = smp::online().find(|&cpu| cpu != ours) else {
        info!("test: one CPU only, nothing to move to (qemu/run --smp 2 runs this)");
        return Ok(());
    };
    let its = &mut rig.kernel.its.its;
    let lpi = rig.synthetic_lpis[3];
    let before = irq::count(lpi);
    let before_there = irq::count_on(lpi, other);
    {
        // Pending at this CPU's redistributor, which cannot take it (IRQs
        // masked), then moved: the other CPU must take it.
        let _masked = cpu::IrqGuard::new();
        its.send_int(SYNTHETIC_DEVICE, EventId(3))
            .map_err(|e| format!("INT: {e}"))?;
        its.move_event(SYNTHETIC_DEVICE, EventId(3), msi::collection(other))
            .map_err(|e| format!("MOVI: {e}"))?;
    }
    wait_for_count(lpi, before + 1)?;
    let taken_there = irq::count_on(lpi, other) - before_there;
    ensure!(
        taken_there == 1,
        "moved LPI taken {taken_there} times by CPU {other} (last by affinity {:x?})",
        irq::last_cpu(lpi)
    );
    // Back to this CPU.
    its.move_event(SYNTHETIC_DEVICE, EventId(3), ICID)
        .map_err(|e| format!("MOVI back: {e}"))?;
    let here = irq::count_on(lpi, ours);
    its.send_int(SYNTHETIC_DEVICE, EventId(3))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(lpi, before + 2)?;
    ensure!(
        irq::count_on(lpi, ours) == here + 1,
        "LPI moved back not taken by CPU {ours} (last by affinity {:x?})",
        irq::last_cpu(lpi)
    );
    Ok(())
}

/// The driver's waits default to one second on the generic timer, which
/// runs at the rate the kernel's own clock says.
pub(super) fn waits_default_to_the_generic_timer(_: &mut Rig) -> Outcome {
    let policy = gicv3_its::wait::WaitPolicy::default();
    ensure!(
        policy.clock.is_some() && policy.timeout == core::time::Duration::from_secs(1),
        "default wait policy {policy:?}"
    );
    let spin = core::time::Duration::from_millis(20);
    let before = gicv3_its::wait::generic_timer();
    let deadline = cpu::now() + spin;
    while cpu::now() < deadline {}
    let elapsed = gicv3_its::wait::generic_timer().saturating_sub(before);
    ensure!(
        elapsed >= spin && elapsed < 10 * spin,
        "the generic timer counted {elapsed:?} over {spin:?}"
    );
    Ok(())
}

pub(super) fn errors_are_typed(rig: &mut Rig) -> Outcome {
    let its = &mut rig.kernel.its.its;
    let max = its.max_device_id();
    let too_big = DeviceId(max.0.wrapping_add(1));
    if too_big != DeviceId(0) {
        let result = its.map_device(too_big, 1);
        ensure!(
            result
                == Err(ItsError::DeviceIdOutOfRange {
                    device_id: too_big,
                    max
                }),
            "MAPD beyond the device table: {result:?}"
        );
    }
    let result = its.map_device(SYNTHETIC_DEVICE, 1);
    ensure!(
        result
            == Err(ItsError::DeviceAlreadyMapped {
                device_id: SYNTHETIC_DEVICE
            }),
        "MAPD twice: {result:?}"
    );
    let result = its.map_device(SYNTHETIC_DEVICE_2, 0);
    ensure!(
        matches!(
            result,
            Err(ItsError::EventCountOutOfRange { requested: 0, .. })
        ),
        "MAPD with no events: {result:?}"
    );
    let result = its.map_event(SYNTHETIC_DEVICE, EventId(SYNTHETIC_EVENTS), ICID);
    ensure!(
        result
            == Err(ItsError::EventIdOutOfRange {
                device_id: SYNTHETIC_DEVICE,
                event_id: EventId(SYNTHETIC_EVENTS),
                events: SYNTHETIC_EVENTS
            }),
        "MAPTI beyond the ITT: {result:?}"
    );
    let result = its.map_event(SYNTHETIC_DEVICE_2, EventId(0), ICID);
    ensure!(
        result
            == Err(ItsError::DeviceNotMapped {
                device_id: SYNTHETIC_DEVICE_2
            }),
        "MAPTI on an unmapped device: {result:?}"
    );
    let result = its.map_event(SYNTHETIC_DEVICE, EventId(0), ICID);
    ensure!(
        result
            == Err(ItsError::EventAlreadyMapped {
                device_id: SYNTHETIC_DEVICE,
                event_id: EventId(0)
            }),
        "MAPTI twice: {result:?}"
    );
    let result = its.map_event(SYNTHETIC_DEVICE, EventId(0), SECOND_ICID);
    ensure!(
        result.is_err(),
        "MAPTI into an unmapped collection succeeded: {result:?}"
    );
    let result = its.map_collection(CollectionId(u16::MAX), ProcessorNumber(0));
    ensure!(
        matches!(
            result,
            Err(ItsError::CollectionOutOfRange {
                icid: CollectionId(u16::MAX),
                ..
            })
        ),
        "MAPC beyond the collections: {result:?}"
    );
    // None of that changed what the ITS holds.
    ensure!(its.state() == ItsState::Active, "state {:?}", its.state());
    its.send_int(SYNTHETIC_DEVICE, EventId(0))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(rig.synthetic_lpis[0], 3)
}

pub(super) fn unmapped_device_msi_not_translated(rig: &mut Rig) -> Outcome {
    let (edu, route) = edu_rig(rig)?;
    let lpi = route.lpis[0];
    let before = irq::count(lpi);
    let its = &mut rig.kernel.its.its;
    its.map_device(SYNTHETIC_DEVICE_2, 1)
        .map_err(|e| format!("MAPD: {e}"))?;
    its.unmap_device(SYNTHETIC_DEVICE_2)
        .map_err(|e| format!("MAPD V=0: {e}"))?;
    // The edu's own mapping: unmapped, its MSI must go nowhere.
    its.unmap_device(route.device_id)
        .map_err(|e| format!("MAPD V=0 edu: {e}"))?;
    edu.raise(1);
    wait_for_count(lpi, before)?;
    // Map it again on the same EventID: the ITS allocates an LPI afresh.
    its.map_device(route.device_id, 1)
        .map_err(|e| format!("MAPD edu again: {e}"))?;
    let new_lpi = its
        .map_event(route.device_id, EventId(0), ICID)
        .map_err(|e| format!("MAPTI edu again: {e}"))?;
    irq::register(new_lpi, crate::demo::edu_interrupt, edu.context())
        .map_err(|_| "IRQ table full")?;
    // The edu still holds its status bit from the lost MSI; acknowledge it,
    // then raise a fresh one.
    edu.acknowledge();
    edu.raise(1);
    wait_for_count(new_lpi, 1)?;
    rig.edu = Some((
        edu,
        MsiRoute {
            device_id: route.device_id,
            lpis: alloc::vec![new_lpi],
        },
    ));
    Ok(())
}

pub(super) fn save_restore_keeps_edu_lpi(rig: &mut Rig) -> Outcome {
    let (edu, route) = edu_rig(rig)?;
    let lpi = route.lpis[0];
    let before = irq::count(lpi);
    let its = &mut rig.kernel.its.its;
    its.save().map_err(|e| format!("save: {e}"))?;
    ensure!(
        its.state() == ItsState::Saved,
        "state after save {:?}",
        its.state()
    );
    let result = its.map_device(SYNTHETIC_DEVICE_3, 1);
    ensure!(
        result == Err(ItsError::Saved),
        "MAPD while saved: {result:?}"
    );
    // The ITS is disabled: the MSI is dropped.
    edu.raise(1);
    wait_for_count(lpi, before)?;
    edu.acknowledge();
    let restored = its.restore().map_err(|e| format!("restore: {e}"))?;
    ensure!(
        restored.deferred_collections == 0,
        "restore deferred collections: {restored:?}"
    );
    ensure!(
        its.state() == ItsState::Active,
        "state after restore {:?}",
        its.state()
    );
    ensure!(
        its.registry()
            .event(route.device_id, EventId(0))
            .map(|m| m.intid())
            == Some(lpi),
        "edu's LPI changed across save/restore"
    );
    edu.raise(1);
    wait_for_count(lpi, before + 1)?;
    its.send_int(SYNTHETIC_DEVICE, EventId(0))
        .map_err(|e| format!("INT: {e}"))?;
    wait_for_count(rig.synthetic_lpis[0], 4)
}
