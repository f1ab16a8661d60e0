//! PCI over ECAM: enumeration, BAR assignment from the host bridge's
//! windows, and the MSI and MSI-X capabilities (PCI Local Bus 3.0 chapter 6,
//! PCIe Base 6.1 and 7.7.1-2).
//!
//! Only the host bridge's first bus is scanned and bridges are not
//! configured: QEMU's `virt` puts `-device`s on bus 0.
//!
//! `config.rs` describes configuration space and walks the capability
//! list, `capabilities.rs` the MSI and MSI-X capabilities and the MSI-X
//! table; this file enumerates the bus and assigns the BARs.

mod capabilities;
mod config;

pub use capabilities::{Msi, MsiX};

use crate::paging::VA_LIMIT;
use crate::platform::{PciHost, PciWindow, WindowKind};
use alloc::vec::Vec;
use capabilities::{CAP_MSI, CAP_MSIX, MSIX_CONTROL, MSIX_TABLE, MsixCapability, MsixTableEntry};
use config::{
    BAR, BARS, CLASS_REVISION, COMMAND, ConfigSpace, HEADER_TYPE, ID, capabilities, structure,
};
use core::fmt;
use core::ptr::NonNull;
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{FrameKind, RegisterFrame};
use gicv3_its::tock_registers::LocalRegisterCopy;

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
    /// Its configuration space.
    config: MmioFrame<ConfigSpace>,
}

impl Function {
    /// The capabilities, as (ID, offset in configuration space).
    pub fn capabilities(&self) -> impl Iterator<Item = (u8, usize)> + '_ {
        capabilities(&self.config)
    }

    /// The MSI capability, if the function has one.
    pub fn msi(&self) -> Option<Msi> {
        let (_, offset) = self.capabilities().find(|&(id, _)| id == CAP_MSI)?;
        Some(Msi {
            capability: structure(&self.config, offset)?,
        })
    }

    /// Lets the function issue memory requests (DMA and MSIs) or stops it
    /// (Command.BusMaster).
    pub fn set_bus_master(&self, on: bool) {
        self.config
            .modify(COMMAND, COMMAND::BusMaster.val(on.into()));
    }

    /// Stops the function's DMA and MSIs, whatever a previous kernel or
    /// this one set up: MSI and MSI-X disabled, bus mastering off. A driver
    /// turns them back on for the functions it drives.
    pub fn quiesce(&self) {
        if let Some((_, offset)) = self.capabilities().find(|&(id, _)| id == CAP_MSIX)
            && let Some(capability) = structure::<MsixCapability>(&self.config, offset)
        {
            capability.modify(MSIX_CONTROL, MSIX_CONTROL::Enable::CLEAR);
        }
        if let Some(msi) = self.msi() {
            msi.disable();
        }
        self.set_bus_master(false);
    }

    /// The MSI-X capability, if the function has one and its table is in an
    /// assigned BAR.
    pub fn msix(&self) -> Option<MsiX> {
        let (_, offset) = self.capabilities().find(|&(id, _)| id == CAP_MSIX)?;
        let capability = structure(&self.config, offset)?;
        let control = capability.read(MSIX_CONTROL);
        let table = capability.read(MSIX_TABLE);
        let bar = self
            .bars
            .get(table.read(MSIX_TABLE::BIR) as usize)
            .copied()
            .flatten()?;
        let vectors = control.read(MSIX_CONTROL::TableSize) + 1;
        // The whole table must lie in the BAR.
        let offset = u64::from(table.read(MSIX_TABLE::Offset)) << 3;
        let bytes = u64::from(vectors) * MsixTableEntry::SIZE as u64;
        if offset + bytes > bar.size {
            return None;
        }
        Some(MsiX {
            capability,
            table: NonNull::new((bar.cpu_address + offset) as *mut u8)?,
            vectors,
        })
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

/// Scans the host bridge's first bus, assigns every memory BAR and enables
/// memory decoding. Every function is left quiet ([`Function::quiesce`]):
/// no bus mastering, no MSI or MSI-X, whatever a previous kernel (Linux,
/// through kexec) left enabled; `msi::ItsService::route` turns bus
/// mastering on for the functions a driver routes.
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
            let offset =
                (u64::from(bus) << 20) | (u64::from(device) << 15) | (u64::from(function) << 12);
            let ecam_bytes = host.ecam.end.saturating_sub(host.ecam.start);
            if offset + ConfigSpace::SIZE as u64 > ecam_bytes {
                continue;
            }
            let Some(config) = NonNull::new((host.ecam.start + offset) as *mut u8) else {
                continue;
            };
            // SAFETY: the function's 4 KiB of configuration space, inside the
            // host bridge's ECAM window (checked above), which paging.rs maps
            // as Device memory for ever; only the enumerator and the
            // function's driver use it.
            let config = unsafe { MmioFrame::<ConfigSpace>::new(config) };
            let id = config.read(ID);
            if id.read(ID::VendorID) == 0xffff {
                if function == 0 {
                    break;
                }
                continue;
            }
            let mut found = Function {
                bdf,
                vendor_id: id.read(ID::VendorID) as u16,
                device_id: id.read(ID::DeviceID) as u16,
                class: config.read(CLASS_REVISION).read(CLASS_REVISION::ClassCode),
                bars: [None; 6],
                config,
            };
            let header_type = found.config.read(HEADER_TYPE);
            let layout = header_type.read(HEADER_TYPE::Layout);
            if layout == 0 {
                configure(&mut found, &mut windows);
                found.quiesce();
            } else {
                log::warn!("pci: {bdf}: header type {layout:#x} (bridge) not configured");
            }
            log::info!(
                "pci: {bdf} {:04x}:{:04x} class {:06x}",
                found.vendor_id,
                found.device_id,
                found.class
            );
            functions.push(found);
            if function == 0 && !header_type.is_set(HEADER_TYPE::MultiFunction) {
                break;
            }
        }
    }
    functions
}

/// Sizes and assigns the BARs of a type 0 function and enables memory
/// decoding.
fn configure(function: &mut Function, windows: &mut [WindowAllocator]) {
    let config = &function.config;
    let command = config.read(COMMAND);
    // No decoding while the BARs are sized and moved.
    let mut off = command;
    off.modify(COMMAND::IoSpace::CLEAR + COMMAND::MemorySpace::CLEAR);
    config.write(COMMAND, off);
    let mut index = 0;
    while index < 6 {
        let original = config.read(BARS[index]);
        if original.is_set(BAR::IoSpace) {
            log::info!(
                "pci: {}: BAR{index} is I/O space, not assigned",
                function.bdf
            );
            index += 1;
            continue;
        }
        let is_64bit = original.matches_all(BAR::Type::Bits64) && index < 5;
        config.write(BARS[index], LocalRegisterCopy::new(u32::MAX));
        let mut mask = u64::from(config.read(BARS[index]).read(BAR::Address) << 4);
        if is_64bit {
            config.write(BARS[index + 1], LocalRegisterCopy::new(u32::MAX));
            mask |= u64::from(config.read(BARS[index + 1]).get()) << 32;
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
        let mut low = original;
        low.modify(BAR::Address.val(address as u32 >> 4));
        config.write(BARS[index], low);
        if is_64bit {
            config.write(
                BARS[index + 1],
                LocalRegisterCopy::new((address >> 32) as u32),
            );
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
    let mut on = command;
    on.modify(
        COMMAND::IoSpace::CLEAR
            + COMMAND::MemorySpace::SET
            + COMMAND::BusMaster::CLEAR
            + COMMAND::InterruptDisable::SET,
    );
    function.config.write(COMMAND, on);
}
