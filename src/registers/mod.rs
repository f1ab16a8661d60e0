//! Registers, described once each: the frame they are in, their offset,
//! width, bitfields and access, as one constant per register
//! ([`GITS_CTLR`](const@GITS_CTLR), [`GICR_PROPBASER`](const@GICR_PROPBASER), ...). The bitfields share the
//! register's name (`GITS_TYPER::Devbits`), so code reads like the spec:
//!
//! ```
//! use gicv3_its::registers::{GITS_TYPER, GitsFrame};
//!
//! fn device_id_bits(gits: &impl GitsFrame) -> u64 {
//!     gits.read(GITS_TYPER).read(GITS_TYPER::Devbits) + 1
//! }
//! ```
//!
//! A read returns the register's bitfield type (tock-registers'
//! [`LocalRegisterCopy`]) and a write takes it, so a value read from one
//! register cannot be written to another. The access is part of the
//! descriptor's type, so writing a read-only register does not compile:
//!
//! ```compile_fail
//! use gicv3_its::registers::{GITS_TYPER, GitsFrame};
//!
//! fn clobber(gits: &impl GitsFrame) {
//!     gits.write(GITS_TYPER, gits.read(GITS_TYPER)); // GITS_TYPER is read-only
//! }
//! ```
//!
//! nor does reading a write-only one:
//!
//! ```compile_fail
//! use gicv3_its::registers::{GITS_TRANSLATER, GitsFrame};
//!
//! fn peek(gits: &impl GitsFrame) -> u32 {
//!     gits.read(GITS_TRANSLATER).get()
//! }
//! ```
//!
//! The driver reaches registers through [`RegisterFrame`]: the hardware
//! implementation is [`MmioFrame`], and the host tests put a
//! software ITS behind the same trait. An implementation only sees
//! [`ReadAccess`] and [`WriteAccess`] values, which only descriptors of
//! readable and writable registers produce.

mod gicd;
mod gicr;
mod gits;
mod mmio;
mod width;

pub use gicd::*;
pub use gicr::*;
pub use gits::*;
pub use mmio::{GicdMmio, GicrMmio, GicrVlpiMmio, GitsMmio, MmioFrame};
pub use width::{RegisterWidth, Width};

use core::marker::PhantomData;
use tock_registers::fields::FieldValue;
use tock_registers::{LocalRegisterCopy, RegisterLongName};

/// The read-only fields of a register value, through a bitfield type of
/// their own (`GICD_CTLR_RO`, `GITS_CTLR_RO`, `GITS_BASER_RO`,
/// `GICR_CTLR_RO`, `GICR_PWRR_RO`). A write or a modify takes fields of the
/// register's own type, so a read-only field cannot be written by mistake:
///
/// ```compile_fail
/// use gicv3_its::registers::{GITS_BASER, GITS_BASER_RO, GitsFrame};
///
/// fn retype(gits: &impl GitsFrame) {
///     gits.write_fields(GITS_BASER[0], GITS_BASER_RO::Type::Collections); // read-only
/// }
/// ```
///
/// while reading one is a call away:
///
/// ```
/// use gicv3_its::registers::{GITS_CTLR, GITS_CTLR_RO, GitsFrame, ReadOnlyFields};
///
/// fn quiescent(gits: &impl GitsFrame) -> bool {
///     gits.read(GITS_CTLR).read_only().is_set(GITS_CTLR_RO::Quiescent)
/// }
/// ```
pub trait ReadOnlyFields {
    /// The value as its read-only fields' type.
    type View;
    /// Every read-only bit of the register: what a write cannot set, and a
    /// read-back need not match.
    const MASK: u64;
    /// The same bits, for reading the read-only fields.
    fn read_only(self) -> Self::View;
}

/// Implements [`ReadOnlyFields`] for a register's values: `$ro` holds the
/// read-only fields `$field` of `$register`.
macro_rules! read_only_fields {
    ($width:ty, $register:ident => $ro:ident [$($field:ident),+]) => {
        impl ReadOnlyFields for LocalRegisterCopy<$width, $register::Register> {
            type View = LocalRegisterCopy<$width, $ro::Register>;
            const MASK: u64 = 0 $(| (($ro::$field.mask as u64) << $ro::$field.shift))+;
            fn read_only(self) -> Self::View {
                LocalRegisterCopy::new(self.get())
            }
        }
    };
}

