//! The NVMe tests: the controller's MSI-X table points at the ITS, data
//! written reads back equal with one I/O LPI per command, errors are
//! typed, a lost completion interrupt times out and `resume` recovers, and
//! the controller stays quiet while the ITS is saved.

use super::{DELIVERY, Outcome, QUIET, Rig};
use crate::block::{BlockDevice, BlockError, SECTOR_SIZE};
use crate::nvme::{self, Nvme};
use crate::{cpu, irq};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;
use gicv3_its::EventId;
use log::info;

/// The NVMe controller the kernel brought up.
fn nvme_bench(rig: &mut Rig) -> Result<&mut Nvme, String> {
    rig.kernel
        .nvme
        .as_mut()
        .ok_or_else(|| "no NVMe controller brought up (-device nvme; see the boot log)".into())
}

pub(super) fn nvme_msix_table_points_at_the_its(rig: &mut Rig) -> Outcome {
    let doorbell = rig.kernel.its.doorbell();
    let host = rig.host.clone().ok_or("no PCI host bridge")?;
    let nvme = nvme_bench(rig)?;
    let (bdf, route) = (nvme.bdf(), nvme.route().clone());
    let function = rig
        .kernel
        .functions
        .iter()
        .find(|f| f.bdf == bdf)
        .ok_or("the NVMe controller is not among the PCI functions")?;
    ensure!(function.class == nvme::CLASS, "class {:#x}", function.class);
    let msix = function
        .msix()
        .ok_or("the NVMe controller has no usable MSI-X")?;
    ensure!(route.lpis.len() == nvme::VECTORS, "LPIs {:?}", route.lpis);
    let device_id = rig
        .kernel
        .its
        .device_id(&host, function)
        .map_err(|e| format!("{e}"))?;
    ensure!(
        route.device_id == device_id,
        "DeviceID {:#x}, msi-map says {device_id:#x}",
        route.device_id
    );
    ensure!(msix.is_enabled(), "MSI-X not enabled");
    for vector in 0..nvme::VECTORS as u16 {
        // The driver unmasked the vectors it uses.
        let entry = msix.vector(vector);
        ensure!(
            entry == Some((doorbell, u32::from(vector), false)),
            "MSI-X entry {vector}: {entry:x?}, expected doorbell {doorbell:#x}, EventID {vector}, unmasked"
        );
        let mapping = rig
            .kernel
            .its
            .its
            .registry()
            .event(route.device_id, EventId(u32::from(vector)));
        ensure!(
            mapping.map(|m| m.intid()) == Some(route.lpis[usize::from(vector)]),
            "registry for EventID {vector}: {mapping:?}"
        );
    }
    Ok(())
}

/// A sector-by-sector pseudo-random pattern, different for every `seed`.
fn pattern(lba: u64, sectors: usize, seed: u64) -> Vec<u8> {
    let mut data = Vec::with_capacity(sectors * SECTOR_SIZE);
    for sector in lba..lba + sectors as u64 {
        let mut state = (seed ^ sector.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
        for _ in 0..SECTOR_SIZE / 8 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.extend_from_slice(&state.to_le_bytes());
        }
    }
    data
}

/// Writes a fresh pattern at each `(lba, sectors)` and reads it back into a
/// buffer filled with something else; checks that every I/O command's
/// completion was one I/O LPI handled by the IRQ handler, and none an
/// admin LPI. `misalign` offsets the caller's buffers by that many bytes.
fn write_read_back(nvme: &mut Nvme, transfers: &[(u64, usize)], misalign: usize) -> Outcome {
    let [admin_lpi, io_lpi] = nvme.lpis();
    let (admin_before, io_before) = (irq::count(admin_lpi), irq::count(io_lpi));
    let commands_before = nvme.io_commands();
    let per_command = nvme.max_sectors_per_command();
    let mut expected_commands = 0;
    let seed = cpu::now().as_nanos() as u64;
    for &(lba, sectors) in transfers {
        let data = pattern(lba, sectors, seed);
        let len = data.len();
        let mut buffer = alloc::vec![0u8; len + misalign];
        buffer[misalign..].copy_from_slice(&data);
        nvme.write(lba, &buffer[misalign..])
            .map_err(|e| format!("writing {sectors} sectors at {lba}: {e}"))?;
        buffer.fill(0xa5);
        nvme.read(lba, &mut buffer[misalign..])
            .map_err(|e| format!("reading {sectors} sectors at {lba}: {e}"))?;
        if let Some(at) = (0..len).find(|&i| buffer[misalign + i] != data[i]) {
            return Err(format!(
                "{sectors} sectors at {lba}: byte {at} (sector {}) read back {:#x}, written {:#x}",
                lba + (at / SECTOR_SIZE) as u64,
                buffer[misalign + at],
                data[at]
            ));
        }
        expected_commands += 2 * sectors.div_ceil(per_command) as u64;
    }
    let commands = nvme.io_commands() - commands_before;
    ensure!(
        commands == expected_commands,
        "{commands} I/O commands, expected {expected_commands} ({per_command} sectors per command)"
    );
    // Give a stray or duplicate interrupt the chance to show.
    cpu::wait_until(QUIET, || false);
    let io_lpis = irq::count(io_lpi) - io_before;
    ensure!(
        u64::from(io_lpis) == commands,
        "{commands} I/O commands completed, {io_lpis} I/O LPIs ({io_lpi}) handled"
    );
    let admin_lpis = irq::count(admin_lpi) - admin_before;
    ensure!(admin_lpis == 0, "{admin_lpis} admin LPIs during I/O");
    Ok(())
}

