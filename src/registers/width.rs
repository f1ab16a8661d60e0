//! Register widths: what a descriptor records and what a value of each
//! width converts to and from.

use tock_registers::UIntLike;

/// How wide a register is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 8 bits.
    U8,
    /// 16 bits.
    U16,
    /// 32 bits.
    U32,
    /// 64 bits.
    U64,
}

impl Width {
    /// Bytes of a register of this width.
    pub const fn bytes(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 => 2,
            Self::U32 => 4,
            Self::U64 => 8,
        }
    }
}

/// A register width: the integer type a register of that width reads as.
pub trait RegisterWidth: UIntLike {
    /// The width as a value.
    const WIDTH: Width;

    /// Zero-extends to 64 bits.
    fn to_u64(self) -> u64;

    /// Truncates from 64 bits.
    fn from_u64(value: u64) -> Self;
}

macro_rules! register_width {
    ($ty:ty, $width:ident) => {
        impl RegisterWidth for $ty {
            const WIDTH: Width = Width::$width;

            fn to_u64(self) -> u64 {
                self.into()
            }

            fn from_u64(value: u64) -> Self {
                value as $ty
            }
        }
    };
}

register_width!(u8, U8);
register_width!(u16, U16);
register_width!(u32, U32);
register_width!(u64, U64);
