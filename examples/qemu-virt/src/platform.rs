//! Everything the kernel knows about the machine, read from the DTB that
//! QEMU passes in x0: RAM, console, GIC and ITS frames, the PCI host bridge
//! (ECAM, windows, `msi-map`), the PSCI conduit and the command line.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use flat_device_tree::Fdt;
use flat_device_tree::node::FdtNode;

/// What went wrong reading the DTB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformError {
    /// x0 does not point at a DTB inside the initially mapped memory.
    NoDtb(u64),
    /// The DTB did not parse.
    BadDtb,
    /// A node or property the kernel needs is absent or malformed.
    Missing(&'static str),
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoDtb(address) => write!(f, "no DTB at {address:#x}"),
            Self::BadDtb => write!(f, "the DTB does not parse"),
            Self::Missing(what) => write!(f, "the DTB has no usable {what}"),
        }
    }
}

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `hvc`: QEMU without EL2, or a hypervisor.
    Hvc,
    /// `smc`: QEMU with EL2 (`virtualization=on`), or EL3 firmware.
    Smc,
}

/// One GICv3 ITS.
#[derive(Clone, Debug)]
pub struct ItsNode {
    /// Its 128 KiB register frames.
    pub frames: Range<u64>,
    /// The phandle that `msi-map` entries use.
    pub phandle: Option<u32>,
}

/// The kind of a PCI host bridge window (`ranges` phys.hi bits 25:24).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// I/O space.
    Io,
    /// 32-bit memory space.
    Memory32,
    /// 64-bit memory space.
    Memory64,
}

/// A window of PCI bus addresses the host bridge forwards to CPU addresses.
#[derive(Clone, Debug)]
pub struct PciWindow {
    /// The space.
    pub kind: WindowKind,
    /// Prefetchable memory.
    pub prefetchable: bool,
    /// First PCI bus address.
    pub pci_address: u64,
    /// The CPU address of `pci_address`.
    pub cpu_address: u64,
    /// Bytes.
    pub size: u64,
}

/// One `msi-map` entry: requester IDs `rid_base..rid_base + length` become
/// DeviceIDs `msi_base..` at the MSI controller `controller`.
#[derive(Clone, Copy, Debug)]
pub struct MsiMapEntry {
    /// First requester ID.
    pub rid_base: u32,
    /// Phandle of the ITS.
    pub controller: u32,
    /// DeviceID of `rid_base`.
    pub msi_base: u32,
    /// Number of IDs.
    pub length: u32,
}

/// A generic ECAM PCI host bridge.
#[derive(Clone, Debug)]
pub struct PciHost {
    /// The ECAM region.
    pub ecam: Range<u64>,
    /// First and last bus number.
    pub buses: (u8, u8),
    /// Address windows from `ranges`.
    pub windows: Vec<PciWindow>,
    /// `msi-map`, empty if the node has none.
    pub msi_map: Vec<MsiMapEntry>,
    /// `msi-map-mask`, all ones by default.
    pub msi_map_mask: u32,
}

impl PciHost {
    /// The ITS phandle and DeviceID for a requester ID, by `msi-map`. Without
    /// an `msi-map` the DeviceID is the requester ID.
    pub fn device_id(&self, requester_id: u16) -> Option<(Option<u32>, u32)> {
        if self.msi_map.is_empty() {
            return Some((None, requester_id.into()));
        }
        let rid = u32::from(requester_id) & self.msi_map_mask;
        self.msi_map.iter().find_map(|entry| {
            let offset = rid.checked_sub(entry.rid_base)?;
            if offset >= entry.length {
                return None;
            }
            Some((Some(entry.controller), entry.msi_base.checked_add(offset)?))
        })
    }
}

/// The machine.
#[derive(Clone, Debug)]
pub struct Platform {
    /// RAM regions.
    pub memory: Vec<Range<u64>>,
    /// The MPIDR of each CPU (`/cpus/cpu@N/reg`).
    pub cpus: Vec<u64>,
    /// The console PL011's registers.
    pub uart: Range<u64>,
    /// GIC distributor.
    pub gicd: Range<u64>,
    /// GIC redistributor regions.
    pub gicr: Vec<Range<u64>>,
    /// ITSs.
    pub its: Vec<ItsNode>,
    /// The PCI host bridge, if any.
    pub pci: Option<PciHost>,
    /// The PSCI conduit, if PSCI is described.
    pub psci: Option<PsciConduit>,
    /// /chosen/bootargs.
    pub bootargs: String,
    /// The initrd a boot loader placed in RAM ([`initrd`]).
    pub initrd: Option<Range<u64>>,
}

