//! LPIs (Arm IHI 0069 5.1): one domain of INTIDs, one property table and
//! one pending table per redistributor, shared by every ITS on the machine.
//!
//! An [`LpiDomain`] is a handle: clone it for each [`crate::Its`] that maps
//! events to its LPIs. The domain hands out each INTID once, whichever ITS
//! asks; it initialises each redistributor once (a second
//! [`LpiDomain::init_redistributor`] of a redistributor already running on
//! the domain's tables changes nothing); and it knows which redistributors
//! are ready to receive LPIs, so that an ITS never maps a collection onto
//! one that is not.
//!
//! The order across a save and a restore:
//!
//! 1. [`crate::Its::save`] on every ITS, then [`LpiDomain::save`]: from then
//!    on no redistributor counts as ready;
//! 2. before a handover to another kernel,
//!    [`LpiDomain::release_redistributor`] for each redistributor;
//! 3. after resume, [`LpiDomain::init_redistributor`] for each CPU's
//!    redistributor, then [`crate::Its::restore`] on every ITS.

mod allocator;
mod bring_up;
mod domain;
mod its_side;
mod redistributor;
mod tables;

pub use redistributor::{RedistributorInfo, retire_resident_vpe, stop_lpis};
pub use tables::{DEFAULT_PRIORITY, LpiConfig};

use crate::error::ItsError;
use crate::id::{IntId, ProcessorNumber};
use crate::memory::{self, DmaMemory, DmaRegion, DmaRequest, MemoryAttributes};
use crate::quirks::{self, QuirkOverrides, Quirks};
use crate::registers::{GicrFrame, GicrVlpiFrame};
use crate::wait::WaitPolicy;
#[cfg(feature = "alloc")]
use alloc::sync::Arc;
#[cfg(feature = "alloc")]
use alloc::vec::Vec;
pub(crate) use domain::{Domain, DomainRoom, PendingPlace};
use spin::{Mutex, MutexGuard};
pub(crate) use tables::Layout;
use tables::{LpiTables, PENDING_ALIGN, PROPERTY_ALIGN};

/// Largest LPI INTID width the domain supports: 16M LPIs, a 16 MiB property
/// table. (The architecture allows 32 bits; nobody needs 4 GiB of tables.)
pub const MAX_LPI_ID_BITS: u32 = 24;
/// Smallest LPI INTID width: INTIDs 8192 to 16383.
pub const MIN_LPI_ID_BITS: u32 = 14;

/// Choices the caller makes when creating an [`LpiDomain`].
#[derive(Clone, Copy, Debug)]
pub struct LpiDomainConfig {
    /// LPI INTID bits: at least 14, at most GICD_TYPER.IDbits + 1 (which
    /// the caller reads: the driver does not own the distributor), and at
    /// most [`MAX_LPI_ID_BITS`]. Values outside 14..=24 are clamped.
    pub id_bits: u32,
    /// Memory attributes to ask for first.
    pub attributes: MemoryAttributes,
    /// How long a wait for a redistributor may take before it gives up with
    /// [`ItsError::Timeout`].
    pub wait: WaitPolicy,
    /// Quirks to apply or ignore beyond what each GICR_IIDR says.
    pub quirks: QuirkOverrides,
}

impl Default for LpiDomainConfig {
    fn default() -> Self {
        Self {
            id_bits: 16,
            attributes: MemoryAttributes::InnerShareableWriteBack,
            wait: WaitPolicy::default(),
            quirks: QuirkOverrides::default(),
        }
    }
}

impl LpiDomainConfig {
    /// The ID bits in force, clamped to 14..=24.
    pub fn clamped_id_bits(&self) -> u32 {
        self.id_bits.clamp(MIN_LPI_ID_BITS, MAX_LPI_ID_BITS)
    }

    /// The attributes to ask for: non-cacheable where the caller forced
    /// [`Quirks::NON_COHERENT`].
    fn first_attributes(&self) -> MemoryAttributes {
        if self.quirks.force.contains(Quirks::NON_COHERENT) {
            MemoryAttributes::NonCacheable
        } else {
            self.attributes
        }
    }

    /// Bytes of a region for the property table and the pending tables of
    /// processor numbers 0 to `redistributors - 1` (each 64 KiB aligned),
    /// as [`LpiDomain::with_region`] lays them out.
    pub fn region_bytes(&self, redistributors: usize) -> usize {
        LpiTables::region_bytes(self.clamped_id_bits(), redistributors)
    }
}

