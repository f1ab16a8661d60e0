//! What kvm-unit-tests checks of an ITS (its `arm/gic.c` tests
//! its-introspection, its-trigger, its-pending-migration and
//! its-migrate-unmapped-collection), done again against this crate's API
//! from a description of what they check; none of their code is used.
//! Their migration steps become what this kernel does instead: MOVALL from
//! CPU to CPU, and a save and restore while a CPU is offline. Like
//! kvm-unit-tests, the scenarios that need several CPUs want four
//! (`qemu/run --test --smp 4`) and are skipped, saying so, with fewer.

use super::{Outcome, PerCpu, Rig, SILENCE, count_only, expect_taken, has_cpus, per_cpu, quiet};
use crate::cpu::{self, MAX_CPUS};
use crate::hotplug::Handoff;
use crate::irq;
use crate::msi;
use crate::smp;
use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, Ordering};
use gicv3_its::DEFAULT_PRIORITY;
use gicv3_its::registers::{
    GITS_BASER, GITS_BASER_RO, GITS_IIDR, GITS_TYPER, Gits, ReadOnlyFields, ReadWrite, Register,
};
use gicv3_its::tock_registers::LocalRegisterCopy;
use gicv3_its::{DeviceId, EventId, IntId, ItsError};
use log::info;

/// kvm-unit-tests' device 2 and device 7, with no PCI function behind
/// them: INT raises their events.
const DEVICE_2: DeviceId = DeviceId(0xfe02);
const DEVICE_7: DeviceId = DeviceId(0xfe07);
/// The device of the pending-state scenario.
const PENDING_DEVICE: DeviceId = DeviceId(0xfe10);
/// The device mapped onto a collection that is not mapped yet.
const WAITING_DEVICE: DeviceId = DeviceId(0xfe20);
/// The DeviceID a CPU's own write to GITS_TRANSLATER carries on QEMU.
const CPU_DEVICE: DeviceId = DeviceId(0);
/// Events per device: 8 EventID bits, as kvm-unit-tests' devices end up
/// with.
const EVENTS: u32 = 256;
/// LPIs made pending across two CPUs and moved.
const PENDING_LPIS: u32 = 256;
/// The pending scenario's LPIs, chosen (not allocated), so that they are
/// consecutive: INTIDs from here on.
const PENDING_FIRST: u32 = IntId::FIRST_LPI.0 + 0x1000;

/// GITS_IIDR and GITS_TYPER described as writable, on purpose: the
/// introspection test writes them to see that the ITS ignores it. (The
/// crate's own descriptors are read-only, so writing those would not
/// compile.)
const IIDR_WRITTEN: Register<Gits, u32, (), ReadWrite> =
    Register::new(0x0004, "GITS_IIDR (written to check it is read-only)");
const TYPER_WRITTEN: Register<Gits, u64, (), ReadWrite> =
    Register::new(0x0008, "GITS_TYPER (written to check it is read-only)");

/// its-introspection: the identification registers are read-only, physical
/// LPIs are supported, the ID widths are not zero, and the ITS has a Device
/// and a Collection table (the driver found and programmed them).
pub(super) fn its_introspection(rig: &mut Rig) -> Outcome {
    let its = &rig.kernel.its;
    let iidr = its.read_register(GITS_IIDR).get();
    let typer = its.read_register(GITS_TYPER);
    its.write_register(IIDR_WRITTEN, LocalRegisterCopy::new(!iidr));
    its.write_register(TYPER_WRITTEN, LocalRegisterCopy::new(!typer.get()));
    let (iidr_after, typer_after) = (
        its.read_register(GITS_IIDR).get(),
        its.read_register(GITS_TYPER).get(),
    );
    ensure!(
        iidr_after == iidr && typer_after == typer.get(),
        "GITS_IIDR {iidr:#x} -> {iidr_after:#x}, GITS_TYPER {:#x} -> {typer_after:#x} after writes",
        typer.get()
    );
    ensure!(
        typer.is_set(GITS_TYPER::Physical),
        "GITS_TYPER {:#x}: no physical LPIs",
        typer.get()
    );
    let features = its.its.features();
    ensure!(
        features.device_id_bits > 0
            && features.event_id_bits > 0
            && features.collection_id_bits > 0,
        "ID bits: {features:?}"
    );
    let table = |kind| {
        GITS_BASER.iter().position(|&baser| {
            let value = its.read_register(baser);
            value.read_only().matches_all(kind) && value.is_set(GITS_BASER::Valid)
        })
    };
    let devices = table(GITS_BASER_RO::Type::Devices);
    let collections = table(GITS_BASER_RO::Type::Collections);
    ensure!(
        devices.is_some() && (collections.is_some() || features.hcc > 0),
        "Device table in BASER{devices:?}, Collection table in BASER{collections:?}"
    );
    info!(
        "test: ITS IIDR {iidr:#x}, TYPER {:#x}: {} DeviceID, {} EventID, {} collection ID bits, ITT entries of {} bytes, targets are {}; Device table in GITS_BASER{}, Collection table in GITS_BASER{}",
        typer.get(),
        features.device_id_bits,
        features.event_id_bits,
        features.collection_id_bits,
        features.itt_entry_size,
        if features.pta {
            "addresses"
        } else {
            "processor numbers"
        },
        devices.unwrap_or(usize::MAX),
        collections.unwrap_or(usize::MAX)
    );
    Ok(())
}

