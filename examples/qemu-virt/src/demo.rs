//! The default run: every `edu` device's MSI routed through the ITS and
//! raised a few times, each one handled as an LPI.

use crate::edu::Edu;
use crate::{Kernel, cpu, irq};
use core::time::Duration;
use gicv3_its::IntId;
use log::{info, warn};

/// MSIs raised per device.
const TRIGGERS: u32 = 3;

/// What the demo did: MSIs raised and handled over every edu.
#[derive(Clone, Copy, Debug, Default)]
pub struct EduUse {
    /// edu devices whose MSI was routed.
    pub devices: u32,
    /// MSIs raised.
    pub raised: u32,
    /// Of those, handled as LPIs.
    pub handled: u32,
}

/// Runs the demo.
pub fn run(kernel: &mut Kernel) -> EduUse {
    let mut used = EduUse::default();
    let Some(host) = kernel.platform.pci.clone() else {
        warn!("demo: no PCI host bridge in the DTB");
        return used;
    };
    let mut devices = 0;
    for function in &kernel.functions {
        let Some(edu) = Edu::new(function) else {
            continue;
        };
        devices += 1;
        let (id, alive) = edu.identify();
        info!(
            "edu {}: identification {id:#010x}, liveness {}",
            function.bdf,
            if alive { "ok" } else { "FAILED" }
        );
        let route = match kernel.its.route(&host, function, 1) {
            Ok(route) => route,
            Err(error) => {
                warn!("edu {}: MSI not routed: {error}", function.bdf);
                continue;
            }
        };
        let lpi = route.lpis[0];
        if irq::register(lpi, edu_interrupt, edu.context()).is_err() {
            warn!("edu {}: no room for another IRQ handler", function.bdf);
            continue;
        }
        for n in 1..=TRIGGERS {
            edu.raise(1);
            cpu::wait_until(Duration::from_secs(1), || irq::count(lpi) >= n);
        }
        used.devices += 1;
        used.raised += TRIGGERS;
        used.handled += irq::count(lpi);
        info!(
            "edu {}: {TRIGGERS} MSIs raised, {} handled as LPI {lpi} (DeviceID {:#x} EventID 0)",
            function.bdf,
            irq::count(lpi),
            route.device_id
        );
    }
    if devices == 0 {
        warn!("demo: no edu device (add -device edu)");
    }
    let usage = kernel.its.its.memory_use();
    info!("its: memory in use {usage:?}");
    used
}

/// The edu's IRQ handler: acknowledge at the device, so the next raise sends
/// a new MSI. Register it with the edu's [`Edu::context`] as its context.
pub fn edu_interrupt(intid: IntId, context: usize) {
    // SAFETY: every registration of this handler passes the edu's
    // `Edu::context` (demo.rs, hibernate/mod.rs, tests/its.rs).
    let Some(edu) = (unsafe { Edu::from_context(context) }) else {
        return;
    };
    let status = edu.acknowledge();
    info!("irq: LPI {intid} taken (edu interrupt status {status:#x})");
}
