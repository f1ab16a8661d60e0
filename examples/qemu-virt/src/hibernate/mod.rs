//! Hibernation: the whole boot -> hibernate -> restore cycle, done so that
//! the ITS never holds a mapping into memory the running kernel does not
//! own. The bug this guards against (reported on the Linux kernel mailing
//! list in July 2025, "Memory corruption after resume from hibernate with
//! Arm GICv3 ITS"): the boot kernel left its devices mapped in the ITS when
//! it jumped into the image, with ITTs at addresses the resumed kernel used
//! for other data; when the hypervisor later saved the guest (live update
//! or migration), KVM wrote the ITS state into those ITTs, over that
//! data.
//!
//! One binary plays three parts, with `hibernate` on its command line:
//!
//! - **Image kernel** (a boot that finds no image): brings up edu and NVMe,
//!   raises MSIs, then hibernates: quiesces NVMe, prints
//!   `PM: hibernation: entry`, runs [`gicv3_its::Its::save`] (everything
//!   unmapped, ITS disabled), saves its CPU context and copies its pages
//!   (kernel data/bss/stacks and the non-zero pages of its heap arena) to
//!   scratch RAM, restores the ITS so that NVMe's MSI-X works again, writes
//!   the image to the NVMe disk, tears the ITS down again, and resets
//!   (PSCI SYSTEM_RESET in the same QEMU), or with `hibernate-cold` exits
//!   QEMU for the runner to start a second one on the same disk.
//! - **Boot kernel** (a boot that finds a valid image): boots normally,
//!   with its heap (and so its ITS tables and ITTs) at a different offset,
//!   maps a device of its own (DeviceID 0) that the image kernel never
//!   knew, loads and checks the image, prints
//!   `PM: hibernation: handing over to image`, quiesces its devices, masks
//!   IRQs, runs its own save hook and releases its redistributor, then
//!   copies the image into place and jumps into it (see [`snapshot`]). If
//!   its save hook fails it does not jump (the seed's bug): it says so and
//!   powers off with status
//!   [`EXIT_HANDOVER_FAILED`](crate::protocol::EXIT_HANDOVER_FAILED), the
//!   image untouched.
//! - **Resumed kernel** (the image kernel again): with IRQs still masked,
//!   re-initialises the GIC and its redistributor and runs
//!   [`gicv3_its::Its::restore`] (replaying its registry), then unmasks
//!   IRQs, re-programs its devices' MSIs and resumes NVMe, invalidates
//!   the image, prints `PM: hibernation: exit`, then checks that DeviceID 0
//!   is not translated and that edu and NVMe MSIs arrive once per trigger
//!   on the same LPIs. Then the next cycle, or power off.
//!
//! Each part has its file: `image_kernel.rs`, `boot_kernel.rs` and
//! `resumed_kernel.rs`; the MSI checks are in `checks.rs`, the command-line
//! switches in `options.rs` and the per-cycle figures in `soak.rs`. This
//! file holds what they share and [`run`], which picks the part to play.
//!
//! Each phase is also marked in the ITS trace ([`marker`]) for the host
//! checker (`tests/qemu_support/hibernate_checker.rs`); the markers and the
//! log lines it reads are defined once, for both, in [`crate::protocol`].
//! `hibernate-no-teardown` makes the boot kernel skip its save hook, to show
//! that the checker catches it; `hibernate-fail-boot-save` makes it treat
//! its save hook as failed, to show that it then refuses to jump;
//! `hibernate-power-cut=POINT` cuts the power part-way through writing the
//! image (`power_cut.rs`).

mod header;
pub mod image;
pub mod snapshot;

mod boot_kernel;
mod checks;
mod image_kernel;
mod options;
mod power_cut;
mod resumed_kernel;
mod soak;

use crate::block::BlockDevice;
use crate::edu::Edu;
use crate::layout::Layout;
use crate::msi;
use crate::msi::MsiRoute;
use crate::protocol::NO_IMAGE_LINE;
use crate::{Kernel, cpu, irq, smp};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use gicv3_its::registers::{GITS_BASER, GITS_CBASER};
use gicv3_its::{DeviceId, EventId, IntId};
use image::{Header, ImageError, ItsView};
use log::{error, info, warn};
use options::Options;

