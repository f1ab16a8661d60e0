//! Where the driver keeps its bookkeeping: on the heap with the `alloc`
//! feature, in room the caller gives ([`crate::ItsStorage`],
//! [`crate::DomainStorage`]) without it, and in either way behind one
//! interface, so that every operation has one code path and a store that
//! cannot grow fails with [`ItsError::StorageFull`].
//!
//! [`Slots`] is a run of values with room behind it; [`Map`] keeps keyed
//! entries sorted in [`Slots`], which a binary search finds and a walk
//! visits in key order.

use crate::error::{Bookkeeping, ItsError};
#[cfg(feature = "alloc")]
use alloc::vec::Vec;

/// Where the values lie.
enum Backing<E: 'static> {
    /// A vector whose length is the room (every element initialised).
    #[cfg(feature = "alloc")]
    Heap(Vec<E>),
    /// Room the caller gave, never grown.
    Fixed(&'static mut [E]),
}

/// Values `[0, len)` in use, in room that grows on the heap or is fixed.
/// Every value beyond `len` is `E::default()`, so that making room is a
/// rotation and never a construction.
pub(crate) struct Slots<E: 'static> {
    backing: Backing<E>,
    len: usize,
    /// What the values are, for [`ItsError::StorageFull`].
    what: Bookkeeping,
}

impl<E: Default> Slots<E> {
    /// An empty run that grows on the heap.
    #[cfg(feature = "alloc")]
    pub(crate) fn heap(what: Bookkeeping) -> Self {
        Self {
            backing: Backing::Heap(Vec::new()),
            len: 0,
            what,
        }
    }

    /// An empty run in room that does not grow: `room` (whose values are
    /// reset to the default), or none.
    pub(crate) fn fixed(what: Bookkeeping, room: &'static mut [E]) -> Self {
        room.fill_with(E::default);
        Self {
            backing: Backing::Fixed(room),
            len: 0,
            what,
        }
    }

    /// An empty run: on the heap with `alloc`, with no room without it
    /// (until [`Slots::move_to`] gives some).
    pub(crate) fn empty(what: Bookkeeping) -> Self {
        #[cfg(feature = "alloc")]
        return Self::heap(what);
        #[cfg(all(not(feature = "alloc"), not(test)))]
        return Self::fixed(what, &mut []);
        // The unit tests without `alloc`: fixed room, as a caller's
        // storage gives, large enough for any of them.
        #[cfg(all(not(feature = "alloc"), test))]
        return Self::fixed(what, tests::room(4096));
    }

    fn room(&self) -> &[E] {
        match &self.backing {
            #[cfg(feature = "alloc")]
            Backing::Heap(vec) => vec,
            Backing::Fixed(room) => room,
        }
    }

    fn room_mut(&mut self) -> &mut [E] {
        match &mut self.backing {
            #[cfg(feature = "alloc")]
            Backing::Heap(vec) => vec,
            Backing::Fixed(room) => room,
        }
    }

    /// The values in use.
    pub(crate) fn used(&self) -> &[E] {
        &self.room()[..self.len]
    }

    /// The values in use, to change.
    pub(crate) fn used_mut(&mut self) -> &mut [E] {
        let len = self.len;
        &mut self.room_mut()[..len]
    }

    /// Number of values in use.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Makes room for `more` values, so that the next [`Slots::insert`]s of
    /// that many cannot fail: a heap grows by a quarter (or by what is
    /// needed, if more), not doubling.
    ///
    /// # Errors
    /// [`ItsError::OutOfMemory`] if the heap refuses, with the bytes asked
    /// for; [`ItsError::StorageFull`] if the room is fixed and too small.
    pub(crate) fn reserve(&mut self, more: usize) -> Result<(), ItsError> {
        let room = self.room().len();
        let needed = self.len.saturating_add(more);
        if needed <= room {
            return Ok(());
        }
        match &mut self.backing {
            #[cfg(feature = "alloc")]
            Backing::Heap(vec) => {
                let grow = (needed - room).max(self.len / 4);
                vec.try_reserve_exact(grow)
                    .map_err(|_| ItsError::OutOfMemory {
                        size: grow.saturating_mul(core::mem::size_of::<E>()),
                    })?;
                vec.resize_with(room + grow, E::default);
                Ok(())
            }
            Backing::Fixed(_) => Err(ItsError::StorageFull {
                store: self.what,
                capacity: room,
            }),
        }
    }

