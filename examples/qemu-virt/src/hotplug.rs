//! CPUs coming online and going offline as the GIC and the ITS see them:
//! each CPU's redistributor, CPU interface, LPIs and collection, and the
//! events routed to it.
//!
//! Every CPU gets a collection of its own, whose ICID is its index
//! ([`collection`]), like kvm-unit-tests' collections named after their
//! PE. An event is routed to a CPU by putting it in that CPU's collection
//! ([`Cpus::set_affinity`], MOVI); the CPU it was asked to go to is its
//! *home*, remembered across the CPU going offline and coming back.
//!
//! The order rules. The ITS must never map a collection onto, or SYNC
//! with, a redistributor whose LPIs are not enabled (the crate refuses with
//! `RedistributorNotReady`), and a CPU must take nothing after it went
//! off. So:
//!
//! - **Online** (CPU k): PSCI CPU_ON; then on CPU k itself: the kernel's
//!   page tables, its redistributor found by matching GICR_TYPER.Affinity
//!   against its own MPIDR and woken, the kick SGI enabled, its CPU
//!   interface enabled, and `LpiDomain::init_redistributor` (PROPBASER,
//!   PENDBASER, EnableLPIs: the domain now counts it ready). Only then, on
//!   the CPU that drives the ITS: its collection, with MAPC and INVALL:
//!   `map_collection` the first time, `restore_collections` after a resume
//!   (restore left it waiting), `move_collection` if MOVALL had taken it
//!   elsewhere. Last, MOVI every event whose home is CPU k back into it.
//! - **Offline** (CPU k), the reverse: its events leave first (MOVI of each
//!   to another CPU's collection, or MOVALL, `Its::move_collections`, which
//!   takes its collection along); a pending LPI moves with them, so nothing
//!   is lost. Then MAPC V=0 of its collection if it is to go (that still
//!   needs the redistributor ready, so before the next step), then
//!   `LpiDomain::offline` (nothing may be mapped onto or moved to it any
//!   more), and last, on CPU k: IRQs masked, its CPU interface off
//!   (ICC_IGRPEN1_EL1 = 0), PSCI CPU_OFF; the driving CPU waits until PSCI
//!   AFFINITY_INFO says it is off.
//!
//! Its redistributor keeps EnableLPIs and its tables while the CPU is off
//! (on hardware, firmware may power it down: `init_redistributor` then
//! programs it again on the way back).

use crate::cpu;
use crate::gic::{GicError, Redistributors, cpu_interface};
use crate::msi::{ItsService, collection};
use crate::smp::{self, CpuState, KICK_SGI, SmpError};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::ptr::NonNull;
use gicv3_its::registers::GicrMmio;
use gicv3_its::{DeviceId, EventId, ItsError, LpiDomain, ProcessorNumber};
use log::info;

/// Why a CPU could not come online or go offline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HotplugError {
    /// Starting, stopping or reaching the CPU failed.
    Smp(SmpError),
    /// Its redistributor could not be found or woken.
    Gic(GicError),
    /// The ITS driver refused.
    Its(ItsError),
    /// The CPU is not online (or is the one doing this).
    NotOnline(usize),
}

impl From<SmpError> for HotplugError {
    fn from(error: SmpError) -> Self {
        Self::Smp(error)
    }
}

impl From<GicError> for HotplugError {
    fn from(error: GicError) -> Self {
        Self::Gic(error)
    }
}

impl From<ItsError> for HotplugError {
    fn from(error: ItsError) -> Self {
        Self::Its(error)
    }
}

impl fmt::Display for HotplugError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smp(error) => write!(f, "{error}"),
            Self::Gic(error) => write!(f, "GIC: {error}"),
            Self::Its(error) => write!(f, "ITS: {error}"),
            Self::NotOnline(cpu) => write!(f, "CPU {cpu} is not online"),
        }
    }
}

/// How a CPU going offline hands its interrupts over to CPU `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handoff {
    /// MOVI each of its events into `to`'s collection (a pending LPI moves
    /// with its event). With `unmap`, its own collection is unmapped then
    /// (MAPC V=0); without, it stays in the registry (hibernation:
    /// `Its::restore` leaves it waiting for the CPU, and
    /// `restore_collections` maps it again when the CPU is back).
    Movi {
        /// The CPU that takes its events.
        to: usize,
        /// Unmap its collection.
        unmap: bool,
    },
    /// MOVALL (`Its::move_collections`): its collection is remapped to
    /// `to` (MAPC, INVALL) and its pending LPIs follow; its events stay in
    /// the collection.
    Movall {
        /// The CPU that takes its collection.
        to: usize,
    },
}

