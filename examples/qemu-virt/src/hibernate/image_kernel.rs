//! The image kernel: a boot that found no image. It checks its MSIs, then
//! for each cycle hibernates: quiesces NVMe, saves its ITS (everything
//! unmapped), snapshots its memory, restores the ITS to write the image to
//! the disk, tears the ITS down again and resets (or powers off for
//! `--cold`). The snapshot returns a second time in the resumed kernel,
//! which runs the cycle's checks and goes on with the next cycle.

use super::image::{self, ImageError, ItsView};
use super::power_cut::PowerCut;
use super::snapshot::{self, RESUMED, SNAPSHOT_TAKEN, SavedRange, SnapshotJob};
use super::{Hibernation, PAGE, own_header, scratch};
use crate::cpu::IrqGuard;
use crate::marker::mark;
use crate::power;
use crate::protocol::{
    CORRUPT_IMAGE_REFUSED_LINE, CheckPoint, ENTRY_LINE, EXIT_HIBERNATED, LINUX_ROUND_LINE, Phase,
    RESULT_OK_LINE,
};
use crate::{heap, linux};
use alloc::format;
use alloc::vec::Vec;
use log::{error, info, warn};

impl Hibernation {
    pub(super) fn image_kernel(mut self) -> ! {
        info!(
            "PM: image kernel: heap at {:#x}..{:#x} (allocation offset {} MiB), LPI tables at {:#x}",
            self.kernel.layout.arena.start,
            self.kernel.layout.arena.end,
            self.kernel.layout.skew,
            self.kernel.layout.lpi_tables.start
        );
        self.log_its_tables("image kernel");
        self.check_msis(CheckPoint::Boot);
        if self.options.corrupt && self.refused.is_some() {
            info!("{CORRUPT_IMAGE_REFUSED_LINE}");
            info!("{RESULT_OK_LINE}");
            power::exit(self.failures.min(255));
        }
        let cycles = self.options.cycles;
        for cycle in 1..=cycles {
            let begun = self.cycle_start();
            match self.hibernate() {
                Ok(()) => {}
                Err(error) => {
                    self.fail(format!("cycle {cycle}: {error}"));
                    break;
                }
            }
            self.resume_checks();
            self.cycle_done(cycle, cycles, begun);
        }
        info!(
            "PM: hibernation: {cycles} cycles, {} failures, MSIs triggered {} handled {}",
            self.failures, self.triggered, self.handled
        );
        if self.failures == 0 {
            info!("{RESULT_OK_LINE}");
        }
        if let Some(rounds) = linux::rounds::requested(&self.kernel.platform.bootargs) {
            self.linux_round_done(rounds);
        }
        power::exit(self.failures.min(255))
    }

    /// The end of a round of `linux-rounds`: reports this kernel's memory
    /// (the same every round), then boots Linux for the next round, unless
    /// this was the last or something failed.
    fn linux_round_done(mut self, rounds: linux::rounds::Rounds) -> ! {
        let its = self.kernel.its.its.memory_use();
        info!(
            "{LINUX_ROUND_LINE} {} of {}: heap in use {} bytes, ITS memory {} bytes (device table {}, collection table {}, ITTs {}, queue {}, LPI tables {})",
            rounds.round,
            rounds.rounds,
            heap::usage().0,
            its.device_table + its.collection_table + its.itts + its.queue + its.lpi_tables,
            its.device_table,
            its.collection_table,
            its.itts,
            its.queue,
            its.lpi_tables
        );
        if self.failures == 0 && rounds.round < rounds.rounds {
            match linux::rounds::prepare_next(&self.kernel, rounds) {
                Ok(next) => {
                    info!("PM: booting Linux for round {next}");
                    linux::run_after_use(self.kernel)
                }
                Err(error) => self.fail(format!("preparing the next Linux round: {error}")),
            }
        }
        power::exit(self.failures.min(255))
    }

