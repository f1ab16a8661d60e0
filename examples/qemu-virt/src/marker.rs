//! Phase markers in the ITS's own trace: where the kernel prints a phase's
//! line, it reads the ITS identification register that names the phase
//! ([`Phase`], defined with the host checker in `crates/qemu-protocol`).

use crate::protocol::Phase;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};
use gicv3_its::registers::MmioFrame;
use gicv3_its::registers::{Gits, ReadOnly, Register, RegisterFrame};

/// An ITS identification register (GITS_PIDR0..7, GITS_CIDR0..3, Arm IHI
/// 0069 12.19): read-only, never read by the driver, and reading it has no
/// effect.
type IdRegister = Register<Gits, u32, (), ReadOnly>;

const GITS_PIDR4: IdRegister = Register::new(0xffd0, "GITS_PIDR4");
const GITS_PIDR5: IdRegister = Register::new(0xffd4, "GITS_PIDR5");
const GITS_PIDR6: IdRegister = Register::new(0xffd8, "GITS_PIDR6");
const GITS_PIDR7: IdRegister = Register::new(0xffdc, "GITS_PIDR7");
const GITS_PIDR0: IdRegister = Register::new(0xffe0, "GITS_PIDR0");
const GITS_PIDR1: IdRegister = Register::new(0xffe4, "GITS_PIDR1");
const GITS_PIDR3: IdRegister = Register::new(0xffec, "GITS_PIDR3");
const GITS_CIDR0: IdRegister = Register::new(0xfff0, "GITS_CIDR0");

/// The register whose read marks `phase`.
const fn marker(phase: Phase) -> IdRegister {
    match phase {
        Phase::Boot => GITS_PIDR4,
        Phase::Entry => GITS_PIDR5,
        Phase::Handover => GITS_PIDR6,
        Phase::Exit => GITS_PIDR7,
        Phase::ForeignProbe => GITS_PIDR0,
        Phase::ChecksDone => GITS_PIDR1,
        Phase::Jump => GITS_CIDR0,
        Phase::ToLinux => GITS_PIDR3,
    }
}

// Each phase's register is at the offset `crates/qemu-protocol` gives the phase,
// which is how the host checker reads the trace.
const _: () = {
    let mut index = 0;
    while index < Phase::ALL.len() {
        let phase = Phase::ALL[index];
        assert!(marker(phase).offset() as u64 == phase.offset());
        index += 1;
    }
};

/// The ITS control frame, once known.
static ITS_FRAME: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());

/// Records where the ITS's frames are (from the DTB), for [`mark`].
///
/// # Safety
/// `base` must be the ITS's frames, mapped as Device memory for ever.
pub unsafe fn set_its_frame(base: NonNull<u8>) {
    ITS_FRAME.store(base.as_ptr(), Ordering::Release);
}

/// Marks `phase` in the ITS trace.
pub fn mark(phase: Phase) {
    let Some(base) = NonNull::new(ITS_FRAME.load(Ordering::Acquire)) else {
        return;
    };
    // SAFETY: `set_its_frame`'s caller promised the ITS frames are mapped
    // for ever. This frame only reads identification registers, which the
    // driver (the owner of the ITS) never touches.
    let its = unsafe { MmioFrame::<Gits>::new(base) };
    let _ = its.read(marker(phase));
}
