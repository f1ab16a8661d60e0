//! The arm64 Linux `Image` a boot loader jumps into, as its header describes
//! it (Linux's Documentation/arch/arm64/booting.rst, "Call the kernel
//! image"): 64 bytes at the start of the file, little-endian.
//!
//! ```text
//! 0x00 code0, code1   0x08 text_offset   0x10 image_size   0x18 flags
//! 0x20..0x38 reserved 0x38 magic "ARM\x64"                  0x3c PE offset
//! ```
//!
//! The Image must lie `text_offset` bytes above a 2 MiB-aligned base, with
//! `image_size` bytes (its BSS included) free from there; the loader jumps
//! to its first byte.

use core::fmt;
use core::ops::Range;

/// The header's magic number, "ARM\x64" read as a little-endian u32.
const MAGIC: u32 = 0x644d_5241;
/// The base below the Image must be aligned to this.
const BASE_ALIGN: usize = 2 << 20;
/// Header flag bit 0: the kernel is big-endian.
const FLAG_BIG_ENDIAN: u64 = 1 << 0;

/// Why the Image at the given address cannot be booted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxImageError {
    /// `linux-image=` holds no number.
    BadAddress,
    /// The address is outside the memory the kernel maps at boot.
    NotMapped {
        /// The address given.
        address: usize,
    },
    /// No "ARM\x64" magic: not an arm64 Image (a compressed `vmlinuz` must
    /// be decompressed first).
    NoMagic {
        /// The address given.
        address: usize,
    },
    /// `image_size` is 0: a kernel older than 3.17, not supported.
    NoImageSize,
    /// The kernel is big-endian; this loader runs little-endian.
    BigEndian,
    /// The Image does not lie `text_offset` above a 2 MiB boundary.
    Misplaced {
        /// The address given.
        address: usize,
        /// The header's text_offset.
        text_offset: u64,
    },
}

impl fmt::Display for LinuxImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadAddress => write!(f, "linux-image= needs an address"),
            Self::NotMapped { address } => {
                write!(f, "the Image address {address:#x} is outside mapped RAM")
            }
            Self::NoMagic { address } => write!(
                f,
                "no arm64 Image header (magic \"ARM\\x64\") at {address:#x}"
            ),
            Self::NoImageSize => write!(f, "image_size is 0 (a pre-3.17 kernel)"),
            Self::BigEndian => write!(f, "the kernel is big-endian"),
            Self::Misplaced {
                address,
                text_offset,
            } => write!(
                f,
                "the Image at {address:#x} is not {text_offset:#x} bytes above a 2 MiB boundary"
            ),
        }
    }
}

/// An arm64 Image in memory, its header checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinuxImage {
    /// Where it lies: its first byte, where the kernel is entered.
    pub entry: usize,
    /// Bytes it needs from `entry` on, its BSS included (`image_size`).
    pub size: usize,
    /// Header flags (bit 0 endianness, bits 1-2 page size, bit 3 placement).
    pub flags: u64,
}

impl LinuxImage {
    /// The Image the kernel command line names with `linux-image=ADDRESS`
    /// (hexadecimal with `0x`, or decimal), if it names one.
    pub fn named(bootargs: &str, mapped: &Range<usize>) -> Option<Result<Self, LinuxImageError>> {
        let value = bootargs
            .split_whitespace()
            .find_map(|arg| arg.strip_prefix("linux-image="))?;
        let address = match value.strip_prefix("0x") {
            Some(hex) => usize::from_str_radix(hex, 16),
            None => value.parse(),
        };
        Some(match address {
            Ok(address) => Self::at(address, mapped),
            Err(_) => Err(LinuxImageError::BadAddress),
        })
    }

    /// Reads and checks the header at `address`, which must lie in
    /// `mapped` (RAM the kernel maps as Normal memory).
    pub fn at(address: usize, mapped: &Range<usize>) -> Result<Self, LinuxImageError> {
        if address < mapped.start
            || address.saturating_add(64) > mapped.end
            || !address.is_multiple_of(8)
        {
            return Err(LinuxImageError::NotMapped { address });
        }
        let word = |offset: usize| {
            // SAFETY: the 64-byte header lies in mapped RAM (checked above)
            // and is 8-byte aligned; reading it has no effect.
            u64::from_le(unsafe { ((address + offset) as *const u64).read_volatile() })
        };
        if word(0x38) as u32 != MAGIC {
            return Err(LinuxImageError::NoMagic { address });
        }
        let (text_offset, image_size, flags) = (word(0x08), word(0x10), word(0x18));
        if image_size == 0 {
            return Err(LinuxImageError::NoImageSize);
        }
        if flags & FLAG_BIG_ENDIAN != 0 {
            return Err(LinuxImageError::BigEndian);
        }
        if (address as u64).wrapping_sub(text_offset) % BASE_ALIGN as u64 != 0 {
            return Err(LinuxImageError::Misplaced {
                address,
                text_offset,
            });
        }
        Ok(Self {
            entry: address,
            size: image_size as usize,
            flags,
        })
    }

    /// The memory the kernel takes from its first byte on.
    pub fn range(&self) -> Range<usize> {
        self.entry..self.entry.saturating_add(self.size)
    }
}