/// How long an MSI may take to arrive.
const DELIVERY: Duration = Duration::from_millis(500);
const PAGE: usize = 4096;

unsafe extern "C" {
    static image_start: u8;
    static rodata_end: u8;
}

/// An edu device and its route.
struct EduRoute {
    edu: Edu,
    index: usize,
    device_id: DeviceId,
    lpi: IntId,
}

/// The kernel, its layout, and what the cycle keeps track of.
struct Hibernation {
    kernel: Kernel,
    options: Options,
    edu: Option<EduRoute>,
    failures: u32,
    /// Why an image on the disk was refused at boot, if one was.
    refused: Option<ImageError>,
    /// MSIs raised (edu) or commands issued (NVMe) in checks, and handled.
    triggered: u64,
    handled: u64,
}

/// Whether this boot runs the hibernation cycle.
pub fn requested(kernel: &Kernel) -> bool {
    kernel.platform.has_arg("hibernate")
}

/// Runs the cycle: resumes an image if there is one, otherwise becomes the
/// image kernel. Ends QEMU with the number of failures as its status.
pub fn run(kernel: Kernel) -> ! {
    let options = Options::from_args(&kernel);
    let mut hibernation = Hibernation {
        kernel,
        options,
        edu: None,
        failures: 0,
        refused: None,
        triggered: 0,
        handled: 0,
    };
    hibernation.route_edu();
    hibernation.spread_interrupts();
    match hibernation.find_image() {
        Ok(header) => {
            let error = hibernation.hand_over(&header);
            warn!("PM: hibernation: image not resumed: {error}; booting normally");
            hibernation.refused = Some(error);
        }
        Err(ImageError::NoImage) => info!("{NO_IMAGE_LINE}"),
        Err(error) => {
            warn!("PM: hibernation: {error}; booting normally");
            hibernation.refused = Some(error);
        }
    }
    hibernation.image_kernel()
}

/// The text checksum, entry, context and regions of this kernel, as an
/// image header would record them.
fn own_header(layout: &Layout, its: ItsView) -> Header {
    // The linker script defines both symbols; only their addresses are used.
    let text = (&raw const image_start) as usize..(&raw const rodata_end) as usize;
    // SAFETY: text and rodata are mapped, never written, and `text` lies
    // inside the kernel image.
    let text = unsafe { core::slice::from_raw_parts(text.start as *const u8, text.len()) };
    let range = |r: &core::ops::Range<usize>| r.start as u64..r.end as u64;
    Header {
        text_checksum: snapshot::checksum(text),
        resume_entry: snapshot::resume_entry(),
        context: snapshot::context_address(),
        skew: layout.skew,
        kernel_writable: range(&layout.kernel_writable),
        arena: range(&layout.arena),
        lpi_tables: range(&layout.lpi_tables),
        ranges: 0,
        pages: 0,
        table_checksum: 0,
        its,
    }
}

/// The scratch area as bytes.
///
/// # Safety
/// Scratch is RAM that nothing else uses (no heap, no image); the caller
/// must not hold another slice of it.
unsafe fn scratch(layout: &Layout) -> &'static mut [u8] {
    // SAFETY: the caller promised exclusive use; the range is mapped RAM.
    unsafe {
        core::slice::from_raw_parts_mut(layout.scratch.start as *mut u8, layout.scratch.len())
    }
}

impl Hibernation {
    fn disk(&mut self) -> Option<&mut dyn BlockDevice> {
        self.kernel
            .nvme
            .as_mut()
            .map(|nvme| nvme as &mut dyn BlockDevice)
    }

    fn fail(&mut self, message: String) {
        error!("PM: FAILED: {message}");
        self.failures += 1;
    }

    /// Routes the first edu's MSI to an LPI.
    fn route_edu(&mut self) {
        let Some(host) = self.kernel.platform.pci.clone() else {
            return;
        };
        let Some((index, function, edu)) = self
            .kernel
            .functions
            .iter()
            .enumerate()
            .find_map(|(i, f)| Some((i, f, Edu::new(f)?)))
        else {
            warn!("PM: no edu device");
            return;
        };
        match self.kernel.its.route(&host, function, 1) {
            Ok(MsiRoute { device_id, lpis }) => {
                if irq::register(lpis[0], crate::demo::edu_interrupt, edu.context()).is_ok() {
                    self.edu = Some(EduRoute {
                        edu,
                        index,
                        device_id,
                        lpi: lpis[0],
                    });
                }
            }
            Err(error) => warn!("PM: edu MSI not routed: {error}"),
        }
    }

