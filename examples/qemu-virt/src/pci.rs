//! PCI over ECAM: enumeration, BAR assignment from the host bridge's
//! windows, and the MSI and MSI-X capabilities (PCI Local Bus 3.0 chapter 6,
//! PCIe Base 6.1 and 7.7.1-2).
//!
//! Only the host bridge's first bus is scanned and bridges are not
//! configured: QEMU's `virt` puts `-device`s on bus 0.

use crate::mmio::{read8, read16, read32, write16, write32};
use crate::paging::VA_LIMIT;
use crate::platform::{PciHost, PciWindow, WindowKind};
use alloc::vec::Vec;
use core::fmt;

const VENDOR_ID: usize = 0x00;
const COMMAND: usize = 0x04;
const STATUS: usize = 0x06;
const CLASS_REVISION: usize = 0x08;
const HEADER_TYPE: usize = 0x0e;
const BAR0: usize = 0x10;
const CAPABILITIES_POINTER: usize = 0x34;

const COMMAND_MEMORY: u16 = 1 << 1;
const COMMAND_BUS_MASTER: u16 = 1 << 2;
const COMMAND_INTX_DISABLE: u16 = 1 << 10;
const STATUS_CAPABILITIES: u16 = 1 << 4;

/// Capability IDs.
pub const CAP_MSI: u8 = 0x05;
/// MSI-X capability ID.
pub const CAP_MSIX: u8 = 0x11;

/// Bus, device, function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Bdf {
    /// Bus number.
    pub bus: u8,
    /// Device number, 0..32.
    pub device: u8,
    /// Function number, 0..8.
    pub function: u8,
}

impl Bdf {
    /// The requester ID the function's memory writes (MSIs) carry.
    pub fn requester_id(self) -> u16 {
        u16::from(self.bus) << 8 | u16::from(self.device) << 3 | u16::from(self.function)
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

/// An assigned memory BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bar {
    /// Address on the PCI bus (what the BAR holds).
    pub pci_address: u64,
    /// Address the CPU uses (identity mapped).
    pub cpu_address: u64,
    /// Bytes.
    pub size: u64,
}

/// A PCI function found on the bus.
#[derive(Debug)]
pub struct Function {
    /// Where it is.
    pub bdf: Bdf,
    /// Vendor ID.
    pub vendor_id: u16,
    /// Device ID.
    pub device_id: u16,
    /// Class, subclass, programming interface.
    pub class: u32,
    /// Memory BARs the enumerator assigned, by index.
    pub bars: [Option<Bar>; 6],
    config: usize,
}

impl Function {
    fn read8(&self, offset: usize) -> u8 {
        // SAFETY: `config` is this function's 4 KiB ECAM space, mapped as
        // Device memory; offsets stay below 4 KiB.
        unsafe { read8(self.config + (offset & 0xfff)) }
    }

    fn read16(&self, offset: usize) -> u16 {
        // SAFETY: as for `read8`, 2-byte aligned.
        unsafe { read16(self.config + (offset & 0xffe)) }
    }

    fn read32(&self, offset: usize) -> u32 {
        // SAFETY: as for `read8`, 4-byte aligned.
        unsafe { read32(self.config + (offset & 0xffc)) }
    }

    fn write16(&self, offset: usize, value: u16) {
        // SAFETY: as for `read8`; the enumerator owns configuration space.
        unsafe { write16(self.config + (offset & 0xffe), value) }
    }

    fn write32(&self, offset: usize, value: u32) {
        // SAFETY: as for `write16`.
        unsafe { write32(self.config + (offset & 0xffc), value) }
    }

    /// The capabilities, as (ID, offset in configuration space).
    pub fn capabilities(&self) -> impl Iterator<Item = (u8, usize)> + '_ {
        let mut next = if self.read16(STATUS) & STATUS_CAPABILITIES != 0 {
            usize::from(self.read8(CAPABILITIES_POINTER) & 0xfc)
        } else {
            0
        };
        // At most 48 capabilities fit in 256 bytes: stop a malformed loop.
        (0..48).map_while(move |_| {
            if next < 0x40 {
                return None;
            }
            let offset = next;
            next = usize::from(self.read8(offset + 1) & 0xfc);
            Some((self.read8(offset), offset))
        })
    }