/// The CPUs as the GIC and the ITS know them.
pub struct Cpus {
    redistributors: Redistributors,
    /// Per CPU index: its processor number once its LPIs were enabled.
    processor_numbers: Vec<Option<ProcessorNumber>>,
    /// (DeviceID, EventID, home CPU) of every event given a CPU.
    homes: Vec<(DeviceId, EventId, usize)>,
}

impl Cpus {
    /// The CPUs of `smp`, the boot CPU (this one) already set up with
    /// processor number `boot`.
    pub fn new(redistributors: Redistributors, boot: ProcessorNumber) -> Self {
        let mut processor_numbers = vec![None; smp::count()];
        processor_numbers[cpu::this_cpu()] = Some(boot);
        Self {
            redistributors,
            processor_numbers,
            homes: Vec::new(),
        }
    }

    /// The processor number of CPU `cpu`'s redistributor, once known.
    pub fn processor_number(&self, cpu: usize) -> Option<ProcessorNumber> {
        self.processor_numbers.get(cpu).copied().flatten()
    }

    /// The CPU whose redistributor has `processor_number`.
    pub fn cpu_with(&self, processor_number: ProcessorNumber) -> Option<usize> {
        self.processor_numbers
            .iter()
            .position(|&p| p == Some(processor_number))
    }

    /// Brings every CPU of the DTB online that is not yet: returns how many
    /// are online now. A CPU that fails is reported and left off.
    pub fn online_all(&mut self, its: &mut ItsService) -> usize {
        for cpu in 0..smp::count() {
            if smp::state(cpu) == CpuState::Off
                && let Err(error) = self.online(its, cpu)
            {
                log::error!("smp: CPU {cpu} (MPIDR {:#x}): {error}", smp::mpidr(cpu));
            }
        }
        smp::online().count()
    }

    /// Takes every CPU but this one offline, each event moved here (MOVI),
    /// their collections unmapped or (`unmap` false) left for
    /// `restore_collections`.
    pub fn offline_all(&mut self, its: &mut ItsService, unmap: bool) -> Result<(), HotplugError> {
        let me = cpu::this_cpu();
        let online: Vec<usize> = smp::online().filter(|&cpu| cpu != me).collect();
        for cpu in online {
            self.offline(its, cpu, Handoff::Movi { to: me, unmap })?;
        }
        Ok(())
    }

    /// Brings CPU `cpu` online (see the module's order rules): it sets up
    /// its own GIC state and LPIs, then its collection is mapped and its
    /// events come home. Returns its processor number.
    pub fn online(
        &mut self,
        its: &mut ItsService,
        cpu: usize,
    ) -> Result<ProcessorNumber, HotplugError> {
        let outcome = spin::Mutex::new(None);
        let redistributors = &self.redistributors;
        let lpis = &its.lpis;
        smp::start(cpu, &|| {
            *outcome.lock() = Some(bring_up_this_cpu(redistributors, lpis));
        })?;
        let processor_number = outcome
            .lock()
            .take()
            .unwrap_or(Err(HotplugError::NotOnline(cpu)))?;
        if let Some(slot) = self.processor_numbers.get_mut(cpu) {
            *slot = Some(processor_number);
        }
        let icid = collection(cpu);
        let record = its
            .its
            .registry()
            .collections()
            .find(|&(id, _)| id == icid)
            .map(|(_, record)| record);
        match record {
            None => its.its.map_collection(icid, processor_number)?,
            Some(record) if !record.is_live() => its.its.restore_collections(processor_number)?,
            Some(record) if record.processor_number() != processor_number => {
                its.its.move_collection(icid, processor_number)?
            }
            Some(_) => {}
        }
        let homecoming: Vec<(DeviceId, EventId)> = self
            .homes
            .iter()
            .filter(|&&(device_id, event_id, home)| {
                home == cpu
                    && its
                        .its
                        .registry()
                        .event(device_id, event_id)
                        .is_some_and(|mapping| mapping.icid() != icid)
            })
            .map(|&(device_id, event_id, _)| (device_id, event_id))
            .collect();
        for (device_id, event_id) in homecoming {
            its.its.move_event(device_id, event_id, icid)?;
        }
        info!(
            "smp: CPU {cpu} (MPIDR {:#x}) online: processor number {processor_number}, collection {icid}",
            smp::mpidr(cpu)
        );
        Ok(processor_number)
    }

