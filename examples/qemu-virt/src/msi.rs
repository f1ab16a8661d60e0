//! The glue between the platform and the `gicv3-its` driver: probing the
//! ITS from the DTB, enabling LPIs on this CPU's redistributor, and routing
//! a PCI function's MSI or MSI-X vectors through the ITS to LPIs.
//!
//! The driver logs each mapping as it makes it (`its: MAPD dev ...`).

use crate::boot::INITIAL_DEVICES;
use crate::gic::{self, Gic};
use crate::heap::KernelDma;
use crate::pci::Function;
use crate::platform::{self, GicFrame, PciHost, Platform};
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use core::ptr::NonNull;
use flat_device_tree::Fdt;
use gicv3_its::registers::RegisterWidth;
use gicv3_its::registers::{
    GICR_CTLR, GICR_TYPER, GITS_TRANSLATER, Gits, Readable, Register, RegisterFrame, Writable,
};
use gicv3_its::registers::{GicrMmio, GicrVlpiMmio, GitsMmio};
use gicv3_its::takeover::{self, quiesce};
use gicv3_its::tock_registers::{LocalRegisterCopy, RegisterLongName};
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{
    CollectionId, DeviceId, DmaRegion, Doorbell, EventId, IntId, Its, ItsConfig, ItsError,
    LpiDomain, LpiDomainConfig, ProcessorNumber,
};

/// The collection of CPU `cpu`: its ICID is the CPU's index.
pub fn collection(cpu: usize) -> CollectionId {
    CollectionId(cpu as u16)
}

/// The CPU whose collection `icid` is.
pub fn cpu_of(icid: CollectionId) -> usize {
    usize::from(icid.0)
}

/// Stops whatever a previous owner (Linux, through kexec) left running on
/// the GIC, before this kernel uses any memory that the previous owner's
/// tables may occupy, its heap included: every ITS quiesced (no more MSIs
/// translated into its tables), then on every redistributor a resident vPE
/// made non-resident and the LPIs stopped (the pending state written back
/// into the previous owner's pending table now, not over memory handed out
/// later). A redistributor whose EnableLPIs cannot be cleared keeps
/// running; its tables are adopted from the reserved LPI region, or
/// refused, when its CPU comes up.
///
/// It runs before the heap exists: the frames come from the DTB without
/// allocating, reached through the Device block of the initial page table
/// ([`INITIAL_DEVICES`]); frames beyond it are left to
/// [`stop_previous_owner`], once paging maps them.
pub fn stop_previous_owner_early(fdt: &Fdt, wait: WaitPolicy) -> Result<EarlyStop, ItsError> {
    let mut stop = EarlyStop::default();
    let mut result = Ok(());
    platform::for_each_gic_frame(fdt, |frame| {
        if result.is_err() {
            return;
        }
        result = match frame {
            GicFrame::Its(frames) if initially_mapped(&frames) => quiesce_at(frames.start, wait)
                .map(|()| {
                    stop.itses += 1;
                }),
            GicFrame::Redistributors(region) if initially_mapped(&region) => {
                // SAFETY: a redistributor region from the DTB, inside the
                // block the initial page table maps as Device memory; no
                // driver runs yet.
                unsafe { gic::rd_bases_in(region) }.try_for_each(|rd_base| {
                    stop.redistributors += 1;
                    match stop_lpis_at(rd_base, wait)? {
                        Lpis::WereOff => {}
                        Lpis::Stopped => stop.stopped += 1,
                        Lpis::Stuck => stop.stuck += 1,
                    }
                    Ok(())
                })
            }
            // Beyond the initial map: `stop_previous_owner`, after paging.
            _ => Ok(()),
        };
    });
    result.map(|()| stop)
}

/// What [`stop_previous_owner_early`] did: ITSes quiesced, redistributors
/// seen, and of those the ones whose LPIs a previous owner had left on,
/// stopped or stuck on (EnableLPIs cannot be cleared).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EarlyStop {
    /// ITSes quiesced.
    pub itses: u32,
    /// Redistributors seen.
    pub redistributors: u32,
    /// Redistributors whose LPIs were on and are off now.
    pub stopped: u32,
    /// Redistributors whose LPIs were on and stay on.
    pub stuck: u32,
}

/// A redistributor's LPIs before and after [`stop_lpis_at`].
enum Lpis {
    WereOff,
    Stopped,
    Stuck,
}