    /// The MSI capability, if the function has one.
    pub fn msi(&self) -> Option<Msi<'_>> {
        let (_, cap) = self.capabilities().find(|&(id, _)| id == CAP_MSI)?;
        Some(Msi {
            function: self,
            cap,
        })
    }

    /// The MSI-X capability, if the function has one and its table is in an
    /// assigned BAR.
    pub fn msix(&self) -> Option<MsiX<'_>> {
        let (_, cap) = self.capabilities().find(|&(id, _)| id == CAP_MSIX)?;
        let control = self.read16(cap + 2);
        let table = self.read32(cap + 4);
        let bar = self.bars.get((table & 7) as usize).copied().flatten()?;
        Some(MsiX {
            function: self,
            cap,
            table: (bar.cpu_address + u64::from(table & !7)) as usize,
            vectors: (control & 0x7ff) + 1,
        })
    }
}

/// A function's MSI capability.
pub struct Msi<'a> {
    function: &'a Function,
    cap: usize,
}

impl Msi<'_> {
    fn control(&self) -> u16 {
        self.function.read16(self.cap + 2)
    }

    /// Vectors the function can use (Multiple Message Capable).
    pub fn vectors(&self) -> u32 {
        1 << ((self.control() >> 1) & 7)
    }

    /// Points the function's MSIs at `address` with data `data` (vector n
    /// sends `data | n`, so `data` must be aligned to `vectors`) and enables
    /// MSI with `vectors` vectors (a power of two, at most [`Msi::vectors`]).
    pub fn enable(&self, address: u64, data: u16, vectors: u32) {
        let control = self.control();
        let is_64bit = control & (1 << 7) != 0;
        let multiple_enable = vectors.max(1).ilog2().min(5) as u16;
        self.function.write32(self.cap + 4, address as u32);
        let data_offset = if is_64bit {
            self.function.write32(self.cap + 8, (address >> 32) as u32);
            self.cap + 0xc
        } else {
            self.cap + 8
        };
        self.function.write16(data_offset, data);
        let control = (control & !(0b111 << 4)) | (multiple_enable << 4) | 1;
        self.function.write16(self.cap + 2, control);
    }

    /// Disables MSI.
    pub fn disable(&self) {
        self.function.write16(self.cap + 2, self.control() & !1);
    }
}

/// A function's MSI-X capability and table.
pub struct MsiX<'a> {
    function: &'a Function,
    cap: usize,
    table: usize,
    vectors: u16,
}

impl MsiX<'_> {
    /// Number of table entries.
    pub fn vectors(&self) -> u16 {
        self.vectors
    }

    /// Writes entry `vector` (masked) to send `data` to `address`. Returns
    /// `false` if there is no such entry.
    pub fn set_vector(&self, vector: u16, address: u64, data: u32) -> bool {
        if vector >= self.vectors {
            return false;
        }
        let entry = self.table + usize::from(vector) * 16;
        // SAFETY: the entry is inside the MSI-X table, in a BAR the
        // enumerator assigned and the page tables map as Device memory.
        unsafe {
            write32(entry + 12, 1);
            write32(entry, address as u32);
            write32(entry + 4, (address >> 32) as u32);
            write32(entry + 8, data);
        }
        true
    }

    /// Reads entry `vector` back: (address, data, masked).
    pub fn vector(&self, vector: u16) -> Option<(u64, u32, bool)> {
        if vector >= self.vectors {
            return None;
        }
        let entry = self.table + usize::from(vector) * 16;
        // SAFETY: as in `set_vector`.
        unsafe {
            let address = u64::from(read32(entry)) | u64::from(read32(entry + 4)) << 32;
            Some((address, read32(entry + 8), read32(entry + 12) & 1 != 0))
        }
    }

    /// Whether MSI-X is enabled and the function not masked.
    pub fn is_enabled(&self) -> bool {
        self.function.read16(self.cap + 2) & (0b11 << 14) == 1 << 15
    }

    /// Masks or unmasks entry `vector`.
    pub fn mask(&self, vector: u16, masked: bool) {
        if vector < self.vectors {
            // SAFETY: as in `set_vector`.
            unsafe { write32(self.table + usize::from(vector) * 16 + 12, masked.into()) };
        }
    }

    /// Enables MSI-X (and clears the function mask).
    pub fn enable(&self) {
        let control = self.function.read16(self.cap + 2);
        self.function
            .write16(self.cap + 2, (control | 1 << 15) & !(1 << 14));
    }

    /// Disables MSI-X.
    pub fn disable(&self) {
        let control = self.function.read16(self.cap + 2);
        self.function.write16(self.cap + 2, control & !(1 << 15));
    }
}

/// Hands out BAR space from one host bridge window.
struct WindowAllocator {
    window: PciWindow,
    next: u64,
}

