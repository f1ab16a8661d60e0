//! The one place where the crate touches MMIO.
//!
//! Every register access is a single load or store of the register's width.
//! On aarch64 this is guaranteed by emitting the instruction with inline
//! assembly (`ldr`/`str` with a plain base register, no offset, no writeback,
//! no pair form): a hypervisor that traps the access gets a valid ESR_ELx.ISV
//! syndrome and can emulate it. A plain `read_volatile` gives no such
//! guarantee; the compiler may pick a post-index or pair instruction, which
//! KVM cannot decode. On other architectures (host tests) the accessors fall
//! back to `read_volatile`/`write_volatile`, which is fine for memory-backed
//! fake register blocks.
//!
//! Every store is preceded by `dsb st`: the GIC reads the command queue and
//! its tables from memory, and a register write (GITS_CWRITER, GITS_BASERn,
//! GICR_PROPBASER) is how software tells it to; the barrier orders the memory
//! writes before the register write, as Device-nGnRE stores are not otherwise
//! ordered after Normal-memory stores.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use tock_registers::{RegisterLongName, UIntLike};

/// A memory-mapped register of width `T` with the bitfields of `R`.
///
/// Instances only exist inside `#[repr(C)]` register blocks that the caller
/// placed over device memory (see [`crate::registers::GitsMmio::new`]); they
/// are only ever reached through raw pointers ([`MmioRegister::load`],
/// [`MmioRegister::store`]).
#[repr(transparent)]
pub struct MmioRegister<T: UIntLike, R: RegisterLongName = ()> {
    value: UnsafeCell<T>,
    _register: PhantomData<R>,
}

/// A register width the accessor layer can load and store in one instruction.
pub trait RegisterWidth: UIntLike {
    /// Loads `Self` from `address` with one instruction of its width.
    ///
    /// # Safety
    /// `address` must be valid for a volatile read of `Self` and aligned.
    unsafe fn load(address: *const Self) -> Self;
    /// Stores `value` to `address` with one instruction of its width.
    ///
    /// # Safety
    /// `address` must be valid for a volatile write of `Self` and aligned.
    unsafe fn store(address: *mut Self, value: Self);
}

macro_rules! register_width {
    ($ty:ty, $reg:literal) => {
        impl RegisterWidth for $ty {
            #[inline(always)]
            unsafe fn load(address: *const Self) -> Self {
                #[cfg(target_arch = "aarch64")]
                {
                    let value: $ty;
                    // SAFETY: the caller guarantees `address` is valid and
                    // aligned for this width. The instruction is a single
                    // `ldr` with no writeback, as a hypervisor can emulate.
                    unsafe {
                        core::arch::asm!(
                            concat!("ldr {value:", $reg, "}, [{address}]"),
                            address = in(reg) address,
                            value = out(reg) value,
                            options(nostack, readonly, preserves_flags),
                        );
                    }
                    value
                }
                #[cfg(not(target_arch = "aarch64"))]
                // SAFETY: the caller guarantees `address` is valid and aligned.
                unsafe {
                    address.read_volatile()
                }
            }

            #[inline(always)]
            unsafe fn store(address: *mut Self, value: Self) {
                #[cfg(target_arch = "aarch64")]
                // SAFETY: the caller guarantees `address` is valid and aligned
                // for this width. `dsb st` first, so that every earlier CPU
                // store to memory the GIC reads (commands, tables) is visible
                // before the register write that tells the GIC to read it;
                // then a single `str` with no writeback.
                unsafe {
                    core::arch::asm!(
                        "dsb st",
                        concat!("str {value:", $reg, "}, [{address}]"),
                        address = in(reg) address,
                        value = in(reg) value,
                        options(nostack, preserves_flags),
                    );
                }
                #[cfg(not(target_arch = "aarch64"))]
                // SAFETY: the caller guarantees `address` is valid and aligned.
                unsafe {
                    address.write_volatile(value)
                }
            }
        }
    };
}

register_width!(u32, "w");
register_width!(u64, "x");

impl<T: RegisterWidth, R: RegisterLongName> MmioRegister<T, R> {
    /// Reads the register at `register` with one load of its width.
    ///
    /// The driver passes pointers, never references, to MMIO: a reference
    /// would tell the compiler the memory is dereferenceable, and it may then
    /// read it when the program does not, which on a device register can
    /// have side effects.
    ///
    /// # Safety
    /// `register` must point at this register inside a register block that
    /// is mapped as Device memory (or a fake block in memory) and valid.
    #[inline]
    pub unsafe fn load(register: *const Self) -> T {
        // SAFETY: `MmioRegister` is `repr(transparent)` over
        // `UnsafeCell<T>`, itself over `T`, so the cast keeps the address and
        // the type; validity and alignment are the caller's promise.
        unsafe { T::load(register.cast::<T>()) }
    }

    /// Writes `value` to the register at `register` with one store of its
    /// width, after `dsb st`.
    ///
    /// # Safety
    /// As for [`MmioRegister::load`].
    #[inline]
    pub unsafe fn store(register: *mut Self, value: T) {
        // SAFETY: as for `load`.
        unsafe { T::store(register.cast::<T>(), value) }
    }
}