    /// With more than one CPU, routes edu's MSI to the first CPU after
    /// this one and NVMe's I/O vector to the second (the first again with
    /// two CPUs); NVMe's admin vector stays here. Every kernel of the cycle
    /// does this, the boot kernel too.
    fn spread_interrupts(&mut self) {
        let me = cpu::this_cpu();
        let others: Vec<usize> = smp::online().filter(|&cpu| cpu != me).collect();
        let Some(&first) = others.first() else {
            return;
        };
        let second = others.get(1).copied().unwrap_or(first);
        let mut routes = Vec::new();
        if let Some(route) = &self.edu {
            routes.push((route.device_id, EventId(0), first));
        }
        if let Some(nvme) = &self.kernel.nvme {
            routes.push((nvme.route().device_id, EventId(1), second));
        }
        for (device_id, event_id, cpu) in routes {
            match self
                .kernel
                .cpus
                .set_affinity(&mut self.kernel.its, device_id, event_id, cpu)
            {
                Ok(()) => {
                    info!("PM: DeviceID {device_id:#x} EventID {event_id} routed to CPU {cpu}")
                }
                Err(error) => warn!(
                    "PM: DeviceID {device_id:#x} EventID {event_id} not routed to CPU {cpu}: {error}"
                ),
            }
        }
    }

    /// The CPU that takes an event now: the one whose collection holds it.
    fn cpu_of_event(&self, device_id: DeviceId, event_id: EventId) -> Option<usize> {
        self.kernel
            .its
            .its
            .registry()
            .event(device_id, event_id)
            .map(|mapping| msi::cpu_of(mapping.icid()))
    }

    /// Takes every CPU but this one offline, their events moved here (MOVI)
    /// and their collections kept for the restore: as a kernel does before
    /// it snapshots itself or jumps into an image.
    fn offline_secondaries(&mut self) {
        let others = smp::online().filter(|&cpu| cpu != cpu::this_cpu()).count();
        if others == 0 {
            return;
        }
        info!("PM: disabling non-boot CPUs ...");
        let result = self.kernel.cpus.offline_all(&mut self.kernel.its, false);
        if let Err(error) = result {
            self.fail(format!("taking the non-boot CPUs offline: {error}"));
        }
    }

    /// Brings every CPU back (each re-initialises its redistributor, gets its
    /// collection back and its events home).
    fn online_secondaries(&mut self) {
        if smp::count() == 1 {
            return;
        }
        info!("PM: enabling non-boot CPUs ...");
        let online = self.kernel.cpus.online_all(&mut self.kernel.its);
        if online != smp::count() {
            self.fail(format!(
                "{online} of {} CPUs came back online",
                smp::count()
            ));
        }
    }

    /// Turns the LPIs of every redistributor off after the ITS and the LPI
    /// domain were saved: the handover's last GIC step.
    fn release_redistributors(&mut self) -> Result<bool, gicv3_its::ItsError> {
        let its = &self.kernel.its;
        its.lpis.save()?;
        self.kernel.cpus.release_redistributors(&its.lpis)
    }

    fn find_image(&mut self) -> Result<Header, ImageError> {
        let Some(disk) = self.disk() else {
            return Err(ImageError::NoImage);
        };
        image::read_header(disk)
    }

    /// Logs where the ITS's tables are, from its registers: GITS_BASER0
    /// (Device table on QEMU), GITS_BASER1 (Collection table) and
    /// GITS_CBASER (command queue).
    fn log_its_tables(&self, who: &str) {
        let its = &self.kernel.its;
        let [device_table, collection_table] = [GITS_BASER[0], GITS_BASER[1]]
            .map(|baser| its.read_register(baser).read(GITS_BASER::Physical_Address) << 12);
        let queue = its
            .read_register(GITS_CBASER)
            .read(GITS_CBASER::Physical_Address)
            << 12;
        info!(
            "PM: {who}: ITS Device table at {device_table:#x}, Collection table at {collection_table:#x}, command queue at {queue:#x}"
        );
    }
}
