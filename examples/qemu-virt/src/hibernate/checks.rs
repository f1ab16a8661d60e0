//! The MSI checks: at boot and after each resume, every edu MSI raised and
//! every NVMe command's completion interrupt is handled exactly once, on
//! the LPIs the image kernel mapped; after a resume, neither DeviceID 0 nor
//! an edu that only the boot kernel mapped is translated. Each resume's
//! checks lie between the `ForeignProbe` and `ChecksDone` markers.

use super::{DELIVERY, Hibernation};
use crate::block::BlockDevice;
use crate::edu::Edu;
use crate::marker::mark;
use crate::protocol::{CheckPoint, FOREIGN_DEVICE, Phase};
use crate::{cpu, irq};
use alloc::vec::Vec;
use alloc::{format, vec};
use core::time::Duration;
use gicv3_its::{EventId, IntId};
use log::info;

/// edu MSIs raised per check.
const EDU_TRIGGERS: u32 = 3;
/// How long to watch for an MSI that must not arrive.
const QUIET: Duration = Duration::from_millis(20);
/// A sector the NVMe check writes and reads back, below the image area.
const CHECK_LBA: u64 = 64;

impl Hibernation {
    /// Raises edu MSIs and does NVMe I/O; each must be handled exactly once.
    pub(super) fn check_msis(&mut self, at: CheckPoint) {
        let when = at.name();
        if let Some(route) = &self.edu {
            let (edu, lpi) = (route.edu, route.lpi);
            // The CPU its collection targets must take every one.
            let target = self.cpu_of_event(route.device_id, EventId(0)).unwrap_or(0);
            let start = irq::count(lpi);
            let start_there = irq::count_on(lpi, target);
            for n in 1..=EDU_TRIGGERS {
                edu.raise(1);
                cpu::wait_until(DELIVERY, || irq::count(lpi) >= start + n);
            }
            cpu::wait_until(QUIET, || false);
            let handled = irq::count(lpi) - start;
            let there = irq::count_on(lpi, target) - start_there;
            self.triggered += u64::from(EDU_TRIGGERS);
            self.handled += u64::from(handled);
            info!(
                "{} {lpi}: {EDU_TRIGGERS} MSIs raised, {handled} handled, {there} on CPU {target}",
                at.edu_line()
            );
            if handled != EDU_TRIGGERS || there != handled {
                self.fail(format!(
                    "edu: {EDU_TRIGGERS} MSIs raised, {handled} handled, {there} of them on CPU {target} ({when})"
                ));
            }
        }
        let io_cpu = self
            .kernel
            .nvme
            .as_ref()
            .and_then(|nvme| self.cpu_of_event(nvme.route().device_id, EventId(1)))
            .unwrap_or(0);
        let Some(nvme) = self.kernel.nvme.as_mut() else {
            self.fail(format!("no NVMe disk ({when})"));
            return;
        };
        let lpis = nvme.lpis();
        let start: Vec<u32> = lpis.iter().map(|&lpi| irq::count(lpi)).collect();
        let io_start_there = irq::count_on(lpis[1], io_cpu);
        let pattern: Vec<u8> = (0..crate::block::SECTOR_SIZE)
            .map(|i| (i as u8) ^ (self.triggered as u8))
            .collect();
        let mut back = vec![0; pattern.len()];
        let result = nvme
            .write(CHECK_LBA, &pattern)
            .and_then(|()| nvme.read(CHECK_LBA, &mut back));
        cpu::wait_until(QUIET, || false);
        let handled: Vec<u32> = lpis
            .iter()
            .zip(&start)
            .map(|(&lpi, &s)| irq::count(lpi) - s)
            .collect();
        // The I/O vector's CPU must take its completions.
        let io_there = irq::count_on(lpis[1], io_cpu) - io_start_there;
        // Two I/O commands, one completion interrupt each.
        self.triggered += 2;
        self.handled += u64::from(handled[1]);
        info!(
            "{} {lpis:?}: 2 I/O commands, interrupts handled {handled:?}, data {}, I/O on CPU {io_cpu}: {io_there}",
            at.nvme_line(),
            match result {
                Ok(()) if back == pattern => "read back ok",
                Ok(()) => "MISMATCH",
                Err(_) => "I/O FAILED",
            }
        );
        if result.is_err() || back != pattern || handled[1] != 2 || io_there != 2 {
            self.fail(format!(
                "nvme: {result:?}, {handled:?} interrupts, {io_there} I/O on CPU {io_cpu} ({when})"
            ));
        }
    }