/// A region [`LpiDomain::with_region`] refused, given back with the reason.
#[derive(Debug)]
pub struct RegionRefused<M> {
    /// Why.
    pub error: ItsError,
    /// The region, untouched.
    pub region: DmaRegion,
    /// The memory provider.
    pub memory: M,
}

/// The LPIs of a machine: INTIDs, the property table, the pending tables
/// and the redistributors. Cloning gives another handle to the same domain.
///
/// The tables are never given back, not even when the last handle goes: a
/// redistributor whose EnableLPIs cannot be cleared may still point at
/// them, and the domain holds no frame to ask.
pub struct LpiDomain<M: DmaMemory> {
    shared: Shared<M>,
}

/// Where the domain lives: on the heap, shared by counting, or in the
/// caller's [`crate::DomainStorage`] for good.
enum Shared<M: 'static> {
    #[cfg(feature = "alloc")]
    Heap(Arc<Mutex<Domain<M>>>),
    Static(&'static Mutex<Domain<M>>),
}

impl<M: DmaMemory> Clone for LpiDomain<M> {
    fn clone(&self) -> Self {
        let shared = match &self.shared {
            #[cfg(feature = "alloc")]
            Shared::Heap(domain) => Shared::Heap(domain.clone()),
            Shared::Static(domain) => Shared::Static(domain),
        };
        Self { shared }
    }
}

impl<M: DmaMemory> core::fmt::Debug for LpiDomain<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let domain = self.lock();
        f.debug_struct("LpiDomain")
            .field("id_bits", &domain.tables.id_bits())
            .field("allocated", &domain.allocator.allocated())
            .field("redistributors", &domain.redistributors)
            .finish_non_exhaustive()
    }
}

/// An ITS attached to a domain, as the domain knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ItsSlot(u32);

impl<M: DmaMemory> LpiDomain<M> {
    /// Allocates the property table from `memory`; each redistributor's
    /// pending table is allocated when [`LpiDomain::init_redistributor`]
    /// first sees it, so the domain serves any number of CPUs, whatever
    /// their processor numbers. Memory the GIC cannot reach is given back.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] if `memory` has no room for the property
    /// table; [`ItsError::UnencodableAddress`] if it gives one above 4 GiB
    /// while `config.quirks` forces [`Quirks::BELOW_4GIB`] (it is given back).
    #[cfg(feature = "alloc")]
    pub fn new(mut memory: M, config: LpiDomainConfig) -> Result<Self, ItsError> {
        let region = Self::allocate_property(&mut memory, &config)?;
        match Domain::new(memory, Layout::Allocated, region, &config, None) {
            Ok(domain) => Ok(Self::on_heap(domain)),
            Err((error, region, mut memory)) => {
                memory.deallocate(region, Self::property_request(&config));
                Err(error)
            }
        }
    }

    /// What the property table is allocated with.
    pub(crate) fn property_request(config: &LpiDomainConfig) -> DmaRequest {
        let id_bits = config.clamped_id_bits();
        let forced = config.quirks.force;
        DmaRequest::for_gic(LpiTables::property_bytes(id_bits), PROPERTY_ALIGN, forced)
    }

    /// Allocates the property table.
    pub(crate) fn allocate_property(
        memory: &mut M,
        config: &LpiDomainConfig,
    ) -> Result<DmaRegion, ItsError> {
        memory::allocate(memory, Self::property_request(config))
    }

    /// A domain on the heap.
    #[cfg(feature = "alloc")]
    fn on_heap(domain: Domain<M>) -> Self {
        Self {
            shared: Shared::Heap(Arc::new(Mutex::new(domain))),
        }
    }

    /// A domain in the caller's storage.
    pub(crate) fn in_storage(domain: &'static Mutex<Domain<M>>) -> Self {
        Self {
            shared: Shared::Static(domain),
        }
    }