/// The initrd a boot loader (QEMU's `-initrd`) placed in RAM, from /chosen's
/// `linux,initrd-start` and `linux,initrd-end` (end exclusive; one or two
/// cells each, as Linux reads them whatever `#address-cells` says).
pub fn initrd(fdt: &Fdt) -> Option<Range<u64>> {
    let chosen = fdt.find_node("/chosen")?;
    let number = |name: &str| {
        let value = chosen.property(name)?.value;
        match value.len() {
            4 => Some(u64::from(u32::from_be_bytes(value.try_into().ok()?))),
            8 => Some(u64::from_be_bytes(value.try_into().ok()?)),
            _ => None,
        }
    };
    let (start, end) = (number("linux,initrd-start")?, number("linux,initrd-end")?);
    (start < end).then_some(start..end)
}

/// The DTB at `address`, if there is a valid one inside `mapped`.
pub fn dtb_at(address: u64, mapped: Range<usize>) -> Result<Fdt<'static>, PlatformError> {
    let start = address as usize;
    let header_end = start.checked_add(8).ok_or(PlatformError::NoDtb(address))?;
    if start == 0 || !mapped.contains(&start) || header_end > mapped.end {
        return Err(PlatformError::NoDtb(address));
    }
    // SAFETY: the 8 header bytes are inside `mapped`, which the caller says is
    // mapped memory; the DTB is never written.
    let header = unsafe { core::slice::from_raw_parts(start as *const u8, 8) };
    let total = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if start.checked_add(total).is_none_or(|end| end > mapped.end) {
        return Err(PlatformError::NoDtb(address));
    }
    // SAFETY: as above, for all `total` bytes. The heap excludes the DTB
    // (`heap::init`), so the slice stays valid and unchanged for ever.
    let bytes = unsafe { core::slice::from_raw_parts(start as *const u8, total) };
    Fdt::new(bytes).map_err(|_| PlatformError::BadDtb)
}

/// Calls `f` with each RAM region of the DTB (before the heap exists).
pub fn for_each_memory_region(fdt: &Fdt, mut f: impl FnMut(Range<u64>)) {
    for node in fdt.all_nodes() {
        let is_memory = node
            .property("device_type")
            .and_then(|p| p.as_str())
            .is_some_and(|t| t == "memory");
        if is_memory {
            for region in node.reg() {
                let start = region.starting_address as u64;
                f(start..start.saturating_add(region.size.unwrap_or(0) as u64));
            }
        }
    }
}

/// A frame of the GIC that a previous owner may have left running.
#[derive(Clone, Debug)]
pub enum GicFrame {
    /// An ITS's control frame.
    Its(Range<u64>),
    /// A redistributor region (one or more redistributors).
    Redistributors(Range<u64>),
}

/// The GIC's ITS frames, then its redistributor regions, from the DTB
/// without a heap (for stopping a previous owner's GIC before the heap is
/// used).
pub fn for_each_gic_frame(fdt: &Fdt, mut f: impl FnMut(GicFrame)) {
    fdt.all_nodes()
        .filter(|node| is_compatible(node, "arm,gic-v3-its"))
        .filter_map(|node| reg(&node, 0))
        .for_each(|frames| f(GicFrame::Its(frames)));
    if let Some(gic) = fdt.find_compatible(&["arm,gic-v3"]) {
        let regions = gic
            .property("#redistributor-regions")
            .and_then(|p| p.as_usize())
            .unwrap_or(1);
        (1..=regions)
            .filter_map(|i| reg(&gic, i))
            .for_each(|region| f(GicFrame::Redistributors(region)));
    }
}