    /// After resume: DeviceID 0 (the boot kernel's) is not translated, and
    /// edu and NVMe MSIs arrive once each.
    pub(super) fn resume_checks(&mut self) {
        let (unhandled_before, _) = irq::unhandled();
        let counts: Vec<u32> = self.handled_lpis().map(irq::count).collect();
        mark(Phase::ForeignProbe);
        self.kernel.its.write_translater(0);
        cpu::wait_until(QUIET, || false);
        let (unhandled_after, last) = irq::unhandled();
        let counts_after: Vec<u32> = self.handled_lpis().map(irq::count).collect();
        if unhandled_after == unhandled_before && counts == counts_after {
            info!(
                "PM: check (resumed): DeviceID {FOREIGN_DEVICE:#x}, mapped only by the boot kernel, is not translated"
            );
        } else {
            self.fail(format!(
                "DeviceID {FOREIGN_DEVICE:#x} was translated after resume (INTID {last})"
            ));
        }
        self.check_unknown_edus(unhandled_after, &counts_after);
        self.check_msis(CheckPoint::Resumed);
        mark(Phase::ChecksDone);
    }

    /// Every edu this kernel did not route (a device the boot kernel may
    /// have mapped): its MSI, pointed at the doorbell, must not be
    /// translated. The MSI is disabled again afterwards.
    fn check_unknown_edus(&mut self, unhandled_before: u32, counts: &[u32]) {
        let Some(host) = self.kernel.platform.pci.clone() else {
            return;
        };
        let first = self.edu.as_ref().map(|route| route.index);
        let doorbell = self.kernel.its.doorbell();
        let mut unknown = Vec::new();
        for (index, function) in self.kernel.functions.iter().enumerate() {
            let Some(edu) = Edu::new(function).filter(|_| Some(index) != first) else {
                continue;
            };
            let Some(msi) = function.msi() else {
                continue;
            };
            let device_id = self
                .kernel
                .its
                .device_id(&host, function)
                .unwrap_or_default();
            // The MSI must reach the ITS (bus mastering on) for the ITS to
            // refuse it.
            msi.enable(doorbell, 0, 1);
            function.set_bus_master(true);
            edu.raise(1);
            cpu::wait_until(QUIET, || false);
            edu.acknowledge();
            msi.disable();
            function.set_bus_master(false);
            unknown.push((function.bdf, device_id));
        }
        let (unhandled, last) = irq::unhandled();
        let after: Vec<u32> = self.handled_lpis().map(irq::count).collect();
        for (bdf, device_id) in unknown {
            if unhandled == unhandled_before && after == counts {
                info!(
                    "PM: check (resumed): edu {bdf} (DeviceID {device_id:#x}), unknown to this kernel, is not translated"
                );
            } else {
                self.fail(format!(
                    "edu {bdf} (DeviceID {device_id:#x}) was translated after resume (INTID {last})"
                ));
            }
        }
    }

    fn handled_lpis(&self) -> impl Iterator<Item = IntId> + '_ {
        let nvme = self
            .kernel
            .nvme
            .as_ref()
            .map(|n| n.lpis())
            .unwrap_or_default();
        self.edu.iter().map(|e| e.lpi).chain(nvme)
    }
}
