//! The command queue: a ring of 32-byte slots in memory, described to the ITS
//! by GITS_CBASER, filled by software up to GITS_CWRITER and consumed by the
//! ITS up to GITS_CREADR (Arm IHI 0069 5.2).
//!
//! Commands are batched: `push` only writes memory, `publish` writes CWRITER
//! once for everything pushed since the last publish (one doorbell), and
//! `publish_and_wait` polls CREADR within a bounded wait. When the ring is
//! full, `push` publishes and waits for room (backpressure), never
//! overwriting a slot the ITS has not read.

use crate::base_register;
use crate::command::{COMMAND_SIZE, ItsCommand};
use crate::error::{ItsError, WaitFor};
use crate::memory::{DmaMemory, DmaRegion, MemoryAttributes};
use crate::registers::{GITS_CBASER, GITS_CREADR, GITS_CWRITER, GitsFrame};
use crate::wait::{Wait, WaitPolicy};
use core::sync::atomic::{Ordering, compiler_fence};
use tock_registers::LocalRegisterCopy;

/// GITS_CBASER.Size counts pages of 4 KiB...
const PAGE: usize = 4096;
/// ...and holds at most 256 of them.
const MAX_PAGES: usize = 256;

/// Deterministic counts of what the queue made the hardware do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Commands written to the ring.
    pub commands: u64,
    /// GITS_CWRITER writes (doorbells).
    pub doorbells: u64,
    /// Waits for the ITS to consume everything published.
    pub completion_waits: u64,
    /// GITS_CREADR reads.
    pub polls: u64,
}

/// The ring of commands and the software side of its pointers.
#[derive(Debug)]
pub(crate) struct CommandQueue {
    ring: DmaRegion,
    attributes: MemoryAttributes,
    /// Byte offset of the next free slot.
    write: usize,
    /// Byte offset last written to GITS_CWRITER.
    published: usize,
    /// GITS_CREADR as last read: the ITS has consumed everything before it.
    read: usize,
    stats: QueueStats,
}

impl CommandQueue {
    /// Size of the ring the driver allocates: 64 KiB, 2048 commands.
    pub(crate) const DEFAULT_BYTES: usize = 64 * 1024;

    /// Takes `ring` as the queue, if it is exactly what GITS_CBASER can
    /// describe: 1 to 256 pages of 4 KiB (Size), at a 4 KiB aligned address
    /// (Physical_Address, bits [51:12]), so that the ring is a whole number of
    /// 32-byte slots, each 8-byte aligned. Otherwise the ring comes back.
    pub(crate) fn new(ring: DmaRegion, attributes: MemoryAttributes) -> Result<Self, DmaRegion> {
        let size = ring.size();
        let encodable = size.is_multiple_of(PAGE)
            && (PAGE..=MAX_PAGES * PAGE).contains(&size)
            && ring.phys().is_multiple_of(PAGE as u64)
            && ring.phys() < 1 << 52
            && (ring.virt().as_ptr() as usize).is_multiple_of(PAGE);
        if !encodable {
            return Err(ring);
        }
        Ok(Self {
            ring,
            attributes,
            write: 0,
            published: 0,
            read: 0,
            stats: QueueStats::default(),
        })
    }

    /// The counts so far.
    pub(crate) fn stats(&self) -> QueueStats {
        self.stats
    }

    /// The ring's memory.
    pub(crate) fn ring(&self) -> &DmaRegion {
        &self.ring
    }

    /// Gives the ring's memory back (when probe fails).
    pub(crate) fn into_ring(self) -> DmaRegion {
        self.ring
    }

    /// The GITS_CBASER value that describes this ring.
    pub(crate) fn cbaser(
        &self,
        attributes: MemoryAttributes,
    ) -> LocalRegisterCopy<u64, GITS_CBASER::Register> {
        let pages = (self.ring.size() / PAGE) as u64;
        let value = GITS_CBASER::Valid::SET
            + GITS_CBASER::Size.val(pages - 1)
            + GITS_CBASER::Physical_Address.val(self.ring.phys() >> 12)
            + GITS_CBASER::Shareability.val(attributes.shareability())
            + GITS_CBASER::InnerCache.val(attributes.inner_cache());
        LocalRegisterCopy::new(value.value)
    }

