//! The hibernation image's header: what it says, and its encoding. The
//! header is 4 KiB at the start of the hibernation area (`image.rs` has the
//! whole layout): magic, version, checksum of the kernel text, resume entry
//! and context address, the regions the image restores, the LPI table
//! region, the image kernel's skew, the range count and a checksum of the
//! range table, and the registry's view of the ITS; its own checksum last.
//!
//! All integers are little-endian. Nothing read from the disk is trusted:
//! [`Header::decode`] and [`Header::check_against`] check every field, and
//! any mismatch is an [`ImageError`].

use super::snapshot::{SAVED_RANGE_BYTES, checksum};
use crate::block::{BlockError, SECTOR_SIZE};
use crate::layout::Layout;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;

/// "GICITSHB": a valid, not yet resumed image.
pub const MAGIC: [u8; 8] = *b"GICITSHB";
/// Written over the magic once an image has been resumed.
pub const RESUMED_MAGIC: [u8; 8] = *b"GICITSX0";
/// Format version.
pub const VERSION: u32 = 1;
/// First sector of the hibernation area (1 MiB into the disk).
pub const IMAGE_LBA: u64 = 2048;
/// Bytes of the header.
pub const HEADER_BYTES: usize = 4096;
/// Most range-table bytes (and so ranges) an image may have.
pub const TABLE_BYTES_MAX: usize = 128 * 1024;
/// Most ranges.
pub const MAX_RANGES: usize = TABLE_BYTES_MAX / SAVED_RANGE_BYTES;
pub(super) const PAGE: usize = 4096;
pub(super) const SECTORS_PER_PAGE: u64 = (PAGE / SECTOR_SIZE) as u64;

/// Why an image was not written, or not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// The hibernation area holds no image (no magic).
    NoImage,
    /// The image was resumed already and invalidated.
    AlreadyResumed,
    /// A format version this kernel does not read.
    UnsupportedVersion(u32),
    /// The header's checksum does not match its contents.
    HeaderChecksum,
    /// The image was made by a different kernel build (text differs).
    DifferentKernel,
    /// A header field does not match this kernel's layout.
    LayoutMismatch(&'static str),
    /// More page runs than the range table holds.
    TooManyRanges(u64),
    /// The range table's checksum does not match.
    TableChecksum,
    /// A page run lies outside the regions an image may restore, overlaps
    /// another, or the runs do not add up to the header's page count.
    BadRange {
        /// First page of the run.
        start: u64,
        /// Pages.
        pages: u64,
    },
    /// The pages of a run do not match their checksum.
    RangeChecksum {
        /// Index of the run.
        index: usize,
        /// First page of the run.
        start: u64,
    },
    /// The image does not fit in scratch memory or on the disk.
    TooLarge {
        /// Bytes needed.
        bytes: u64,
        /// Bytes available.
        room: u64,
    },
    /// The ITS view does not fit in the header.
    HeaderFull,
    /// The snapshot could not be taken (code from the snapshot routine).
    Snapshot(u64),
    /// The disk failed.
    Disk(BlockError),
}

impl From<BlockError> for ImageError {
    fn from(error: BlockError) -> Self {
        Self::Disk(error)
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoImage => write!(f, "no hibernation image on the disk"),
            Self::AlreadyResumed => write!(f, "the image on the disk was resumed already"),
            Self::UnsupportedVersion(v) => write!(f, "image format version {v} is not {VERSION}"),
            Self::HeaderChecksum => write!(f, "bad image header checksum"),
            Self::DifferentKernel => write!(f, "the image was made by a different kernel build"),
            Self::LayoutMismatch(what) => {
                write!(f, "the image's {what} does not match this kernel")
            }
            Self::TooManyRanges(n) => write!(f, "{n} page runs, at most {MAX_RANGES}"),
            Self::TableChecksum => write!(f, "bad range table checksum"),
            Self::BadRange { start, pages } => {
                write!(f, "page run {start:#x} + {pages} pages is not restorable")
            }
            Self::RangeChecksum { index, start } => {
                write!(f, "bad checksum in page run {index} at {start:#x}")
            }
            Self::TooLarge { bytes, room } => write!(f, "{bytes} bytes needed, {room} available"),
            Self::HeaderFull => write!(f, "the ITS view does not fit in the image header"),
            Self::Snapshot(code) => write!(f, "the snapshot failed (code {code})"),
            Self::Disk(error) => write!(f, "disk: {error}"),
        }
    }
}

