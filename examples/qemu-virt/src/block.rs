//! A block device as the hibernation code sees it: whole 512-byte sectors,
//! read and written synchronously (the driver underneath waits for its
//! completion interrupt). The NVMe driver implements it.

use core::fmt;

/// Bytes per sector.
pub const SECTOR_SIZE: usize = 512;

/// Why a block transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockError {
    /// The request reaches past the end of the device.
    OutOfRange {
        /// First sector asked for.
        lba: u64,
        /// Sectors asked for.
        sectors: u64,
        /// Sectors on the device.
        capacity: u64,
    },
    /// The buffer is not a whole number of sectors.
    BadLength(usize),
    /// The device reported an error (status code).
    Device(u16),
    /// No completion arrived in time.
    Timeout,
}

impl fmt::Display for BlockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange {
                lba,
                sectors,
                capacity,
            } => write!(
                f,
                "sectors {lba}..{} beyond the device's {capacity}",
                lba.saturating_add(*sectors)
            ),
            Self::BadLength(len) => write!(f, "{len} bytes is not a whole number of sectors"),
            Self::Device(status) => write!(f, "device error, status {status:#x}"),
            Self::Timeout => write!(f, "no completion in time"),
        }
    }
}

/// A disk.
pub trait BlockDevice {
    /// Number of sectors.
    fn capacity(&self) -> u64;
    /// Reads `buffer.len() / SECTOR_SIZE` sectors from `lba`.
    fn read(&mut self, lba: u64, buffer: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `buffer.len() / SECTOR_SIZE` sectors at `lba`.
    fn write(&mut self, lba: u64, buffer: &[u8]) -> Result<(), BlockError>;
}
