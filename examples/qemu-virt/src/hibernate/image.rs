//! The hibernation image on disk: a header, a table of saved page runs, and
//! the pages.
//!
//! ```text
//! LBA IMAGE_LBA      header, 4 KiB: magic, version, checksum of the kernel
//!                    text, resume entry and context address, the regions
//!                    the image restores (kernel data/bss/stacks, arena), the
//!                    LPI table region, the image kernel's skew, the range
//!                    count and a checksum of the range table, and the
//!                    registry's view of the ITS (devices with ITT address
//!                    and events, collections); its own checksum last
//! + 8 sectors        range table: (start, pages, checksum) per run of
//!                    saved pages, 24 bytes each, padded to 4 KiB
//! then               the pages, run after run
//! ```
//!
//! All integers are little-endian. Nothing read from the disk is trusted:
//! every field is checked before the boot kernel tears anything down, and
//! any mismatch is an [`ImageError`] (then the boot continues normally).
//! The header's contents and encoding are in `header.rs`; this file reads
//! and writes the area.

pub use super::header::{Header, ImageError, ItsView, MAX_RANGES, TABLE_BYTES_MAX};

use super::header::{HEADER_BYTES, IMAGE_LBA, PAGE, RESUMED_MAGIC};
use super::snapshot::{SAVED_RANGE_BYTES, SavedRange, checksum};
use crate::block::{BlockDevice, SECTOR_SIZE};
use alloc::vec;
use alloc::vec::Vec;

/// Prints "PM: Image {verb} progress: N%" each time another 10% is done.
struct Progress {
    verb: &'static str,
    total: u64,
    next: u64,
}

impl Progress {
    fn new(verb: &'static str, total: u64) -> Self {
        log::info!("PM: Image {verb} progress: 0%");
        Self {
            verb,
            total: total.max(1),
            next: 10,
        }
    }

    fn update(&mut self, done: u64) {
        while self.next <= 100 && done * 100 >= self.next * self.total {
            log::info!("PM: Image {} progress: {}%", self.verb, self.next);
            self.next += 10;
        }
    }
}

/// Bytes per disk transfer while saving or loading.
const CHUNK: usize = 128 * 1024;

/// Sectors [`write`] sends the disk for an image with `header`: the old
/// header invalidated, then the range table, the pages and the header.
pub fn sectors_written(header: &Header) -> u64 {
    (HEADER_BYTES / SECTOR_SIZE) as u64 + header.sectors()
}

/// Writes an image: pages in `data` (the runs of `table`, back to back).
/// The header goes last, so a crash mid-way leaves no valid image.
pub fn write(
    disk: &mut dyn BlockDevice,
    header: &Header,
    table: &[SavedRange],
    data: &[u8],
) -> Result<(), ImageError> {
    let room = disk.capacity().saturating_sub(IMAGE_LBA) * SECTOR_SIZE as u64;
    let bytes = header.sectors() * SECTOR_SIZE as u64;
    if bytes > room {
        return Err(ImageError::TooLarge { bytes, room });
    }
    let encoded = header.encode()?;
    // Invalidate whatever was there first.
    disk.write(IMAGE_LBA, &vec![0; HEADER_BYTES])?;
    let mut table_bytes = Vec::with_capacity(table.len() * SAVED_RANGE_BYTES);
    for range in table {
        table_bytes.extend_from_slice(&range.start.to_le_bytes());
        table_bytes.extend_from_slice(&range.pages.to_le_bytes());
        table_bytes.extend_from_slice(&range.checksum.to_le_bytes());
    }
    table_bytes.resize(table_bytes.len().next_multiple_of(PAGE), 0);
    let table_lba = IMAGE_LBA + (HEADER_BYTES / SECTOR_SIZE) as u64;
    if !table_bytes.is_empty() {
        disk.write(table_lba, &table_bytes)?;
    }
    let data_lba = table_lba + header.table_sectors();
    log::info!(
        "PM: Saving image data ({} pages in {} runs, {} KiB)...",
        header.pages,
        header.ranges,
        data.len() / 1024
    );
    let mut progress = Progress::new("saving", data.len() as u64);
    for (index, chunk) in data.chunks(CHUNK).enumerate() {
        disk.write(data_lba + (index * CHUNK / SECTOR_SIZE) as u64, chunk)?;
        progress.update((index * CHUNK + chunk.len()) as u64);
    }
    disk.write(IMAGE_LBA, &encoded)?;
    log::info!("PM: Image saving done");
    Ok(())
}

/// Reads and checks the header.
pub fn read_header(disk: &mut dyn BlockDevice) -> Result<Header, ImageError> {
    let mut block = vec![0; HEADER_BYTES];
    disk.read(IMAGE_LBA, &mut block)?;
    Header::decode(&block)
}

