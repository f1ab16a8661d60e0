//! The resumed kernel: the image kernel again, returning from its snapshot
//! on the boot kernel's jump. With IRQs still masked it re-initialises its
//! GIC and redistributor and replays its ITS mappings, then brings its
//! devices back and invalidates the image.

use super::Hibernation;
use super::image::{self, ImageError};
use crate::cpu::{self, IrqGuard};
use crate::gic::Gic;
use crate::marker::mark;
use crate::pci;
use crate::protocol::{EXIT_LINE, Phase};
use alloc::format;
use log::{error, info};

impl Hibernation {
    /// The resumed kernel's first steps: GIC, ITS, devices, image. IRQs are
    /// masked (`masked`) until the GIC and the ITS are re-initialised.
    pub(super) fn resumed(&mut self, masked: IrqGuard) -> Result<(), ImageError> {
        let platform = &self.kernel.platform;
        // SAFETY: as in `bring_up`: the DTB's GICD and GICR, mapped as Device
        // memory; the reset (or the boot kernel) left them re-initialisable.
        match unsafe { Gic::init(platform.gicd.start, &platform.gicr) } {
            Ok(gic) => self.kernel.gic = gic,
            Err(error) => self.fail(format!("GIC re-init: {error}")),
        }
        let its = &mut self.kernel.its;
        if let Err(error) = crate::msi::enable_lpis(&its.lpis, &its.gicr, self.kernel.gic.rd_base())
        {
            self.fail(format!("init_redistributor: {error}"));
        }
        match self.kernel.its.its.restore() {
            // The other CPUs' collections wait for them to come online.
            Ok(restored) => info!("PM: ITS restored: {restored:?}"),
            Err(error) => self.fail(format!("ITS restore: {error}")),
        }
        // The GIC and ITS are this kernel's again: take interrupts (NVMe's
        // resume waits for its completion interrupts).
        drop(masked);
        cpu::enable_irqs();
        // The other CPUs, which the boot kernel left off: each re-initialises
        // its redistributor, then its collection is mapped again
        // (`restore_collections`) and its events come home.
        self.online_secondaries();
        self.resume_devices();
        let invalidated = match self.kernel.nvme.as_mut() {
            Some(nvme) => image::invalidate(nvme).and_then(|()| Ok(nvme.flush()?)),
            None => Err(ImageError::NoImage),
        };
        if let Err(error) = invalidated {
            self.fail(format!("invalidating the image: {error}"));
        }
        info!("{EXIT_LINE}");
        mark(Phase::Exit);
        Ok(())
    }

    /// PCI BARs, MSI, MSI-X and bus mastering back as this kernel had them,
    /// NVMe restarted.
    fn resume_devices(&mut self) {
        let Some(host) = self.kernel.platform.pci.clone() else {
            return;
        };
        self.kernel.functions = pci::enumerate(&host);
        let doorbell = self.kernel.its.doorbell();
        if let Some(route) = &self.edu
            && let Some(msi) = self.kernel.functions[route.index].msi()
        {
            msi.enable(doorbell, 0, 1);
            self.kernel.functions[route.index].set_bus_master(true);
        }
        if let Some(nvme) = self.kernel.nvme.as_mut() {
            let function = self.kernel.functions.iter().find(|f| f.bdf == nvme.bdf());
            if let Some(msix) = function.and_then(|f| f.msix()) {
                for vector in 0..nvme.lpis().len() as u16 {
                    msix.set_vector(vector, doorbell, u32::from(vector));
                    msix.mask(vector, false);
                }
                msix.enable();
            }
            if let Some(function) = function {
                function.set_bus_master(true);
            }
            if let Err(error) = nvme.resume() {
                error!("PM: nvme resume: {error}");
            }
        }
    }
}
