//! A software model of a GICv3 ITS (or several) and its redistributors, the
//! oracle of `gicv3-its`'s host tests.
//!
//! Host tests drive the real driver against an [`ItsModel`] through the same
//! traits it uses on hardware ([`RegisterFrame`], [`DmaMemory`])
//! and then check what the model's tables in memory hold ([`ItsModel::mappings`],
//! [`ItsModel::translate`]) and which architectural rules the driver broke
//! ([`ItsModel::violations`]). It is written from Arm IHI 0069 (GICv3/v4
//! architecture specification), chapters 5 and 12, physical LPIs only.
//!
//! # Several ITSes
//! A GIC may have several ITSes ([`ModelConfig::its_count`]). Each has its
//! own register frame, command queue, Device and Collection tables,
//! collections held inside it, devices held the way KVM holds them and
//! command log ([`ItsModel::its`] gives an [`ItsView`] of each); all share the
//! redistributors (pending state, cached LPI properties) and the memory. The
//! [`ItsModel`] methods about one ITS mean ITS 0. The counters
//! ([`ModelStats`]) and the violations are the model's, over every ITS.
//!
//! # Memory
//! The model owns an arena, allocated with `std::alloc` and handed out by
//! [`ModelMemory`] first-fit. Physical addresses are the arena offset plus
//! [`ModelConfig::arena_phys_base`] ([`ARENA_PHYS_BASE`] by default). The
//! model only touches the arena through raw pointers, never through
//! references, because the driver holds raw pointers into it. Every GIC
//! access must fall inside a live allocation; one that does not is a memory
//! error ([`Violation::Memory`]), which stalls the command queue (as QEMU
//! does) until a later GITS_CWRITER write retries it. The GIC's accesses
//! carry [`ModelConfig::bus_address_bits`] address bits: an address it uses
//! loses the higher ones on its way to memory (and so usually misses the
//! arena).
//!
//! # Coherency and memory attributes
//! Whether the GIC snoops the CPU's caches ([`ModelConfig::coherency`]) is
//! independent of what the attribute fields of its base registers accept:
//! - where the GIC (or only its ITSes, [`Coherency::NonCoherentIts`]) is not
//!   coherent, it reads and writes its own view of memory.
//!   [`DmaMemory::clean_invalidate_to_poc`] copies the CPU's bytes of every 64-byte
//!   line it touches into that view, and the GIC's own writes (DTEs, CTEs,
//!   ITEs, the pending table) go only there; a freshly allocated region
//!   reads as [`POISON`] in the GIC view until it is cleaned;
//! - the Shareability fields of GITS_CBASER, GITS_BASERn, GICR_PROPBASER and
//!   GICR_PENDBASER keep what is written when [`ModelConfig::shareable`]
//!   (except on [`ModelConfig::non_shareable_redistributors`], and for
//!   GICR_PROPBASER alone [`ModelConfig::non_shareable_property_tables`]),
//!   else read 0;
//!   their InnerCache fields read [`ModelConfig::fixed_inner_cache`] if set;
//!   and their address fields implement
//!   [`ModelConfig::register_address_bits`] bits.
//!
//! A GIC that says it is not coherent (Shareability reading 0) is
//! `coherency: NonCoherent, shareable: false`; one that accepts shareable
//! attributes and does not snoop (Rockchip RK3588) is
//! `coherency: NonCoherent, shareable: true`.
//!
//! # Real implementations
//! Presets model implementations with known errata, each reporting its
//! IIDR ([`ModelConfig::iidr`], both GITS_IIDR and GICR_IIDR):
//! [`ModelConfig::rk3588`] (shareable fields, no snooping),
//! [`ModelConfig::rk3568`] (memory above 4 GiB, 32-bit accesses),
//! [`ModelConfig::qdf2400`] (GITS_TYPER under-reports the ITT entry size:
//! [`ModelConfig::reported_itt_entry_size`]), [`ModelConfig::thunderx`]
//! (DeviceID bits over-reported: [`ModelConfig::decoded_devbits`]; an ITS
//! that does not snoop) and [`ModelConfig::gic600`] (redistributors powered
//! down at reset).
//!
//! # Redistributor power
//! With [`ModelConfig::redistributor_power`] the redistributors have Arm's
//! GIC-600/GIC-700 GICR_PWRR ([`RedistributorPower`] describes its fields)
//! and start powered down; while one is powered down its registers other
//! than GICR_PWRR, GICR_IIDR and GICR_TYPER read 0 and writes to them are
//! ignored and reported ([`Violation::RedistributorPoweredDown`]).
//!
//! # In-memory formats (implementation defined, chosen like QEMU's)
//! - DTE, 8 bytes: bit 0 Valid, bits \[5:1\] Size (EventID bits minus one),
//!   bits \[49:6\] ITT address bits \[51:8\].
//! - CTE, 8 bytes: bit 0 Valid, bits \[36:1\] the RDbase field of MAPC
//!   (processor number, or RD_base address bits \[51:16\] when PTA = 1).
//! - ITE, [`ModelConfig::itt_entry_size`] bytes, little-endian: bit 0 Valid,
//!   bits \[32:1\] INTID, bits \[48:33\] ICID, the rest zero.
//! - Level-1 entries of an indirect table are the architected ones: bit 63
//!   Valid, bits \[51:12\] the address of a level-2 page of the table's page size.
//! - Collections with ICID below GITS_TYPER.HCC are held inside the ITS; the
//!   collection table is indexed by ICID (its entries below HCC are unused).
//!
//! LPI properties are read from the table at GICR_PROPBASER (one byte per LPI
//! from INTID 8192; bit 0 enable, bits \[7:2\] priority) the first time a
//! redistributor needs one, then cached until INV, INVALL, GICR_INVLPIR or
//! GICR_INVALLR. Pending state lives in the redistributor and is written to
//! the pending table when EnableLPIs is cleared; it is loaded from the table
//! when EnableLPIs is set with GICR_PENDBASER.PTZ = 0.
//!
//! The model is a second, independent reading of the spec: it shares the
//! command encodings ([`ItsCommand`]), the register descriptors
//! ([`gicv3_its::registers`]), the memory and register-frame traits and the
//! ID types with the driver, never the driver's logic.
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