/// One device as the image kernel's registry had it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceView {
    /// DeviceID.
    pub device_id: u32,
    /// ITT physical address.
    pub itt: u64,
    /// ITT bytes.
    pub itt_bytes: u32,
    /// (EventID, INTID, ICID) of each mapped event.
    pub events: Vec<(u32, u32, u16)>,
}

/// The registry's view of the ITS, recorded in the header.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ItsView {
    /// Devices, by DeviceID.
    pub devices: Vec<DeviceView>,
    /// (ICID, processor number) of each collection.
    pub collections: Vec<(u16, u16)>,
}

impl ItsView {
    /// The view of `its`'s registry.
    pub fn of(its: &crate::msi::KernelIts) -> Self {
        Self {
            devices: its
                .registry()
                .devices()
                .map(|(device_id, record)| DeviceView {
                    device_id: device_id.0,
                    itt: record.itt_address(),
                    itt_bytes: record.itt_bytes() as u32,
                    events: record
                        .events()
                        .map(|(event, mapping)| (event.0, mapping.intid().0, mapping.icid().0))
                        .collect(),
                })
                .collect(),
            collections: its
                .registry()
                .collections()
                .map(|(icid, record)| (icid.0, record.processor_number().0))
                .collect(),
        }
    }
}

/// The image header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Checksum of the kernel's text and rodata.
    pub text_checksum: u64,
    /// Where the boot kernel jumps.
    pub resume_entry: u64,
    /// The saved CPU context.
    pub context: u64,
    /// The image kernel's skew index.
    pub skew: u32,
    /// The kernel's writable part, restored from the image.
    pub kernel_writable: Range<u64>,
    /// The image kernel's arena, restored from the image.
    pub arena: Range<u64>,
    /// The LPI table region the image kernel used.
    pub lpi_tables: Range<u64>,
    /// Page runs in the range table.
    pub ranges: u64,
    /// Pages in the image.
    pub pages: u64,
    /// Checksum of the range table.
    pub table_checksum: u64,
    /// The image kernel's ITS mappings.
    pub its: ItsView,
}

struct Writer {
    bytes: Vec<u8>,
}

impl Writer {
    fn put(&mut self, bytes: &[u8]) {
        self.bytes.extend_from_slice(bytes);
    }
    fn u16(&mut self, v: u16) {
        self.put(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }
    fn range(&mut self, r: &Range<u64>) {
        self.u64(r.start);
        self.u64(r.end);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ImageError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or(ImageError::HeaderChecksum)?;
        self.bytes = rest;
        Ok(*head)
    }
    fn u16(&mut self) -> Result<u16, ImageError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, ImageError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, ImageError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    fn range(&mut self) -> Result<Range<u64>, ImageError> {
        Ok(self.u64()?..self.u64()?)
    }
}

impl Header {
    /// The header block, checksum included.
    pub fn encode(&self) -> Result<Vec<u8>, ImageError> {
        let mut w = Writer {
            bytes: Vec::with_capacity(HEADER_BYTES),
        };
        w.put(&MAGIC);
        w.u32(VERSION);
        w.u32(HEADER_BYTES as u32);
        w.u64(self.text_checksum);
        w.u64(self.resume_entry);
        w.u64(self.context);
        w.u32(self.skew);
        w.u32(0);
        w.range(&self.kernel_writable);
        w.range(&self.arena);
        w.range(&self.lpi_tables);
        w.u64(self.ranges);
        w.u64(self.pages);
        w.u64(self.table_checksum);
        w.u32(self.its.devices.len() as u32);
        w.u32(self.its.collections.len() as u32);
        for device in &self.its.devices {
            w.u32(device.device_id);
            w.u32(device.itt_bytes);
            w.u64(device.itt);
            w.u32(device.events.len() as u32);
            for &(event, intid, icid) in &device.events {
                w.u32(event);
                w.u32(intid);
                w.u16(icid);
            }
        }
        for &(icid, processor) in &self.its.collections {
            w.u16(icid);
            w.u16(processor);
        }
        if w.bytes.len() > HEADER_BYTES - 8 {
            return Err(ImageError::HeaderFull);
        }
        w.bytes.resize(HEADER_BYTES - 8, 0);
        let sum = checksum(&w.bytes);
        w.u64(sum);
        Ok(w.bytes)
    }

