//! A power cut while the image is written (`hibernate-power-cut=POINT` on
//! the command line, from the runner's `--power-cut`): the disk keeps the
//! first sectors the image writer sends it, in order, up to the point (a
//! write that crosses it keeps only its first sectors, as a disk may that
//! loses power part-way through a multi-sector write); then the kernel
//! announces the cut and stops, and the runner kills QEMU. The point is a
//! sector count, `end` (after the last sector: a complete image that no
//! kernel has resumed) or `end-K` (K sectors before it).

use crate::block::{BlockDevice, BlockError, SECTOR_SIZE};
use crate::protocol::POWER_CUT_LINE;
use log::info;

/// Where the power is cut, in sectors the image writer sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CutPoint {
    /// After this many sectors.
    After(u64),
    /// This many sectors before the last one is written (0: after it).
    BeforeEnd(u64),
}

impl CutPoint {
    /// `N`, `end` or `end-K`.
    pub(super) fn parse(text: &str) -> Option<Self> {
        match text.strip_prefix("end") {
            Some("") => Some(Self::BeforeEnd(0)),
            Some(rest) => rest.strip_prefix('-')?.parse().ok().map(Self::BeforeEnd),
            None => text.parse().ok().map(Self::After),
        }
    }

    /// The sector count at which the cut falls when the writer sends
    /// `total` sectors.
    fn sectors(self, total: u64) -> u64 {
        match self {
            Self::After(sectors) => sectors,
            Self::BeforeEnd(before) => total.saturating_sub(before),
        }
    }
}

/// A disk that loses power once `budget` sectors have been written.
pub(super) struct PowerCut<'a> {
    disk: &'a mut dyn BlockDevice,
    budget: u64,
    total: u64,
    written: u64,
}

impl<'a> PowerCut<'a> {
    /// `disk`, to which the image writer is about to send `total` sectors,
    /// losing power at `point`.
    pub(super) fn new(disk: &'a mut dyn BlockDevice, point: CutPoint, total: u64) -> Self {
        Self {
            disk,
            budget: point.sectors(total),
            total,
            written: 0,
        }
    }

    /// The power is gone: nothing more reaches the disk. The runner kills
    /// QEMU when it reads the line.
    fn cut(&self) -> ! {
        info!(
            "{POWER_CUT_LINE} {} of {} sectors of the image",
            self.written, self.total
        );
        loop {
            core::hint::spin_loop();
        }
    }
}

impl BlockDevice for PowerCut<'_> {
    fn capacity(&self) -> u64 {
        self.disk.capacity()
    }

    fn read(&mut self, lba: u64, buffer: &mut [u8]) -> Result<(), BlockError> {
        self.disk.read(lba, buffer)
    }

    fn write(&mut self, lba: u64, buffer: &[u8]) -> Result<(), BlockError> {
        let sectors = (buffer.len() / SECTOR_SIZE) as u64;
        let left = self.budget.saturating_sub(self.written);
        if sectors > left {
            if left > 0 {
                self.disk
                    .write(lba, &buffer[..left as usize * SECTOR_SIZE])?;
            }
            self.written += left;
            self.cut();
        }
        self.disk.write(lba, buffer)?;
        self.written += sectors;
        if self.written == self.budget {
            self.cut();
        }
        Ok(())
    }
}
