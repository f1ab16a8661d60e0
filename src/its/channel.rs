//! The command channel: what every command needs on its way to the ITS (the
//! register frame, the platform memory, the command queue, the wait policy
//! and the batching mode), owned together. The driver sends commands through
//! this one field while it reads its registry and tables from the others.

use super::Batching;
use crate::command::{ItsCommand, RdBase};
use crate::error::ItsError;
use crate::memory::{DmaMemory, DmaRegion, MemoryAttributes};
use crate::queue::{CommandQueue, QueueStats};
use crate::registers::GitsFrame;
use crate::wait::WaitPolicy;

/// An ITS's frame, memory and command queue, fed in the configured batching
/// mode: with [`Batching::Batched`] the ring is only published when full
/// and by [`CommandChannel::finish`]; with [`Batching::OneAtATime`] every
/// command is published and waited for.
pub(crate) struct CommandChannel<F: GitsFrame, M: DmaMemory> {
    frame: F,
    memory: M,
    queue: CommandQueue,
    wait: WaitPolicy,
    batching: Batching,
}

impl<F: GitsFrame, M: DmaMemory> CommandChannel<F, M> {
    pub(super) fn new(
        frame: F,
        memory: M,
        queue: CommandQueue,
        wait: WaitPolicy,
        batching: Batching,
    ) -> Self {
        Self {
            frame,
            memory,
            queue,
            wait,
            batching,
        }
    }

    /// The ITS's registers.
    pub(super) fn frame(&self) -> &F {
        &self.frame
    }

    /// The platform memory.
    pub(super) fn memory(&self) -> &M {
        &self.memory
    }

    /// The platform memory, for allocations (between commands too).
    pub(super) fn memory_mut(&mut self) -> &mut M {
        &mut self.memory
    }

    /// How long waits for the hardware may take.
    pub(super) fn wait(&self) -> WaitPolicy {
        self.wait
    }

    /// How commands are fed from now on.
    pub(super) fn set_batching(&mut self, batching: Batching) {
        self.batching = batching;
    }

    /// Command, doorbell and polling counts so far.
    pub(super) fn stats(&self) -> QueueStats {
        self.queue.stats()
    }

    /// Bytes of the ring.
    pub(super) fn queue_bytes(&self) -> usize {
        self.queue.ring().size()
    }

    /// Describes the queue to the ITS again, empty (see
    /// [`CommandQueue::program`]).
    pub(super) fn program_queue(&mut self, wanted: MemoryAttributes) -> Result<(), ItsError> {
        self.queue.program(&self.frame, wanted)
    }

    /// Marks the queue invalid in GITS_CBASER.
    pub(super) fn invalidate_queue(&self) {
        self.queue.invalidate(&self.frame);
    }

    /// The memory provider and the ring, for giving the ring back as the
    /// driver is dropped.
    pub(super) fn into_memory_and_ring(self) -> (M, DmaRegion) {
        (self.memory, self.queue.into_ring())
    }

    /// Queues one command (published at once with
    /// [`Batching::OneAtATime`]).
    #[inline(always)]
    pub(super) fn submit(&mut self, command: ItsCommand) -> Result<(), ItsError> {
        self.queue
            .push(&self.frame, &self.memory, command, self.wait)?;
        if self.batching == Batching::OneAtATime {
            self.queue
                .publish_and_wait(&self.frame, &self.memory, self.wait)?;
        }
        Ok(())
    }

    /// Publishes what is left and waits until the ITS has consumed it all.
    pub(super) fn finish(&mut self) -> Result<(), ItsError> {
        self.queue
            .publish_and_wait(&self.frame, &self.memory, self.wait)
    }

    /// Queues `commands`, then one SYNC per redistributor in `syncs`,
    /// publishes them (one doorbell unless the ring fills) and waits until
    /// the ITS has consumed them.
    pub(super) fn send(
        &mut self,
        commands: impl IntoIterator<Item = ItsCommand>,
        syncs: impl IntoIterator<Item = RdBase>,
    ) -> Result<(), ItsError> {
        let syncs = syncs.into_iter().map(|rdbase| ItsCommand::Sync { rdbase });
        commands
            .into_iter()
            .chain(syncs)
            .try_for_each(|command| self.submit(command))?;
        self.finish()
    }
}