/// Quiesces the ITS whose control frame is at `base` (Device memory).
fn quiesce_at(base: u64, wait: WaitPolicy) -> Result<(), ItsError> {
    let Some(base) = NonNull::new(base as *mut u8) else {
        return Ok(());
    };
    // SAFETY: the ITS frames come from the DTB and are identity mapped as
    // Device memory (initially, and for ever by paging.rs); no driver uses
    // them yet.
    let frame = unsafe { GitsMmio::new(base) };
    quiesce(&frame, wait)
}

/// Makes a resident vPE non-resident and turns LPIs off at the
/// redistributor whose RD_base frame is at `rd_base` (Device memory).
fn stop_lpis_at(rd_base: u64, wait: WaitPolicy) -> Result<Lpis, ItsError> {
    let Some(base) = NonNull::new(rd_base as *mut u8) else {
        return Ok(Lpis::WereOff);
    };
    // SAFETY: an RD_base frame inside a redistributor region of the DTB,
    // mapped as Device memory; its LPI registers are the driver's, which
    // does not run yet.
    let gicr = unsafe { GicrMmio::new(base) };
    if let Some(vlpi) = vlpi_frame(&gicr) {
        takeover::retire_resident_vpe(&gicr, &vlpi, wait)?;
    }
    let were_on = gicr.read(GICR_CTLR).is_set(GICR_CTLR::EnableLPIs);
    Ok(match (were_on, takeover::stop_lpis(&gicr, wait)?) {
        (false, _) => Lpis::WereOff,
        (true, true) => Lpis::Stopped,
        (true, false) => Lpis::Stuck,
    })
}

/// [`stop_previous_owner_early`] for the ITSes and redistributors the
/// initial map did not reach (QEMU puts redistributors beyond 123 CPUs
/// high), once paging maps them all; the others were stopped already.
pub fn stop_previous_owner(platform: &Platform, wait: WaitPolicy) -> Result<(), ItsError> {
    for node in platform
        .its
        .iter()
        .filter(|node| !initially_mapped(&node.frames))
    {
        quiesce_at(node.frames.start, wait)?;
    }
    for region in platform
        .gicr
        .iter()
        .filter(|region| !initially_mapped(region))
    {
        // SAFETY: a redistributor region from the DTB, mapped as Device
        // memory for ever by paging.rs; no driver runs yet.
        for rd_base in unsafe { gic::rd_bases_in(region.clone()) } {
            if let Lpis::Stuck = stop_lpis_at(rd_base, wait)? {
                log::warn!(
                    "gic: redistributor at {rd_base:#x} keeps its LPIs enabled (EnableLPIs cannot be cleared)"
                );
            }
        }
    }
    Ok(())
}

/// Whether `range` lies in the Device block of the initial page table.
fn initially_mapped(range: &Range<u64>) -> bool {
    INITIAL_DEVICES.start as u64 <= range.start && range.end <= INITIAL_DEVICES.end as u64
}

/// Enables the LPIs of the redistributor at `rd_base` (its frame `gicr`)
/// on the domain's tables. A GICv4 redistributor (GICR_TYPER.VLPIS) comes
/// with its VLPI_base frame, 128 KiB above, through which the driver makes
/// a vPE a previous owner left resident non-resident.
pub fn enable_lpis(
    lpis: &LpiDomain<KernelDma>,
    gicr: &GicrMmio,
    rd_base: u64,
) -> Result<ProcessorNumber, ItsError> {
    match vlpi_frame(gicr) {
        Some(vlpi) => lpis.init_redistributor_with_vlpi(gicr, &vlpi, rd_base),
        None => lpis.init_redistributor(gicr, rd_base),
    }
}

/// The VLPI_base frame of a GICv4 redistributor (GICR_TYPER.VLPIS), 128 KiB
/// above RD_base.
fn vlpi_frame(gicr: &GicrMmio) -> Option<GicrVlpiMmio> {
    if !gicr.read(GICR_TYPER).is_set(GICR_TYPER::VLPIS) {
        return None;
    }
    let vlpi_base = NonNull::new(gicr.base().as_ptr().wrapping_add(VLPI_OFFSET))?;
    // SAFETY: GICR_TYPER.VLPIS says the redistributor has a VLPI_base frame
    // 128 KiB above RD_base, inside the redistributor region the DTB gives
    // and the kernel maps as Device memory for ever; only the driver uses it.
    Some(unsafe { GicrVlpiMmio::new(vlpi_base) })
}

/// The VLPI_base frame's offset from RD_base (RD_base, SGI_base, then
/// VLPI_base, 64 KiB each).
const VLPI_OFFSET: usize = 0x2_0000;

/// The boot CPU's collection (CPU 0's, [`collection`]):
/// where [`ItsService::route`] puts every event at first.
pub const ICID: CollectionId = CollectionId(0);

