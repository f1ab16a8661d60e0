//! Several CPUs: a CPU taken offline and brought back while its MSIs flow,
//! and the driver called from several CPUs at once, behind a lock, while
//! edu raises MSIs. Both count every MSI raised and handled: none may be
//! lost or taken twice.

use super::{DELIVERY, Outcome, Rig, SILENCE, edu_rig, has_cpus, per_cpu, quiet};
use crate::hotplug::Handoff;
use crate::msi;
use crate::smp;
use crate::{cpu, irq};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use core::time::Duration;
use gicv3_its::DEFAULT_PRIORITY;
use gicv3_its::{DeviceId, EventId, IntId};
use log::info;

/// Offline/online rounds while MSIs flow.
const HOTPLUG_ROUNDS: usize = 6;
/// edu MSIs raised while several CPUs use the driver, at least; the
/// raising goes on until each other CPU did enough too, for at most
/// [`CONCURRENT_LIMIT`].
const CONCURRENT_MSIS: u32 = 100;
/// MOVIs of edu's event, disable/enable pairs and map/INT/unmap rounds the
/// other CPUs must do while MSIs are raised.
const CONCURRENT_OPERATIONS: u32 = 8;
const CONCURRENT_LIMIT: Duration = Duration::from_secs(20);
/// The device the mapping CPU maps, raises and unmaps over and over.
const CHURN_DEVICE: DeviceId = DeviceId(0xfe30);
const CHURN_EVENTS: u32 = 4;
/// Its LPIs, chosen so that one handler covers them.
const CHURN_FIRST: u32 = IntId::FIRST_LPI.0 + 0x1200;

fn pause(duration: Duration) {
    cpu::wait_until(duration, || false);
}

