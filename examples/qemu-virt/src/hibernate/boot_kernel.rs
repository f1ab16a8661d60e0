//! The boot kernel: a boot that found a valid image. It maps a device of
//! its own, checks and loads the image into scratch, then tears down every
//! ITS mapping it made and jumps into the image; or, when its save hook
//! fails, refuses to jump and powers off.

use super::image::{self, Header, ImageError, ItsView};
use super::snapshot::{self, CopyOp, SavedRange};
use super::{DELIVERY, Hibernation, PAGE, own_header, scratch};
use crate::cpu::{self, IrqGuard};
use crate::edu::Edu;
use crate::layout::Layout;
use crate::marker::mark;
use crate::msi::{ICID, MsiRoute};
use crate::protocol::{
    BOOT_ITS_LINE, EXIT_HANDOVER_FAILED, FOREIGN_DEVICE, HANDOVER_LINE, IMAGE_ITS_LINE, JUMP_LINE,
    NO_TEARDOWN_LINE, NOT_JUMPING, Phase, SAVE_FAILED_LINE, SIMULATED_SAVE_FAILURE,
};
use crate::{irq, power};
use alloc::format;
use alloc::vec::Vec;
use gicv3_its::{DeviceId, EventId, IntId};
use log::{error, info, warn};

impl Hibernation {
    /// Checks and loads the image, tears down this kernel's ITS mappings and
    /// jumps into the image. Returns only if the image is not usable, before
    /// anything was torn down.
    pub(super) fn hand_over(&mut self, header: &Header) -> ImageError {
        let layout = self.kernel.layout.clone();
        let own = own_header(&layout, ItsView::of(&self.kernel.its.its));
        info!(
            "PM: hibernation: found an image: {} pages in {} runs; image kernel's allocation offset {} MiB, this boot kernel's {} MiB",
            header.pages, header.ranges, header.skew, layout.skew
        );
        if let Err(error) = header.check_against(&layout, &own) {
            return error;
        }
        log_its_view(IMAGE_ITS_LINE, &header.its);
        log_its_view(BOOT_ITS_LINE, &own.its);
        self.log_its_tables("boot kernel");
        for device in &own.its.devices {
            let theirs = header
                .its
                .devices
                .iter()
                .find(|d| d.device_id == device.device_id);
            if let Some(theirs) = theirs {
                info!(
                    "PM: DeviceID {:#x}: boot kernel ITT {:#x}, image kernel ITT {:#x}{}",
                    device.device_id,
                    device.itt,
                    theirs.itt,
                    if device.itt == theirs.itt {
                        " (the same: the allocation offsets happen to coincide)"
                    } else {
                        ""
                    }
                );
            }
        }
        // SAFETY: scratch is used by nothing else, and only through this
        // slice until the jump.
        let scratch = unsafe { scratch(&layout) };
        let table = match self.disk() {
            Some(disk) => image::load(disk, header, scratch),
            None => Err(ImageError::NoImage),
        };
        let table = match table {
            Ok(table) => table,
            Err(error) => return error,
        };
        let ops = match copy_ops(header, &table, &layout, scratch) {
            Ok(ops) => ops,
            Err(error) => return error,
        };
        self.use_foreign_device();
        self.use_extra_edus();

        info!("{HANDOVER_LINE}");
        mark(Phase::Handover);
        self.quiesce_devices();
        // The copy and the jump run on this CPU alone, and the image's
        // memory must not be in use by another: the others power off first.
        self.offline_secondaries();
        // No interrupt is taken from here to the resumed kernel's GIC and
        // ITS re-initialisation (the image's saved DAIF has IRQs masked too).
        let masked = IrqGuard::new();
        if self.options.no_teardown {
            warn!("{NO_TEARDOWN_LINE}");
        } else {
            let saved = if self.options.fail_boot_save {
                Err(format!(
                    "{SIMULATED_SAVE_FAILURE} (the save hook was not run)"
                ))
            } else {
                // A handover: no LPI of this kernel's may stay pending
                // for the image to take as one of its own.
                self.kernel
                    .its
                    .its
                    .save_for_handover()
                    .map_err(|error| format!("{error}"))
            };
            if let Err(error) = saved {
                // The seed's bug is jumping anyway: the ITS may still hold
                // this kernel's mappings, whose ITTs the image overwrites.
                // Nothing was copied yet, so stop here, with the image left
                // on the disk untouched for a later boot.
                drop(masked);
                error!(
                    "{SAVE_FAILED_LINE} {error}; {NOT_JUMPING} (its ITS may still map memory the image overwrites); powering off with status {EXIT_HANDOVER_FAILED}"
                );
                power::exit(EXIT_HANDOVER_FAILED);
            }
            match self.release_redistributors() {
                Ok(true) => info!("PM: boot kernel: redistributor LPIs disabled"),
                Ok(false) => info!(
                    "PM: boot kernel: EnableLPIs cannot be cleared; the image kernel adopts the shared LPI tables"
                ),
                Err(error) => error!("PM: boot kernel: releasing the redistributor: {error}"),
            }
        }
        info!(
            "{JUMP_LINE} {} pages into place and jumping to {:#x}",
            header.pages, header.resume_entry
        );
        mark(Phase::Jump);
        // The guard is never dropped: the jump does not return.
        core::mem::forget(masked);
        // SAFETY: the image is from this binary (text checksum, entry and
        // context checked), complete and checksummed; `ops` and the staged
        // pages are in scratch, which no destination overlaps (checked in
        // `copy_ops`); IRQs are masked, the ITS saved and devices quiesced;
        // one CPU runs (the others are off: `offline_secondaries`).
        unsafe { snapshot::copy_and_resume(ops) }
    }

