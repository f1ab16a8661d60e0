//! Booting Linux as a boot loader would, after using the ITS (`to-linux`
//! on the command line): the kernel raises edu MSIs and reads from NVMe
//! through the ITS, then leaves the machine as the next kernel must find
//! it, and enters Linux by the arm64 boot protocol.
//!
//! Where things come from: the Image lies where `linux-image=ADDRESS` says
//! (`qemu/run --to-linux` has QEMU's generic loader put it there, as
//! firmware would have read it from storage); the initrd and the command
//! line are in the DTB, from QEMU's `-initrd` and `-append`, and Linux gets
//! that DTB as it is (the command line is shared: each kernel ignores the
//! other's words). `main` keeps the Image and the initrd out of the heap
//! and scratch RAM.
//!
//! Who leaves what for Linux:
//!
//! - **The ITS** (the `gicv3-its` crate): [`gicv3_its::Its::save`] unmaps
//!   every device and collection and disables the ITS with its tables
//!   invalid, so no mapping points into memory Linux now owns.
//! - **The LPIs** (the crate): [`gicv3_its::LpiDomain::release_redistributor`]
//!   clears EnableLPIs on every redistributor, so Linux can program its own
//!   tables (otherwise it warns "Booted with LPIs enabled, memory probably
//!   corrupted").
//! - **Devices** (this kernel): NVMe shut down, every PCI function's MSI,
//!   MSI-X and bus mastering off ([`crate::pci::Function::quiesce`]).
//! - **The CPUs** (this kernel): every other CPU offline (its events moved
//!   here, its collection unmapped, PSCI CPU_OFF); on this one timers
//!   stopped, its SGIs and PPIs disabled, deactivated and cleared, group 1
//!   interrupts off at the CPU interface, IRQs masked, the
//!   Image, initrd and DTB cleaned to the Point of Coherency, MMU and
//!   caches off ([`jump`]).
//!
//! `linux-no-teardown` skips the ITS and LPI steps, to show that the trace
//! checker and Linux notice.

mod image;
mod jump;
pub mod rounds;

pub use image::LinuxImage;

use crate::block::{BlockDevice, SECTOR_SIZE};
use crate::boot::INITIAL_BLOCK;
use crate::gic::cpu_interface;
use crate::marker::mark;
use crate::protocol::{
    EXIT_HANDOVER_FAILED, LINUX_FAILED_LINE, LINUX_HANDOVER_LINE, LINUX_IMAGE_LINE,
    LINUX_JUMP_LINE, LINUX_NO_TEARDOWN_LINE, LINUX_USED_LINE, Phase,
};
use crate::{Kernel, cpu, demo, irq, power};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use core::ops::Range;
use core::time::Duration;
use log::{error, info, warn};

/// Sectors read from NVMe before the handover, one command each.
const NVME_READS: u64 = 4;

/// Whether this boot ends by entering Linux.
pub fn requested(kernel: &Kernel) -> bool {
    kernel.platform.has_arg("to-linux")
}

/// Uses the devices, hands the machine over and enters Linux. Returns only
/// by powering off with [`EXIT_HANDOVER_FAILED`] if something is wrong
/// before the jump.
pub fn run(mut kernel: Kernel) -> ! {
    let Err(error) = hand_over(&mut kernel, true);
    error!("{LINUX_FAILED_LINE} {error}; powering off with status {EXIT_HANDOVER_FAILED}");
    power::exit(EXIT_HANDOVER_FAILED);
}

/// As [`run`], for a kernel whose devices have raised their MSIs through
/// the ITS already (a resumed kernel's checks, `linux-rounds`): nothing
/// more is routed before the handover.
pub fn run_after_use(mut kernel: Kernel) -> ! {
    let Err(error) = hand_over(&mut kernel, false);
    error!("{LINUX_FAILED_LINE} {error}; powering off with status {EXIT_HANDOVER_FAILED}");
    power::exit(EXIT_HANDOVER_FAILED);
}

