//! The redistributor's side of LPIs: pointing GICR_PROPBASER and
//! GICR_PENDBASER at the tables and setting GICR_CTLR.EnableLPIs, or
//! adopting tables another kernel left when EnableLPIs cannot be cleared
//! (Arm IHI 0069 5.1, 12.11.2).
//!
//! GICR_PROPBASER and GICR_PENDBASER may only be written while
//! EnableLPIs = 0, and on some GICs EnableLPIs cannot be cleared once set
//! (GICR_CTLR.CES = 0); every EnableLPIs change is complete when
//! GICR_CTLR.RWP reads 0.

use super::tables::{LpiTables, Pendbaser, Propbaser};
use crate::base_register;
use crate::error::{ItsError, WaitFor};
use crate::id::ProcessorNumber;
use crate::memory::{DmaMemory, MemoryAttributes};
use crate::quirks::{QuirkOverrides, Quirks, REDISTRIBUTOR_ERRATA};
use crate::registers::{
    GICR_CTLR, GICR_CTLR_RO, GICR_IIDR, GICR_PENDBASER, GICR_PROPBASER, GICR_PWRR, GICR_PWRR_RO,
    GICR_TYPER, GICR_VPENDBASER, GICR_VPROPBASER, GicrFrame, GicrVlpiFrame, ReadOnlyFields,
};
use crate::wait::{Wait, WaitPolicy};

/// A redistributor the domain has set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedistributorInfo {
    /// GICR_TYPER.Processor_Number.
    pub processor_number: ProcessorNumber,
    /// Physical address of its RD_base frame.
    pub rd_base: u64,
    /// Whether its tables were adopted as found (EnableLPIs could not be
    /// cleared) rather than programmed.
    pub adopted: bool,
    /// Whether its LPIs are enabled with the domain's tables now, as far as
    /// the domain knows: set by [`crate::LpiDomain::init_redistributor`],
    /// cleared by [`crate::LpiDomain::save`] and
    /// [`crate::LpiDomain::release_redistributor`].
    pub ready: bool,
}

/// The processor number of the redistributor behind `frame`, if it supports
/// physical LPIs.
pub(crate) fn identify<G: GicrFrame>(frame: &G) -> Result<ProcessorNumber, ItsError> {
    let typer = frame.read(GICR_TYPER);
    let processor_number = ProcessorNumber(typer.read(GICR_TYPER::Processor_Number) as u16);
    if !typer.is_set(GICR_TYPER::PLPIS) {
        return Err(ItsError::RedistributorWithoutLpis { processor_number });
    }
    Ok(processor_number)
}

/// The quirks of the redistributor behind `frame`, from its GICR_IIDR.
pub(crate) fn quirks<G: GicrFrame>(frame: &G, overrides: QuirkOverrides) -> Quirks {
    overrides.resolve(REDISTRIBUTOR_ERRATA, frame.read(GICR_IIDR).get())
}

/// Powers the redistributor up through GICR_PWRR (Arm GIC-600, GIC-600AE,
/// GIC-700): until RDPD reads 0, wait for the group to reach its intended
/// state (RDGPD = RDGPO), then write RDPD = 0 for this redistributor alone.
/// GICR_PWRR is Secure, or Non-secure only with GICD_CTLR.DS = 1; where
/// firmware owns it, it reads 0 here and nothing is done.
pub(crate) fn power_up<G: GicrFrame>(frame: &G, wait: WaitPolicy) -> Result<(), ItsError> {
    Wait::until(wait, WaitFor::RedistributorPower, || {
        let pwrr = frame.read(GICR_PWRR);
        if !pwrr.is_set(GICR_PWRR::RDPD) {
            return Ok(true);
        }
        let group = pwrr.read_only();
        if group.read(GICR_PWRR_RO::RDGPD) == group.read(GICR_PWRR_RO::RDGPO) {
            frame.write_fields(GICR_PWRR, GICR_PWRR::RDPD::CLEAR + GICR_PWRR::RDAG::CLEAR);
        }
        Ok(false)
    })
}