pub(super) fn nvme_write_read_back_by_lpis(rig: &mut Rig) -> Outcome {
    let nvme = nvme_bench(rig)?;
    let capacity = nvme.capacity();
    let per_command = nvme.max_sectors_per_command();
    ensure!(capacity >= 4096, "capacity {capacity} sectors");
    info!(
        "test: nvme {} capacity {capacity} sectors, {per_command} sectors per command, LPIs {:?}",
        nvme.bdf(),
        nvme.lpis()
    );
    // One page (PRP1 only), two pages (PRP2), a PRP list, a transfer split
    // into several commands, the last sectors.
    let transfers = [
        (0, 1),
        (8, 8),
        (64, 24),
        (1000, 2 * per_command + 88),
        (capacity - 3, 3),
    ];
    write_read_back(nvme, &transfers, 0)?;
    // Buffers at odd addresses: the bounce buffer takes them.
    write_read_back(nvme, &[(2048, 9), (3000, per_command + 1)], 1)
}

pub(super) fn nvme_errors_are_typed(rig: &mut Rig) -> Outcome {
    let nvme = nvme_bench(rig)?;
    let capacity = nvme.capacity();
    let io_lpi = nvme.lpis()[1];
    let commands = nvme.io_commands();
    let mut sectors = [0u8; 2 * SECTOR_SIZE];
    let result = nvme.read(capacity, &mut sectors[..SECTOR_SIZE]);
    ensure!(
        result
            == Err(BlockError::OutOfRange {
                lba: capacity,
                sectors: 1,
                capacity
            }),
        "reading the sector after the last: {result:?}"
    );
    let result = nvme.read(capacity - 1, &mut sectors);
    ensure!(
        result
            == Err(BlockError::OutOfRange {
                lba: capacity - 1,
                sectors: 2,
                capacity
            }),
        "reading across the end: {result:?}"
    );
    let result = nvme.write(u64::MAX, &sectors[..SECTOR_SIZE]);
    ensure!(
        result
            == Err(BlockError::OutOfRange {
                lba: u64::MAX,
                sectors: 1,
                capacity
            }),
        "writing at LBA 2^64 - 1: {result:?}"
    );
    let result = nvme.read(0, &mut sectors[..100]);
    ensure!(
        result == Err(BlockError::BadLength(100)),
        "reading 100 bytes: {result:?}"
    );
    {
        // No completion interrupt could be taken: refused at once.
        let _masked = cpu::IrqGuard::new();
        let result = nvme.read(0, &mut sectors);
        ensure!(
            result == Err(BlockError::Device(nvme::STATUS_IRQS_MASKED)),
            "reading with IRQs masked: {result:?}"
        );
    }
    ensure!(
        nvme.io_commands() == commands,
        "a refused transfer reached the controller"
    );
    // Past the driver's check, the controller refuses it, and says so by
    // the I/O queue's interrupt.
    let before = irq::count(io_lpi);
    let result = nvme.read_unchecked(capacity, &mut sectors[..SECTOR_SIZE]);
    ensure!(
        result == Err(BlockError::Device(nvme::STATUS_LBA_OUT_OF_RANGE)),
        "the controller reading past the end: {result:?}"
    );
    ensure!(
        irq::count(io_lpi) == before + 1,
        "the error's completion was not one I/O LPI"
    );
    ensure!(nvme.is_running(), "the controller stopped after an error");
    nvme.read(0, &mut sectors)
        .map_err(|e| format!("reading after an error: {e}"))
}