    /// Programs GITS_CBASER with an empty ring and GITS_CWRITER = 0.
    ///
    /// Writing CBASER resets CREADR to 0 but not necessarily CWRITER (5.2, and
    /// QEMU keeps it), so CWRITER is zeroed here too: otherwise the ITS would
    /// replay whatever stale commands lie between 0 and the old CWRITER.
    /// The ITS reads no slot at or beyond CWRITER, so what the ring still
    /// holds from before needs no zeroing: every slot is written (and
    /// cleaned where needed) before it is published.
    /// The caller guarantees GITS_CTLR.Enabled = 0 and Quiescent = 1.
    /// The register is read back (see [`base_register`]): the queue stays
    /// with `wanted` attributes if the ITS takes them and they are coherent,
    /// else it becomes non-cacheable and every command is cleaned.
    pub(crate) fn program<F: GitsFrame>(
        &mut self,
        frame: &F,
        wanted: MemoryAttributes,
    ) -> Result<(), ItsError> {
        self.attributes = base_register::program(frame, GITS_CBASER, wanted, |a| self.cbaser(a))?;
        frame.write(GITS_CWRITER, LocalRegisterCopy::new(0));
        self.write = 0;
        self.published = 0;
        self.read = 0;
        Ok(())
    }

    /// Writes GITS_CBASER with Valid = 0, so the ITS no longer refers to the
    /// ring. The caller guarantees the ITS is disabled and quiescent.
    pub(crate) fn invalidate<F: GitsFrame>(&self, frame: &F) {
        let mut value = self.cbaser(self.attributes);
        value.modify(GITS_CBASER::Valid::CLEAR);
        frame.write(GITS_CBASER, value);
    }

    /// The slot after the one at `offset`, wrapping at the end of the ring.
    fn after(&self, offset: usize) -> usize {
        let next = offset + COMMAND_SIZE;
        if next == self.ring.size() { 0 } else { next }
    }

    /// Writes one command into the next slot without telling the ITS. When
    /// the ring is full, publishes what is there and waits (as `wait`
    /// allows) for the ITS to make room.
    ///
    /// The slot is plain Normal memory: the command is written with plain
    /// stores, and the barrier before the CWRITER write ([`crate::registers::MmioFrame`])
    /// orders it before the doorbell.
    #[inline(always)]
    pub(crate) fn push<F: GitsFrame, M: DmaMemory>(
        &mut self,
        frame: &F,
        memory: &M,
        command: ItsCommand,
        wait: WaitPolicy,
    ) -> Result<(), ItsError> {
        let next = self.after(self.write);
        if next == self.read {
            self.make_room(frame, memory, wait)?;
        }
        let words = command.encode().map(u64::to_le);
        // SAFETY: `write` is a slot offset: a multiple of 32 below the ring's
        // size (`new`, `program` and `after` keep it so), and `new` took only
        // a ring of whole 4 KiB pages at a 4 KiB aligned address, so the 32
        // bytes are inside the region and 8-byte aligned; `DmaRegion::new`'s caller promised the region is valid
        // and ours. The ITS reads only slots published before.
        unsafe {
            self.ring
                .virt()
                .as_ptr()
                .add(self.write)
                .cast::<[u64; 4]>()
                .write(words);
        }
        self.write = next;
        self.stats.commands += 1;
        Ok(())
    }

    /// The ring is full: publish it and wait for the ITS to make room.
    #[cold]
    fn make_room<F: GitsFrame, M: DmaMemory>(
        &mut self,
        frame: &F,
        memory: &M,
        wait: WaitPolicy,
    ) -> Result<(), ItsError> {
        self.publish(frame, memory);
        self.wait_for(frame, wait, WaitFor::QueueSpace, |queue| {
            queue.after(queue.write) != queue.read
        })
    }

    /// Tells the ITS about every command pushed so far: one CWRITER write,
    /// skipped when nothing is new. A GIC that does not snoop gets the new
    /// slots cleaned to the Point of Coherency first.
    pub(crate) fn publish<F: GitsFrame, M: DmaMemory>(&mut self, frame: &F, memory: &M) {
        if self.published == self.write {
            return;
        }
        if self.attributes.needs_cache_clean() {
            if self.write > self.published {
                self.ring.clean(
                    memory,
                    self.attributes,
                    self.published,
                    self.write - self.published,
                );
            } else {
                let size = self.ring.size();
                self.ring.clean(
                    memory,
                    self.attributes,
                    self.published,
                    size - self.published,
                );
                self.ring.clean(memory, self.attributes, 0, self.write);
            }
        }
        compiler_fence(Ordering::Release);
        frame.write_fields(
            GITS_CWRITER,
            GITS_CWRITER::Offset.val((self.write / COMMAND_SIZE) as u64),
        );
        self.published = self.write;
        self.stats.doorbells += 1;
    }

