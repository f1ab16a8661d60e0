//! An example kernel for QEMU's `virt` board: it boots from the DTB, brings
//! up the GIC, the ITS (through the `gicv3-its` crate) and PCI, and shows
//! PCI devices' MSIs arriving as LPIs through the ITS. With `test` on the
//! kernel command line (`-append test`) it runs the on-target tests instead
//! and reports the verdict as QEMU's exit status through semihosting.

#![no_std]
#![no_main]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod bench;
mod block;
mod boot;
mod console;
mod cpu;
mod demo;
mod edu;
mod exceptions;
mod gic;
mod heap;
mod hibernate;
mod hotplug;
mod irq;
mod layout;
mod linux;
mod marker;
mod msi;
mod nvme;
mod paging;
mod pci;
mod platform;
mod power;
use protocol::EARLY_STOP_LINE;
/// What the host tests read: phase markers and log lines.
use qemu_protocol as protocol;
mod semihosting;
mod smp;
mod tests;

use crate::boot::INITIAL_BLOCK;
use crate::gic::Gic;
use crate::msi::ItsService;
use crate::pci::Function;
use crate::platform::Platform;
use aarch64_rt::entry;
use alloc::vec::Vec;
use core::ops::Range;
use core::panic::PanicInfo;
use core::ptr::NonNull;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{ItsConfig, LpiDomainConfig};
use log::{LevelFilter, error, info};

/// Exit status when the platform could not be brought up.
const EXIT_BOOT_FAILED: u32 = 2;

/// Everything the kernel brought up, for the demo and the tests.
pub struct Kernel {
    /// The machine, from the DTB.
    pub platform: Platform,
    /// Distributor, this CPU's redistributor and CPU interface.
    pub gic: Gic,
    /// The ITS.
    pub its: ItsService,
    /// Every CPU's redistributor, collection and events.
    pub cpus: hotplug::Cpus,
    /// PCI functions found and configured.
    pub functions: Vec<Function>,
    /// The first NVMe controller, up and running, if there is one.
    pub nvme: Option<nvme::Nvme>,
    /// Where the heap, the LPI tables and scratch RAM are (layout.rs).
    pub layout: layout::Layout,
    /// The DTB the kernel was entered with, for a kernel it boots.
    pub dtb: Range<usize>,
    /// The exception level the kernel was entered at (it runs at EL1).
    pub entry_el: u64,
}

unsafe extern "C" {
    static image_start: u8;
    static image_end: u8;
    static data_begin: u8;
}

/// The kernel's whole image in memory, text to stacks.
///
/// # Safety
/// None beyond the linker script defining the symbols; only their
/// addresses are used (an `unsafe fn` because the statics are foreign).
pub unsafe fn image_range() -> Range<usize> {
    (&raw const image_start) as usize..(&raw const image_end) as usize
}

entry!(main, 64);
fn main(dtb: u64, _x1: u64, _x2: u64, entry_el: u64) -> ! {
    let mut kernel = match bring_up(dtb, entry_el) {
        Ok(kernel) => kernel,
        Err(message) => {
            error!("boot: {message}");
            power::exit(EXIT_BOOT_FAILED);
        }
    };
    if kernel.platform.has_arg("bench") {
        bench::run(kernel);
    }
    if kernel.platform.has_arg("panic") {
        // For the host tests: a panic must end QEMU with a failure status.
        panic!("asked to by the kernel command line");
    }
    if kernel.platform.has_arg("test") {
        let failures = tests::run(kernel);
        power::exit(failures.min(255) as u32);
    }
    if hibernate::requested(&kernel) {
        hibernate::run(kernel);
    }
    if linux::requested(&kernel) {
        linux::run(kernel);
    }
    demo::run(&mut kernel);
    info!("boot: done, powering off");
    power::system_off();
}