read_only_fields!(u32, GICD_CTLR => GICD_CTLR_RO [RWP]);
read_only_fields!(u32, GITS_CTLR => GITS_CTLR_RO [Quiescent]);
read_only_fields!(u64, GITS_BASER => GITS_BASER_RO [Entry_Size, Type]);
read_only_fields!(u32, GICR_CTLR => GICR_CTLR_RO [CES, RWP, UWP]);
read_only_fields!(u32, GICR_PWRR => GICR_PWRR_RO [RDGPD, RDGPO]);

/// A kind of register frame: the ITS control frame, a redistributor's
/// RD_base frame, or a frame of the caller's own (the example kernel
/// describes its devices' registers the same way).
pub trait FrameKind {
    /// Bytes of the frame; every register of the kind lies inside it.
    const SIZE: usize;
    /// The frame's name, for messages.
    const NAME: &'static str;
}

/// Access rights of a register, part of its descriptor's type.
pub trait Access: sealed::Sealed {}
/// Access rights that allow reading.
pub trait Readable: Access {}
/// Access rights that allow writing.
pub trait Writable: Access {}

/// The register can only be read.
#[derive(Debug)]
pub enum ReadOnly {}
/// The register can only be written.
#[derive(Debug)]
pub enum WriteOnly {}
/// The register can be read and written.
#[derive(Debug)]
pub enum ReadWrite {}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::ReadOnly {}
    impl Sealed for super::WriteOnly {}
    impl Sealed for super::ReadWrite {}
}

impl Access for ReadOnly {}
impl Access for WriteOnly {}
impl Access for ReadWrite {}
impl Readable for ReadOnly {}
impl Readable for ReadWrite {}
impl Writable for WriteOnly {}
impl Writable for ReadWrite {}

/// One register of a `K` frame: its offset, width `W`, bitfields `F` and
/// access `A`. Descriptors are constants; [`Register::new`] checks at
/// compile time that the register lies inside the frame and is aligned.
pub struct Register<K, W, F = (), A = ReadWrite> {
    offset: usize,
    name: &'static str,
    _type: PhantomData<Describes<K, W, F, A>>,
}

/// What a [`Register`] describes, as a type only (no values are held, so the
/// descriptor is `Copy`, `Send` and `Sync` whatever the parameters are).
type Describes<K, W, F, A> = fn() -> (K, W, F, A);

impl<K, W, F, A> Clone for Register<K, W, F, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K, W, F, A> Copy for Register<K, W, F, A> {}

impl<K, W, F, A> core::fmt::Debug for Register<K, W, F, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (+{:#x})", self.name, self.offset)
    }
}

impl<K: FrameKind, W: RegisterWidth, F: RegisterLongName, A: Access> Register<K, W, F, A> {
    /// Describes the register `name` at byte `offset` of a `K` frame.
    ///
    /// # Panics
    /// If the register does not lie inside the frame or is not aligned to
    /// its width: in a `const` item, that is a compile error.
    pub const fn new(offset: usize, name: &'static str) -> Self {
        let bytes = W::WIDTH.bytes();
        assert!(
            offset.is_multiple_of(bytes) && offset + bytes <= K::SIZE,
            "a register must lie inside its frame, aligned to its width"
        );
        Self {
            offset,
            name,
            _type: PhantomData,
        }
    }

    /// Byte offset in the frame.
    pub const fn offset(self) -> usize {
        self.offset
    }

    /// The register's name as in the spec.
    pub const fn name(self) -> &'static str {
        self.name
    }
}

/// A read of one register of a `K` frame, as a [`RegisterFrame`]
/// implementation receives it: only descriptors of readable registers make
/// one, and their offset and width are inside the frame and aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadAccess<K> {
    offset: usize,
    width: Width,
    name: &'static str,
    _kind: PhantomData<fn() -> K>,
}

/// A write of one register of a `K` frame, as a [`RegisterFrame`]
/// implementation receives it: only descriptors of writable registers make
/// one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteAccess<K> {
    offset: usize,
    width: Width,
    name: &'static str,
    _kind: PhantomData<fn() -> K>,
}