    /// Parses and checks a header block (magic, version, checksum).
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        if bytes.len() < HEADER_BYTES {
            return Err(ImageError::NoImage);
        }
        let (body, sum) = bytes[..HEADER_BYTES].split_at(HEADER_BYTES - 8);
        let magic = &body[..8];
        if magic == RESUMED_MAGIC {
            return Err(ImageError::AlreadyResumed);
        }
        if magic != MAGIC {
            return Err(ImageError::NoImage);
        }
        let mut r = Reader { bytes: &body[8..] };
        let version = r.u32()?;
        if version != VERSION {
            return Err(ImageError::UnsupportedVersion(version));
        }
        if checksum(body).to_le_bytes() != sum {
            return Err(ImageError::HeaderChecksum);
        }
        let _header_bytes = r.u32()?;
        let text_checksum = r.u64()?;
        let resume_entry = r.u64()?;
        let context = r.u64()?;
        let skew = r.u32()?;
        let _reserved = r.u32()?;
        let kernel_writable = r.range()?;
        let arena = r.range()?;
        let lpi_tables = r.range()?;
        let ranges = r.u64()?;
        let pages = r.u64()?;
        let table_checksum = r.u64()?;
        let devices = r.u32()?;
        let collections = r.u32()?;
        let mut its = ItsView::default();
        for _ in 0..devices {
            let device_id = r.u32()?;
            let itt_bytes = r.u32()?;
            let itt = r.u64()?;
            let count = r.u32()?;
            let mut events = Vec::new();
            for _ in 0..count {
                events.push((r.u32()?, r.u32()?, r.u16()?));
            }
            its.devices.push(DeviceView {
                device_id,
                itt,
                itt_bytes,
                events,
            });
        }
        for _ in 0..collections {
            its.collections.push((r.u16()?, r.u16()?));
        }
        Ok(Self {
            text_checksum,
            resume_entry,
            context,
            skew,
            kernel_writable,
            arena,
            lpi_tables,
            ranges,
            pages,
            table_checksum,
            its,
        })
    }

    /// Sectors of the range table on disk.
    pub(super) fn table_sectors(&self) -> u64 {
        (self.ranges as usize * SAVED_RANGE_BYTES).next_multiple_of(PAGE) as u64
            / SECTOR_SIZE as u64
    }

    /// Sectors the whole image takes.
    pub fn sectors(&self) -> u64 {
        (HEADER_BYTES / SECTOR_SIZE) as u64 + self.table_sectors() + self.pages * SECTORS_PER_PAGE
    }

    /// Checks everything this kernel can check without reading the pages:
    /// same build, same entry and context, same layout.
    pub fn check_against(&self, layout: &Layout, own: &Header) -> Result<(), ImageError> {
        if self.text_checksum != own.text_checksum {
            return Err(ImageError::DifferentKernel);
        }
        if self.resume_entry != own.resume_entry {
            return Err(ImageError::LayoutMismatch("resume entry"));
        }
        if self.context != own.context {
            return Err(ImageError::LayoutMismatch("context address"));
        }
        if self.kernel_writable != own.kernel_writable {
            return Err(ImageError::LayoutMismatch("kernel data region"));
        }
        if self.lpi_tables != own.lpi_tables {
            return Err(ImageError::LayoutMismatch("LPI table region"));
        }
        let region = layout.arena_region.start as u64..layout.arena_region.end as u64;
        if self.arena.start < region.start
            || self.arena.end > region.end
            || self.arena.start >= self.arena.end
            || !self.arena.start.is_multiple_of(PAGE as u64)
            || !self.arena.end.is_multiple_of(PAGE as u64)
        {
            return Err(ImageError::LayoutMismatch("arena"));
        }
        if self.ranges as usize > MAX_RANGES {
            return Err(ImageError::TooManyRanges(self.ranges));
        }
        Ok(())
    }

    /// The regions the image restores (pages not in a run become zero).
    pub fn regions(&self) -> [Range<u64>; 2] {
        [self.kernel_writable.clone(), self.arena.clone()]
    }
}