impl WindowAllocator {
    fn allocate(&mut self, size: u64) -> Option<Bar> {
        let start = self.next.checked_next_multiple_of(size)?;
        let end = start.checked_add(size)?;
        if end > self.window.pci_address.saturating_add(self.window.size) {
            return None;
        }
        self.next = end;
        let cpu_address = self.window.cpu_address + (start - self.window.pci_address);
        Some(Bar {
            pci_address: start,
            cpu_address,
            size,
        })
    }
}

/// Scans the host bridge's first bus, assigns every memory BAR, and enables
/// memory decoding and bus mastering (without which an MSI is dropped).
pub fn enumerate(host: &PciHost) -> Vec<Function> {
    let mut windows: Vec<WindowAllocator> = host
        .windows
        .iter()
        .filter(|w| w.kind != WindowKind::Io && w.cpu_address.saturating_add(w.size) <= VA_LIMIT)
        .map(|w| WindowAllocator {
            window: w.clone(),
            next: w.pci_address,
        })
        .collect();
    // 32-bit windows first: every BAR can take a 32-bit address.
    windows.sort_by_key(|w| w.window.kind != WindowKind::Memory32);

    let bus = host.buses.0;
    let mut functions = Vec::new();
    for device in 0..32u8 {
        for function in 0..8u8 {
            let bdf = Bdf {
                bus,
                device,
                function,
            };
            let offset = (usize::from(bus) << 20)
                | (usize::from(device) << 15)
                | (usize::from(function) << 12);
            if (offset as u64) >= host.ecam.end.saturating_sub(host.ecam.start) {
                continue;
            }
            let mut found = Function {
                bdf,
                vendor_id: 0,
                device_id: 0,
                class: 0,
                bars: [None; 6],
                config: host.ecam.start as usize + offset,
            };
            let id = found.read32(VENDOR_ID);
            if id & 0xffff == 0xffff {
                if function == 0 {
                    break;
                }
                continue;
            }
            found.vendor_id = id as u16;
            found.device_id = (id >> 16) as u16;
            found.class = found.read32(CLASS_REVISION) >> 8;
            let header_type = found.read8(HEADER_TYPE);
            if header_type & 0x7f == 0 {
                configure(&mut found, &mut windows);
            } else {
                log::warn!(
                    "pci: {bdf}: header type {:#x} (bridge) not configured",
                    header_type & 0x7f
                );
            }
            log::info!(
                "pci: {bdf} {:04x}:{:04x} class {:06x}",
                found.vendor_id,
                found.device_id,
                found.class
            );
            functions.push(found);
            if function == 0 && header_type & 0x80 == 0 {
                break;
            }
        }
    }
    functions
}

/// Sizes and assigns the BARs of a type 0 function and enables it.
fn configure(function: &mut Function, windows: &mut [WindowAllocator]) {
    let command = function.read16(COMMAND);
    function.write16(COMMAND, command & !(COMMAND_MEMORY | 1));
    let mut index = 0;
    while index < 6 {
        let offset = BAR0 + index * 4;
        let original = function.read32(offset);
        if original & 1 != 0 {
            log::info!(
                "pci: {}: BAR{index} is I/O space, not assigned",
                function.bdf
            );
            index += 1;
            continue;
        }
        let is_64bit = (original >> 1) & 0b11 == 0b10 && index < 5;
        function.write32(offset, u32::MAX);
        let mut mask = u64::from(function.read32(offset) & !0xf);
        if is_64bit {
            function.write32(offset + 4, u32::MAX);
            mask |= u64::from(function.read32(offset + 4)) << 32;
        } else {
            mask |= 0xffff_ffff_0000_0000;
        }
        let size = (!mask).wrapping_add(1);
        let bar = if mask == 0xffff_ffff_0000_0000 || size == 0 {
            None
        } else {
            windows
                .iter_mut()
                .filter(|w| is_64bit || w.window.kind == WindowKind::Memory32)
                .find_map(|w| w.allocate(size))
        };
        let address = bar.map_or(0, |bar| bar.pci_address);
        function.write32(offset, address as u32 | (original & 0xf));
        if is_64bit {
            function.write32(offset + 4, (address >> 32) as u32);
        }
        if let Some(bar) = bar {
            log::info!(
                "pci: {}: BAR{index} {:#x} bytes at {:#x}",
                function.bdf,
                bar.size,
                bar.cpu_address
            );
        } else if size != 0 && mask != 0xffff_ffff_0000_0000 {
            log::warn!(
                "pci: {}: BAR{index} ({size:#x} bytes) does not fit",
                function.bdf
            );
        }
        function.bars[index] = bar;
        index += if is_64bit { 2 } else { 1 };
    }
    function.write16(
        COMMAND,
        (command & !1) | COMMAND_MEMORY | COMMAND_BUS_MASTER | COMMAND_INTX_DISABLE,
    );
}
