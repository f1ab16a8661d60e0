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
                .map(|w| w.cpu_address..w.cpu_address + w.size),
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
    Ok(())
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
