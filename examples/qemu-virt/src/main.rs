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

mod block;
mod boot;
mod console;
mod cpu;
mod demo;
mod edu;
mod exceptions;
mod gic;
mod heap;
mod irq;
mod mmio;
mod msi;
mod nvme;
mod paging;
mod pci;
mod platform;
mod power;
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
use gicv3_its::ItsConfig;
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
    /// PCI functions found and configured.
    pub functions: Vec<Function>,
    /// The first NVMe controller, up and running, if there is one.
    pub nvme: Option<nvme::Nvme>,
}

unsafe extern "C" {
    static image_start: u8;
    static image_end: u8;
}

entry!(main, 64);
fn main(dtb: u64, _x1: u64, _x2: u64, entry_el: u64) -> ! {
    let kernel = match bring_up(dtb, entry_el) {
        Ok(kernel) => kernel,
        Err(message) => {
            error!("boot: {message}");
            power::exit(EXIT_BOOT_FAILED);
        }
    };
    if kernel.platform.has_arg("panic") {
        // For the host tests: a panic must end QEMU with a failure status.
        panic!("asked to by the kernel command line");
    }
    if kernel.platform.has_arg("test") {
        let failures = tests::run(kernel);
        power::exit(failures.min(255) as u32);
    }
    demo::run(kernel);
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
    // The linker script defines both symbols; only their addresses are used.
    let image = (&raw const image_start) as usize..(&raw const image_end) as usize;
    let dtb = dtb_address as usize..dtb_address as usize + fdt.total_size();
    let mut holes: [Range<usize>; 8] = [const { 0..0 }; 8];
    holes[0] = image.clone();
    holes[1] = dtb.clone();
    for (hole, reserved) in holes[2..].iter_mut().zip(fdt.memory_reservations()) {
        *hole = reserved.address() as usize..reserved.address() as usize + reserved.size();
    }
    // First the RAM the initial page table maps: enough for the real one.
    platform::for_each_memory_region(&fdt, |ram| {
        let start = (ram.start as usize).max(INITIAL_BLOCK.start);
        let end = (ram.end as usize).min(INITIAL_BLOCK.end);
        if start < end {
            // SAFETY: RAM from the DTB inside the initially mapped block,
            // minus the kernel image, the DTB and reserved memory.
            unsafe { heap::add_ram(start..end, &holes) };
        }
    });
    let Ok(platform) = Platform::from_dtb(&fdt) else {
        power::exit(EXIT_BOOT_FAILED);
    };
    power::set_psci_conduit(platform.psci);
    if paging::activate(&platform).is_err() {
        power::exit(EXIT_BOOT_FAILED);
    }
    // Then the rest of RAM, now mapped.
    for ram in &platform.memory {
        for part in [
            ram.start as usize..(ram.end as usize).min(INITIAL_BLOCK.start),
            (ram.start as usize).max(INITIAL_BLOCK.end)..ram.end as usize,
        ] {
            if part.start < part.end {
                // SAFETY: RAM from the DTB, now mapped, minus the holes.
                unsafe { heap::add_ram(part, &holes) };
            }
        }
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
        "boot: RAM {:#x?}, heap {} KiB",
        platform.memory,
        heap::usage().1 / 1024
    );

    // SAFETY: GICD and the GICR regions come from the DTB and are mapped as
    // Device memory; the GIC module is their only user apart from the ITS
    // driver's LPI registers.
    let gic = unsafe { Gic::init(platform.gicd.start, &platform.gicr) }
        .map_err(|e| format!("GIC: {e}"))?;
    info!(
        "gic: distributor at {:#x}, redistributor at {:#x}",
        gic.gicd(),
        gic.rd_base()
    );
    cpu::enable_irqs();

    let config = ItsConfig {
        lpi_id_bits: gic.lpi_id_bits().min(16),
        ..ItsConfig::default()
    };
    let mut its = ItsService::init(&platform, &gic, config).map_err(|e| format!("ITS: {e}"))?;
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
    Ok(Kernel {
        platform,
        gic,
        its,
        functions,
        nvme,
    })
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    console::try_write_fmt(format_args!("PANIC: {info}"));
    power::exit(101);
}
