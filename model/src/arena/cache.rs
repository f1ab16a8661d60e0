//! The CPU's caches over memory a GIC that does not snoop also writes
//! ([`Coherency::NonCoherent`](crate::Coherency::NonCoherent)): a line the
//! CPU holds clean may be refilled from memory at any time (speculation),
//! after which it goes stale the moment the GIC writes memory behind it. A
//! hibernation image is read through the CPU's caches: it holds such stale
//! lines, and a resumed kernel puts them back in memory.
//!
//! The model keeps, line by line, what the CPU's view last had in common
//! with memory (at allocation: nothing; at each clean: the CPU's bytes). A
//! line whose CPU bytes still equal that is clean, and a refill replaces it
//! with memory's (the GIC view); one the CPU wrote since is dirty and stays.

use super::{Arena, LINE};
use core::ptr::copy_nonoverlapping;

impl Arena {
    /// Refills every clean line of every live allocation from memory, as
    /// speculative reads may. Only on a GIC where neither the ITSes nor the
    /// redistributors snoop (where the ITSes alone do not, the CPU's view
    /// is also what the redistributors wrote: nothing to refill from).
    pub(crate) fn refill_clean_lines(&mut self) {
        let Some(synced) = self.synced.filter(|_| self.rd_view == self.gic) else {
            return;
        };
        let live: Vec<(usize, usize)> = self
            .live
            .iter()
            .map(|(&offset, &(_, rounded, _))| (offset, rounded))
            .collect();
        for (offset, rounded) in live {
            for line in (offset..offset + rounded).step_by(LINE) {
                // SAFETY: the line is inside a live allocation, inside every
                // block; raw pointers only, to distinct blocks.
                unsafe {
                    let cpu = self.cpu.as_ptr().add(line);
                    let common = synced.as_ptr().add(line);
                    let clean = (0..LINE).all(|i| cpu.add(i).read() == common.add(i).read());
                    if clean {
                        copy_nonoverlapping(self.gic.as_ptr().add(line), cpu, LINE);
                        copy_nonoverlapping(self.gic.as_ptr().add(line), common, LINE);
                    }
                }
            }
        }
    }

    /// Every byte as the CPU reads it: what a hibernation image holds.
    pub(crate) fn cpu_image(&self) -> Vec<u8> {
        let mut image = vec![0; self.layout.size()];
        // SAFETY: the CPU's block is `layout.size()` bytes; `image` is not
        // part of it.
        unsafe { copy_nonoverlapping(self.cpu.as_ptr(), image.as_mut_ptr(), image.len()) };
        image
    }

    /// Puts an image back, as a resumed kernel does before it cleans all
    /// of memory to the Point of Coherency: every view holds it.
    pub(crate) fn restore_image(&mut self, image: &[u8]) {
        let len = image.len().min(self.layout.size());
        for block in [Some(self.cpu), Some(self.gic), self.synced]
            .into_iter()
            .flatten()
        {
            // SAFETY: `len` bytes fit every block; `image` is none of them.
            unsafe { copy_nonoverlapping(image.as_ptr(), block.as_ptr(), len) };
        }
    }
}
