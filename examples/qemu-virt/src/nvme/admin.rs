//! Bringing the controller up and down with admin commands: reset and
//! enable (CC, CSTS), Identify controller and namespace, the I/O queue
//! pair's creation and deletion, and the normal shutdown (NVMe Base 2.0,
//! 3.5 and 3.6).

use super::dma::{BOUNCE, MAX_TRANSFER, PAGE, PRP_LIST};
use super::queue::{Command, IO_QUEUE_ID};
use super::registers::{ACQ, AQA, ASQ, CC, CSTS, Status, is_fatal, is_gone};
use super::{NAMESPACE_ID, Nvme, NvmeError, State};
use crate::block::SECTOR_SIZE;
use crate::cpu;
use alloc::string::String;
use alloc::vec;
use gicv3_its::registers::RegisterFrame;
use gicv3_its::tock_registers::LocalRegisterCopy;

// Admin commands (5.x).
const ADMIN_DELETE_IO_SQ: u8 = 0x00;
const ADMIN_CREATE_IO_SQ: u8 = 0x01;
const ADMIN_DELETE_IO_CQ: u8 = 0x04;
const ADMIN_CREATE_IO_CQ: u8 = 0x05;
const ADMIN_IDENTIFY: u8 = 0x06;
const ADMIN_SET_FEATURES: u8 = 0x09;
const IDENTIFY_NAMESPACE: u32 = 0x00;
const IDENTIFY_CONTROLLER: u32 = 0x01;
const FEATURE_NUMBER_OF_QUEUES: u32 = 0x07;
/// Create I/O queue CDW11: physically contiguous.
const QUEUE_CONTIGUOUS: u32 = 1 << 0;
/// Create I/O CQ CDW11: interrupts enabled.
const QUEUE_INTERRUPTS: u32 = 1 << 1;