/// A completion whose interrupt never comes (its MSI-X vector masked) ends
/// in `Timeout`, then every transfer is refused until `resume` resets the
/// controller.
pub(super) fn nvme_lost_interrupt_times_out_and_resume_recovers(rig: &mut Rig) -> Outcome {
    let nvme = rig
        .kernel
        .nvme
        .as_mut()
        .ok_or("no NVMe controller brought up")?;
    let function = rig
        .kernel
        .functions
        .iter()
        .find(|f| f.bdf == nvme.bdf())
        .ok_or("the NVMe controller is not among the PCI functions")?;
    let msix = function.msix().ok_or("no MSI-X")?;
    let io_lpi = nvme.lpis()[1];
    let mut sector = [0u8; SECTOR_SIZE];
    let timeout = Duration::from_millis(200);
    nvme.set_command_timeout(timeout);
    msix.mask(1, true);
    let start = cpu::now();
    let result = nvme.read(0, &mut sector);
    let waited = cpu::now() - start;
    msix.mask(1, false);
    nvme.set_command_timeout(Duration::from_secs(5));
    ensure!(
        result == Err(BlockError::Timeout),
        "reading with the I/O vector masked: {result:?}"
    );
    ensure!(
        waited >= timeout && waited < timeout * 5,
        "timed out after {waited:?}, the bound is {timeout:?}"
    );
    ensure!(!nvme.is_running(), "still running after a timeout");
    let result = nvme.read(0, &mut sector);
    ensure!(
        result == Err(BlockError::Device(nvme::STATUS_NOT_RUNNING)),
        "reading after a timeout: {result:?}"
    );
    // Unmasked, the vector sends the MSI it held back: one late LPI.
    let late = irq::count(io_lpi);
    cpu::wait_until(DELIVERY, || irq::count(io_lpi) > late);
    nvme.resume().map_err(|e| format!("resume: {e}"))?;
    write_read_back(nvme, &[(512, 16)], 0)
}

/// The hibernation sequence: quiesce the disk, save the ITS (the snapshot
/// would be taken here), restore the ITS, resume the disk and write.
pub(super) fn nvme_quiesced_across_its_save_restore(rig: &mut Rig) -> Outcome {
    const LBA: u64 = 4096;
    let its = &mut rig.kernel.its.its;
    let nvme = rig
        .kernel
        .nvme
        .as_mut()
        .ok_or("no NVMe controller brought up")?;
    let [admin_lpi, io_lpi] = nvme.lpis();
    let device_id = nvme.route().device_id;
    let before_suspend = pattern(LBA, 16, cpu::now().as_nanos() as u64);
    nvme.write(LBA, &before_suspend)
        .map_err(|e| format!("writing: {e}"))?;
    nvme.suspend().map_err(|e| format!("suspend: {e}"))?;
    ensure!(!nvme.is_running(), "running after suspend");
    let mut buffer = alloc::vec![0u8; before_suspend.len()];
    let result = nvme.read(LBA, &mut buffer);
    ensure!(
        result == Err(BlockError::Device(nvme::STATUS_NOT_RUNNING)),
        "reading while suspended: {result:?}"
    );
    let counts = (irq::count(admin_lpi), irq::count(io_lpi));
    its.save().map_err(|e| format!("ITS save: {e}"))?;
    cpu::wait_until(QUIET, || false);
    let restored = its.restore().map_err(|e| format!("ITS restore: {e}"))?;
    ensure!(
        restored.deferred_collections == 0,
        "restore deferred collections: {restored:?}"
    );
    ensure!(
        (irq::count(admin_lpi), irq::count(io_lpi)) == counts,
        "an NVMe interrupt arrived while quiesced"
    );
    for (event, lpi) in [admin_lpi, io_lpi].into_iter().enumerate() {
        let mapping = its.registry().event(device_id, EventId(event as u32));
        ensure!(
            mapping.map(|m| m.intid()) == Some(lpi),
            "EventID {event} after ITS restore: {mapping:?}, expected LPI {lpi}"
        );
    }
    nvme.resume().map_err(|e| format!("resume: {e}"))?;
    ensure!(
        irq::count(admin_lpi) > counts.0,
        "resuming took no admin LPI"
    );
    nvme.read(LBA, &mut buffer)
        .map_err(|e| format!("reading after resume: {e}"))?;
    ensure!(
        buffer == before_suspend,
        "what was written before suspend did not survive it"
    );
    // The image, written after the snapshot.
    write_read_back(nvme, &[(LBA + 16, 600)], 0)?;
    nvme.flush().map_err(|e| format!("flush: {e}"))
}