    /// Places the tables in `region`, memory reserved for them that every
    /// kernel booted on this machine agrees on, in a layout computed from
    /// the region alone: the property table first, then the pending table
    /// of processor number `p` at slot `p` (size it with
    /// [`LpiDomainConfig::region_bytes`] for the highest processor number
    /// plus one). Two kernels given the same region compute the same
    /// addresses, which matters where EnableLPIs cannot be cleared and one
    /// kernel hands over to another (a boot kernel and the image it
    /// resumes, kexec).
    ///
    /// A redistributor found with EnableLPIs set that cannot be cleared
    /// keeps its tables if they lie inside the region, wherever they are
    /// (another kernel's layout): the property table is then the domain's
    /// and is reset (every LPI disabled), as Linux does with tables a
    /// previous kernel left in reserved memory. Tables outside the region
    /// are refused with [`ItsError::LpiTablesLocked`].
    ///
    /// The region must be 64 KiB aligned and hold the property table and at
    /// least one pending table. Nothing is written to it until the first
    /// redistributor is initialised.
    ///
    /// # Errors
    /// The region and `memory` come back in a [`RegionRefused`] whose `error`
    /// is [`ItsError::LpiRegionTooSmall`] if the region cannot hold the
    /// property table and one pending table, or
    /// [`ItsError::UnencodableAddress`] if it is not 64 KiB aligned, or lies
    /// above 4 GiB while `config.quirks` forces [`Quirks::BELOW_4GIB`].
    #[cfg(feature = "alloc")]
    pub fn with_region(
        memory: M,
        region: DmaRegion,
        config: LpiDomainConfig,
    ) -> Result<Self, RegionRefused<M>> {
        if let Err(error) = Self::check_region(&region, &config) {
            return Err(RegionRefused {
                error,
                region,
                memory,
            });
        }
        match Domain::new(memory, Layout::Fixed, region, &config, None) {
            Ok(domain) => Ok(Self::on_heap(domain)),
            Err((error, region, memory)) => Err(RegionRefused {
                error,
                region,
                memory,
            }),
        }
    }

