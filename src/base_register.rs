//! Programming a base register: GITS_CBASER, GITS_BASERn, GICR_PROPBASER,
//! GICR_PENDBASER. Each tells the GIC where a table is and how to access
//! its memory (Shareability, InnerCache, OuterCache), and the hardware may
//! answer with other attributes than it was asked for: a GIC that cannot
//! snoop the CPU's caches makes Shareability read 0 (Arm IHI 0069 12.19.1,
//! 12.19.2, 12.11.29, 12.11.33).
//!
//! So the whole register is read back after the final write. The address,
//! size, page size, indirection and Valid must read as written, or the GIC
//! cannot use the memory as described: a typed error. The attributes decide
//! whether the CPU must clean what it writes: only shareable, cacheable
//! memory is coherent; anything else is rewritten non-shareable and
//! non-cacheable, and the CPU cleans every write to the Point of Coherency.

use crate::error::ItsError;
use crate::memory::{MemoryAttributes, encoding};
use crate::registers::{
    GICR_PENDBASER, GICR_PROPBASER, GITS_BASER, GITS_CBASER, ReadOnlyFields, ReadWrite, Register,
    RegisterFrame,
};
use tock_registers::LocalRegisterCopy;
use tock_registers::RegisterLongName;
use tock_registers::fields::Field;

/// The attribute fields of a base register, and its bits that do not read
/// back as written by design.
pub(crate) trait BaseRegister: RegisterLongName + Sized {
    /// Shareability: 0 Non-shareable, 1 Inner, 2 Outer Shareable.
    const SHAREABILITY: Field<u64, Self>;
    /// Inner cacheability: 0 Device, 1 Non-cacheable, 2..7 cacheable.
    const INNER_CACHE: Field<u64, Self>;
    /// Outer cacheability (0: the same as inner).
    const OUTER_CACHE: Field<u64, Self>;
    /// Read-only fields and write-only bits.
    const NOT_WRITTEN_BACK: u64;
}

const fn bits<R: RegisterLongName>(field: Field<u64, R>) -> u64 {
    field.mask << field.shift
}

impl BaseRegister for GITS_CBASER::Register {
    const SHAREABILITY: Field<u64, Self> = GITS_CBASER::Shareability;
    const INNER_CACHE: Field<u64, Self> = GITS_CBASER::InnerCache;
    const OUTER_CACHE: Field<u64, Self> = GITS_CBASER::OuterCache;
    const NOT_WRITTEN_BACK: u64 = 0;
}

impl BaseRegister for GITS_BASER::Register {
    const SHAREABILITY: Field<u64, Self> = GITS_BASER::Shareability;
    const INNER_CACHE: Field<u64, Self> = GITS_BASER::InnerCache;
    const OUTER_CACHE: Field<u64, Self> = GITS_BASER::OuterCache;
    const NOT_WRITTEN_BACK: u64 = <LocalRegisterCopy<u64, Self> as ReadOnlyFields>::MASK;
}

impl BaseRegister for GICR_PROPBASER::Register {
    const SHAREABILITY: Field<u64, Self> = GICR_PROPBASER::Shareability;
    const INNER_CACHE: Field<u64, Self> = GICR_PROPBASER::InnerCache;
    const OUTER_CACHE: Field<u64, Self> = GICR_PROPBASER::OuterCache;
    const NOT_WRITTEN_BACK: u64 = 0;
}

impl BaseRegister for GICR_PENDBASER::Register {
    const SHAREABILITY: Field<u64, Self> = GICR_PENDBASER::Shareability;
    const INNER_CACHE: Field<u64, Self> = GICR_PENDBASER::InnerCache;
    const OUTER_CACHE: Field<u64, Self> = GICR_PENDBASER::OuterCache;
    /// PTZ is write-only: it reads as 0.
    const NOT_WRITTEN_BACK: u64 = bits(GICR_PENDBASER::PTZ);
}