/// Makes a vPE that a previous owner (a KVM host, before a kexec) left
/// resident on a GICv4 redistributor non-resident, so that the
/// redistributor stops reading and writing that vPE's pending table, in
/// memory this kernel now owns: GICR_VPENDBASER.Valid cleared, then a wait
/// until Dirty reads 0 (the redistributor done writing the table back).
/// GICv4.1 (GICR_TYPER.RVPEID) also names the vPE table in
/// GICR_VPROPBASER, which is invalidated as well; its VPENDBASER is
/// written with PendingLast alone, which asks for no doorbell, as Linux
/// does.
///
/// [`crate::LpiDomain::init_redistributor_with_vlpi`] does this for each
/// CPU it brings up. A kernel that will not bring every CPU up (a kdump
/// kernel on one CPU) calls it at boot for every GICv4 redistributor
/// (GICR_TYPER.VLPIS), as Linux does for all of them before anything else.
///
/// # Errors
/// [`ItsError::Timeout`] (waiting for [`WaitFor::VpeTable`]) if Dirty does
/// not clear.
pub fn retire_resident_vpe<G: GicrFrame, V: GicrVlpiFrame>(
    frame: &G,
    vlpi: &V,
    wait: WaitPolicy,
) -> Result<(), ItsError> {
    let rvpeid = frame.read(GICR_TYPER).is_set(GICR_TYPER::RVPEID);
    let mut vpendbaser = vlpi.read(GICR_VPENDBASER);
    if vpendbaser.is_set(GICR_VPENDBASER::Valid) {
        log::info!(
            "its: a vPE left resident (GICR_VPENDBASER {:#x}): made non-resident",
            vpendbaser.get()
        );
        // A change the previous owner made may still be in progress.
        wait_vpe_clean(vlpi, wait)?;
        if rvpeid {
            vlpi.write_fields(GICR_VPENDBASER, GICR_VPENDBASER::PendingLast::SET);
        } else {
            vpendbaser.modify(GICR_VPENDBASER::Valid::CLEAR);
            vlpi.write(GICR_VPENDBASER, vpendbaser);
        }
        wait_vpe_clean(vlpi, wait)?;
    }
    if rvpeid {
        // The redistributor finds a vPE's pending table through the vPE
        // table: not while it may still be writing one back.
        wait_vpe_clean(vlpi, wait)?;
        vlpi.modify(GICR_VPROPBASER, GICR_VPROPBASER::Valid::CLEAR);
    }
    Ok(())
}

/// Turns off the LPIs a previous owner (firmware, a kernel that kexecs)
/// left enabled on a redistributor, as the first thing a kernel does at
/// boot, before it hands out memory. A pending table is the
/// redistributor's to read and write while EnableLPIs is 1, and until
/// GICR_CTLR.RWP reads 0 after it is cleared (IHI 0069 5.1.2, GICR_CTLR):
/// an implementation that caches pending state writes it back into the
/// previous owner's pending table as it stops, wherever that lies. Memory
/// this kernel has not used yet takes no harm; an allocation made there
/// before would be overwritten (Linux, which cannot know either, disables
/// LPIs as it boots and counts on the previous kernel having reserved its
/// tables). Waits for GICR_CTLR.RWP before and after. Returns
/// whether EnableLPIs is now 0: `false` where it cannot be cleared
/// (GICR_CTLR.CES = 0), and the tables are then adopted from a reserved
/// region ([`crate::LpiDomain::with_region`]) or refused.
///
/// Call it on every redistributor after `takeover::quiesce` on every
/// ITS (an ITS still translating keeps making LPIs pending) and before the
/// first allocation of LPI tables. A redistributor powered down (Arm
/// GIC-600's GICR_PWRR) reads EnableLPIs 0 and is left alone.
///
/// # Errors
/// [`ItsError::Timeout`] (waiting for [`WaitFor::RedistributorWrite`]) if
/// GICR_CTLR.RWP does not clear.
pub fn stop_lpis<G: GicrFrame>(frame: &G, wait: WaitPolicy) -> Result<bool, ItsError> {
    if !lpis_enabled(frame) {
        return Ok(true);
    }
    log::info!(
        "its: a redistributor left with LPIs enabled (GICR_PENDBASER {:#x}): stopping it",
        frame.read(GICR_PENDBASER).get()
    );
    // A change the previous owner made may still be in progress.
    wait_rwp(frame, wait)?;
    disable(frame, wait)
}