/// Loads the range table and the pages into `scratch` (table first, then
/// the data at [`TABLE_BYTES_MAX`]) and checks them. Returns the table.
pub fn load(
    disk: &mut dyn BlockDevice,
    header: &Header,
    scratch: &mut [u8],
) -> Result<Vec<SavedRange>, ImageError> {
    let data_bytes = header.pages as usize * PAGE;
    let needed = TABLE_BYTES_MAX as u64 + data_bytes as u64;
    if needed > scratch.len() as u64 {
        return Err(ImageError::TooLarge {
            bytes: needed,
            room: scratch.len() as u64,
        });
    }
    let (table_area, data_area) = scratch.split_at_mut(TABLE_BYTES_MAX);
    let table_len = header.table_sectors() as usize * SECTOR_SIZE;
    let table_lba = IMAGE_LBA + (HEADER_BYTES / SECTOR_SIZE) as u64;
    if table_len > 0 {
        disk.read(table_lba, &mut table_area[..table_len])?;
    }
    let raw = &table_area[..header.ranges as usize * SAVED_RANGE_BYTES];
    if checksum(raw) != header.table_checksum {
        return Err(ImageError::TableChecksum);
    }
    let table: Vec<SavedRange> = raw
        .chunks_exact(SAVED_RANGE_BYTES)
        .map(|entry| {
            let word =
                |i: usize| u64::from_le_bytes(entry[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
            SavedRange {
                start: word(0),
                pages: word(1),
                checksum: word(2),
            }
        })
        .collect();
    check_runs(header, &table)?;

    let data = &mut data_area[..data_bytes];
    let data_lba = table_lba + header.table_sectors();
    log::info!(
        "PM: Loading image data ({} pages in {} runs)...",
        header.pages,
        header.ranges
    );
    let mut progress = Progress::new("loading", data_bytes as u64);
    for (index, chunk) in data.chunks_mut(CHUNK).enumerate() {
        let len = chunk.len();
        disk.read(data_lba + (index * CHUNK / SECTOR_SIZE) as u64, chunk)?;
        progress.update((index * CHUNK + len) as u64);
    }
    let mut offset = 0;
    for (index, range) in table.iter().enumerate() {
        let bytes = range.pages as usize * PAGE;
        if checksum(&data[offset..offset + bytes]) != range.checksum {
            return Err(ImageError::RangeChecksum {
                index,
                start: range.start,
            });
        }
        offset += bytes;
    }
    log::info!("PM: Image loading done");
    Ok(table)
}

/// Runs must be page aligned, inside one of the header's regions, in
/// increasing order without overlap, and add up to the header's pages.
fn check_runs(header: &Header, table: &[SavedRange]) -> Result<(), ImageError> {
    let regions = header.regions();
    let mut previous_end = 0;
    let mut pages = 0u64;
    for range in table {
        let bad = ImageError::BadRange {
            start: range.start,
            pages: range.pages,
        };
        let end = range
            .pages
            .checked_mul(PAGE as u64)
            .and_then(|bytes| range.start.checked_add(bytes))
            .ok_or(bad)?;
        let inside = regions
            .iter()
            .any(|region| region.start <= range.start && end <= region.end);
        if range.pages == 0 || !range.start.is_multiple_of(PAGE as u64) || !inside {
            return Err(bad);
        }
        if range.start < previous_end {
            return Err(bad);
        }
        previous_end = end;
        pages += range.pages;
    }
    if pages != header.pages {
        return Err(ImageError::BadRange {
            start: 0,
            pages: header.pages,
        });
    }
    Ok(())
}

/// Flips one byte of the image's first page on the disk (the debug switch
/// `hibernate-corrupt-image`): the boot kernel must refuse the image.
pub fn corrupt(disk: &mut dyn BlockDevice, header: &Header) -> Result<(), ImageError> {
    let lba = IMAGE_LBA + (HEADER_BYTES / SECTOR_SIZE) as u64 + header.table_sectors();
    let mut sector = vec![0; SECTOR_SIZE];
    disk.read(lba, &mut sector)?;
    sector[0] ^= 0x5a;
    disk.write(lba, &sector)?;
    Ok(())
}

/// Marks the image as resumed, so that it is never resumed again.
pub fn invalidate(disk: &mut dyn BlockDevice) -> Result<(), ImageError> {
    let mut block = vec![0; HEADER_BYTES];
    disk.read(IMAGE_LBA, &mut block)?;
    block[..8].copy_from_slice(&RESUMED_MAGIC);
    disk.write(IMAGE_LBA, &block)?;
    Ok(())
}