/// Heap, page tables, console, GIC, ITS and PCI, in that order. Until the
/// console is up a failure can only be reported by the exit status.
fn bring_up(dtb_address: u64, entry_el: u64) -> Result<Kernel, alloc::string::String> {
    use alloc::format;

    let Ok(fdt) = platform::dtb_at(dtb_address, INITIAL_BLOCK) else {
        power::exit(EXIT_BOOT_FAILED);
    };
    // Before anything uses memory a previous owner's GIC tables may occupy,
    // the heap included: its ITSes and redistributors stopped (reported
    // once the console is up).
    let early_stop = msi::stop_previous_owner_early(&fdt, WaitPolicy::default());
    // SAFETY: the linker script defines the symbols.
    let image = unsafe { image_range() };
    let dtb = dtb_address as usize..dtb_address as usize + fdt.total_size();
    let mut holes: [Range<usize>; 8] = [const { 0..0 }; 8];
    holes[0] = image.clone();
    holes[1] = dtb.clone();
    // For `to-linux`: the initrd and the Linux Image the kernel boots must
    // survive until then (the Image's BSS too). With `linux-rounds` the
    // initrd is the copy QEMU's loader keeps (the DTB's is kexec's stub).
    let bootargs = fdt.chosen().ok().and_then(|chosen| chosen.bootargs());
    let loader_initrd = bootargs.and_then(linux::rounds::initrd);
    if let Some(initrd) = loader_initrd.clone() {
        holes[2] = initrd;
    } else if let Some(initrd) = platform::initrd(&fdt) {
        holes[2] = initrd.start as usize..initrd.end as usize;
    }
    if let Some(Ok(linux)) =
        bootargs.and_then(|args| linux::LinuxImage::named(args, &INITIAL_BLOCK))
    {
        holes[3] = linux.range();
    }
    for (hole, reserved) in holes[4..].iter_mut().zip(fdt.memory_reservations()) {
        *hole = reserved.address() as usize..reserved.address() as usize + reserved.size();
    }
    // The heap is a fixed-size arena at a place every boot agrees on, so
    // that a hibernation image can hold it (layout.rs).
    let writable = (&raw const data_begin) as usize..image.end;
    let Ok(layout) = layout::Layout::plan(&fdt, image.clone(), writable, INITIAL_BLOCK, &holes)
    else {
        power::exit(EXIT_BOOT_FAILED);
    };
    // SAFETY: the arena is RAM inside the initially mapped block, outside
    // the kernel image, the DTB and reserved memory (checked by `plan`), and
    // used by nothing else.
    unsafe { heap::add_arena(layout.arena.clone()) };
    let Ok(mut platform) = Platform::from_dtb(&fdt) else {
        power::exit(EXIT_BOOT_FAILED);
    };
    if let Some(initrd) = loader_initrd {
        platform.initrd = Some(initrd.start as u64..initrd.end as u64);
    }
    power::set_psci_conduit(platform.psci);
    let boot_cpu = smp::init(&platform.cpus);
    if paging::activate(&platform).is_err() {
        power::exit(EXIT_BOOT_FAILED);
    }
    let uart = NonNull::new(platform.uart.start as *mut _).ok_or("no UART")?;
    // SAFETY: the DTB's console UART, mapped as Device memory by
    // `paging::activate`, used only by the console.
    unsafe { console::init(uart, LevelFilter::Info) };
    info!(
        "boot: gicv3-its example kernel, entered at EL{entry_el}, running at EL{}, DTB at {dtb_address:#x}, image {:#x}..{:#x}, args {:?}",
        cpu::current_el(),
        image.start,
        image.end,
        platform.bootargs
    );
    info!(
        "boot: RAM {:#x?}, heap {} KiB at {:#x}..{:#x} (allocation offset {} MiB), LPI tables at {:#x}, scratch {:#x}..{:#x}",
        platform.memory,
        heap::usage().1 / 1024,
        layout.arena.start,
        layout.arena.end,
        layout.skew,
        layout.lpi_tables.start,
        layout.scratch.start,
        layout.scratch.end,
    );
    let stop = early_stop.map_err(|e| format!("stopping the previous owner's GIC: {e}"))?;
    info!(
        "{EARLY_STOP_LINE} {} ITSes quiesced; {} redistributors, LPIs left on stopped at {}, stuck at {}",
        stop.itses, stop.redistributors, stop.stopped, stop.stuck
    );
    // Whatever kernel ran before (Linux, through kexec) may have left a
    // timer armed, and (beyond the initial map) ITSes and redistributors
    // running on tables in memory this kernel is about to use: all stopped
    // first. The GIC is reset here.
    cpu::stop_timers();
    // SAFETY: GICD and the GICR regions come from the DTB and are mapped as
    // Device memory; the GIC module is their only user apart from the ITS
    // driver's LPI registers.
    let gic = unsafe { Gic::init(platform.gicd.start, &platform.gicr) }
        .map_err(|e| format!("GIC: {e}"))?;
    // Waits for the GIC are bounded in time by the generic timer (one second
    // each, the driver's default on aarch64), not by a count of register
    // reads.
    let wait = WaitPolicy::default();
    msi::stop_previous_owner(&platform, wait)
        .map_err(|e| format!("stopping the previous owner's GIC state: {e}"))?;
    info!(
        "gic: distributor at {:#x}, redistributor at {:#x}",
        gic.gicd(),
        gic.rd_base()
    );
    cpu::enable_irqs();

    let lpis = LpiDomainConfig {
        id_bits: gic.lpi_id_bits().min(16),
        wait,
        ..LpiDomainConfig::default()
    };
    // SAFETY: called once per boot; the LPI domain keeps the region for ever.
    let lpi_region = unsafe { layout.lpi_region() };
    if let Some(its) = platform
        .its
        .first()
        .and_then(|node| NonNull::new(node.frames.start as *mut u8))
    {
        // SAFETY: the ITS frames from the DTB, identity mapped as Device
        // memory for ever by `paging::activate`.
        unsafe { marker::set_its_frame(its) };
    }
    marker::mark(protocol::Phase::Boot);
    let config = ItsConfig {
        wait,
        ..ItsConfig::default()
    };
    let mut its = ItsService::init(&platform, &gic, lpis, lpi_region, config)
        .map_err(|e| format!("ITS: {e}"))?;
    // Every other CPU of the DTB: PSCI CPU_ON, its own redistributor and
    // LPIs, a collection of its own (hotplug.rs).
    let mut cpus = hotplug::Cpus::new(gic.redistributors().clone(), its.processor_number);
    let online = cpus.online_all(&mut its);
    info!(
        "smp: {online} of {} CPUs online (boot CPU {boot_cpu}, MPIDR {:#x})",
        smp::count(),
        smp::mpidr(boot_cpu)
    );
    let functions = match &platform.pci {
        Some(host) => pci::enumerate(host),
        None => Vec::new(),
    };
    // The disk is not essential to the demo: without it, say why and go on.
    let nvme = match &platform.pci {
        Some(host) => nvme::probe(&mut its, host, &functions).unwrap_or_else(|e| {
            log::warn!("nvme: not brought up: {e}");
            None
        }),
        None => None,
    };
    // A kernel that hibernates and then boots Linux (`linux-rounds`) needs
    // the DTB after its resume: a copy in the heap, which the image holds.
    let dtb = if linux::rounds::requested(&platform.bootargs).is_some() {
        linux::rounds::keep_dtb(&dtb)
    } else {
        dtb
    };
    Ok(Kernel {
        platform,
        gic,
        its,
        cpus,
        functions,
        nvme,
        layout,
        dtb,
        entry_el,
    })
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    console::try_write_fmt(format_args!("PANIC: {info}"));
    power::exit(101);
}