    /// Inserts `count` default values at `at`, moving those after it up,
    /// if there is room ([`Slots::reserve`]); returns whether it did.
    pub(crate) fn insert(&mut self, at: usize, count: usize) -> bool {
        let end = self.len + count;
        if at > self.len || end > self.room().len() {
            return false;
        }
        self.room_mut()[at..end].rotate_right(count);
        self.len = end;
        true
    }

    /// Removes the `count` values at `at`, moving those after them down;
    /// a heap with more than twice the room it uses shrinks to a quarter
    /// spare.
    pub(crate) fn remove(&mut self, at: usize, count: usize) {
        let len = self.len;
        let Some(gone) = self
            .room_mut()
            .get_mut(at..at.saturating_add(count).min(len))
        else {
            return;
        };
        let count = gone.len();
        gone.fill_with(E::default);
        self.room_mut()[at..len].rotate_left(count);
        self.len -= count;
        #[cfg(feature = "alloc")]
        if let Backing::Heap(vec) = &mut self.backing
            && vec.len() > 2 * self.len
        {
            vec.truncate(self.len + self.len / 4);
            vec.shrink_to_fit();
        }
    }

    /// Sets every value in use back to the default and uses none, keeping
    /// the room.
    pub(crate) fn clear(&mut self) {
        self.used_mut().fill_with(E::default);
        self.len = 0;
    }

    /// Makes the first `len` values, all default, the ones in use, if
    /// there is room for them ([`Slots::reserve`]); returns whether there
    /// was (none are in use if not).
    pub(crate) fn reset(&mut self, len: usize) -> bool {
        self.room_mut().fill_with(E::default);
        let fits = len <= self.room().len();
        self.len = if fits { len } else { 0 };
        fits
    }

    /// Moves the values in use into `room`, which becomes the run's fixed
    /// room from now on.
    ///
    /// # Errors
    /// [`ItsError::StorageFull`] if `room` cannot hold the values in use
    /// (nothing moves).
    pub(crate) fn move_to(&mut self, room: &'static mut [E]) -> Result<(), ItsError> {
        if room.len() < self.len {
            return Err(ItsError::StorageFull {
                store: self.what,
                capacity: room.len(),
            });
        }
        room.fill_with(E::default);
        for (to, from) in room.iter_mut().zip(self.used_mut()) {
            *to = core::mem::take(from);
        }
        self.backing = Backing::Fixed(room);
        Ok(())
    }

    /// Bytes of heap held: none for fixed room.
    pub(crate) fn heap_bytes(&self) -> usize {
        match &self.backing {
            #[cfg(feature = "alloc")]
            Backing::Heap(vec) => vec.capacity() * core::mem::size_of::<E>(),
            Backing::Fixed(_) => 0,
        }
    }
}

impl<E: core::fmt::Debug + Default> core::fmt::Debug for Slots<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.used()).finish()
    }
}

/// Entries sorted by key, each key once.
pub(crate) struct Map<K: 'static, V: 'static> {
    slots: Slots<Option<(K, V)>>,
}

impl<K: Ord + Copy, V> Map<K, V> {
    /// An empty map: on the heap with `alloc`, with no room without it.
    pub(crate) fn empty(what: Bookkeeping) -> Self {
        Self {
            slots: Slots::empty(what),
        }
    }

    /// An empty map in `room`, which does not grow.
    pub(crate) fn fixed(what: Bookkeeping, room: &'static mut [Option<(K, V)>]) -> Self {
        Self {
            slots: Slots::fixed(what, room),
        }
    }