/// Whether the attributes a register holds make the GIC's accesses coherent
/// with the CPU's caches: Inner Shareable, as the driver asks, and
/// cacheable. Any other shareability the GIC answers with (Outer Shareable
/// included: the CPUs' caches need not be in its domain) counts as not
/// coherent, as Linux counts any change.
pub(crate) fn coherent<R: BaseRegister>(value: LocalRegisterCopy<u64, R>) -> bool {
    value.read(R::SHAREABILITY) == MemoryAttributes::InnerShareableWriteBack.shareability()
        && value.read(R::INNER_CACHE) >= encoding::FIRST_CACHEABLE
}

/// Writes `register` with `value(attributes)` for `wanted`, reads it back
/// and returns the attributes in force: `wanted` if the GIC took them and
/// they are coherent, otherwise non-shareable non-cacheable (rewritten so),
/// which means the CPU cleans what it writes. Fails with
/// [`ItsError::RegisterRefused`] if a field other than the attributes does
/// not read back as written.
pub(crate) fn program<Fr: RegisterFrame, R: BaseRegister>(
    frame: &Fr,
    register: Register<Fr::Kind, u64, R, ReadWrite>,
    wanted: MemoryAttributes,
    value: impl Fn(MemoryAttributes) -> LocalRegisterCopy<u64, R>,
) -> Result<MemoryAttributes, ItsError> {
    let attribute_bits = bits(R::SHAREABILITY) | bits(R::INNER_CACHE) | bits(R::OUTER_CACHE);
    let checked = !(attribute_bits | R::NOT_WRITTEN_BACK);
    let write_and_check = |attributes| {
        let wrote = value(attributes).get();
        frame.write(register, LocalRegisterCopy::new(wrote));
        let read = frame.read(register);
        if read.get() & checked != wrote & checked {
            return Err(ItsError::RegisterRefused {
                register: register.name(),
                wrote,
                read: read.get(),
            });
        }
        Ok(read)
    };
    let read = write_and_check(wanted)?;
    if wanted.needs_cache_clean() || coherent(read) {
        return Ok(wanted);
    }
    // Not coherent: the memory becomes non-cacheable, and is cleaned.
    write_and_check(MemoryAttributes::NonCacheable)?;
    Ok(MemoryAttributes::NonCacheable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registers::{FrameKind, ReadAccess, WriteAccess};
    use core::cell::Cell;

    /// A frame of one register that keeps the bits in `writable` and
    /// forces `forced` (value, mask) on what it stores.
    struct OneRegister {
        value: Cell<u64>,
        writable: u64,
        forced: (u64, u64),
    }

    enum Fake {}
    impl FrameKind for Fake {
        const SIZE: usize = 8;
        const NAME: &'static str = "fake";
    }

    impl RegisterFrame for OneRegister {
        type Kind = Fake;
        fn load(&self, _: ReadAccess<Fake>) -> u64 {
            self.value.get()
        }
        fn store(&self, _: WriteAccess<Fake>, value: u64) {
            let (forced, mask) = self.forced;
            self.value.set((value & self.writable & !mask) | forced);
        }
    }

    const CBASER: Register<Fake, u64, GITS_CBASER::Register, ReadWrite> =
        Register::new(0, "GITS_CBASER");

    fn cbaser(attributes: MemoryAttributes) -> LocalRegisterCopy<u64, GITS_CBASER::Register> {
        LocalRegisterCopy::new(
            (GITS_CBASER::Valid::SET
                + GITS_CBASER::Physical_Address.val(0x4_0000)
                + GITS_CBASER::Size.val(15)
                + GITS_CBASER::Shareability.val(attributes.shareability())
                + GITS_CBASER::InnerCache.val(attributes.inner_cache()))
            .value,
        )
    }

    fn frame(writable: u64, forced: (u64, u64)) -> OneRegister {
        OneRegister {
            value: Cell::new(0),
            writable,
            forced,
        }
    }

    #[test]
    fn coherent_attributes_that_stick_are_kept() {
        let hw = frame(u64::MAX, (0, 0));
        let wanted = MemoryAttributes::InnerShareableWriteBack;
        assert_eq!(program(&hw, CBASER, wanted, cbaser), Ok(wanted));
        assert_eq!(hw.value.get(), cbaser(wanted).get());
    }

    #[test]
    fn shareability_reading_zero_means_non_cacheable_and_cleaning() {
        let hw = frame(!bits(GITS_CBASER::Shareability), (0, 0));
        let got = program(
            &hw,
            CBASER,
            MemoryAttributes::InnerShareableWriteBack,
            cbaser,
        );
        assert_eq!(got, Ok(MemoryAttributes::NonCacheable));
        assert_eq!(hw.value.get(), cbaser(MemoryAttributes::NonCacheable).get());
    }

    #[test]
    fn a_non_cacheable_answer_to_a_shareable_request_means_cleaning() {
        // Shareability sticks, but InnerCache is forced to Non-cacheable.
        let forced = (
            GITS_CBASER::InnerCache.val(1).value,
            bits(GITS_CBASER::InnerCache),
        );
        let hw = frame(u64::MAX, forced);
        let got = program(
            &hw,
            CBASER,
            MemoryAttributes::InnerShareableWriteBack,
            cbaser,
        );
        assert_eq!(got, Ok(MemoryAttributes::NonCacheable));
    }

    #[test]
    fn outer_shareable_where_inner_was_asked_means_cleaning() {
        // The GIC changed the shareability: its domain need not hold the
        // CPUs' caches, so what the CPU writes is cleaned.
        let forced = (
            GITS_CBASER::Shareability.val(2).value,
            bits(GITS_CBASER::Shareability),
        );
        let hw = frame(u64::MAX, forced);
        let wanted = MemoryAttributes::InnerShareableWriteBack;
        assert_eq!(
            program(&hw, CBASER, wanted, cbaser),
            Ok(MemoryAttributes::NonCacheable)
        );
    }

    #[test]
    fn an_address_or_size_that_does_not_stick_is_an_error() {
        // Address bits above 40 are not implemented.
        let hw = frame(!(0xfff << 40), (0, 0));
        let wrote = LocalRegisterCopy::<u64, GITS_CBASER::Register>::new(
            cbaser(MemoryAttributes::NonCacheable).get() | 1 << 44,
        );
        let result = program(&hw, CBASER, MemoryAttributes::NonCacheable, |_| wrote);
        assert_eq!(
            result,
            Err(ItsError::RegisterRefused {
                register: "GITS_CBASER",
                wrote: wrote.get(),
                read: wrote.get() & !(1 << 44),
            })
        );
        // Valid reading 0 is refused too.
        let hw = frame(!bits(GITS_CBASER::Valid), (0, 0));
        let result = program(&hw, CBASER, MemoryAttributes::NonCacheable, cbaser);
        assert!(matches!(result, Err(ItsError::RegisterRefused { .. })));
    }

    #[test]
    fn pendbaser_ptz_reads_zero_by_design() {
        const PENDBASER: Register<Fake, u64, GICR_PENDBASER::Register, ReadWrite> =
            Register::new(0, "GICR_PENDBASER");
        let hw = frame(!bits(GICR_PENDBASER::PTZ), (0, 0));
        let value = |attributes: MemoryAttributes| {
            LocalRegisterCopy::new(
                (GICR_PENDBASER::PTZ::SET
                    + GICR_PENDBASER::Physical_Address.val(0x4)
                    + GICR_PENDBASER::Shareability.val(attributes.shareability())
                    + GICR_PENDBASER::InnerCache.val(attributes.inner_cache()))
                .value,
            )
        };
        let wanted = MemoryAttributes::InnerShareableWriteBack;
        assert_eq!(program(&hw, PENDBASER, wanted, value), Ok(wanted));
    }
}
