//! The LPI INTID allocator: a bitmap over the domain's LPIs, next fit from
//! a hint, so that sequential allocation is O(1) and an INTID is never
//! handed out twice.

use crate::error::{Bookkeeping, ItsError};
use crate::id::IntId;
use crate::store::Slots;

/// The first LPI INTID, as a number ([`IntId::FIRST_LPI`]).
const FIRST_LPI: u32 = IntId::FIRST_LPI.0;

/// Hands out LPI INTIDs from `FIRST_LPI` to `2^id_bits - 1`, never one twice.
#[derive(Debug)]
pub(crate) struct LpiAllocator {
    /// One bit per LPI, set when allocated.
    used: Slots<u64>,
    count: u32,
    /// Where the next search starts, so sequential allocation is O(1).
    hint: u32,
}

impl LpiAllocator {
    /// An allocator for every LPI below `2^id_bits` (14 to 31 bits; the
    /// domain checks), its bitmap in `room` (or on the heap).
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`] if the bitmap
    /// does not fit.
    pub(super) fn new(id_bits: u32) -> Result<Self, ItsError> {
        Self::in_room(id_bits, Slots::empty(Bookkeeping::LpiBitmap))
    }

    /// As [`LpiAllocator::new`], its bitmap in `room`.
    pub(super) fn in_room(id_bits: u32, room: Slots<u64>) -> Result<Self, ItsError> {
        let mut allocator = Self {
            used: room,
            count: 0,
            hint: 0,
        };
        allocator.reserve_for(id_bits)?;
        allocator.reset(id_bits);
        Ok(allocator)
    }

    /// LPIs below `2^id_bits`.
    fn lpis(id_bits: u32) -> u32 {
        (1u32 << id_bits.min(31)).saturating_sub(FIRST_LPI)
    }

    /// Makes room for the bitmap of `id_bits`, so that
    /// [`LpiAllocator::reset`] to them cannot fail.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] or [`ItsError::StorageFull`].
    pub(super) fn reserve_for(&mut self, id_bits: u32) -> Result<(), ItsError> {
        let words = Self::lpis(id_bits).div_ceil(64) as usize;
        self.used.reserve(words.saturating_sub(self.used.len()))
    }

    /// Frees every LPI and covers those below `2^id_bits`, in the room
    /// [`LpiAllocator::reserve_for`] made (none are covered without it).
    pub(super) fn reset(&mut self, id_bits: u32) {
        let count = Self::lpis(id_bits);
        self.count = if self.used.reset(count.div_ceil(64) as usize) {
            count
        } else {
            0
        };
        self.hint = 0;
    }

    fn index(&self, intid: IntId) -> Result<u32, ItsError> {
        intid
            .0
            .checked_sub(FIRST_LPI)
            .filter(|index| *index < self.count)
            .ok_or(ItsError::LpiOutOfRange { intid })
    }

    fn is_used(&self, index: u32) -> bool {
        self.used
            .used()
            .get(index as usize / 64)
            .is_some_and(|word| word & (1 << (index % 64)) != 0)
    }

    fn set(&mut self, index: u32, used: bool) {
        let Some(word) = self.used.used_mut().get_mut(index as usize / 64) else {
            return;
        };
        if used {
            *word |= 1 << (index % 64);
        } else {
            *word &= !(1 << (index % 64));
        }
    }

    /// Whether `intid` is allocated.
    pub(super) fn is_allocated(&self, intid: IntId) -> bool {
        self.index(intid).is_ok_and(|index| self.is_used(index))
    }

    /// Allocates `count` consecutive LPIs and returns the first INTID.
    pub(super) fn allocate(&mut self, count: u32) -> Result<IntId, ItsError> {
        let exhausted = ItsError::LpiSpaceExhausted { requested: count };
        if count == 0 || count > self.count {
            return Err(exhausted);
        }
        // Next fit from the hint, wrapping once.
        let mut start = if self.hint + count <= self.count {
            self.hint
        } else {
            0
        };
        let mut wrapped = false;
        loop {
            match (start..start + count).find(|index| self.is_used(*index)) {
                None => break,
                Some(used) => start = used + 1,
            }
            if start + count > self.count {
                if wrapped {
                    return Err(exhausted);
                }
                wrapped = true;
                start = 0;
            }
        }
        for index in start..start + count {
            self.set(index, true);
        }
        self.hint = (start + count) % self.count;
        Ok(IntId(FIRST_LPI + start))
    }

    /// Marks a specific LPI allocated, for a caller that chooses its INTIDs.
    pub(super) fn reserve(&mut self, intid: IntId) -> Result<(), ItsError> {
        let index = self.index(intid)?;
        if self.is_used(index) {
            return Err(ItsError::LpiInUse { intid });
        }
        self.set(index, true);
        Ok(())
    }

    /// Frees one LPI. Freeing a free LPI is a no-op.
    pub(super) fn free(&mut self, intid: IntId) {
        if let Ok(index) = self.index(intid) {
            self.set(index, false);
        }
    }

    /// Number of LPIs allocated.
    pub(super) fn allocated(&self) -> u32 {
        self.used.used().iter().map(|word| word.count_ones()).sum()
    }

    /// Calls `f(first, count)` for each run of free LPIs, in order.
    pub(super) fn for_each_free_run(&self, mut f: impl FnMut(IntId, u32)) {
        let mut run: Option<(u32, u32)> = None;
        let mut flush = |run: &mut Option<(u32, u32)>| {
            if let Some((start, len)) = run.take() {
                f(IntId(FIRST_LPI + start), len);
            }
        };
        // `count` is 2^id_bits - 8192: a whole number of 64-bit words, so
        // every bit of every word is an LPI.
        for (word_index, &word) in self.used.used().iter().enumerate() {
            let base = word_index as u32 * 64;
            if word == 0 {
                match &mut run {
                    Some((_, len)) => *len += 64,
                    None => run = Some((base, 64)),
                }
                continue;
            }
            if word == u64::MAX {
                flush(&mut run);
                continue;
            }
            for bit in 0..64 {
                if word & (1 << bit) != 0 {
                    flush(&mut run);
                } else {
                    match &mut run {
                        Some((_, len)) => *len += 1,
                        None => run = Some((base + bit, 1)),
                    }
                }
            }
        }
        flush(&mut run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocates_every_lpi_once_then_reports_exhaustion() {
        let mut lpis = LpiAllocator::new(14).unwrap();
        assert_eq!(lpis.count, 8192);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..8192 {
            let intid = lpis.allocate(1).unwrap();
            assert!((FIRST_LPI..16384).contains(&intid.0));
            assert!(seen.insert(intid), "LPI {intid} handed out twice");
        }
        assert_eq!(
            lpis.allocate(1),
            Err(ItsError::LpiSpaceExhausted { requested: 1 })
        );
        lpis.free(IntId(9000));
        assert_eq!(lpis.allocate(1), Ok(IntId(9000)));
    }

    #[test]
    fn ranges_are_contiguous_and_skip_used_lpis() {
        let mut lpis = LpiAllocator::new(14).unwrap();
        lpis.reserve(IntId(FIRST_LPI + 2)).unwrap();
        let first = lpis.allocate(4).unwrap();
        assert!(first.0 > FIRST_LPI + 2);
        for intid in first.0..first.0 + 4 {
            assert!(lpis.is_allocated(IntId(intid)));
        }
        assert_eq!(
            lpis.reserve(first),
            Err(ItsError::LpiInUse { intid: first })
        );
        assert_eq!(
            lpis.reserve(IntId(100)),
            Err(ItsError::LpiOutOfRange { intid: IntId(100) })
        );
        // 2^14 is the first INTID beyond 14 bits.
        assert_eq!(
            lpis.reserve(IntId(16384)),
            Err(ItsError::LpiOutOfRange {
                intid: IntId(16384)
            })
        );
        assert!(!lpis.is_allocated(IntId(16384)));
        lpis.free(IntId(16384));
        assert_eq!(lpis.allocated(), 5);
        // Wraps around to find room before the hint once the end is full.
        let mut small = LpiAllocator::new(14).unwrap();
        let a = small.allocate(8000).unwrap();
        small.allocate(192).unwrap();
        for intid in a.0..a.0 + 50 {
            small.free(IntId(intid));
        }
        assert_eq!(small.allocate(50), Ok(a));
        assert_eq!(
            small.allocate(200),
            Err(ItsError::LpiSpaceExhausted { requested: 200 })
        );
    }

    #[test]
    fn a_request_is_one_lpi_to_all_of_them() {
        let exhausted = |requested| Err(ItsError::LpiSpaceExhausted { requested });
        let mut lpis = LpiAllocator::new(14).unwrap();
        assert_eq!(lpis.allocate(0), exhausted(0));
        assert_eq!(lpis.allocate(8193), exhausted(8193));
        assert_eq!(lpis.allocated(), 0);
        assert_eq!(lpis.allocate(8192), Ok(IntId(8192)));
        assert!(lpis.is_allocated(IntId(16383)));
        // The rest of the space after the first LPI, up to the last one.
        let mut lpis = LpiAllocator::new(14).unwrap();
        assert!(!lpis.is_allocated(IntId(8192)));
        lpis.reserve(IntId(8192)).unwrap();
        assert!(lpis.is_allocated(IntId(8192)));
        assert_eq!(lpis.allocate(8191), Ok(IntId(8193)));
        lpis.free(IntId(8192));
        assert!(!lpis.is_allocated(IntId(8192)));
    }

    #[test]
    fn allocation_is_next_fit_so_a_freed_lpi_is_not_handed_out_at_once() {
        // An LPI just freed may still be pending somewhere on its way out;
        // the next allocation starts where the last one ended.
        let mut lpis = LpiAllocator::new(14).unwrap();
        let first = lpis.allocate(1).unwrap();
        lpis.free(first);
        assert_eq!(lpis.allocate(1), Ok(IntId(first.0 + 1)));
        // Far into the space, a request of two still starts at the hint.
        let mut lpis = LpiAllocator::new(14).unwrap();
        let block = lpis.allocate(5000).unwrap();
        for intid in block.0..block.0 + 5000 {
            lpis.free(IntId(intid));
        }
        assert_eq!(lpis.allocate(2), Ok(IntId(8192 + 5000)));
    }

    #[test]
    fn free_runs_cover_exactly_the_free_lpis() {
        let mut lpis = LpiAllocator::new(14).unwrap();
        let runs = |lpis: &LpiAllocator| {
            let mut runs = std::vec::Vec::new();
            lpis.for_each_free_run(|first, count| runs.push((first.0, count)));
            runs
        };
        assert_eq!(runs(&lpis), [(8192, 8192)]);
        lpis.reserve(IntId(8192 + 63)).unwrap();
        lpis.reserve(IntId(8192 + 64)).unwrap();
        lpis.reserve(IntId(16383)).unwrap();
        assert_eq!(runs(&lpis), [(8192, 63), (8192 + 65, 8192 - 66)],);
        let mut full = LpiAllocator::new(14).unwrap();
        full.allocate(8192).unwrap();
        assert_eq!(runs(&full), []);
    }
}