    /// Where `key` is (`Ok`), or would be inserted (`Err`).
    fn position(&self, key: K) -> Result<usize, usize> {
        self.slots.used().binary_search_by(|slot| match slot {
            Some((other, _)) => other.cmp(&key),
            None => core::cmp::Ordering::Less,
        })
    }

    /// Where `key` is, or would be: the entries before it have smaller keys.
    pub(crate) fn rank(&self, key: K) -> usize {
        self.position(key).unwrap_or_else(|at| at)
    }

    pub(crate) fn get(&self, key: K) -> Option<&V> {
        let (_, value) = self.slots.used()[self.position(key).ok()?].as_ref()?;
        Some(value)
    }

    pub(crate) fn get_mut(&mut self, key: K) -> Option<&mut V> {
        let at = self.position(key).ok()?;
        let (_, value) = self.slots.used_mut()[at].as_mut()?;
        Some(value)
    }

    pub(crate) fn contains(&self, key: K) -> bool {
        self.position(key).is_ok()
    }

    /// Makes room for `key`, unless it has an entry: the next
    /// [`Map::insert`] of it cannot fail.
    ///
    /// # Errors
    /// As [`Slots::reserve`].
    pub(crate) fn reserve_for(&mut self, key: K) -> Result<(), ItsError> {
        if self.contains(key) {
            return Ok(());
        }
        self.reserve_one()
    }

    /// Makes room for one more entry, so that the next
    /// [`Map::insert`] of a new key cannot fail ([`Slots::reserve`]).
    pub(crate) fn reserve_one(&mut self) -> Result<(), ItsError> {
        self.slots.reserve(1)
    }

    /// Sets `key`'s value, making room for a new key first.
    ///
    /// # Errors
    /// As [`Slots::reserve`], for a new key; nothing changes.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Result<(), ItsError> {
        match self.position(key) {
            Ok(at) => self.slots.used_mut()[at] = Some((key, value)),
            Err(at) => {
                self.slots.reserve(1)?;
                self.slots.insert(at, 1);
                self.slots.used_mut()[at] = Some((key, value));
            }
        }
        Ok(())
    }

    /// Removes `key`'s entry.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        let at = self.position(key).ok()?;
        let (_, value) = self.slots.used_mut()[at].take()?;
        self.slots.remove(at, 1);
        Some(value)
    }

    /// Removes every entry, giving each to `f` in key order. The room
    /// stays: what reserved room before (a caller about to put entries
    /// back, as adopting tables does) keeps it.
    pub(crate) fn drain(&mut self, mut f: impl FnMut(K, V)) {
        for (key, value) in self.slots.used_mut().iter_mut().filter_map(Option::take) {
            f(key, value);
        }
        self.slots.clear();
    }

    /// Every entry, in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.iter_from(0)
    }

    /// The entries from the `at`-th on ([`Map::rank`]), in key order.
    pub(crate) fn iter_from(&self, at: usize) -> impl Iterator<Item = (K, &V)> {
        let slots = self.slots.used().get(at..).unwrap_or_default();
        slots.iter().flatten().map(|(key, value)| (*key, value))
    }

    /// Every entry, in key order, the values to change.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (K, &mut V)> {
        self.iter_mut_from(0)
    }

    /// The entries from the `at`-th on, in key order, the values to change.
    pub(crate) fn iter_mut_from(&mut self, at: usize) -> impl Iterator<Item = (K, &mut V)> {
        let slots = self.slots.used_mut().get_mut(at..).unwrap_or_default();
        slots.iter_mut().flatten().map(|(key, value)| (*key, value))
    }

    /// Every value, in key order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, value)| value)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Moves the entries into `room` ([`Slots::move_to`]).
    pub(crate) fn move_to(&mut self, room: &'static mut [Option<(K, V)>]) -> Result<(), ItsError> {
        self.slots.move_to(room)
    }

    /// Bytes of heap held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.heap_bytes()
    }
}

impl<K: core::fmt::Debug, V: core::fmt::Debug> core::fmt::Debug for Map<K, V> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_map()
            .entries(self.slots.used().iter().flatten().map(|(k, v)| (k, v)))
            .finish()
    }
}

#[cfg(test)]
mod tests;