    /// Every edu but the first is a device of the boot kernel's own (in
    /// `--cold` runs the second QEMU has one the image kernel never saw):
    /// routes its MSI and raises it once.
    fn use_extra_edus(&mut self) {
        let Some(host) = self.kernel.platform.pci.clone() else {
            return;
        };
        let first = self.edu.as_ref().map(|route| route.index);
        for (index, function) in self.kernel.functions.iter().enumerate() {
            let Some(edu) = Edu::new(function).filter(|_| Some(index) != first) else {
                continue;
            };
            match self.kernel.its.route(&host, function, 1) {
                Ok(MsiRoute { device_id, lpis }) => {
                    if irq::register(lpis[0], count_only, 0).is_err() {
                        continue;
                    }
                    edu.raise(1);
                    let arrived = cpu::wait_until(DELIVERY, || irq::count(lpis[0]) >= 1);
                    edu.acknowledge();
                    info!(
                        "PM: boot kernel: edu {} (DeviceID {device_id:#x}, its own) -> LPI {}: {}",
                        function.bdf,
                        lpis[0],
                        if arrived {
                            "MSI delivered"
                        } else {
                            "MSI NOT delivered"
                        }
                    );
                }
                Err(error) => warn!("PM: boot kernel: edu {} not routed: {error}", function.bdf),
            }
        }
    }

    /// Maps DeviceID 0, which the image kernel never knew, and raises its MSI
    /// from the CPU: the boot kernel's own device.
    fn use_foreign_device(&mut self) {
        let its = &mut self.kernel.its;
        let lpi = match its
            .its
            .map_device(DeviceId(FOREIGN_DEVICE), 1)
            .and_then(|()| {
                its.its
                    .map_event(DeviceId(FOREIGN_DEVICE), EventId(0), ICID)
            }) {
            Ok(lpi) => lpi,
            Err(error) => {
                warn!("PM: boot kernel: DeviceID {FOREIGN_DEVICE:#x} not mapped: {error}");
                return;
            }
        };
        if irq::register(lpi, count_only, 0).is_err() {
            return;
        }
        self.kernel.its.write_translater(0);
        let arrived = cpu::wait_until(DELIVERY, || irq::count(lpi) >= 1);
        info!(
            "PM: boot kernel: DeviceID {FOREIGN_DEVICE:#x} (its own) EventID 0 -> LPI {lpi}: {}",
            if arrived {
                "MSI delivered"
            } else {
                "MSI NOT delivered"
            }
        );
    }

    /// Stops every device's DMA and MSIs.
    fn quiesce_devices(&mut self) {
        if let Some(nvme) = self.kernel.nvme.as_mut()
            && let Err(error) = nvme.suspend()
        {
            warn!("PM: nvme suspend: {error}");
        }
        for function in &self.kernel.functions {
            if let Some(msix) = function.msix() {
                msix.disable();
            }
            if let Some(msi) = function.msi() {
                msi.disable();
            }
        }
    }
}

fn count_only(_intid: IntId, _context: usize) {}

/// Logs each device of `view` on a line that starts with `line`.
fn log_its_view(line: &str, view: &ItsView) {
    for device in &view.devices {
        info!(
            "{line} {:#x} ITT {:#x} ({} bytes), events {:?}",
            device.device_id, device.itt, device.itt_bytes, device.events
        );
    }
}

/// The boot kernel's copy plan: for each region the image restores, zero
/// what no run covers and copy the runs from the staged data. Placed in
/// scratch after the data; checks that no destination overlaps scratch.
fn copy_ops<'a>(
    header: &Header,
    table: &[SavedRange],
    layout: &Layout,
    scratch: &'a mut [u8],
) -> Result<&'a [CopyOp], ImageError> {
    let scratch_range = layout.scratch.start as u64..layout.scratch.end as u64;
    let data_start = scratch_range.start + image::TABLE_BYTES_MAX as u64;
    let data_end = data_start + header.pages * PAGE as u64;
    let mut ops = Vec::new();
    let mut source = data_start;
    let mut runs = table.iter().peekable();
    for region in header.regions() {
        if region.start < scratch_range.end && scratch_range.start < region.end {
            return Err(ImageError::LayoutMismatch("region overlapping scratch"));
        }
        let mut cursor = region.start;
        while let Some(run) = runs.next_if(|run| run.start < region.end) {
            if run.start > cursor {
                ops.push(CopyOp {
                    dst: cursor,
                    src: 0,
                    len: run.start - cursor,
                });
            }
            let len = run.pages * PAGE as u64;
            ops.push(CopyOp {
                dst: run.start,
                src: source,
                len,
            });
            source += len;
            cursor = run.start + len;
        }
        if cursor < region.end {
            ops.push(CopyOp {
                dst: cursor,
                src: 0,
                len: region.end - cursor,
            });
        }
    }
    let op_bytes = core::mem::size_of::<CopyOp>();
    let offset = (data_end - scratch_range.start) as usize;
    let needed = offset + ops.len() * op_bytes;
    if needed > scratch.len() {
        return Err(ImageError::TooLarge {
            bytes: needed as u64,
            room: scratch.len() as u64,
        });
    }
    let area = &mut scratch[offset..needed];
    for (op, bytes) in ops.iter().zip(area.chunks_exact_mut(op_bytes)) {
        bytes[..8].copy_from_slice(&op.dst.to_ne_bytes());
        bytes[8..16].copy_from_slice(&op.src.to_ne_bytes());
        bytes[16..24].copy_from_slice(&op.len.to_ne_bytes());
    }
    // SAFETY: `area` holds `ops.len()` CopyOps written above, 8-byte aligned
    // (scratch is page aligned, the data area a whole number of pages).
    Ok(unsafe { core::slice::from_raw_parts(area.as_ptr().cast::<CopyOp>(), ops.len()) })
}