/// Everything up to the jump; an error before it leaves the ITS as it was
/// or saved, and nothing entered.
fn hand_over(kernel: &mut Kernel, use_first: bool) -> Result<core::convert::Infallible, String> {
    let image = LinuxImage::named(&kernel.platform.bootargs, &INITIAL_BLOCK)
        .ok_or("no linux-image=ADDRESS on the command line")?
        .map_err(|error| format!("{error}"))?;
    let initrd = kernel
        .platform
        .initrd
        .clone()
        .map(|range| range.start as usize..range.end as usize);
    check_placement(kernel, &image, initrd.as_ref())?;
    let initrd_text = match &initrd {
        Some(range) => format!("{:#x}..{:#x}", range.start, range.end),
        None => String::from("none"),
    };
    info!(
        "{LINUX_IMAGE_LINE} {:#x} ({} bytes with BSS, flags {:#x}), initrd {initrd_text}, DTB at {:#x}",
        image.entry, image.size, image.flags, kernel.dtb.start
    );

    if use_first {
        use_devices(kernel)?;
    }

    info!("{LINUX_HANDOVER_LINE}");
    // Linux brings the other CPUs up itself, with PSCI CPU_ON: they must be
    // off. Their events come here first and their collections go.
    kernel
        .cpus
        .offline_all(&mut kernel.its, true)
        .map_err(|error| format!("taking the other CPUs offline: {error}"))?;
    if let Some(nvme) = kernel.nvme.as_mut() {
        nvme.suspend()
            .map_err(|error| format!("NVMe shutdown: {error}"))?;
    }
    for function in &kernel.functions {
        function.quiesce();
    }
    // No interrupt is taken from here on: Linux unmasks its own.
    let masked = cpu::IrqGuard::new();
    if kernel.platform.has_arg("linux-no-teardown") {
        warn!("{LINUX_NO_TEARDOWN_LINE}");
    } else {
        let its = &mut kernel.its;
        its.its
            .save_for_handover()
            .map_err(|error| format!("the ITS save hook: {error}"))?;
        its.lpis
            .save()
            .map_err(|error| format!("the LPI domain's save: {error}"))?;
        match kernel.cpus.release_redistributors(&its.lpis) {
            Ok(true) => info!("linux: redistributor LPIs disabled"),
            Ok(false) => warn!(
                "linux: EnableLPIs cannot be cleared on this GIC: Linux must find its LPI tables reserved"
            ),
            Err(error) => return Err(format!("releasing the redistributors: {error}")),
        }
    }
    cpu_interface::disable();
    cpu::stop_timers();
    kernel
        .gic
        .redistributors()
        .silence(cpu::affinity())
        .map_err(|error| format!("silencing this CPU's SGIs and PPIs: {error}"))?;
    for range in [Some(image.range()), initrd, Some(kernel.dtb.clone())]
        .into_iter()
        .flatten()
    {
        cpu::clean_to_poc(range.start, range.len());
    }
    let at_el2 = kernel.entry_el == 2;
    info!(
        "{LINUX_JUMP_LINE} {:#x} at EL{}, x0 = DTB {:#x}",
        image.entry,
        if at_el2 { 2 } else { 1 },
        kernel.dtb.start
    );
    mark(Phase::ToLinux);
    core::mem::forget(masked);
    // SAFETY: the Image's header was checked and its placement too (above):
    // it, the initrd and the DTB lie in RAM this kernel never wrote, and are
    // cleaned to the PoC. One CPU runs (the others are off), every
    // PCI function is quiesced, IRQs are masked, the ITS saved and the
    // redistributors released (unless `linux-no-teardown` asked for the
    // bug). This kernel's code is identity mapped; the EL2 stub exists when
    // it was entered at EL2 (boot.rs).
    unsafe { jump::enter(image.entry, kernel.dtb.start, at_el2) }
}

/// The Image, with its BSS, and the initrd must lie in RAM, clear of each
/// other, of the DTB and of everything this kernel writes.
fn check_placement(
    kernel: &Kernel,
    image: &LinuxImage,
    initrd: Option<&Range<usize>>,
) -> Result<(), String> {
    let in_ram = |range: &Range<usize>| {
        kernel
            .platform
            .memory
            .iter()
            .any(|ram| ram.start as usize <= range.start && range.end <= ram.end as usize)
    };
    let overlap = |a: &Range<usize>, b: &Range<usize>| a.start < b.end && b.start < a.end;
    let layout = &kernel.layout;
    // SAFETY: only the symbols' addresses are used.
    let own_image = unsafe { crate::image_range() };
    let ours = [
        ("this kernel's image", own_image),
        ("the LPI tables", layout.lpi_tables.clone()),
        ("the heap", layout.arena_region.clone()),
        ("the DTB", kernel.dtb.clone()),
    ];
    let image_range = image.range();
    if !in_ram(&image_range) {
        return Err(format!("the Image {image_range:#x?} is not in RAM"));
    }
    for (what, range) in &ours {
        if overlap(&image_range, range) {
            return Err(format!(
                "the Image {image_range:#x?} overlaps {what} {range:#x?}"
            ));
        }
    }
    if let Some(initrd) = initrd {
        if !in_ram(initrd) {
            return Err(format!("the initrd {initrd:#x?} is not in RAM"));
        }
        if overlap(initrd, &image_range) {
            return Err(format!(
                "the initrd {initrd:#x?} overlaps the Image {image_range:#x?}"
            ));
        }
        for (what, range) in &ours {
            if overlap(initrd, range) {
                return Err(format!(
                    "the initrd {initrd:#x?} overlaps {what} {range:#x?}"
                ));
            }
        }
    }
    Ok(())
}

/// edu MSIs and NVMe reads through the ITS, each interrupt handled once:
/// the mappings Linux must not inherit.
fn use_devices(kernel: &mut Kernel) -> Result<(), String> {
    let edu = demo::run(kernel);
    let nvme = kernel.nvme.as_mut().ok_or("no NVMe disk")?;
    let lpi = nvme.lpis()[1];
    let before = irq::count(lpi);
    let mut sector = vec![0; SECTOR_SIZE];
    for lba in 0..NVME_READS {
        nvme.read(lba, &mut sector)
            .map_err(|error| format!("NVMe read of LBA {lba}: {error}"))?;
    }
    cpu::wait_until(Duration::from_millis(20), || false);
    let interrupts = irq::count(lpi) - before;
    info!(
        "{LINUX_USED_LINE} edu MSIs {} raised, {} handled; NVMe {NVME_READS} reads, {interrupts} interrupts",
        edu.raised, edu.handled
    );
    if edu.devices == 0 || edu.handled != edu.raised || u64::from(interrupts) != NVME_READS {
        return Err(String::from(
            "the devices did not raise their MSIs through the ITS as expected",
        ));
    }
    Ok(())
}