    /// Checks a region for [`LpiDomain::with_region`]: large enough for the
    /// property table and one pending table, 64 KiB aligned and reachable.
    pub(crate) fn check_region(
        region: &DmaRegion,
        config: &LpiDomainConfig,
    ) -> Result<(), ItsError> {
        let needed = LpiTables::region_bytes(config.clamped_id_bits(), 1);
        if region.size() < needed {
            return Err(ItsError::LpiRegionTooSmall {
                size: region.size(),
                needed,
            });
        }
        if !region.phys().is_multiple_of(PENDING_ALIGN as u64)
            || !quirks::reachable(config.quirks.force, region.phys(), region.size())
        {
            return Err(ItsError::UnencodableAddress {
                phys: region.phys(),
            });
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Domain<M>> {
        match &self.shared {
            #[cfg(feature = "alloc")]
            Shared::Heap(domain) => domain.lock(),
            Shared::Static(domain) => domain.lock(),
        }
    }

    /// Runs `f` on the domain's memory provider, under the domain's lock
    /// (for an ITS that shares it, [`crate::Its::probe_sharing`]).
    pub(crate) fn with_memory<R>(&self, f: impl FnOnce(&mut M) -> R) -> R {
        f(&mut self.lock().memory)
    }

    /// Points the redistributor behind `gicr` (its RD_base frame, at
    /// physical address `rd_base`) at the domain's tables and enables its
    /// LPIs. Call it once per CPU at boot, and again after a resume or a
    /// [`LpiDomain::save`]. Returns its processor number.
    ///
    /// A redistributor already running on the domain's tables is left as it
    /// is, its pending LPIs too (calling this twice, or from a second
    /// driver, or on a redistributor a hibernated kernel's boot kernel left
    /// on the same region, is harmless). One running on other tables is
    /// turned off and reprogrammed when it allows that, and otherwise
    /// adopted ([`LpiDomain::with_region`]) or refused.
    ///
    /// A GICv4 redistributor (GICR_TYPER.VLPIS = 1) is refused with
    /// [`ItsError::VlpiFrameNeeded`]: use
    /// [`LpiDomain::init_redistributor_with_vlpi`].
    ///
    /// Every ITS a previous owner may have left enabled must have been
    /// quiesced first (`takeover::quiesce`): it would otherwise keep
    /// translating MSIs into the pending table enabled here.
    ///
    /// # Errors
    /// [`ItsError::RedistributorWithoutLpis`] if GICR_TYPER.PLPIS = 0;
    /// [`ItsError::VlpiFrameNeeded`] if GICR_TYPER.VLPIS = 1;
    /// [`ItsError::UnencodableAddress`] if the domain's tables, or the pending
    /// table placed for it, lie where the redistributor cannot reach (above
    /// 4 GiB, [`Quirks::BELOW_4GIB`]); [`ItsError::OutOfMemory`] if there is no
    /// memory for its pending table (a domain from [`LpiDomain::new`]);
    /// [`ItsError::NoPendingTable`] if the region has no slot for its processor
    /// number, or an adopted table lies on it (a domain from
    /// [`LpiDomain::with_region`]); [`ItsError::LpiTablesLocked`] if its
    /// EnableLPIs cannot be cleared and its tables do not lie in the domain's
    /// region; [`ItsError::LpiPropertyTableConflict`] if its EnableLPIs cannot
    /// be cleared and it uses another property table than the redistributors
    /// ready on the domain; [`ItsError::RegisterRefused`] if GICR_PROPBASER or
    /// GICR_PENDBASER does not take the tables; [`ItsError::Timeout`] if the
    /// redistributor does not power up ([`Quirks::REDISTRIBUTOR_POWER`]), or
    /// GICR_CTLR.RWP does not clear. After an error the redistributor does not
    /// count as ready.
    pub fn init_redistributor<G: GicrFrame>(
        &self,
        gicr: &G,
        rd_base: u64,
    ) -> Result<ProcessorNumber, ItsError> {
        self.init(gicr, rd_base, |processor_number, _| {
            Err(ItsError::VlpiFrameNeeded { processor_number })
        })
    }

    /// [`LpiDomain::init_redistributor`] for a GICv4 redistributor, with
    /// its VLPI_base frame (`vlpi`, at RD_base + 128 KiB): first, a vPE a
    /// previous owner left resident (a KVM host before a kexec) is made
    /// non-resident, so that the redistributor stops writing that vPE's
    /// pending table into memory this kernel owns (Linux does the same at
    /// boot). Also right for a redistributor without virtual LPIs, whose
    /// VLPI_base frame is then not touched.
    ///
    /// # Errors
    /// [`ItsError::RedistributorWithoutLpis`] if GICR_TYPER.PLPIS = 0;
    /// [`ItsError::UnencodableAddress`] if the domain's tables, or the pending
    /// table placed for it, lie where the redistributor cannot reach (above
    /// 4 GiB, [`Quirks::BELOW_4GIB`]); [`ItsError::OutOfMemory`] if there is no
    /// memory for its pending table (a domain from [`LpiDomain::new`]);
    /// [`ItsError::NoPendingTable`] if the region has no slot for its processor
    /// number, or an adopted table lies on it (a domain from
    /// [`LpiDomain::with_region`]); [`ItsError::LpiTablesLocked`] if its
    /// EnableLPIs cannot be cleared and its tables do not lie in the domain's
    /// region; [`ItsError::LpiPropertyTableConflict`] if its EnableLPIs cannot
    /// be cleared and it uses another property table than the redistributors
    /// ready on the domain; [`ItsError::RegisterRefused`] if GICR_PROPBASER or
    /// GICR_PENDBASER does not take the tables; [`ItsError::Timeout`] if the
    /// redistributor does not power up ([`Quirks::REDISTRIBUTOR_POWER`]), a vPE
    /// left resident does not finish with its pending table
    /// (GICR_VPENDBASER.Dirty), or GICR_CTLR.RWP does not clear. After an error
    /// the redistributor does not count as ready.
    pub fn init_redistributor_with_vlpi<G: GicrFrame, V: GicrVlpiFrame>(
        &self,
        gicr: &G,
        vlpi: &V,
        rd_base: u64,
    ) -> Result<ProcessorNumber, ItsError> {
        self.init(gicr, rd_base, |_, wait| {
            redistributor::retire_resident_vpe(gicr, vlpi, wait)
        })
    }

    /// Initialises the redistributor behind `gicr`; `virtual_lpis` deals
    /// with its VLPI_base frame if GICR_TYPER.VLPIS says it has one.
    fn init<G: GicrFrame>(
        &self,
        gicr: &G,
        rd_base: u64,
        virtual_lpis: impl FnOnce(ProcessorNumber, WaitPolicy) -> Result<(), ItsError>,
    ) -> Result<ProcessorNumber, ItsError> {
        let processor_number = redistributor::identify(gicr)?;
        let domain = &mut *self.lock();
        // Room to record it before anything changes.
        domain.redistributors.reserve_for(processor_number)?;
        let known = domain.redistributors.get(processor_number).copied();
        let kept = match domain.bring_up(gicr, processor_number, virtual_lpis) {
            Ok(kept) => kept,
            Err(error) => {
                // Whatever it was, its LPIs may be off now.
                if let Some(info) = domain.redistributors.get_mut(processor_number) {
                    info.ready = false;
                }
                return Err(error);
            }
        };
        let adopted = kept && known.is_none_or(|info| info.adopted);
        log::info!(
            "its: redistributor {processor_number} at {rd_base:#x}: LPIs enabled{}",
            if adopted {
                " (tables adopted as found)"
            } else {
                ""
            }
        );
        let info = RedistributorInfo {
            processor_number,
            rd_base,
            adopted,
            ready: true,
        };
        // Reserved above: this cannot fail.
        let _ = domain.redistributors.insert(processor_number, info);
        Ok(processor_number)
    }

    /// Turns a redistributor's LPIs off (EnableLPIs = 0, waiting for RWP) so
    /// that a next kernel can program its own tables: part of a handover,
    /// after every ITS's [`crate::Its::save`]. Returns `false` when this GIC
    /// does not allow EnableLPIs to be cleared; the next kernel must then be
    /// given the same LPI table region ([`LpiDomain::with_region`]) to
    /// adopt them.
    ///
    /// # Errors
    /// [`ItsError::RedistributorWithoutLpis`] if GICR_TYPER.PLPIS = 0;
    /// [`ItsError::ItsStillActive`] while an ITS of the domain is not saved;
    /// [`ItsError::Timeout`] if GICR_CTLR.RWP does not clear after EnableLPIs
    /// is cleared.
    pub fn release_redistributor<G: GicrFrame>(&self, gicr: &G) -> Result<bool, ItsError> {
        let processor_number = redistributor::identify(gicr)?;
        let domain = &mut *self.lock();
        domain.check_all_saved()?;
        let released = redistributor::disable(gicr, domain.wait)?;
        if let Some(info) = domain.redistributors.get_mut(processor_number) {
            info.ready = false;
        }
        Ok(released)
    }

    /// Records that the machine is about to lose the redistributors' state
    /// (a snapshot, a power cycle, a handover): from now on no redistributor
    /// counts as ready until [`LpiDomain::init_redistributor`] runs for it
    /// again. Every ITS of the domain must have been saved first.
    ///
    /// # Errors
    /// [`ItsError::ItsStillActive`] while an ITS of the domain is not saved
    /// (nothing changes).
    pub fn save(&self) -> Result<(), ItsError> {
        let domain = &mut *self.lock();
        domain.check_all_saved()?;
        for (_, info) in domain.redistributors.iter_mut() {
            info.ready = false;
        }
        Ok(())
    }

    /// Records that a CPU goes offline: its redistributor no longer counts
    /// as ready, so no ITS maps a collection onto it or moves LPIs to it
    /// ([`ItsError::RedistributorNotReady`]) until
    /// [`LpiDomain::init_redistributor`] runs for it again. Move its
    /// collections away first ([`crate::Its::move_collections`]).
    ///
    /// # Errors
    /// [`ItsError::UnknownRedistributor`] if the domain never initialised the
    /// redistributor of `processor_number`.
    pub fn offline(&self, processor_number: ProcessorNumber) -> Result<(), ItsError> {
        let mut domain = self.lock();
        let info = domain
            .redistributors
            .get_mut(processor_number)
            .ok_or(ItsError::UnknownRedistributor { processor_number })?;
        info.ready = false;
        Ok(())
    }

    /// Every redistributor the domain has initialised, by processor number.
    #[cfg(feature = "alloc")]
    pub fn redistributors(&self) -> Vec<RedistributorInfo> {
        let mut all = Vec::new();
        self.for_each_redistributor(|info| all.push(info));
        all
    }

    /// Calls `f` with every redistributor the domain has initialised, by
    /// processor number, under the domain's lock (`f` must not use the
    /// domain).
    pub fn for_each_redistributor(&self, f: impl FnMut(RedistributorInfo)) {
        self.lock().redistributors.values().copied().for_each(f);
    }

    /// The redistributor with processor number `processor_number`, if the
    /// domain has initialised it.
    pub fn redistributor(&self, processor_number: ProcessorNumber) -> Option<RedistributorInfo> {
        self.lock().redistributors.get(processor_number).copied()
    }

    /// Number of LPIs allocated to events now, across every ITS.
    pub fn allocated_lpis(&self) -> u32 {
        self.lock().allocator.allocated()
    }

    /// The LPI INTID bits the tables cover.
    pub fn id_bits(&self) -> u32 {
        self.lock().tables.id_bits()
    }

    /// Bytes of the property and pending tables.
    pub fn table_bytes(&self) -> usize {
        self.lock().tables.bytes()
    }

    /// The configuration byte of an LPI, as the property table holds it.
    pub fn config(&self, intid: IntId) -> Option<LpiConfig> {
        self.lock().tables.config(intid)
    }
}