/// its-trigger: INT reaches exactly the CPU its collection is mapped to;
/// an LPI disabled in the property table (INV) delivers nothing, and once
/// enabled again (INVALL) the pending one arrives, once; after MAPD V=0 the
/// device's MSI delivers nothing.
pub(super) fn its_trigger(rig: &mut Rig) -> Outcome {
    if !has_cpus(4) {
        return Ok(());
    }
    let count = smp::count();
    // kvm-unit-tests' targets: the last two CPUs.
    let (cpu_a, cpu_b) = (count - 1, count - 2);
    let its = &mut rig.kernel.its.its;
    its.map_device(DEVICE_2, EVENTS)
        .and_then(|()| its.map_device(DEVICE_7, EVENTS))
        .map_err(|e| format!("MAPD: {e}"))?;
    let lpi_a = its
        .map_event(DEVICE_2, EventId(20), msi::collection(cpu_a))
        .map_err(|e| format!("MAPTI: {e}"))?;
    let lpi_b = its
        .map_event(DEVICE_7, EventId(255), msi::collection(cpu_b))
        .map_err(|e| format!("MAPTI: {e}"))?;
    for lpi in [lpi_a, lpi_b] {
        irq::register(lpi, count_only, 0).map_err(|_| "IRQ table full")?;
    }

    // int: each to its CPU, once, and to no other.
    for (device, event, lpi, cpu) in [(DEVICE_2, 20, lpi_a, cpu_a), (DEVICE_7, 255, lpi_b, cpu_b)] {
        let before = per_cpu(lpi);
        its.send_int(device, EventId(event))
            .map_err(|e| format!("INT: {e}"))?;
        expect_taken(lpi, &before, &[(cpu, 1)]).map_err(|e| format!("int: {e}"))?;
    }

    // inv: disabled in the property table and INV: an INT delivers
    // nothing; enabled again and INVALL, the pending LPI arrives once.
    let before = per_cpu(lpi_a);
    its.configure_event(DEVICE_2, EventId(20), DEFAULT_PRIORITY, false)
        .map_err(|e| format!("disabling: {e}"))?;
    its.send_int(DEVICE_2, EventId(20))
        .map_err(|e| format!("INT: {e}"))?;
    expect_taken(lpi_a, &before, &[]).map_err(|e| format!("inv (disabled): {e}"))?;
    its.configure_events(&[(DEVICE_2, EventId(20))], DEFAULT_PRIORITY, true)
        .map_err(|e| format!("enabling: {e}"))?;
    expect_taken(lpi_a, &before, &[(cpu_a, 1)]).map_err(|e| format!("inv (pending): {e}"))?;
    let before = per_cpu(lpi_a);
    its.send_int(DEVICE_2, EventId(20))
        .map_err(|e| format!("INT: {e}"))?;
    expect_taken(lpi_a, &before, &[(cpu_a, 1)]).map_err(|e| format!("inv (enabled): {e}"))?;

    // mapd valid=false: the device's own MSI (a CPU's write to
    // GITS_TRANSLATER is DeviceID 0 on QEMU) is delivered while it is
    // mapped and not after MAPD V=0; INT is refused by the driver then.
    its.map_device(CPU_DEVICE, 1)
        .map_err(|e| format!("MAPD {CPU_DEVICE:#x}: {e}"))?;
    let lpi_0 = its
        .map_event(CPU_DEVICE, EventId(0), msi::collection(cpu_a))
        .map_err(|e| format!("MAPTI: {e}"))?;
    irq::register(lpi_0, count_only, 0).map_err(|_| "IRQ table full")?;
    let before = per_cpu(lpi_0);
    rig.kernel.its.write_translater(0);
    expect_taken(lpi_0, &before, &[(cpu_a, 1)]).map_err(|e| format!("MSI while mapped: {e}"))?;
    let its = &mut rig.kernel.its.its;
    its.unmap_device(CPU_DEVICE)
        .map_err(|e| format!("MAPD V=0: {e}"))?;
    rig.kernel.its.write_translater(0);
    expect_taken(lpi_0, &before, &[(cpu_a, 1)]).map_err(|e| format!("mapd valid=false: {e}"))?;
    let its = &mut rig.kernel.its.its;
    let refused = its.send_int(CPU_DEVICE, EventId(0));
    ensure!(
        refused
            == Err(ItsError::DeviceNotMapped {
                device_id: CPU_DEVICE
            }),
        "INT after MAPD V=0: {refused:?}"
    );
    for lpi in [lpi_a, lpi_b, lpi_0] {
        irq::unregister(lpi);
    }
    its.unmap_device(DEVICE_2)
        .and_then(|()| its.unmap_device(DEVICE_7))
        .map_err(|e| format!("MAPD V=0: {e}"))
}