/// Raises edu MSIs one after the other, each once the previous one was
/// handled, until `stop`; counts them, and those not handled in time.
fn raise_until(
    edu: crate::edu::Edu,
    lpi: IntId,
    stop: &AtomicBool,
    raised: &AtomicU32,
    late: &AtomicU32,
) {
    while !stop.load(Ordering::Acquire) {
        let before = irq::count(lpi);
        edu.raise(1);
        raised.fetch_add(1, Ordering::AcqRel);
        if !cpu::wait_until(DELIVERY, || irq::count(lpi) > before) {
            late.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// A CPU goes offline while edu's MSIs flow to it and comes back, six
/// times: its events move to this CPU (MOVI, then its collection is
/// unmapped; or MOVALL, its collection moved along), and back when it is
/// online again. Another CPU raises the MSIs throughout; each must be
/// handled exactly once.
pub(super) fn cpu_offline_and_online_while_msis_flow(rig: &mut Rig) -> Outcome {
    if !has_cpus(3) {
        return Ok(());
    }
    let (edu, route) = edu_rig(rig)?;
    let (lpi, device_id) = (route.lpis[0], route.device_id);
    let me = cpu::this_cpu();
    let target = (0..smp::count()).find(|&cpu| cpu != me).unwrap_or(1);
    let raiser = smp::count() - 1;
    let kernel = &mut rig.kernel;
    kernel
        .cpus
        .set_affinity(&mut kernel.its, device_id, EventId(0), target)
        .map_err(|e| format!("edu to CPU {target}: {e}"))?;
    let start = irq::count(lpi);
    let start_cpus = per_cpu(lpi);
    let (stop, raised, late) = (AtomicBool::new(false), AtomicU32::new(0), AtomicU32::new(0));
    let raise = || raise_until(edu, lpi, &stop, &raised, &late);
    let outcome = smp::run_parallel(&[(raiser, &raise)], || {
        let rounds = (|| {
            for round in 0..HOTPLUG_ROUNDS {
                let handoff = if round % 2 == 0 {
                    Handoff::Movi {
                        to: me,
                        unmap: true,
                    }
                } else {
                    Handoff::Movall { to: me }
                };
                pause(Duration::from_millis(5));
                kernel
                    .cpus
                    .offline(&mut kernel.its, target, handoff)
                    .map_err(|e| format!("round {round}: CPU {target} offline: {e}"))?;
                pause(Duration::from_millis(5));
                kernel
                    .cpus
                    .online(&mut kernel.its, target)
                    .map_err(|e| format!("round {round}: CPU {target} online: {e}"))?;
            }
            pause(Duration::from_millis(5));
            Ok::<(), String>(())
        })();
        stop.store(true, Ordering::Release);
        rounds
    })
    .map_err(|e| format!("raising on CPU {raiser}: {e}"))?;
    quiet(SILENCE);
    let handled = irq::count(lpi) - start;
    let (raised, late) = (raised.load(Ordering::Acquire), late.load(Ordering::Acquire));
    let now = per_cpu(lpi);
    let taken: Vec<(usize, u32)> = (0..smp::count())
        .map(|cpu| (cpu, now[cpu] - start_cpus[cpu]))
        .filter(|&(_, n)| n != 0)
        .collect();
    let back = kernel
        .cpus
        .set_affinity(&mut kernel.its, device_id, EventId(0), me);
    outcome?;
    back.map_err(|e| format!("edu back to CPU {me}: {e}"))?;
    info!(
        "test: CPU {target} offline and online {HOTPLUG_ROUNDS} times: {raised} edu MSIs raised, {handled} handled, (CPU, MSIs) {taken:?}"
    );
    ensure!(
        raised == handled && late == 0 && raised > 0,
        "{raised} MSIs raised, {handled} handled, {late} not in time"
    );
    ensure!(
        taken.iter().any(|&(cpu, _)| cpu == target) && taken.iter().any(|&(cpu, _)| cpu == me),
        "MSIs taken only on {taken:?}: CPU {target} and CPU {me} should both have taken some"
    );
    Ok(())
}

/// Hits of the churned device's LPIs.
static CHURN_HITS: [AtomicU32; CHURN_EVENTS as usize] =
    [const { AtomicU32::new(0) }; CHURN_EVENTS as usize];

fn churn_hit(intid: IntId, _context: usize) {
    if let Some(hits) = CHURN_HITS.get(intid.0.wrapping_sub(CHURN_FIRST) as usize) {
        hits.fetch_add(1, Ordering::AcqRel);
    }
}

/// The driver behind a (ticket) spin lock, called from four CPUs at once while edu
/// raises MSIs: one CPU maps a device onto each CPU's collection in turn,
/// raises its events (INT) and unmaps it, over and over; one moves edu's
/// event from CPU to CPU (MOVI); one disables and enables edu's LPI; this
/// one raises edu MSIs, each once the previous one was handled. Every MSI
/// and every INT must be handled exactly once, and nothing may deadlock
/// (work that does not finish is a panic). The IRQ path takes no lock.
pub(super) fn driver_shared_by_cpus_while_msis_flow(rig: &mut Rig) -> Outcome {
    if !has_cpus(4) {
        return Ok(());
    }
    let (edu, route) = edu_rig(rig)?;
    let (lpi, edu_device) = (route.lpis[0], route.device_id);
    let me = cpu::this_cpu();
    let online: Vec<usize> = smp::online().collect();
    let workers: Vec<usize> = online.iter().copied().filter(|&cpu| cpu != me).collect();
    for hits in &CHURN_HITS {
        hits.store(0, Ordering::Release);
    }
    irq::register_range(IntId(CHURN_FIRST), CHURN_EVENTS, churn_hit, 0)
        .map_err(|_| "IRQ table full")?;
    let start = irq::count(lpi);
    let start_cpus = per_cpu(lpi);
    // First come, first served: no CPU starves the others of the driver.
    let its: spin::mutex::TicketMutex<_> = spin::mutex::TicketMutex::new(&mut rig.kernel.its.its);
    let stop = AtomicBool::new(false);
    let rounds = AtomicU32::new(0);
    let moves = AtomicU32::new(0);
    let toggles = AtomicU32::new(0);
    let failures: spin::Mutex<Vec<String>> = spin::Mutex::new(Vec::new());
    let fail = |what: String| failures.lock().push(what);

    let churn = || {
        let mut round = 0;
        while !stop.load(Ordering::Acquire) {
            let icid = msi::collection(online[round % online.len()]);
            let mapped = {
                let mut its = its.lock();
                its.map_device(CHURN_DEVICE, CHURN_EVENTS).and_then(|()| {
                    (0..CHURN_EVENTS).try_for_each(|event| {
                        its.map_event_to_lpi(
                            CHURN_DEVICE,
                            EventId(event),
                            icid,
                            IntId(CHURN_FIRST + event),
                        )
                    })
                })
            };
            if let Err(error) = mapped {
                fail(format!("round {round}: mapping: {error}"));
                return;
            }
            for event in 0..CHURN_EVENTS {
                if let Err(error) = its.lock().send_int(CHURN_DEVICE, EventId(event)) {
                    fail(format!("round {round}: INT: {error}"));
                }
            }
            let expected = round as u32 + 1;
            let delivered = cpu::wait_until(DELIVERY, || {
                CHURN_HITS
                    .iter()
                    .all(|hits| hits.load(Ordering::Acquire) >= expected)
            });
            if !delivered {
                fail(format!("round {round}: INTs not delivered in time"));
            }
            if let Err(error) = its.lock().unmap_device(CHURN_DEVICE) {
                fail(format!("round {round}: unmapping: {error}"));
                return;
            }
            round += 1;
            rounds.store(round as u32, Ordering::Release);
        }
    };
    let mover = || {
        let mut n = 0;
        while !stop.load(Ordering::Acquire) {
            let icid = msi::collection(online[n % online.len()]);
            if let Err(error) = its.lock().move_event(edu_device, EventId(0), icid) {
                fail(format!("MOVI edu to {icid}: {error}"));
            }
            n += 1;
            moves.store(n as u32, Ordering::Release);
            pause(Duration::from_micros(300));
        }
    };
    let toggler = || {
        let mut n = 0;
        while !stop.load(Ordering::Acquire) {
            for enabled in [false, true] {
                let result =
                    its.lock()
                        .configure_event(edu_device, EventId(0), DEFAULT_PRIORITY, enabled);
                if let Err(error) = result {
                    fail(format!("edu LPI enabled {enabled}: {error}"));
                }
                pause(Duration::from_micros(200));
            }
            n += 1;
            toggles.store(n, Ordering::Release);
        }
    };
    let jobs: [(usize, &(dyn Fn() + Sync)); 3] = [
        (workers[0], &churn),
        (workers[1], &mover),
        (workers[2], &toggler),
    ];
    let (raised, late) = smp::run_parallel(&jobs, || {
        let (mut raised, mut late) = (0, 0);
        let deadline = cpu::now() + CONCURRENT_LIMIT;
        let others_done = || {
            [&rounds, &moves, &toggles]
                .iter()
                .all(|done| done.load(Ordering::Acquire) >= CONCURRENT_OPERATIONS)
        };
        while (raised < CONCURRENT_MSIS || !others_done()) && cpu::now() < deadline {
            let before = irq::count(lpi);
            edu.raise(1);
            raised += 1;
            if !cpu::wait_until(DELIVERY, || irq::count(lpi) > before) {
                late += 1;
            }
        }
        stop.store(true, Ordering::Release);
        (raised, late)
    })
    .map_err(|e| format!("starting the workers: {e}"))?;
    quiet(SILENCE);
    irq::unregister(IntId(CHURN_FIRST));
    let handled = irq::count(lpi) - start;
    let now = per_cpu(lpi);
    let taken: Vec<(usize, u32)> = (0..smp::count())
        .map(|cpu| (cpu, now[cpu] - start_cpus[cpu]))
        .filter(|&(_, n)| n != 0)
        .collect();
    let rounds = rounds.load(Ordering::Acquire);
    let hits: Vec<u32> = CHURN_HITS
        .iter()
        .map(|hits| hits.load(Ordering::Acquire))
        .collect();
    let failures = failures.into_inner();
    // Leave edu's event as the other tests expect it: here, enabled.
    let its = &mut rig.kernel.its.its;
    let restored = its
        .move_event(edu_device, EventId(0), msi::collection(me))
        .and_then(|()| its.configure_event(edu_device, EventId(0), DEFAULT_PRIORITY, true));
    info!(
        "test: driver shared by CPUs {workers:?} and {me}: {rounds} map/INT/unmap rounds, {} MOVIs, {} disable/enable pairs; {raised} edu MSIs raised, {handled} handled, (CPU, MSIs) {taken:?}",
        moves.load(Ordering::Acquire),
        toggles.load(Ordering::Acquire)
    );
    ensure!(failures.is_empty(), "driver calls failed: {failures:?}");
    ensure!(
        handled == raised && late == 0,
        "{raised} edu MSIs raised, {handled} handled, {late} not in time"
    );
    let (moves, toggles) = (
        moves.load(Ordering::Acquire),
        toggles.load(Ordering::Acquire),
    );
    ensure!(
        rounds >= CONCURRENT_OPERATIONS
            && moves >= CONCURRENT_OPERATIONS
            && toggles >= CONCURRENT_OPERATIONS,
        "in {CONCURRENT_LIMIT:?}: {rounds} map/INT/unmap rounds, {moves} MOVIs, {toggles} disable/enable pairs"
    );
    ensure!(
        hits.iter().all(|&n| n == rounds),
        "{rounds} rounds of INTs, LPIs handled {hits:?} times"
    );
    ensure!(
        taken.len() >= 2,
        "edu's MSIs were taken only on {taken:?} while its event moved"
    );
    restored.map_err(|e| format!("edu back to CPU {me}: {e}"))
}