    /// One hibernation: returns in the resumed kernel.
    fn hibernate(&mut self) -> Result<(), ImageError> {
        let layout = self.kernel.layout.clone();
        if let Some(nvme) = self.kernel.nvme.as_mut()
            && let Err(error) = nvme.suspend()
        {
            warn!("PM: nvme suspend: {error}");
        }
        info!("{ENTRY_LINE}");
        mark(Phase::Entry);
        // The snapshot runs on this CPU alone: the others' events come here
        // and they power off. Their collections stay in the registry, so
        // the restore leaves them waiting until each CPU is back.
        self.offline_secondaries();
        if let Err(error) = self.kernel.its.its.save() {
            self.fail(format!("ITS save: {error}"));
        }
        if let Err(error) = self.kernel.its.lpis.save() {
            self.fail(format!("LPI domain save: {error}"));
        }
        // SAFETY: scratch is used by nothing else; the snapshot writes it
        // through raw pointers only while this slice is not used.
        let scratch = unsafe { scratch(&layout) };
        let table_area = scratch.as_mut_ptr();
        let data = layout.scratch.start + image::TABLE_BYTES_MAX..layout.scratch.end;
        let mut job = SnapshotJob {
            regions: [layout.kernel_writable.clone(), layout.arena.clone()],
            table: table_area.cast::<SavedRange>(),
            max_ranges: image::MAX_RANGES,
            data: data.clone(),
            ranges: 0,
            pages: 0,
        };
        let masked = IrqGuard::new();
        // SAFETY: IRQs are masked and only this CPU runs (the others went
        // offline above); the job's table and data are scratch, which
        // neither region overlaps.
        let result = unsafe { snapshot::save_context_and_snapshot(&mut job) };
        if result == RESUMED {
            // IRQs stay masked until the GIC and the ITS are re-initialised.
            return self.resumed(masked);
        }
        drop(masked);
        if result != SNAPSHOT_TAKEN {
            self.restore_after_snapshot();
            return Err(ImageError::Snapshot(result));
        }
        info!(
            "PM: hibernation: image created ({} pages in {} runs)",
            job.pages, job.ranges
        );
        self.restore_after_snapshot();

        // SAFETY: the snapshot wrote `ranges` entries at the start of
        // scratch and `pages` pages from `data.start`; nothing else writes
        // scratch now.
        let (table, pages) = unsafe {
            (
                core::slice::from_raw_parts(job.table, job.ranges),
                core::slice::from_raw_parts(data.start as *const u8, job.pages * PAGE),
            )
        };
        let mut raw = Vec::with_capacity(table.len() * snapshot::SAVED_RANGE_BYTES);
        for range in table {
            raw.extend_from_slice(&range.start.to_le_bytes());
            raw.extend_from_slice(&range.pages.to_le_bytes());
            raw.extend_from_slice(&range.checksum.to_le_bytes());
        }
        let mut header = own_header(&layout, ItsView::of(&self.kernel.its.its));
        header.ranges = job.ranges as u64;
        header.pages = job.pages as u64;
        header.table_checksum = snapshot::checksum(&raw);
        let power_cut = self.options.power_cut;
        let written = match (self.disk(), power_cut) {
            (Some(disk), None) => image::write(disk, &header, table, pages),
            (Some(disk), Some(point)) => {
                let total = image::sectors_written(&header);
                let mut disk = PowerCut::new(disk, point, total);
                image::write(&mut disk, &header, table, pages)
            }
            (None, _) => Err(ImageError::NoImage),
        };
        written?;
        if self.options.corrupt
            && let Some(disk) = self.disk()
        {
            image::corrupt(disk, &header)?;
            warn!("PM: hibernate-corrupt-image: flipped a byte of the image's first page");
        }

        // Persist the image, then leave nothing mapped across the reset
        // either.
        if let Some(nvme) = self.kernel.nvme.as_mut() {
            nvme.flush()?;
            let _ = nvme.suspend();
        }
        let _ = self.kernel.its.its.save();
        let _ = self.release_redistributors();
        layout.write_ticket();
        if self.options.cold {
            info!("PM: hibernation: image written, powering off");
            power::exit(EXIT_HIBERNATED);
        }
        info!("PM: hibernation: image written, rebooting");
        power::system_reset()
    }

    /// After the snapshot (image kernel): the ITS and NVMe back for writing.
    fn restore_after_snapshot(&mut self) {
        let its = &mut self.kernel.its;
        // The redistributor still runs on the domain's tables: this only
        // marks it ready again.
        if let Err(error) = crate::msi::enable_lpis(&its.lpis, &its.gicr, self.kernel.gic.rd_base())
        {
            self.fail(format!("init_redistributor after the snapshot: {error}"));
        }
        match self.kernel.its.its.restore() {
            // The other CPUs' collections wait for them to come online.
            Ok(restored) => info!("PM: ITS restored: {restored:?}"),
            Err(error) => self.fail(format!("ITS restore after the snapshot: {error}")),
        }
        if let Some(nvme) = self.kernel.nvme.as_mut()
            && let Err(error) = nvme.resume()
        {
            error!("PM: nvme resume: {error}");
        }
    }
}
