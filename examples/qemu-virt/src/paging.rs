//! The kernel's identity map, built from the platform description: RAM as
//! Normal write-back memory, every device the kernel drives as
//! Device-nGnRE. Replaces aarch64-rt's initial map (one block of RAM).

use crate::boot::{DEVICE, NORMAL};
use crate::platform::{Platform, WindowKind};
use aarch64_paging::MapError;
use aarch64_paging::idmap::IdMap;
use aarch64_paging::paging::{El1And0, MemoryRegion};
use alloc::boxed::Box;
use core::ops::Range;
use core::sync::atomic::{AtomicU64, Ordering};

/// TTBR0_EL1 of the kernel's map (root and ASID), for other CPUs.
static KERNEL_TTBR0: AtomicU64 = AtomicU64::new(0);

/// ASID of the kernel's map (the initial map uses 0).
const ASID: usize = 1;
/// Root level 1 with aarch64-rt's TCR (T0SZ = 25): 512 GiB of VA.
const ROOT_LEVEL: usize = 1;
/// Addresses the map can hold.
pub const VA_LIMIT: u64 = 1 << 39;

/// Builds the identity map and switches to it. Device ranges above
/// [`VA_LIMIT`] (for example QEMU's 64-bit PCI window at 512 GiB) are left
/// out; the PCI layer does not place BARs there.
pub fn activate(platform: &Platform) -> Result<(), MapError> {
    let mut map = IdMap::with_asid(ASID, ROOT_LEVEL, El1And0);
    for ram in &platform.memory {
        map_range(&mut map, ram, NORMAL)?;
    }
    let mut devices = alloc::vec![platform.uart.clone(), platform.gicd.clone()];
    devices.extend(platform.gicr.iter().cloned());
    devices.extend(platform.its.iter().map(|its| its.frames.clone()));
    if let Some(pci) = &platform.pci {
        devices.push(pci.ecam.clone());
        devices.extend(
            pci.windows
                .iter()
                .filter(|w| w.kind != WindowKind::Io)
                .map(|w| w.cpu_address..w.cpu_address.saturating_add(w.size)),
        );
    }
    for device in devices.iter().filter(|d| d.end <= VA_LIMIT) {
        map_range(&mut map, device, DEVICE)?;
    }
    // The map lives as long as the kernel: it must never be dropped (that
    // would deactivate it), so leak it.
    let map = Box::leak(Box::new(map));
    // SAFETY: the new map covers all RAM (and so the kernel image, its stack,
    // heap and the DTB) with the same attributes as the initial map, and every
    // device the kernel uses; nothing else is in use.
    unsafe { map.activate() };
    let ttbr0: u64;
    // SAFETY: reading TTBR0_EL1 has no side effects.
    unsafe { core::arch::asm!("mrs {}, ttbr0_el1", out(reg) ttbr0, options(nomem, nostack)) };
    KERNEL_TTBR0.store(ttbr0, Ordering::Release);
    Ok(())
}

/// Switches this (secondary) CPU from the initial map to the kernel's, which
/// `activate` built on the first CPU. Both use aarch64-rt's MAIR and TCR.
pub fn activate_on_this_cpu() {
    let ttbr0 = KERNEL_TTBR0.load(Ordering::Acquire);
    if ttbr0 == 0 {
        return;
    }
    // SAFETY: the kernel's map covers everything the initial map does, with
    // the same attributes, and lives for ever (leaked in `activate`). Its
    // ASID was never used on this CPU, but stale entries of the initial map
    // are invalidated anyway.
    unsafe {
        core::arch::asm!(
            "msr ttbr0_el1, {}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            in(reg) ttbr0,
            options(nostack),
        );
    }
}

fn map_range(
    map: &mut IdMap<El1And0>,
    range: &Range<u64>,
    attributes: aarch64_paging::descriptor::El1Attributes,
) -> Result<(), MapError> {
    let start = (range.start as usize) & !4095;
    let end = (range.end as usize).next_multiple_of(4096);
    map.map_range(&MemoryRegion::new(start, end), attributes)
}