/// The ITS as this kernel uses it.
pub type KernelIts = Its<GitsMmio, KernelDma>;

/// Why a device's MSIs could not be routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MsiError {
    /// The DTB describes no ITS.
    NoIts,
    /// `msi-map` has no entry for the requester ID, or names another
    /// controller.
    NotMapped {
        /// The requester ID.
        requester_id: u16,
    },
    /// The function has neither MSI nor MSI-X.
    NoCapability,
    /// The function supports fewer vectors than asked for.
    TooManyVectors {
        /// Asked for.
        requested: u32,
        /// Supported.
        supported: u32,
    },
    /// The ITS driver refused.
    Its(ItsError),
}

impl From<ItsError> for MsiError {
    fn from(error: ItsError) -> Self {
        Self::Its(error)
    }
}

impl fmt::Display for MsiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoIts => write!(f, "no ITS in the DTB"),
            Self::NotMapped { requester_id } => {
                write!(
                    f,
                    "msi-map does not map requester ID {requester_id:#x} to this ITS"
                )
            }
            Self::NoCapability => write!(f, "the function has no MSI or MSI-X capability"),
            Self::TooManyVectors {
                requested,
                supported,
            } => write!(f, "{requested} vectors asked for, {supported} supported"),
            Self::Its(error) => write!(f, "ITS: {error}"),
        }
    }
}

/// A device's vectors as routed: DeviceID, and the LPI of each EventID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsiRoute {
    /// The ITS DeviceID (from `msi-map`).
    pub device_id: DeviceId,
    /// The LPI INTID of EventID `i` at index `i`.
    pub lpis: Vec<IntId>,
}

/// The ITS, the LPI domain, the redistributor LPI frame, and the doorbell
/// address.
pub struct ItsService {
    /// The driver.
    pub its: KernelIts,
    /// The LPIs: property and pending tables, redistributors.
    pub lpis: LpiDomain<KernelDma>,
    /// This CPU's redistributor LPI registers.
    pub gicr: GicrMmio,
    /// This CPU's processor number (the collection's target).
    pub processor_number: ProcessorNumber,
    /// The ITS's frames again, for what the kernel does beside the driver:
    /// reading registers, and the CPU's own writes to GITS_TRANSLATER.
    registers: GitsMmio,
    doorbell: u64,
    phandle: Option<u32>,
}

impl ItsService {
    /// Places the LPI tables in `lpi_region`, enables LPIs on this CPU's
    /// redistributor, probes the first ITS in the DTB and maps this CPU's
    /// collection ([`collection`]) to it.
    pub fn init(
        platform: &Platform,
        gic: &Gic,
        lpis: LpiDomainConfig,
        lpi_region: DmaRegion,
        config: ItsConfig,
    ) -> Result<Self, MsiError> {
        let lpis =
            LpiDomain::with_region(KernelDma, lpi_region, lpis).map_err(|refused| refused.error)?;
        Self::with_domain(platform, gic, lpis, config)
    }

    /// Like [`ItsService::init`], with LPIs of a domain that exists already.
    pub fn with_domain(
        platform: &Platform,
        gic: &Gic,
        lpis: LpiDomain<KernelDma>,
        config: ItsConfig,
    ) -> Result<Self, MsiError> {
        let node = platform.its.first().ok_or(MsiError::NoIts)?;
        let base = NonNull::new(node.frames.start as *mut u8).ok_or(MsiError::NoIts)?;
        // SAFETY: the ITS frames come from the DTB and are identity mapped as
        // Device memory for ever (paging.rs); the previous driver of this ITS,
        // if any, saved it and is not used while this one lives.
        // `registers` is a second frame of the same ITS, which only reads and
        // writes GITS_TRANSLATER, neither of which disturbs the driver.
        let (frame, registers) = unsafe { (GitsMmio::new(base), GitsMmio::new(base)) };
        // Every ITS stops translating MSIs (a previous owner's mappings)
        // before this CPU's redistributor takes LPIs into its tables.
        for node in &platform.its {
            let Some(base) = NonNull::new(node.frames.start as *mut u8) else {
                continue;
            };
            // SAFETY: as above; the frame is used only here, to quiesce.
            let other = unsafe { GitsMmio::new(base) };
            quiesce(&other, config.wait)?;
        }
        let rd_base = NonNull::new(gic.rd_base() as *mut u8).ok_or(MsiError::NoIts)?;
        // SAFETY: RD_base of this CPU's redistributor, mapped as Device memory
        // for ever; `gic` only uses GICR_WAKER and GICR_TYPER there.
        let gicr = unsafe { GicrMmio::new(rd_base) };
        let processor_number = enable_lpis(&lpis, &gicr, gic.rd_base())?;
        let config = ItsConfig {
            doorbell: Some(Doorbell::Translater {
                its_base: node.frames.start,
            }),
            ..config
        };
        let mut its = Its::probe(frame, KernelDma, &lpis, config)?;
        // GITS_TRANSLATER: the same for every device of this ITS.
        let doorbell = its.doorbell(DeviceId(0))?;
        its.map_collection(collection(crate::cpu::this_cpu()), processor_number)?;
        Ok(Self {
            its,
            lpis,
            gicr,
            processor_number,
            registers,
            doorbell,
            phandle: node.phandle,
        })
    }