    /// Takes CPU `cpu` offline (see the module's order rules), handing its
    /// interrupts over as `handoff` says.
    pub fn offline(
        &mut self,
        its: &mut ItsService,
        cpu: usize,
        handoff: Handoff,
    ) -> Result<(), HotplugError> {
        if cpu == cpu::this_cpu() || smp::state(cpu) != CpuState::Online {
            return Err(HotplugError::NotOnline(cpu));
        }
        let processor_number = self
            .processor_number(cpu)
            .ok_or(HotplugError::NotOnline(cpu))?;
        let icid = collection(cpu);
        match handoff {
            Handoff::Movi { to, unmap } => {
                let leaving: Vec<(DeviceId, EventId)> = its
                    .its
                    .registry()
                    .mappings()
                    .filter(|(_, mapping)| mapping.icid() == icid)
                    .map(|(key, _)| key)
                    .collect();
                for (device_id, event_id) in leaving {
                    its.its.move_event(device_id, event_id, collection(to))?;
                }
                if unmap {
                    its.its.unmap_collection(icid)?;
                }
            }
            Handoff::Movall { to } => {
                let to = self
                    .processor_number(to)
                    .ok_or(HotplugError::NotOnline(to))?;
                its.its.move_collections(processor_number, to)?;
            }
        }
        its.lpis.offline(processor_number)?;
        smp::stop(cpu, &cpu_interface::disable)?;
        info!("smp: CPU {cpu} offline ({handoff:?})");
        Ok(())
    }

    /// Routes an event to CPU `cpu`: MOVI into its collection now if it is
    /// online; it is the event's home from now on either way.
    pub fn set_affinity(
        &mut self,
        its: &mut ItsService,
        device_id: DeviceId,
        event_id: EventId,
        cpu: usize,
    ) -> Result<(), HotplugError> {
        self.homes
            .retain(|&(d, e, _)| (d, e) != (device_id, event_id));
        self.homes.push((device_id, event_id, cpu));
        let icid = collection(cpu);
        let now = its
            .its
            .registry()
            .event(device_id, event_id)
            .map(|m| m.icid());
        if smp::state(cpu) == CpuState::Online && now.is_some_and(|now| now != icid) {
            its.its.move_event(device_id, event_id, icid)?;
        }
        Ok(())
    }

    /// Forgets the home of every event of `device_id` (it was unmapped).
    pub fn forget_device(&mut self, device_id: DeviceId) {
        self.homes.retain(|&(d, _, _)| d != device_id);
    }

    /// Turns off the LPIs of every redistributor the domain set up
    /// (`release_redistributor`), for a handover to another kernel: after
    /// every ITS's save and `LpiDomain::save`. Returns whether EnableLPIs
    /// cleared on all of them.
    pub fn release_redistributors(
        &self,
        lpis: &LpiDomain<crate::heap::KernelDma>,
    ) -> Result<bool, ItsError> {
        let mut released = true;
        for info in lpis.redistributors() {
            let frame =
                NonNull::new(info.rd_base as *mut u8).ok_or(ItsError::UnknownRedistributor {
                    processor_number: info.processor_number,
                })?;
            // SAFETY: an RD_base frame the domain set up, found in the DTB's
            // redistributor regions and mapped as Device memory for ever;
            // the GIC module only uses GICR_WAKER and GICR_TYPER there.
            let gicr = unsafe { GicrMmio::new(frame) };
            released &= lpis.release_redistributor(&gicr)?;
        }
        Ok(released)
    }
}

/// What a CPU coming online does for itself, with IRQs masked: finds its
/// redistributor by its own MPIDR, wakes it, enables the kick SGI and its
/// CPU interface, and enables its LPIs on the domain's tables.
fn bring_up_this_cpu(
    redistributors: &Redistributors,
    lpis: &LpiDomain<crate::heap::KernelDma>,
) -> Result<ProcessorNumber, HotplugError> {
    let affinity = cpu::affinity();
    // A timer left armed by whoever ran this CPU before fires at once.
    cpu::stop_timers();
    let rd_base = redistributors.wake(affinity)?;
    redistributors.enable_sgi(affinity, KICK_SGI)?;
    cpu_interface::enable();
    let frame = NonNull::new(rd_base as *mut u8).ok_or(GicError::NoRedistributor { affinity })?;
    // SAFETY: this CPU's RD_base frame, found in the DTB's redistributor
    // regions and mapped as Device memory for ever; the GIC module only
    // uses GICR_WAKER and GICR_TYPER there.
    let gicr = unsafe { GicrMmio::new(frame) };
    Ok(crate::msi::enable_lpis(lpis, &gicr, rd_base)?)
}
