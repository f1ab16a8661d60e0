//! Arm semihosting (`hlt #0xf000`), used only to report the test verdict as
//! QEMU's exit status. QEMU must run with `-semihosting`; without it `hlt`
//! is an Undefined Instruction exception, which the exception handler turns
//! into a PSCI power-off.

/// SYS_EXIT.
const SYS_EXIT: u64 = 0x18;
/// ADP_Stopped_ApplicationExit: with AArch64's two-word parameter block the
/// second word is the exit status.
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x2_0026;

/// Ends the QEMU process with `status` (0 is success).
pub fn exit(status: u32) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, u64::from(status)];
    // SAFETY: SYS_EXIT reads the two-word block at x1 and does not return
    // under QEMU; if a debugger resumes us we fall into the loop below.
    unsafe {
        core::arch::asm!(
            "hlt #0xf000",
            in("x0") SYS_EXIT,
            in("x1") block.as_ptr(),
            options(nostack, readonly),
        );
    }
    loop {
        aarch64_cpu::asm::wfi();
    }
}
