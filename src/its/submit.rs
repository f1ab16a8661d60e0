//! Handing commands to the queue: [`Submitter`] feeds them in the
//! configured batching mode, [`Its::execute`] sends one operation's commands
//! and the SYNCs that make them visible, and waits.

use super::{Batching, Its, ItsState};
use crate::command::{ItsCommand, RdBase};
use crate::error::ItsError;
use crate::memory::DmaMemory;
use crate::queue::CommandQueue;
use crate::registers::GitsFrame;
use crate::wait::WaitPolicy;

impl<F: GitsFrame, M: DmaMemory> Its<F, M> {
    /// Pushes `commands`, then one SYNC per redistributor in `syncs`,
    /// publishes them (one doorbell unless the ring fills) and waits until
    /// the ITS has consumed them. A stall or timeout moves the driver to
    /// [`ItsState::NeedsRecovery`].
    pub(crate) fn execute(
        &mut self,
        commands: &[ItsCommand],
        syncs: &[RdBase],
    ) -> Result<(), ItsError> {
        let mut queued = submitter!(self);
        let syncs = syncs.iter().map(|&rdbase| ItsCommand::Sync { rdbase });
        let result = commands
            .iter()
            .copied()
            .chain(syncs)
            .try_for_each(|command| queued.submit(command))
            .and_then(|()| queued.finish());
        if result.is_err() {
            self.state = ItsState::NeedsRecovery;
        }
        result
    }
}

/// A [`Submitter`] over a driver's queue. A macro rather than a method so
/// that it borrows only the fields it needs, leaving the registry and the
/// tables usable while commands are generated from them.
macro_rules! submitter {
    ($its:expr) => {
        $crate::its::Submitter {
            queue: &mut $its.queue,
            frame: &$its.frame,
            memory: &mut $its.memory,
            wait: $its.wait,
            batching: $its.batching,
        }
    };
}
pub(crate) use submitter;

/// Feeds commands to the queue in the configured batching mode: with
/// [`Batching::Batched`] the ring is only published when full and by
/// `finish`; with [`Batching::OneAtATime`] every command is published and
/// waited for.
pub(crate) struct Submitter<'a, F: GitsFrame, M: DmaMemory> {
    pub(crate) queue: &'a mut CommandQueue,
    pub(crate) frame: &'a F,
    pub(crate) memory: &'a mut M,
    pub(crate) wait: WaitPolicy,
    pub(crate) batching: Batching,
}

impl<F: GitsFrame, M: DmaMemory> Submitter<'_, F, M> {
    #[inline(always)]
    pub(crate) fn submit(&mut self, command: ItsCommand) -> Result<(), ItsError> {
        self.queue
            .push(self.frame, &*self.memory, command, self.wait)?;
        if self.batching == Batching::OneAtATime {
            self.queue
                .publish_and_wait(self.frame, &*self.memory, self.wait)?;
        }
        Ok(())
    }

    /// Publishes what is left and waits until the ITS has consumed it all.
    pub(crate) fn finish(&mut self) -> Result<(), ItsError> {
        self.queue
            .publish_and_wait(self.frame, &*self.memory, self.wait)
    }

    /// The platform memory, for allocations between commands.
    pub(crate) fn memory_mut(&mut self) -> &mut M {
        self.memory
    }
}