use core::ptr::NonNull;
use gicv3_its::registers::{Gicr, GicrVlpi, Gits, ReadAccess, RegisterFrame, WriteAccess};
use gicv3_its::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
use gicv3_its::{DmaMemory, DmaRegion, DmaRequest};
use gicv3_its::{ItsCommand, RdBase};
use state::State;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

mod arena;
mod commands;
mod config;
mod decode;
mod kvm;
mod power;
mod presets;
mod redistributor;
mod registers;
mod report;
mod state;
mod tables;
#[cfg(test)]
mod test_rig;
mod vpe;

pub use arena::POISON;
pub use config::{
    ARENA_PHYS_BASE, Coherency, Consumption, ModelConfig, PageSizes, Placement, Quiescence,
    RedistributorPower, VirtualLpis,
};
pub use decode::decode_command;
pub use kvm::SavedWrite;
pub use presets::{GIC600_IIDR, GIC700_IIDR, QDF2400_IIDR, ROCKCHIP_GIC600_IIDR, THUNDERX_IIDR};
pub use registers::{GicrRegister, GicrVlpiRegister, GitsRegister};
pub use report::{
    CommandError, MemoryFault, ModelStats, MsiError, TableKind, Translation, Violation,
    command_name,
};

/// The first LPI INTID (5.1).
const FIRST_LPI: u32 = 8192;

/// A software GIC: one ITS or more ([`ModelConfig::its_count`]), the
/// redistributors and the memory. Clones share the model. The methods about
/// one ITS (its registers, its tables, its MSIs) mean ITS 0;
/// [`ItsModel::its`] gives every ITS.
#[derive(Clone)]
pub struct ItsModel {
    state: Arc<Mutex<State>>,
}

/// One ITS of a model ([`ItsModel::its`]): its register frame, what its
/// tables in memory hold, what it keeps inside itself, and the MSIs devices
/// write to its GITS_TRANSLATER. Clones share the model.
#[derive(Clone)]
pub struct ItsView {
    state: Arc<Mutex<State>>,
    index: usize,
}