impl Platform {
    /// Reads the platform from the DTB.
    pub fn from_dtb(fdt: &Fdt) -> Result<Self, PlatformError> {
        let mut memory = Vec::new();
        for_each_memory_region(fdt, |range| memory.push(range));
        if memory.is_empty() {
            return Err(PlatformError::Missing("memory node"));
        }

        let uart_node = fdt
            .chosen()
            .ok()
            .and_then(|chosen| chosen.stdout())
            .map(|stdout| stdout.node())
            .filter(|node| is_compatible(node, "arm,pl011"))
            .or_else(|| fdt.find_compatible(&["arm,pl011"]))
            .ok_or(PlatformError::Missing("PL011 UART"))?;
        let uart = reg(&uart_node, 0).ok_or(PlatformError::Missing("PL011 reg"))?;

        let gic = fdt
            .find_compatible(&["arm,gic-v3"])
            .ok_or(PlatformError::Missing("arm,gic-v3 node"))?;
        let gicd = reg(&gic, 0).ok_or(PlatformError::Missing("GICD reg"))?;
        let gicr_regions = gic
            .property("#redistributor-regions")
            .and_then(|p| p.as_usize())
            .unwrap_or(1);
        let gicr: Vec<_> = (1..=gicr_regions).filter_map(|i| reg(&gic, i)).collect();
        if gicr.is_empty() {
            return Err(PlatformError::Missing("GICR reg"));
        }
        let its = fdt
            .all_nodes()
            .filter(|node| is_compatible(node, "arm,gic-v3-its"))
            .filter_map(|node| {
                Some(ItsNode {
                    frames: reg(&node, 0)?,
                    phandle: node
                        .property("phandle")
                        .and_then(|p| p.as_usize())
                        .map(|p| p as u32),
                })
            })
            .collect();

        let psci = fdt
            .find_compatible(&["arm,psci-1.0", "arm,psci-0.2", "arm,psci"])
            .and_then(|node| node.property("method"))
            .and_then(|p| p.as_str())
            .and_then(|method| match method {
                "hvc" => Some(PsciConduit::Hvc),
                "smc" => Some(PsciConduit::Smc),
                _ => None,
            });

        let bootargs = fdt
            .chosen()
            .ok()
            .and_then(|chosen| chosen.bootargs())
            .unwrap_or("")
            .into();

        let cpus = fdt
            .cpus()
            .filter_map(|cpu| cpu.ids().ok()?.first().ok())
            .map(|mpidr| mpidr as u64)
            .collect();

        Ok(Self {
            memory,
            cpus,
            uart,
            gicd,
            gicr,
            its,
            pci: fdt
                .find_compatible(&["pci-host-ecam-generic"])
                .map(|node| pci_host(&node))
                .transpose()?,
            psci,
            bootargs,
            initrd: initrd(fdt),
        })
    }

    /// Whether the kernel command line holds `word`.
    pub fn has_arg(&self, word: &str) -> bool {
        self.bootargs.split_whitespace().any(|arg| arg == word)
    }

    /// The value of the first `key=VALUE` on the kernel command line.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.bootargs
            .split_whitespace()
            .find_map(|arg| arg.strip_prefix(key)?.strip_prefix('='))
    }
}

fn pci_host(node: &FdtNode) -> Result<PciHost, PlatformError> {
    let ecam = reg(node, 0).ok_or(PlatformError::Missing("PCI ECAM reg"))?;
    let buses = node
        .property("bus-range")
        .map(|p| cells(p.value))
        .and_then(|mut c| Some((c.next()? as u8, c.next()? as u8)))
        .unwrap_or((0, 0xff));
    let windows = node
        .ranges()
        .filter_map(|range| {
            let kind = match (range.child_bus_address_hi >> 24) & 0b11 {
                0b01 => WindowKind::Io,
                0b10 => WindowKind::Memory32,
                0b11 => WindowKind::Memory64,
                _ => return None,
            };
            Some(PciWindow {
                kind,
                prefetchable: range.child_bus_address_hi & (1 << 30) != 0,
                pci_address: range.child_bus_address as u64,
                cpu_address: range.parent_bus_address as u64,
                size: range.size as u64,
            })
        })
        .collect();
    let msi_map = node
        .property("msi-map")
        .map(|p| {
            let values: Vec<u32> = cells(p.value).collect();
            values
                .chunks_exact(4)
                .map(|c| MsiMapEntry {
                    rid_base: c[0],
                    controller: c[1],
                    msi_base: c[2],
                    length: c[3],
                })
                .collect()
        })
        .unwrap_or_default();
    let msi_map_mask = node
        .property("msi-map-mask")
        .and_then(|p| cells(p.value).next())
        .unwrap_or(u32::MAX);
    Ok(PciHost {
        ecam,
        buses,
        windows,
        msi_map,
        msi_map_mask,
    })
}

fn is_compatible(node: &FdtNode, compatible: &str) -> bool {
    node.compatible()
        .is_some_and(|c| c.all().any(|c| c == compatible))
}

fn reg(node: &FdtNode, index: usize) -> Option<Range<u64>> {
    let region = node.reg().nth(index)?;
    let start = region.starting_address as u64;
    Some(start..start.checked_add(region.size? as u64)?)
}

fn cells(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}