/// Hits of the pending scenario's LPIs, per LPI and CPU.
static PENDING_HITS: [[AtomicU16; MAX_CPUS]; PENDING_LPIS as usize] =
    [const { [const { AtomicU16::new(0) }; MAX_CPUS] }; PENDING_LPIS as usize];

fn pending_hit(intid: IntId, _context: usize) {
    if let Some(per_cpu) = PENDING_HITS.get(intid.0.wrapping_sub(PENDING_FIRST) as usize)
        && let Some(hits) = per_cpu.get(cpu::this_cpu())
    {
        hits.fetch_add(1, Ordering::AcqRel);
    }
}

fn pending_hits() -> u32 {
    PENDING_HITS
        .iter()
        .flatten()
        .map(|hits| u32::from(hits.load(Ordering::Acquire)))
        .sum()
}

/// its-pending-migration, with MOVALL for the migration: 256 LPIs made
/// pending on two CPUs (odd EventIDs on the last CPU, even on the one
/// before) while disabled in the property table, their collections moved
/// to two other CPUs with MOVALL, then enabled: each is delivered exactly
/// once, on its new CPU.
pub(super) fn its_pending_across_move(rig: &mut Rig) -> Outcome {
    if !has_cpus(4) {
        return Ok(());
    }
    let count = smp::count();
    let (from_odd, from_even) = (count - 1, count - 2);
    let (to_odd, to_even) = (count - 3, count - 4);
    let cpus = &rig.kernel.cpus;
    let pn = |cpu| {
        cpus.processor_number(cpu)
            .ok_or(format!("CPU {cpu} has no processor number"))
    };
    let (pn_from_odd, pn_from_even, pn_to_odd, pn_to_even) =
        (pn(from_odd)?, pn(from_even)?, pn(to_odd)?, pn(to_even)?);
    for hits in PENDING_HITS.iter().flatten() {
        hits.store(0, Ordering::Release);
    }
    irq::register_range(IntId(PENDING_FIRST), PENDING_LPIS, pending_hit, 0)
        .map_err(|_| "IRQ table full")?;
    let its = &mut rig.kernel.its.its;
    its.map_device(PENDING_DEVICE, PENDING_LPIS)
        .map_err(|e| format!("MAPD: {e}"))?;
    for event in 0..PENDING_LPIS {
        let cpu = if event % 2 == 1 { from_odd } else { from_even };
        its.map_event_to_lpi(
            PENDING_DEVICE,
            EventId(event),
            msi::collection(cpu),
            IntId(PENDING_FIRST + event),
        )
        .and_then(|()| its.configure_event(PENDING_DEVICE, EventId(event), DEFAULT_PRIORITY, false))
        .map_err(|e| format!("event {event}: {e}"))?;
    }
    for event in 0..PENDING_LPIS {
        its.send_int(PENDING_DEVICE, EventId(event))
            .map_err(|e| format!("INT {event}: {e}"))?;
    }
    quiet(SILENCE);
    ensure!(
        pending_hits() == 0,
        "{} disabled LPIs were delivered",
        pending_hits()
    );
    its.move_collections(pn_from_odd, pn_to_odd)
        .and_then(|()| its.move_collections(pn_from_even, pn_to_even))
        .map_err(|e| format!("MOVALL: {e}"))?;
    // Every property byte, then one INVALL per collection.
    let events: Vec<(DeviceId, EventId)> = (0..PENDING_LPIS)
        .map(|event| (PENDING_DEVICE, EventId(event)))
        .collect();
    its.configure_events(&events, DEFAULT_PRIORITY, true)
        .map_err(|e| format!("enabling: {e}"))?;
    cpu::wait_until(super::DELIVERY, || pending_hits() >= PENDING_LPIS);
    quiet(SILENCE);
    let mut wrong = Vec::new();
    for (event, hits) in PENDING_HITS.iter().enumerate() {
        let new_cpu = if event % 2 == 1 { to_odd } else { to_even };
        let seen: Vec<(usize, u16)> = hits
            .iter()
            .map(|hits| hits.load(Ordering::Acquire))
            .enumerate()
            .filter(|&(_, n)| n != 0)
            .collect();
        if seen != [(new_cpu, 1)] {
            wrong.push((event, seen));
        }
    }
    // Everything back as it was: each CPU's collection on its CPU.
    let restored = its.unmap_device(PENDING_DEVICE).and_then(|()| {
        its.move_collection(msi::collection(from_odd), pn_from_odd)?;
        its.move_collection(msi::collection(from_even), pn_from_even)
    });
    irq::unregister(IntId(PENDING_FIRST));
    ensure!(
        wrong.is_empty(),
        "{} of {PENDING_LPIS} LPIs not delivered exactly once on their new CPU ({to_odd} odd, {to_even} even); (EventID, [(CPU, hits)]) first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(4)]
    );
    restored.map_err(|e| format!("cleaning up: {e}"))?;
    info!(
        "test: {PENDING_LPIS} LPIs pending on CPUs {from_odd} and {from_even}, moved (MOVALL) to CPUs {to_odd} and {to_even}: each delivered once there"
    );
    Ok(())
}

