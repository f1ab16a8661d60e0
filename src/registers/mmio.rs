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
//! fake register frames.
//!
//! Every store is preceded by `dsb st`: the GIC reads the command queue and
//! its tables from memory, and a register write (GITS_CWRITER, GITS_BASERn,
//! GICR_PROPBASER) is how software tells it to; the barrier orders the memory
//! writes before the register write, as Device-nGnRE stores are not otherwise
//! ordered after Normal-memory stores. The same holds for any device that
//! reads memory a doorbell write announces, which is why the example kernel
//! uses this layer for its own devices too.

use super::{FrameKind, Gicd, Gicr, GicrVlpi, Gits, ReadAccess, RegisterFrame, Width, WriteAccess};
use core::marker::PhantomData;
use core::ptr::NonNull;

/// An integer a register of its width is loaded and stored as, with one
/// instruction.
trait SingleAccess: Sized {
    /// Loads `Self` from `address` with one instruction of its width.
    ///
    /// # Safety
    /// `address` must be valid for a volatile read of `Self` and aligned.
    unsafe fn load(address: *const Self) -> Self;

    /// Stores `value` to `address` with one instruction of its width, after
    /// `dsb st`.
    ///
    /// # Safety
    /// `address` must be valid for a volatile write of `Self` and aligned.
    unsafe fn store(address: *mut Self, value: Self);
}

macro_rules! single_access {
    ($ty:ty, $load:literal, $store:literal) => {
        impl SingleAccess for $ty {
            #[inline(always)]
            unsafe fn load(address: *const Self) -> Self {
                #[cfg(target_arch = "aarch64")]
                {
                    let value: $ty;
                    // SAFETY: the caller guarantees `address` is valid and
                    // aligned for this width. The instruction is a single
                    // load with no writeback, as a hypervisor can emulate.
                    unsafe {
                        core::arch::asm!(
                            $load,
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
                // store to memory the device reads (commands, tables) is
                // visible before the register write that tells it to read
                // it; then a single store with no writeback.
                unsafe {
                    core::arch::asm!(
                        "dsb st",
                        $store,
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

single_access!(
    u8,
    "ldrb {value:w}, [{address}]",
    "strb {value:w}, [{address}]"
);
single_access!(
    u16,
    "ldrh {value:w}, [{address}]",
    "strh {value:w}, [{address}]"
);
single_access!(
    u32,
    "ldr {value:w}, [{address}]",
    "str {value:w}, [{address}]"
);
single_access!(
    u64,
    "ldr {value:x}, [{address}]",
    "str {value:x}, [{address}]"
);

/// A register frame of kind `K` reached through MMIO: the hardware
/// implementation of [`RegisterFrame`].
///
/// It holds a raw pointer, never a reference: a reference would tell the
/// compiler the memory is dereferenceable, and it could then read it when
/// the program does not, which on a device register can have side effects.
pub struct MmioFrame<K: FrameKind> {
    base: NonNull<u8>,
    _kind: PhantomData<K>,
}

// SAFETY: the frame is device memory that `new`'s caller promised is valid
// while the value lives; MMIO accesses are valid from any CPU.
unsafe impl<K: FrameKind> Send for MmioFrame<K> {}

impl<K: FrameKind> MmioFrame<K> {
    /// Wraps the frame of kind `K` at `base`.
    ///
    /// # Safety
    /// `base` must be the virtual address of a `K` frame ([`FrameKind::SIZE`]
    /// bytes), mapped as Device memory and valid for as long as the returned
    /// value lives. Other `MmioFrame`s may reach the same frame (a GIC
    /// driver and the ITS driver share a redistributor's RD_base frame), but
    /// whoever programs a register owns it: see the documentation of the
    /// driver that takes the frame.
    pub const unsafe fn new(base: NonNull<u8>) -> Self {
        Self {
            base,
            _kind: PhantomData,
        }
    }

    /// The frame's base address.
    pub fn base(&self) -> NonNull<u8> {
        self.base
    }

    fn address(&self, offset: usize) -> *mut u8 {
        self.base.as_ptr().wrapping_add(offset)
    }
}

impl<K: FrameKind> core::fmt::Debug for MmioFrame<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MmioFrame<{}>({:p})", K::NAME, self.base)
    }
}

impl<K: FrameKind> RegisterFrame for MmioFrame<K> {
    type Kind = K;

    fn load(&self, access: ReadAccess<K>) -> u64 {
        let address = self.address(access.offset());
        // SAFETY: `new`'s caller promised a mapped, valid frame of
        // `K::SIZE` bytes; a `ReadAccess` only comes from a register
        // descriptor, whose constructor checked that the register lies
        // inside the frame and is aligned to its width.
        unsafe {
            match access.width() {
                Width::U8 => u8::load(address).into(),
                Width::U16 => u16::load(address.cast()).into(),
                Width::U32 => u32::load(address.cast()).into(),
                Width::U64 => u64::load(address.cast()),
            }
        }
    }

    fn store(&self, access: WriteAccess<K>, value: u64) {
        let address = self.address(access.offset());
        // SAFETY: as for `load`; the value is truncated to the register's
        // width.
        unsafe {
            match access.width() {
                Width::U8 => u8::store(address, value as u8),
                Width::U16 => u16::store(address.cast(), value as u16),
                Width::U32 => u32::store(address.cast(), value as u32),
                Width::U64 => u64::store(address.cast(), value),
            }
        }
    }
}

/// The distributor reached through MMIO.
pub type GicdMmio = MmioFrame<Gicd>;
/// An ITS reached through MMIO.
pub type GitsMmio = MmioFrame<Gits>;
/// A redistributor's RD_base frame reached through MMIO.
pub type GicrMmio = MmioFrame<Gicr>;
/// A GICv4 redistributor's VLPI_base frame (RD_base + 128 KiB) reached
/// through MMIO.
pub type GicrVlpiMmio = MmioFrame<GicrVlpi>;
