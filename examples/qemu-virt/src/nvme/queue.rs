//! The queues: a submission and completion queue pair with its doorbells,
//! the 64-byte submission entry a command becomes, the completion entry,
//! and a command's round trip (submit, wait for the completion interrupt,
//! consume the completion).

use super::dma::{DmaBlock, PAGE};
use super::interrupt::wait_for_interrupt;
use super::registers::{CQHDBL, CSTS, Doorbells, SQTDBL, is_fatal};
use super::{Nvme, STATUS_CONTROLLER_FATAL, STATUS_IRQS_MASKED, State};
use crate::block::BlockError;
use crate::cpu;
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{DAIF, Readable};
use core::sync::atomic::Ordering;
use gicv3_its::registers::RegisterFrame;

const SQ_ENTRY: usize = 64;
const CQ_ENTRY: usize = 16;
pub(super) const ADMIN_DEPTH: u16 = 32;
pub(super) const IO_DEPTH: u16 = 64;
pub(super) const IO_QUEUE_ID: u16 = 1;
const _: () =
    assert!(ADMIN_DEPTH as usize * SQ_ENTRY <= PAGE && IO_DEPTH as usize * SQ_ENTRY <= PAGE);

/// One submission and completion queue pair and where the driver is in it.
pub(super) struct Queue {
    pub(super) id: u16,
    pub(super) vector: u16,
    pub(super) depth: u16,
    /// Offsets of the queues in the DMA block.
    pub(super) sq: usize,
    pub(super) cq: usize,
    sq_tail: u16,
    cq_head: u16,
    /// The phase tag of new completion entries.
    phase: bool,
    doorbells: Doorbells,
}

impl Queue {
    pub(super) fn new(
        id: u16,
        vector: u16,
        depth: u16,
        sq: usize,
        cq: usize,
        doorbells: Doorbells,
    ) -> Self {
        Self {
            id,
            vector,
            depth,
            sq,
            cq,
            sq_tail: 0,
            cq_head: 0,
            phase: true,
            doorbells,
        }
    }

    /// Back to the state after creation (the queue memory must be zeroed).
    pub(super) fn reset(&mut self) {
        self.sq_tail = 0;
        self.cq_head = 0;
        self.phase = true;
    }

    /// Writes the entry at the tail and rings the tail doorbell. There is
    /// always room: only one command is outstanding at a time.
    fn submit(&mut self, memory: &DmaBlock, entry: [u32; 16]) {
        let slot = self.sq + usize::from(self.sq_tail) * SQ_ENTRY;
        for (index, dword) in entry.into_iter().enumerate() {
            memory.write_u32(slot + 4 * index, dword);
        }
        self.sq_tail = (self.sq_tail + 1) % self.depth;
        // The entry must be visible to the controller before the doorbell:
        // an `MmioFrame` store issues `dsb st` first.
        self.doorbells
            .submission_tail
            .write_fields(SQTDBL, SQTDBL::SQT.val(self.sq_tail.into()));
    }

    /// The next completion entry, if the controller has posted it.
    fn pop(&mut self, memory: &DmaBlock) -> Option<Completion> {
        let slot = self.cq + usize::from(self.cq_head) * CQ_ENTRY;
        let dw3 = memory.read_u32(slot + 12);
        if (dw3 & (1 << 16) != 0) != self.phase {
            return None;
        }
        // The data the command transferred after its phase tag.
        barrier::dmb(barrier::OSHLD);
        let completion = Completion {
            id: dw3 as u16,
            status: ((dw3 >> 17) & 0x7ff) as u16,
        };
        self.cq_head += 1;
        if self.cq_head == self.depth {
            self.cq_head = 0;
            self.phase = !self.phase;
        }
        Some(completion)
    }

    /// Tells the controller the entries up to the head are consumed.
    fn ring_head(&self) {
        self.doorbells
            .completion_head
            .write_fields(CQHDBL, CQHDBL::CQH.val(self.cq_head.into()));
    }
}

/// A command before it gets its identifier.
#[derive(Clone, Copy, Default)]
pub(super) struct Command {
    opcode: u8,
    namespace: u32,
    prp1: u64,
    prp2: u64,
    /// CDW10..CDW15.
    dwords: [u32; 6],
}

impl Command {
    pub(super) fn new(opcode: u8) -> Self {
        Self {
            opcode,
            ..Self::default()
        }
    }

    pub(super) fn namespace(self, namespace: u32) -> Self {
        Self { namespace, ..self }
    }

    pub(super) fn data(self, prp1: u64, prp2: u64) -> Self {
        Self { prp1, prp2, ..self }
    }

    /// CDW10 onwards.
    pub(super) fn dwords(mut self, dwords: &[u32]) -> Self {
        for (slot, &value) in self.dwords.iter_mut().zip(dwords) {
            *slot = value;
        }
        self
    }

    /// The 64-byte submission queue entry.
    pub(super) fn encode(self, id: u16) -> [u32; 16] {
        let mut entry = [0u32; 16];
        entry[0] = u32::from(self.opcode) | u32::from(id) << 16;
        entry[1] = self.namespace;
        entry[6] = self.prp1 as u32;
        entry[7] = (self.prp1 >> 32) as u32;
        entry[8] = self.prp2 as u32;
        entry[9] = (self.prp2 >> 32) as u32;
        entry[10..].copy_from_slice(&self.dwords);
        entry
    }
}

/// A completion queue entry.
#[derive(Clone, Copy, Debug)]
pub(super) struct Completion {
    /// The command identifier.
    id: u16,
    /// `SCT << 8 | SC`; 0 is success.
    status: u16,
}

impl Nvme {
    /// Submits `command` on queue `queue_id` and waits for its completion
    /// interrupt, then for its entry in the completion queue.
    pub(super) fn execute(
        &mut self,
        queue_id: u16,
        command: Command,
    ) -> Result<Completion, BlockError> {
        self.check_running()?;
        if DAIF.matches_all(DAIF::I::Masked) {
            return Err(BlockError::Device(STATUS_IRQS_MASKED));
        }
        // 0xffff is not a valid command identifier.
        let id = self.next_command_id;
        self.next_command_id = id.wrapping_add(1) % 0xffff;
        let queue = if queue_id == 0 {
            &mut self.admin
        } else {
            &mut self.io
        };
        let signal = &self.signals.interrupts[usize::from(queue.vector)];
        let mut seen = signal.load(Ordering::Acquire);
        queue.submit(&self.memory, command.encode(id));
        let deadline = cpu::now() + self.command_timeout;
        loop {
            if !wait_for_interrupt(signal, seen, deadline) {
                // The command may still complete (and DMA) later: only a
                // reset makes the buffers safe to reuse.
                self.state = State::Failed;
                return Err(if is_fatal(self.registers.read(CSTS)) {
                    BlockError::Device(STATUS_CONTROLLER_FATAL)
                } else {
                    BlockError::Timeout
                });
            }
            seen = signal.load(Ordering::Acquire);
            let mut ours = None;
            let mut consumed = false;
            while let Some(completion) = queue.pop(&self.memory) {
                consumed = true;
                if completion.id == id {
                    ours = Some(completion);
                } else {
                    log::warn!(
                        "nvme: {}: stray completion {completion:x?} on queue {}",
                        self.bdf,
                        queue.id
                    );
                }
            }
            if consumed {
                queue.ring_head();
            }
            if let Some(completion) = ours {
                return match completion.status {
                    0 => Ok(completion),
                    status => Err(BlockError::Device(status)),
                };
            }
        }
    }
}