    /// Publishes and waits until the ITS has consumed every command.
    pub(crate) fn publish_and_wait<F: GitsFrame, M: DmaMemory>(
        &mut self,
        frame: &F,
        memory: &M,
        wait: WaitPolicy,
    ) -> Result<(), ItsError> {
        self.publish(frame, memory);
        self.stats.completion_waits += 1;
        self.wait_for(frame, wait, WaitFor::CommandCompletion, |queue| {
            queue.read == queue.published
        })
    }

    /// Polls GITS_CREADR until `done` holds, the ITS stalls, or the wait
    /// is spent.
    fn wait_for<F: GitsFrame>(
        &mut self,
        frame: &F,
        policy: WaitPolicy,
        waiting_for: WaitFor,
        done: impl Fn(&Self) -> bool,
    ) -> Result<(), ItsError> {
        let mut wait = Wait::start(policy);
        loop {
            if done(self) {
                return Ok(());
            }
            if wait.expired() {
                return Err(wait.timeout(waiting_for));
            }
            let creadr = frame.read(GITS_CREADR);
            wait.count();
            self.stats.polls += 1;
            self.read =
                (creadr.read(GITS_CREADR::Offset) as usize * COMMAND_SIZE) % self.ring.size();
            if creadr.is_set(GITS_CREADR::Stalled) {
                return Err(ItsError::CommandStalled {
                    command: self.command_at(self.read),
                    offset: self.read,
                });
            }
            core::hint::spin_loop();
        }
    }

    /// Decodes the command in the slot at `offset`.
    pub(crate) fn command_at(&self, offset: usize) -> Option<ItsCommand> {
        let mut words = [0; 4];
        for (index, word) in words.iter_mut().enumerate() {
            *word = self.ring.read_u64(offset + index * 8)?;
        }
        ItsCommand::decode(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ptr::NonNull;
    use std::alloc::{Layout, alloc_zeroed, dealloc};

    /// 257 pages of 4 KiB aligned memory, given back on drop.
    struct Pages(NonNull<u8>);

    const LAYOUT: Layout = match Layout::from_size_align(257 * PAGE, PAGE) {
        Ok(layout) => layout,
        Err(_) => panic!("a valid layout"),
    };

    impl Pages {
        fn new() -> Self {
            // SAFETY: a non-zero size.
            Self(NonNull::new(unsafe { alloc_zeroed(LAYOUT) }).expect("memory"))
        }

        /// A region of `size` bytes at `offset` of the pages, at `phys`.
        fn region(&self, offset: usize, phys: u64, size: usize) -> DmaRegion {
            assert!(offset + size <= LAYOUT.size());
            // SAFETY: inside the pages, which outlive the region in each
            // test, used through the region only.
            unsafe { DmaRegion::new(self.0.add(offset), phys, size) }
        }
    }

    impl Drop for Pages {
        fn drop(&mut self) {
            // SAFETY: allocated in `new` with the same layout.
            unsafe { dealloc(self.0.as_ptr(), LAYOUT) }
        }
    }

    const ATTRIBUTES: MemoryAttributes = MemoryAttributes::InnerShareableWriteBack;

    #[test]
    fn a_ring_is_exactly_what_cbaser_encodes() {
        let pages = Pages::new();
        for (offset, phys, size) in [
            (0, 0x4000_0000, PAGE),
            (0, 0x4000_1000, 256 * PAGE),
            (PAGE, 0x4000_0000, 16 * PAGE),
        ] {
            let queue = CommandQueue::new(pages.region(offset, phys, size), ATTRIBUTES);
            assert!(queue.is_ok(), "{size:#x} bytes at {phys:#x}");
        }
        for (offset, phys, size, why) in [
            (0, 0x4000_0000, 0, "no page"),
            (0, 0x4000_0000, PAGE + 32, "not whole pages"),
            (0, 0x4000_0000, 257 * PAGE, "more than 256 pages"),
            (0, 0x4000_0800, PAGE, "physical address not 4 KiB aligned"),
            (0, 1 << 52, PAGE, "beyond 52 bits"),
            (8, 0x4000_0000, PAGE, "virtual address not 4 KiB aligned"),
        ] {
            let region = pages.region(offset, phys, size);
            let given_back = CommandQueue::new(region, ATTRIBUTES).expect_err(why);
            assert_eq!(
                (given_back.phys(), given_back.size()),
                (phys, size),
                "{why}"
            );
        }
    }
}