    /// The MSI doorbell: GITS_TRANSLATER's physical address.
    pub fn doorbell(&self) -> u64 {
        self.doorbell
    }

    /// Reads an ITS register beside the driver: reading one has no side
    /// effect.
    pub fn read_register<W, F, A>(
        &self,
        register: Register<Gits, W, F, A>,
    ) -> LocalRegisterCopy<W, F>
    where
        W: RegisterWidth,
        F: RegisterLongName,
        A: Readable,
    {
        self.registers.read(register)
    }

    /// Writes an ITS register beside the driver: for the on-target test that
    /// checks the ITS ignores writes to its read-only identification
    /// registers (described there as writable, on purpose).
    pub fn write_register<W, F, A>(
        &self,
        register: Register<Gits, W, F, A>,
        value: LocalRegisterCopy<W, F>,
    ) where
        W: RegisterWidth,
        F: RegisterLongName,
        A: Writable,
    {
        self.registers.write(register, value);
    }

    /// A CPU write of `event` to GITS_TRANSLATER: an MSI from the DeviceID
    /// the interconnect gives the CPU's writes (0 on QEMU).
    pub fn write_translater(&self, event: u32) {
        self.registers
            .write(GITS_TRANSLATER, LocalRegisterCopy::new(event));
    }

    /// The DeviceID of `function` at this ITS, from `msi-map`.
    pub fn device_id(&self, host: &PciHost, function: &Function) -> Result<DeviceId, MsiError> {
        let requester_id = function.bdf.requester_id();
        match host.device_id(requester_id) {
            Some((controller, device_id)) if controller.is_none() || controller == self.phandle => {
                Ok(DeviceId(device_id))
            }
            _ => Err(MsiError::NotMapped { requester_id }),
        }
    }

    /// Maps `vectors` events of `function` (EventIDs 0..vectors) to new LPIs
    /// in collection [`ICID`] and programs the function's MSI-X (preferred)
    /// or MSI capability with the doorbell and EventIDs, and lets the
    /// function master the bus. MSI-X entries are left masked for the
    /// driver of the device to unmask.
    pub fn route(
        &mut self,
        host: &PciHost,
        function: &Function,
        vectors: u32,
    ) -> Result<MsiRoute, MsiError> {
        let device_id = self.device_id(host, function)?;
        let supported = match (function.msix(), function.msi()) {
            (Some(msix), _) => u32::from(msix.vectors()),
            (None, Some(msi)) => msi.vectors(),
            (None, None) => return Err(MsiError::NoCapability),
        };
        if vectors == 0
            || vectors > supported
            || (function.msix().is_none() && !vectors.is_power_of_two())
        {
            return Err(MsiError::TooManyVectors {
                requested: vectors,
                supported,
            });
        }
        self.its.map_device(device_id, vectors)?;
        let mut lpis = Vec::new();
        for event_id in 0..vectors {
            match self.its.map_event(device_id, EventId(event_id), ICID) {
                Ok(lpi) => lpis.push(lpi),
                Err(error) => {
                    let _ = self.its.unmap_device(device_id);
                    return Err(error.into());
                }
            }
        }
        if let Some(msix) = function.msix() {
            for (vector, _) in lpis.iter().enumerate() {
                msix.set_vector(vector as u16, self.doorbell, vector as u32);
            }
            msix.enable();
        } else if let Some(msi) = function.msi() {
            // EventIDs start at 0, so `data | vector` is the vector's EventID.
            msi.enable(self.doorbell, 0, vectors);
        }
        // An MSI is a memory write: the function must master the bus.
        function.set_bus_master(true);
        log::info!(
            "msi: {} (requester ID {:#x}) -> DeviceID {device_id:#x}, doorbell {:#x}, LPIs {lpis:?}",
            function.bdf,
            function.bdf.requester_id(),
            self.doorbell
        );
        Ok(MsiRoute { device_id, lpis })
    }
}