impl Nvme {
    /// Reset, admin queue, enable, identify, I/O queues.
    pub(super) fn start(&mut self) -> Result<(), NvmeError> {
        self.state = State::Failed;
        self.disable()?;
        // The queues start empty, with phase tags 0.
        self.memory.zero(0, PRP_LIST);
        self.admin.reset();
        self.io.reset();
        let depth = u32::from(self.admin.depth - 1);
        self.registers
            .write_fields(AQA, AQA::ASQS.val(depth) + AQA::ACQS.val(depth));
        self.registers.write64(ASQ, self.memory.phys(self.admin.sq));
        self.registers.write64(ACQ, self.memory.phys(self.admin.cq));
        // The NVM command set, 4 KiB pages, round robin, and the I/O queue
        // entry sizes: 2^6 = 64-byte submission and 2^4 = 16-byte
        // completion entries.
        let cc = CC::CSS::NVM
            + CC::MPS::Size4K
            + CC::AMS::RoundRobin
            + CC::IOSQES.val(6)
            + CC::IOCQES.val(4);
        self.registers.write_fields(CC, cc);
        self.registers.write_fields(CC, cc + CC::EN::SET);
        self.wait_status("CSTS.RDY = 1", |csts| csts.is_set(CSTS::RDY))?;
        self.state = State::Running;
        let result = self.identify_and_create_queues();
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn identify_and_create_queues(&mut self) -> Result<(), NvmeError> {
        let bounce = self.memory.phys(BOUNCE);
        let identify = Command::new(ADMIN_IDENTIFY)
            .data(bounce, 0)
            .dwords(&[IDENTIFY_CONTROLLER]);
        self.admin_command("Identify controller", identify)?;
        let mut page = vec![0u8; PAGE];
        self.memory.copy_out(BOUNCE, &mut page);
        self.serial = ascii(&page[4..24]);
        self.model = ascii(&page[24..64]);
        // MDTS: the transfer limit as a power of two of the minimum page
        // size (4 KiB, checked in `new`), 0 for none.
        let mdts = page[77];
        let limit = if mdts == 0 || mdts > 20 {
            MAX_TRANSFER
        } else {
            (PAGE << mdts).min(MAX_TRANSFER)
        };
        self.max_sectors = limit / SECTOR_SIZE;
        if le_u32(&page, 516) < NAMESPACE_ID {
            return Err(NvmeError::NoNamespace);
        }

        let identify = Command::new(ADMIN_IDENTIFY)
            .namespace(NAMESPACE_ID)
            .data(bounce, 0)
            .dwords(&[IDENTIFY_NAMESPACE]);
        self.admin_command("Identify namespace", identify)?;
        self.memory.copy_out(BOUNCE, &mut page);
        let size = le_u64(&page, 0);
        if size == 0 {
            return Err(NvmeError::NoNamespace);
        }
        // FLBAS bits 3:0 (and 6:5 above 16 formats) select the LBA format;
        // LBADS (bits 23:16 of the format) is log2 of the LBA size.
        let flbas = page[26];
        let format = usize::from(flbas & 0xf) | usize::from((flbas >> 5) & 0b11) << 4;
        let lba_shift = page.get(128 + 4 * format + 2).copied().unwrap_or(0);
        if u32::from(lba_shift) != SECTOR_SIZE.ilog2() {
            return Err(NvmeError::LbaSize(
                1u64.checked_shl(lba_shift.into()).unwrap_or(0),
            ));
        }
        self.capacity = size;

        // One I/O submission and one completion queue (0-based counts).
        let queues = Command::new(ADMIN_SET_FEATURES).dwords(&[FEATURE_NUMBER_OF_QUEUES, 0]);
        self.admin_command("Set Features (Number of Queues)", queues)?;

        let io = &self.io;
        let size_and_id = u32::from(io.depth - 1) << 16 | u32::from(io.id);
        let create_cq = Command::new(ADMIN_CREATE_IO_CQ)
            .data(self.memory.phys(io.cq), 0)
            .dwords(&[
                size_and_id,
                u32::from(io.vector) << 16 | QUEUE_INTERRUPTS | QUEUE_CONTIGUOUS,
            ]);
        let create_sq = Command::new(ADMIN_CREATE_IO_SQ)
            .data(self.memory.phys(io.sq), 0)
            .dwords(&[size_and_id, u32::from(io.id) << 16 | QUEUE_CONTIGUOUS]);
        self.admin_command("Create I/O completion queue", create_cq)?;
        self.admin_command("Create I/O submission queue", create_sq)?;
        Ok(())
    }

    /// Deletes the I/O queues and shuts the controller down (3.6.2).
    pub(super) fn shut_down(&mut self) -> Result<(), NvmeError> {
        let id = u32::from(IO_QUEUE_ID);
        let delete_sq = Command::new(ADMIN_DELETE_IO_SQ).dwords(&[id]);
        let delete_cq = Command::new(ADMIN_DELETE_IO_CQ).dwords(&[id]);
        let deleted = self
            .admin_command("Delete I/O submission queue", delete_sq)
            .and_then(|()| self.admin_command("Delete I/O completion queue", delete_cq));
        self.registers.modify(CC, CC::SHN::Normal);
        let shut_down = self.wait_status("CSTS.SHST = complete", |csts| {
            csts.matches_all(CSTS::SHST::Complete)
        });
        deleted.and(shut_down)
    }

    /// Clears CC.EN (after CSTS.RDY caught up with it) and waits for
    /// CSTS.RDY = 0: the controller is reset, its queues are gone.
    pub(super) fn disable(&mut self) -> Result<(), NvmeError> {
        if self.registers.read(CC).is_set(CC::EN) {
            // Changing EN while RDY still follows an earlier change is
            // undefined; a fatal controller may never become ready.
            let _ = self.wait_status("CSTS.RDY = 1", |csts| {
                csts.is_set(CSTS::RDY) || csts.is_set(CSTS::CFS)
            });
        }
        self.registers.write(CC, LocalRegisterCopy::new(0));
        match self.wait_status("CSTS.RDY = 0", |csts| !csts.is_set(CSTS::RDY)) {
            // A fatal status does not stop a reset.
            Err(NvmeError::ControllerFatal) | Ok(()) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Waits up to CAP.TO for `done(CSTS)`; a fatal status ends the wait.
    fn wait_status(
        &self,
        what: &'static str,
        mut done: impl FnMut(Status) -> bool,
    ) -> Result<(), NvmeError> {
        cpu::wait_until(self.ready_timeout, || {
            let csts = self.registers.read(CSTS);
            (done(csts) && !is_gone(csts)) || is_fatal(csts)
        });
        let csts = self.registers.read(CSTS);
        if done(csts) && !is_gone(csts) {
            Ok(())
        } else if is_fatal(csts) {
            Err(NvmeError::ControllerFatal)
        } else {
            Err(NvmeError::Timeout(what))
        }
    }

    fn admin_command(&mut self, name: &'static str, command: Command) -> Result<(), NvmeError> {
        self.execute(0, command)
            .map(|_| ())
            .map_err(|error| NvmeError::Command {
                command: name,
                error,
            })
    }
}

fn le_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut value = [0; 4];
    if let Some(source) = bytes.get(offset..offset + 4) {
        value.copy_from_slice(source);
    }
    u32::from_le_bytes(value)
}

fn le_u64(bytes: &[u8], offset: usize) -> u64 {
    u64::from(le_u32(bytes, offset)) | u64::from(le_u32(bytes, offset + 4)) << 32
}

/// An Identify string: ASCII padded with spaces.
fn ascii(bytes: &[u8]) -> String {
    let text: String = bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect();
    String::from(text.trim())
}