/// The register frame of one of the model's ITSes.
#[derive(Clone)]
pub struct ModelGits {
    state: Arc<Mutex<State>>,
    index: usize,
}

/// The LPI registers of one of the model's redistributors.
#[derive(Clone)]
pub struct ModelGicr {
    state: Arc<Mutex<State>>,
    index: usize,
}

/// The VLPI_base frame of one of the model's GICv4 redistributors.
#[derive(Clone)]
pub struct ModelGicrVlpi {
    state: Arc<Mutex<State>>,
    index: usize,
}

/// The model's memory allocator, and the CPU side of its cache maintenance.
#[derive(Clone)]
pub struct ModelMemory {
    state: Arc<Mutex<State>>,
}

/// The handles print as their type name only.
macro_rules! opaque_debug {
    ($($handle:ty),*) => {$(
        impl core::fmt::Debug for $handle {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(stringify!($handle))
            }
        }
    )*};
}
opaque_debug!(
    ItsModel,
    ItsView,
    ModelGits,
    ModelGicr,
    ModelGicrVlpi,
    ModelMemory
);

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl ItsModel {
    /// Builds a model, its registers at reset values and its arena empty.
    ///
    /// # Panics
    /// If a configuration value is outside the range its field documents.
    pub fn new(config: ModelConfig) -> Self {
        Self {
            state: Arc::new(Mutex::new(State::new(config))),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The configuration.
    pub fn config(&self) -> ModelConfig {
        self.state().gic.config.clone()
    }

    /// ITS `index`, from 0 to [`ModelConfig::its_count`] - 1.
    ///
    /// # Panics
    /// If there is no such ITS.
    pub fn its(&self, index: usize) -> ItsView {
        assert!(index < self.state().its.len(), "no ITS {index}");
        ItsView {
            state: self.state.clone(),
            index,
        }
    }

    /// ITS 0's register frame ([`ItsView::gits`]).
    pub fn gits(&self) -> ModelGits {
        self.its(0).gits()
    }

    /// The LPI registers of redistributor `index`.
    ///
    /// # Panics
    /// If there is no such redistributor.
    pub fn gicr(&self, index: usize) -> ModelGicr {
        assert!(
            index < self.state().gic.rds.len(),
            "no redistributor {index}"
        );
        ModelGicr {
            state: self.state.clone(),
            index,
        }
    }

    /// The VLPI_base frame of redistributor `index` (its registers read 0
    /// and ignore writes unless [`ModelConfig::virtual_lpis`]).
    ///
    /// # Panics
    /// If there is no such redistributor.
    pub fn gicr_vlpi(&self, index: usize) -> ModelGicrVlpi {
        assert!(
            index < self.state().gic.rds.len(),
            "no redistributor {index}"
        );
        ModelGicrVlpi {
            state: self.state.clone(),
            index,
        }
    }

    /// Time passes: each vPE a previous owner left resident
    /// ([`VirtualLpis::left_resident`]) gets a virtual LPI, which its
    /// redistributor writes into the vPE's pending table
    /// ([`Violation::ResidentVpeWrote`]).
    pub fn run_vpes(&self) {
        self.state().gic.run_vpes();
    }

    /// The memory allocator.
    pub fn memory(&self) -> ModelMemory {
        ModelMemory {
            state: self.state.clone(),
        }
    }

    /// The RDbase that names redistributor `processor` in any ITS's commands
    /// (per PTA).
    pub fn rdbase(&self, processor: usize) -> RdBase {
        let config = &self.state().gic.config;
        if config.pta {
            RdBase::physical_address(config.redistributors[processor])
        } else {
            RdBase::processor_number(ProcessorNumber(config.processor_number(processor)))
        }
    }

    /// ITS 0's translation of an event ([`ItsView::translate`]).
    pub fn translate(&self, device_id: DeviceId, event_id: EventId) -> Option<Translation> {
        self.its(0).translate(device_id, event_id)
    }

    /// ITS 0's mappings ([`ItsView::mappings`]).
    pub fn mappings(&self) -> BTreeMap<(DeviceId, EventId), (IntId, CollectionId)> {
        self.its(0).mappings()
    }

    /// The devices ITS 0 holds, with their ITT addresses
    /// ([`ItsView::held_itts`]).
    pub fn held_itts(&self) -> BTreeMap<DeviceId, u64> {
        self.its(0).held_itts()
    }

    /// DeviceIDs with a valid DTE in ITS 0's Device table
    /// ([`ItsView::valid_device_ids`]).
    pub fn valid_device_ids(&self) -> Vec<DeviceId> {
        self.its(0).valid_device_ids()
    }

    /// ITS 0's mapped collections ([`ItsView::valid_collections`]).
    pub fn valid_collections(&self) -> BTreeMap<CollectionId, usize> {
        self.its(0).valid_collections()
    }

    /// An MSI written to ITS 0's GITS_TRANSLATER ([`ItsView::send_msi`]).
    pub fn send_msi(
        &self,
        device_id: DeviceId,
        event_id: EventId,
    ) -> Result<Translation, MsiError> {
        self.its(0).send_msi(device_id, event_id)
    }

    /// The LPIs pending on a redistributor, enabled or not, ascending.
    pub fn pending(&self, processor: usize) -> Vec<IntId> {
        self.state().gic.rds[processor]
            .pending
            .iter()
            .map(|&intid| IntId(intid))
            .collect()
    }

    /// Acknowledges every pending LPI of a redistributor that is enabled in
    /// its cached configuration, and returns them, ascending (priority is not
    /// modelled).
    pub fn take_pending(&self, processor: usize) -> Vec<IntId> {
        self.state()
            .gic
            .take_pending(processor)
            .into_iter()
            .map(IntId)
            .collect()
    }

    /// Every allocation the model's memory holds now: its physical address
    /// and the size asked for, ascending.
    pub fn live_allocations(&self) -> Vec<(u64, usize)> {
        self.state().gic.arena.live_allocations()
    }

    /// The counters, over every ITS.
    pub fn stats(&self) -> ModelStats {
        self.state().gic.stats.clone()
    }

    /// The rules the driver broke, in order, on any ITS, redistributor or
    /// memory.
    pub fn violations(&self) -> Vec<Violation> {
        self.state().gic.violations.clone()
    }

    /// Returns the violations and forgets them.
    pub fn take_violations(&self) -> Vec<Violation> {
        core::mem::take(&mut self.state().gic.violations)
    }

    /// What a KVM save of the VM would write into memory for ITS 0
    /// ([`ItsView::kvm_save_tables`]).
    pub fn kvm_save_tables(&self) -> Vec<SavedWrite> {
        self.its(0).kvm_save_tables()
    }

    /// Every command ITS 0 processed ([`ItsView::command_log`]).
    pub fn command_log(&self) -> Vec<ItsCommand> {
        self.its(0).command_log()
    }

    /// The CPU's caches refill every line they hold clean from memory, as
    /// speculative reads may at any time: on a GIC that does not snoop,
    /// those lines go stale when the GIC then writes memory behind them.
    /// Nothing happens where the GIC snoops.
    pub fn refill_cpu_caches(&self) {
        self.state().gic.arena.refill_clean_lines();
    }

    /// The whole of memory as the CPU reads it, stale lines included: what
    /// a hibernation image holds.
    pub fn hibernation_image(&self) -> Vec<u8> {
        self.state().gic.arena.cpu_image()
    }

    /// Puts a hibernation image back into memory, as a resumed kernel does
    /// (every view holds it, as after a clean of all of memory). The
    /// allocations stay as they are: the image is the same kernel's.
    pub fn restore_hibernation_image(&self, image: &[u8]) {
        self.state().gic.arena.restore_image(image);
    }

    /// Lets `n` more allocations succeed, then fails every one.
    pub fn fail_allocations_after(&self, n: usize) {
        self.state().gic.alloc_budget = Some(n);
    }

    /// Fails every allocation from now on (`true`), or none (`false`).
    pub fn fail_allocations(&self, fail: bool) {
        self.state().gic.alloc_budget = fail.then_some(0);
    }

    /// Changes the configuration while the model runs, for faults that start
    /// part-way through a test (an ITS that stops consuming commands, a
    /// stall, different hardware after a resume). Only the behaviour knobs
    /// are read again: consumption, stall, quiescence, IIDR, RWP, stickiness,
    /// what the base registers' attribute and address fields keep, the
    /// DeviceID bits decoded, how GICR_PWRR behaves (for every ITS); the
    /// table geometry and TYPER stay as built, and so do the number of
    /// ITSes, the coherency, the arena and the address bits of the GIC's
    /// accesses, and whether GICR_PWRR exists and its group size (changes to
    /// those are undone).
    pub fn reconfigure(&self, change: impl FnOnce(&mut ModelConfig)) {
        let state = &mut *self.state();
        let built = state.gic.config.clone();
        change(&mut state.gic.config);
        let config = &mut state.gic.config;
        config.its_count = state.its.len();
        config.coherency = built.coherency;
        config.arena_size = built.arena_size;
        config.arena_phys_base = built.arena_phys_base;
        config.bus_address_bits = built.bus_address_bits;
        config.redistributor_power = match (built.redistributor_power, config.redistributor_power) {
            (Some(built), Some(now)) => Some(config::RedistributorPower {
                group_size: built.group_size,
                ..now
            }),
            (built, _) => built,
        };
        for its in &mut state.its {
            its.stall_fired = false;
        }
    }

    /// A system reset: every ITS and redistributor register returns to its
    /// reset value, collections held in the ITS and pending state not written
    /// to memory are lost; memory and allocations stay as they are.
    pub fn reset(&self) {
        self.state().reset();
    }
}

impl ItsView {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Which ITS of the model this is.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The ITS's register frame.
    pub fn gits(&self) -> ModelGits {
        ModelGits {
            state: self.state.clone(),
            index: self.index,
        }
    }

    /// Walks the Device table, the ITT and the collection in memory (the GIC's
    /// view) as the driver programmed them. `None` if the event does not
    /// translate.
    pub fn translate(&self, device_id: DeviceId, event_id: EventId) -> Option<Translation> {
        self.state()
            .its_mut(self.index)
            .translate(device_id.0, event_id.0)
            .ok()
    }

    /// Every valid ITE reachable from a valid DTE: (DeviceID, EventID) to
    /// (INTID, ICID).
    pub fn mappings(&self) -> BTreeMap<(DeviceId, EventId), (IntId, CollectionId)> {
        self.state()
            .its_mut(self.index)
            .mappings()
            .into_iter()
            .map(|((device, event), (intid, icid))| {
                (
                    (DeviceId(device), EventId(event)),
                    (IntId(intid), CollectionId(icid)),
                )
            })
            .collect()
    }

    /// The devices the ITS still holds the way KVM does, with their ITT
    /// addresses: mapped by MAPD, and kept (enabled or not) until MAPD V=0
    /// or until the Device BASER is written with Valid = 0. These are the
    /// ITTs a hypervisor would write into when it saves the VM's ITS state.
    pub fn held_itts(&self) -> BTreeMap<DeviceId, u64> {
        self.state().its[self.index]
            .itts
            .iter()
            .map(|(&device_id, &(itt, _))| (DeviceId(device_id), itt))
            .collect()
    }

    /// DeviceIDs with a valid DTE, ascending.
    pub fn valid_device_ids(&self) -> Vec<DeviceId> {
        self.state()
            .its_mut(self.index)
            .valid_devices()
            .into_iter()
            .map(|(id, _)| DeviceId(id))
            .collect()
    }

    /// Mapped collections: ICID to redistributor index. CTEs that name no
    /// redistributor (which MAPC never writes) are left out.
    pub fn valid_collections(&self) -> BTreeMap<CollectionId, usize> {
        self.state()
            .its_mut(self.index)
            .valid_collections()
            .into_iter()
            .map(|(icid, processor)| (CollectionId(icid), processor))
            .collect()
    }

    /// A device writes `event_id` to GITS_TRANSLATER with `device_id`: the
    /// ITS translates it and makes the LPI pending on the target redistributor.
    pub fn send_msi(
        &self,
        device_id: DeviceId,
        event_id: EventId,
    ) -> Result<Translation, MsiError> {
        self.state()
            .its_mut(self.index)
            .send_msi(device_id.0, event_id.0)
    }

    /// What KVM would write into the guest's memory if it saved the VM's
    /// state of this ITS now (see [`ModelConfig::kvm`]): an ITE per mapped
    /// event of every device the ITS holds, their DTEs, and the CTEs. A
    /// write outside every live allocation is also reported as a
    /// [`Violation::Memory`].
    pub fn kvm_save_tables(&self) -> Vec<SavedWrite> {
        self.state().its_mut(self.index).kvm_save_tables()
    }

    /// Every command the ITS processed, in order (undecodable ones left out).
    pub fn command_log(&self) -> Vec<ItsCommand> {
        self.state().its[self.index].log.clone()
    }
}

impl ModelGits {
    /// Reads a register as a raw value, bypassing the descriptors' access
    /// rights: for tests that act as a driver at the bit level.
    pub fn read_register(&self, register: GitsRegister) -> u64 {
        lock(&self.state).its_mut(self.index).gits_read(register)
    }

    /// Writes a register with a raw value, read-only ones included (the
    /// model ignores such writes, as hardware does).
    pub fn write_register(&self, register: GitsRegister, value: u64) {
        lock(&self.state)
            .its_mut(self.index)
            .gits_write(register, value)
    }
}

impl ModelGicr {
    /// Reads a register as a raw value: for tests at the bit level.
    pub fn read_register(&self, register: GicrRegister) -> u64 {
        lock(&self.state).gic.gicr_read(self.index, register)
    }

    /// Writes a register with a raw value: for tests at the bit level.
    pub fn write_register(&self, register: GicrRegister, value: u64) {
        lock(&self.state)
            .gic
            .gicr_write(self.index, register, value)
    }
}

impl RegisterFrame for ModelGits {
    type Kind = Gits;

    fn load(&self, access: ReadAccess<Gits>) -> u64 {
        lock(&self.state)
            .its_mut(self.index)
            .gits_read(GitsRegister::at(access.offset()))
    }

    fn store(&self, access: WriteAccess<Gits>, value: u64) {
        lock(&self.state)
            .its_mut(self.index)
            .gits_write(GitsRegister::at(access.offset()), value)
    }
}

impl ModelGicrVlpi {
    /// Reads a register as a raw value: for tests at the bit level.
    pub fn read_register(&self, register: GicrVlpiRegister) -> u64 {
        lock(&self.state).gic.vlpi_read(self.index, register)
    }

    /// Writes a register with a raw value: for tests at the bit level.
    pub fn write_register(&self, register: GicrVlpiRegister, value: u64) {
        lock(&self.state)
            .gic
            .vlpi_write(self.index, register, value)
    }
}

impl RegisterFrame for ModelGicrVlpi {
    type Kind = GicrVlpi;

    fn load(&self, access: ReadAccess<GicrVlpi>) -> u64 {
        self.read_register(GicrVlpiRegister::at(access.offset()))
    }

    fn store(&self, access: WriteAccess<GicrVlpi>, value: u64) {
        self.write_register(GicrVlpiRegister::at(access.offset()), value)
    }
}

impl RegisterFrame for ModelGicr {
    type Kind = Gicr;

    fn load(&self, access: ReadAccess<Gicr>) -> u64 {
        lock(&self.state)
            .gic
            .gicr_read(self.index, GicrRegister::at(access.offset()))
    }

    fn store(&self, access: WriteAccess<Gicr>, value: u64) {
        lock(&self.state)
            .gic
            .gicr_write(self.index, GicrRegister::at(access.offset()), value)
    }
}

impl ModelMemory {
    /// Gives `region` back with the request it was allocated for (a test's
    /// shorthand for [`DmaMemory::deallocate`], whose callers keep the
    /// request).
    pub fn give_back(&mut self, region: DmaRegion) {
        let request = lock(&self.state).gic.request_of(&region);
        self.deallocate(region, request);
    }
}

// SAFETY: `Gic::allocate` hands out zeroed, line-aligned ranges of the
// arena that satisfy the requested size and alignment, never two overlapping live
// ranges, and the arena lives as long as any handle (they share the `Arc`).
unsafe impl DmaMemory for ModelMemory {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        lock(&self.state).gic.allocate(request)
    }

    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        lock(&self.state).deallocate(region, request)
    }

    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
        lock(&self.state).gic.clean(virt, len)
    }
}