fn wait_vpe_clean<V: GicrVlpiFrame>(vlpi: &V, wait: WaitPolicy) -> Result<(), ItsError> {
    Wait::until(wait, WaitFor::VpeTable, || {
        Ok(!vlpi.read(GICR_VPENDBASER).is_set(GICR_VPENDBASER::Dirty))
    })
}

/// What a redistributor holds when it is initialised: whether its LPIs
/// are enabled, and the tables it was given (by this domain, or a previous
/// owner).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub(crate) enabled: bool,
    pub(crate) propbaser: Propbaser,
    pub(crate) pendbaser: Pendbaser,
}

impl Found {
    pub(crate) fn read<G: GicrFrame>(frame: &G) -> Self {
        Self {
            enabled: lpis_enabled(frame),
            propbaser: frame.read(GICR_PROPBASER),
            pendbaser: frame.read(GICR_PENDBASER),
        }
    }

    /// Whether both registers describe memory the GIC reads coherently
    /// with the CPU's caches (Inner Shareable, cacheable), so that CPU
    /// writes to the tables need no cleaning. Whoever programmed them chose
    /// the attributes, and the GIC kept what it can do.
    pub(crate) fn coherent(&self) -> bool {
        base_register::coherent(self.propbaser) && base_register::coherent(self.pendbaser)
    }
}

/// Points the redistributor at `tables`' property table and the pending
/// table at `pending` (placed and zeroed by the caller) and enables its
/// LPIs. EnableLPIs must be 0: PROPBASER and PENDBASER are never written
/// while it is 1.
///
/// GICR_PROPBASER is asked for what the redistributors already running on
/// the property table hold, so that every PROPBASER of the machine agrees
/// (the first is asked for the caller's attributes); GICR_PENDBASER for the
/// caller's attributes. Each answers for itself: once one says the GIC
/// does not snoop, every write to the tables is cleaned.
pub(crate) fn program<G: GicrFrame, M: DmaMemory>(
    frame: &G,
    tables: &mut LpiTables,
    memory: &M,
    pending: u64,
    wait: WaitPolicy,
) -> Result<(), ItsError> {
    let wanted = tables.property_attributes.unwrap_or(tables.requested);
    let property = base_register::program(frame, GICR_PROPBASER, wanted, |a| tables.propbaser(a))?;
    tables.property_attributes.get_or_insert(property);
    let pending = base_register::program(frame, GICR_PENDBASER, tables.requested, |a| {
        LpiTables::pendbaser(pending, a)
    })?;
    if property.needs_cache_clean() || pending.needs_cache_clean() {
        tables.attributes = MemoryAttributes::NonCacheable;
    }
    tables.clean_all(memory);
    frame.modify(GICR_CTLR, GICR_CTLR::EnableLPIs::SET);
    wait_rwp(frame, wait)
}

/// Turns the redistributor's LPIs off, if it allows that. Returns whether
/// EnableLPIs is now 0.
pub(crate) fn disable<G: GicrFrame>(frame: &G, wait: WaitPolicy) -> Result<bool, ItsError> {
    if !lpis_enabled(frame) {
        return Ok(true);
    }
    frame.modify(GICR_CTLR, GICR_CTLR::EnableLPIs::CLEAR);
    wait_rwp(frame, wait)?;
    Ok(!lpis_enabled(frame))
}

fn lpis_enabled<G: GicrFrame>(frame: &G) -> bool {
    frame.read(GICR_CTLR).is_set(GICR_CTLR::EnableLPIs)
}

/// Waits until GICR_CTLR.RWP reads 0: the last change of EnableLPIs has
/// taken effect (before which PROPBASER and PENDBASER must not be
/// written).
pub(crate) fn wait_rwp<G: GicrFrame>(frame: &G, wait: WaitPolicy) -> Result<(), ItsError> {
    Wait::until(wait, WaitFor::RedistributorWrite, || {
        Ok(!frame.read(GICR_CTLR).read_only().is_set(GICR_CTLR_RO::RWP))
    })
}