macro_rules! access_getters {
    ($access:ident) => {
        impl<K> $access<K> {
            /// Byte offset of the register in the frame.
            pub const fn offset(&self) -> usize {
                self.offset
            }

            /// Width of the register.
            pub const fn width(&self) -> Width {
                self.width
            }

            /// The register's name.
            pub const fn name(&self) -> &'static str {
                self.name
            }
        }
    };
}
access_getters!(ReadAccess);
access_getters!(WriteAccess);

impl<K: FrameKind, W: RegisterWidth, F: RegisterLongName, A: Readable> Register<K, W, F, A> {
    fn read_access(self) -> ReadAccess<K> {
        ReadAccess {
            offset: self.offset,
            width: W::WIDTH,
            name: self.name,
            _kind: PhantomData,
        }
    }
}

impl<K: FrameKind, W: RegisterWidth, F: RegisterLongName, A: Writable> Register<K, W, F, A> {
    fn write_access(self) -> WriteAccess<K> {
        WriteAccess {
            offset: self.offset,
            width: W::WIDTH,
            name: self.name,
            _kind: PhantomData,
        }
    }
}

/// The registers of one frame of kind [`RegisterFrame::Kind`].
///
/// Implementations provide [`RegisterFrame::load`] and
/// [`RegisterFrame::store`], one access of the register's width each; the
/// driver uses the typed methods built on them.
pub trait RegisterFrame {
    /// The kind of frame.
    type Kind: FrameKind;

    /// Reads the register `access` names, zero-extended to 64 bits.
    fn load(&self, access: ReadAccess<Self::Kind>) -> u64;

    /// Writes the register `access` names with `value` truncated to its
    /// width.
    fn store(&self, access: WriteAccess<Self::Kind>, value: u64);

    /// Reads a register as its bitfield type.
    fn read<W, F, A>(&self, register: Register<Self::Kind, W, F, A>) -> LocalRegisterCopy<W, F>
    where
        W: RegisterWidth,
        F: RegisterLongName,
        A: Readable,
    {
        LocalRegisterCopy::new(W::from_u64(self.load(register.read_access())))
    }

    /// Writes a register with a value of its bitfield type.
    fn write<W, F, A>(
        &self,
        register: Register<Self::Kind, W, F, A>,
        value: LocalRegisterCopy<W, F>,
    ) where
        W: RegisterWidth,
        F: RegisterLongName,
        A: Writable,
    {
        self.store(register.write_access(), value.get().to_u64());
    }

    /// Writes a register with the given fields set and every other field 0.
    fn write_fields<W, F, A>(
        &self,
        register: Register<Self::Kind, W, F, A>,
        fields: FieldValue<W, F>,
    ) where
        W: RegisterWidth,
        F: RegisterLongName,
        A: Writable,
    {
        self.write(register, LocalRegisterCopy::new(fields.value));
    }

    /// Reads a register, changes the given fields and writes it back.
    fn modify<W, F>(
        &self,
        register: Register<Self::Kind, W, F, ReadWrite>,
        fields: FieldValue<W, F>,
    ) where
        W: RegisterWidth,
        F: RegisterLongName,
    {
        let mut value = self.read(register);
        value.modify(fields);
        self.write(register, value);
    }
}

/// The registers of an ITS ([`Gits`] frame): what the driver needs.
pub trait GitsFrame: RegisterFrame<Kind = Gits> {}
impl<T: RegisterFrame<Kind = Gits>> GitsFrame for T {}

/// The registers of a redistributor's RD_base frame ([`Gicr`]).
pub trait GicrFrame: RegisterFrame<Kind = Gicr> {}
impl<T: RegisterFrame<Kind = Gicr>> GicrFrame for T {}

/// The registers of a GICv4 redistributor's VLPI_base frame ([`GicrVlpi`]).
pub trait GicrVlpiFrame: RegisterFrame<Kind = GicrVlpi> {}
impl<T: RegisterFrame<Kind = GicrVlpi>> GicrVlpiFrame for T {}

/// The registers of the distributor's frame ([`Gicd`]).
pub trait GicdFrame: RegisterFrame<Kind = Gicd> {}
impl<T: RegisterFrame<Kind = Gicd>> GicdFrame for T {}

#[cfg(test)]
mod field_tests;
#[cfg(test)]
mod tests;
