//! Stopping an ITS: disabled, quiescent, and describing none of anyone's
//! memory (Arm IHI 0069 12.19.6, 12.19.1, 12.19.2). Probe, save, restore
//! and recovery start from here, and so does a kernel that takes over a
//! GIC: every ITS a previous owner may have left enabled keeps translating
//! MSIs into whatever pending tables the redistributors hold, so all of
//! them are quiesced before any redistributor's LPIs are enabled, as Linux
//! orders its boot.

use crate::error::{ItsError, WaitFor};
use crate::registers::{
    GITS_CREADR, GITS_CTLR, GITS_CTLR_RO, GITS_CWRITER, GitsFrame, ReadOnlyFields,
};
use crate::tables;
use crate::wait::{Wait, WaitPolicy};
use tock_registers::LocalRegisterCopy;

/// Stops the ITS behind `frame`, whoever left it running: disables it
/// (GITS_CTLR.Enabled and ImDe cleared), waits (as `wait` allows) until it
/// is quiescent, then writes GITS_CBASER and every implemented GITS_BASERn
/// with Valid = 0, so that it translates no MSI, processes no command and
/// refers to none of a previous owner's memory (KVM's emulated ITS drops
/// every device and collection it held).
///
/// Call it for every ITS of the machine before the first
/// [`crate::LpiDomain::init_redistributor`]: an ITS left enabled would
/// translate MSIs into the pending tables enabled there. [`crate::Its::probe`]
/// does it again, which costs nothing.
///
/// Commands a previous owner queued and the ITS never consumed (GITS_CWRITER
/// ahead of GITS_CREADR) are discarded: a disabled ITS processes none, and
/// KVM's reports Quiescent only once CREADR reaches CWRITER.
///
/// # Errors
/// [`ItsError::Timeout`] (waiting for [`WaitFor::Quiescent`]) if the ITS
/// does not become quiescent; then no register was invalidated.
pub fn quiesce<F: GitsFrame>(frame: &F, wait: WaitPolicy) -> Result<(), ItsError> {
    disable_and_quiesce(frame, wait)?;
    tables::invalidate_all(frame);
    Ok(())
}

/// Clears GITS_CTLR.Enabled (and ImDe) if set and waits (as `wait` allows)
/// for GITS_CTLR.Quiescent (12.19.6): only then may CBASER and BASERn be
/// written, and only then does the ITS hold no cached table state.
pub(crate) fn disable_and_quiesce<F: GitsFrame>(
    frame: &F,
    wait: WaitPolicy,
) -> Result<(), ItsError> {
    let mut ctlr = frame.read(GITS_CTLR);
    if ctlr.is_set(GITS_CTLR::Enabled) || ctlr.is_set(GITS_CTLR::ImDe) {
        ctlr.modify(GITS_CTLR::Enabled::CLEAR + GITS_CTLR::ImDe::CLEAR);
        frame.write(GITS_CTLR, ctlr);
    }
    Wait::until(wait, WaitFor::Quiescent, || {
        let ctlr = frame.read(GITS_CTLR);
        if ctlr.is_set(GITS_CTLR::Enabled) {
            return Ok(false);
        }
        if ctlr.read_only().is_set(GITS_CTLR_RO::Quiescent) {
            return Ok(true);
        }
        discard_queued_commands(frame);
        Ok(false)
    })
}

/// Moves GITS_CWRITER back to GITS_CREADR on a disabled ITS, so that the
/// commands between them, which it will never process, no longer count as
/// queued.
fn discard_queued_commands<F: GitsFrame>(frame: &F) {
    let creadr = frame.read(GITS_CREADR).read(GITS_CREADR::Offset);
    if frame.read(GITS_CWRITER).read(GITS_CWRITER::Offset) != creadr {
        frame.write(
            GITS_CWRITER,
            LocalRegisterCopy::new(GITS_CWRITER::Offset.val(creadr).value),
        );
    }
}
