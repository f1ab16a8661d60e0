//! Virtual LPIs on GICv4 redistributors, as far as a kernel that uses none
//! meets them: a vPE a previous owner (a KVM host, before a kexec) left
//! resident, whose pending table the redistributor keeps writing until
//! GICR_VPENDBASER.Valid is cleared; the Dirty bit that says when it is
//! done; and GICv4.1's vPE table in GICR_VPROPBASER (Arm IHI 0069 12.11.37,
//! 12.11.38).
//!
//! A resident vPE's pending table lies in memory the model sets aside at
//! power-on (it was the previous owner's); every write the redistributor
//! makes to it after power-on lands in memory the running kernel owns, and
//! is reported as [`Violation::ResidentVpeWrote`].

/// GICv4.0 GICR_VPENDBASER: the vPE's pending table, bits [51:16].
pub(crate) const VPT_ADDRESS: u64 = 0x000f_ffff_ffff_0000;
/// GICv4.1 GICR_VPENDBASER: the vPE's ID, bits [15:0].
pub(crate) const VPE_ID: u64 = 0xffff;
/// GICv4.1 GICR_VPROPBASER: the vPE table, bits [51:12]. Its entries (the
/// model's format, implementation defined) are 8 bytes: the vPE's pending
/// table at bits [51:16].
pub(crate) const VPE_TABLE_ADDRESS: u64 = 0x000f_ffff_ffff_f000;
/// Bytes of a pending table the model sets aside for a resident vPE.
pub(crate) const VPT_BYTES: usize = 65536;

/// A redistributor's VLPI_base registers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct VlpiRegisters {
    pub(crate) vpropbaser: u64,
    pub(crate) vpendbaser: u64,
    /// Reads of GICR_VPENDBASER left with Dirty = 1.
    pub(crate) dirty_reads: u32,
}