/// its-migrate-unmapped-collection: an event mapped (MAPTI) onto a
/// collection the ITS does not map yet is delivered once the collection is
/// mapped (MAPC, INVALL). Here the collection is a CPU's that is offline
/// across a save and restore, so the restore leaves it waiting; INT is
/// refused until the CPU comes back and `restore_collections` maps it.
pub(super) fn its_unmapped_collection(rig: &mut Rig) -> Outcome {
    if !has_cpus(2) {
        return Ok(());
    }
    let cpu = smp::count() - 1;
    let icid = msi::collection(cpu);
    let kernel = &mut rig.kernel;
    kernel
        .cpus
        .offline(
            &mut kernel.its,
            cpu,
            Handoff::Movi {
                to: cpu::this_cpu(),
                unmap: false,
            },
        )
        .map_err(|e| format!("CPU {cpu} offline: {e}"))?;
    let its = &mut kernel.its.its;
    let restored = its
        .save()
        .and_then(|()| its.restore())
        .map_err(|e| format!("save and restore: {e}"))?;
    ensure!(
        restored.deferred_collections > 0,
        "restore deferred nothing with CPU {cpu} offline: {restored:?}"
    );
    let waiting = its
        .registry()
        .collections()
        .find(|&(id, _)| id == icid)
        .is_some_and(|(_, record)| !record.is_live());
    ensure!(
        waiting,
        "collection {icid} was restored with its CPU offline"
    );
    its.map_device(WAITING_DEVICE, 1)
        .map_err(|e| format!("MAPD: {e}"))?;
    let lpi = its
        .map_event(WAITING_DEVICE, EventId(0), icid)
        .map_err(|e| format!("MAPTI onto the waiting collection: {e}"))?;
    irq::register(lpi, count_only, 0).map_err(|_| "IRQ table full")?;
    let refused = its.send_int(WAITING_DEVICE, EventId(0));
    ensure!(
        matches!(refused, Err(ItsError::CollectionDeferred { .. })),
        "INT before the collection is mapped: {refused:?}"
    );
    let before: PerCpu = per_cpu(lpi);
    kernel
        .cpus
        .online(&mut kernel.its, cpu)
        .map_err(|e| format!("CPU {cpu} online: {e}"))?;
    let its = &mut kernel.its.its;
    its.send_int(WAITING_DEVICE, EventId(0))
        .map_err(|e| format!("INT: {e}"))?;
    expect_taken(lpi, &before, &[(cpu, 1)])?;
    irq::unregister(lpi);
    its.unmap_device(WAITING_DEVICE)
        .map_err(|e| format!("MAPD V=0: {e}"))
}
