//! Raw MMIO for the kernel's own drivers (GIC distributor and wake-up, PCI
//! configuration space, BARs).
//!
//! Each access is one load or store of the given width with a plain base
//! register, so a hypervisor trapping it gets a syndrome it can emulate.

macro_rules! reader {
    ($read:ident, $ty:ty, $load:literal) => {
        /// Reads the register at `address`.
        ///
        /// # Safety
        /// `address` must be a mapped, aligned device register that reading
        /// does not break an invariant of other code.
        #[inline(always)]
        pub unsafe fn $read(address: usize) -> $ty {
            let value: $ty;
            // SAFETY: the caller promised the address is a mapped register.
            unsafe {
                core::arch::asm!(
                    $load, v = out(reg) value, a = in(reg) address,
                    options(nostack, preserves_flags)
                );
            }
            value
        }
    };
}

macro_rules! writer {
    ($write:ident, $ty:ty, $store:literal) => {
        /// Writes the register at `address`.
        ///
        /// # Safety
        /// `address` must be a mapped, aligned device register that this
        /// code may write.
        #[inline(always)]
        pub unsafe fn $write(address: usize, value: $ty) {
            // SAFETY: the caller promised the address is a mapped register.
            unsafe {
                core::arch::asm!(
                    $store, v = in(reg) value, a = in(reg) address,
                    options(nostack, preserves_flags)
                );
            }
        }
    };
}

reader!(read32, u32, "ldr {v:w}, [{a}]");
writer!(write32, u32, "str {v:w}, [{a}]");
reader!(read64, u64, "ldr {v:x}, [{a}]");
