//! The stores on their own: order, room, and what a full one says.

use super::*;
use std::boxed::Box;
use std::vec::Vec;

/// Fixed room of `n` slots, for a test.
pub(super) fn room<E: Default>(n: usize) -> &'static mut [E] {
    Box::leak(
        (0..n)
            .map(|_| E::default())
            .collect::<Vec<_>>()
            .into_boxed_slice(),
    )
}

fn keys(map: &Map<u32, u32>) -> Vec<u32> {
    map.iter().map(|(key, _)| key).collect()
}

#[test]
fn a_map_keeps_its_entries_sorted_and_each_key_once() {
    let mut map = Map::fixed(Bookkeeping::Devices, room(4));
    for key in [30, 10, 20] {
        map.insert(key, key + 1).unwrap();
    }
    map.insert(20, 99).unwrap();
    assert_eq!(keys(&map), [10, 20, 30]);
    assert_eq!(map.len(), 3);
    assert_eq!(map.get(20), Some(&99));
    assert_eq!(map.get(25), None);
    assert!(map.contains(30) && !map.contains(31));
    assert_eq!(
        (map.rank(5), map.rank(20), map.rank(25), map.rank(40)),
        (0, 1, 2, 3)
    );
    let from = |map: &Map<u32, u32>, at| map.iter_from(at).map(|(key, _)| key).collect::<Vec<_>>();
    assert_eq!(
        (from(&map, 1), from(&map, 3), from(&map, 9)),
        (vec![20, 30], vec![], vec![])
    );
    for (_, value) in map.iter_mut_from(2) {
        *value += 100;
    }
    assert_eq!(map.get(30), Some(&131));
    assert_eq!(map.iter_mut_from(4).count(), 0);
    *map.get_mut(30).unwrap() = 31;
    *map.get_mut(10).unwrap() = 7;
    assert_eq!(map.values().copied().collect::<Vec<_>>(), [7, 99, 31]);
    assert_eq!(std::format!("{map:?}"), "{10: 7, 20: 99, 30: 31}");
    assert_eq!(map.remove(20), Some(99));
    assert_eq!(map.remove(20), None);
    assert_eq!(keys(&map), [10, 30]);
    for (_, value) in map.iter_mut() {
        *value += 1;
    }
    let mut drained = Vec::new();
    map.drain(|key, value| drained.push((key, value)));
    assert_eq!(drained, [(10, 8), (30, 32)]);
    assert_eq!(map.len(), 0);
    assert_eq!(map.reserve_one(), Ok(()));
    map.insert(5, 5).unwrap();
    assert_eq!(keys(&map), [5], "the room is whole again");
}

#[test]
fn a_full_fixed_map_refuses_a_new_key_and_changes_nothing() {
    let mut map = Map::fixed(Bookkeeping::Collections, room(2));
    map.insert(1, 1).unwrap();
    map.insert(2, 2).unwrap();
    let full = Err(ItsError::StorageFull {
        store: Bookkeeping::Collections,
        capacity: 2,
    });
    assert_eq!(map.insert(0, 0), full);
    assert_eq!(map.reserve_one(), full);
    assert_eq!(map.reserve_for(3), full);
    assert_eq!(keys(&map), [1, 2]);
    // A key it holds needs no room.
    assert_eq!(map.reserve_for(2), Ok(()));
    map.insert(2, 20).unwrap();
    assert_eq!(map.get(2), Some(&20));
    assert_eq!(map.heap_bytes(), 0);
}

#[test]
fn slots_insert_and_remove_runs_in_place() {
    let mut slots: Slots<u32> = Slots::fixed(Bookkeeping::Events, room(8));
    slots.reserve(3).unwrap();
    assert!(slots.insert(0, 3));
    slots.used_mut().copy_from_slice(&[1, 2, 3]);
    assert!(slots.insert(1, 2), "two defaults after the first");
    assert_eq!(slots.used(), [1, 0, 0, 2, 3]);
    assert_eq!(std::format!("{slots:?}"), "[1, 0, 0, 2, 3]");
    assert!(!slots.insert(6, 1), "beyond the end");
    assert!(!slots.insert(0, 4), "beyond the room");
    slots.remove(1, 2);
    assert_eq!(slots.used(), [1, 2, 3]);
    slots.remove(2, 5);
    assert_eq!(slots.used(), [1, 2], "a run past the end stops at it");
    slots.remove(7, 1);
    assert_eq!(slots.len(), 2);
    // What was removed is default again: inserting brings back zeros.
    assert!(slots.insert(2, 6));
    assert_eq!(slots.used(), [1, 2, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        slots.reserve(1),
        Err(ItsError::StorageFull {
            store: Bookkeeping::Events,
            capacity: 8
        })
    );
}

#[test]
fn reset_makes_a_run_of_defaults_if_it_fits() {
    let mut slots: Slots<u64> = Slots::fixed(Bookkeeping::LpiBitmap, room(4));
    assert!(slots.reset(4));
    slots.used_mut()[3] = 9;
    assert!(slots.reset(2));
    assert_eq!(slots.used(), [0, 0]);
    assert!(slots.insert(2, 2));
    assert_eq!(slots.used(), [0, 0, 0, 0], "no value left beyond the run");
    assert!(!slots.reset(5));
    assert_eq!(slots.len(), 0);
}

#[test]
fn moving_to_fixed_room_keeps_the_values_or_refuses() {
    let mut map = Map::empty(Bookkeeping::Devices);
    for key in 0..5u32 {
        map.insert(key, key * 10).unwrap();
    }
    assert_eq!(
        map.move_to(room(4)),
        Err(ItsError::StorageFull {
            store: Bookkeeping::Devices,
            capacity: 4
        })
    );
    assert_eq!(keys(&map), [0, 1, 2, 3, 4]);
    map.move_to(room(6)).unwrap();
    assert_eq!(keys(&map), [0, 1, 2, 3, 4]);
    assert_eq!(map.get(3), Some(&30));
    assert_eq!(map.heap_bytes(), 0);
    map.insert(9, 90).unwrap();
    assert!(map.insert(10, 100).is_err(), "fixed at six");
}

#[cfg(feature = "alloc")]
#[test]
fn a_heap_run_grows_by_a_quarter_and_shrinks_when_half_empty() {
    let size = core::mem::size_of::<u64>();
    let mut slots: Slots<u64> = Slots::heap(Bookkeeping::Events);
    slots.reserve(1).unwrap();
    assert_eq!(slots.heap_bytes(), size);
    slots.insert(0, 1);
    for _ in 1..100 {
        slots.reserve(1).unwrap();
        slots.insert(slots.len(), 1);
    }
    let held = slots.heap_bytes() / size;
    assert!((100..=125).contains(&held), "{held} slots for 100");
    // A reserve of many grows by what is needed.
    slots.reserve(1000).unwrap();
    assert!(slots.heap_bytes() / size >= 1100);
    slots.remove(0, 60);
    assert_eq!(slots.len(), 40);
    assert_eq!(slots.heap_bytes() / size, 50, "a quarter spare");
    slots.remove(0, 10);
    assert_eq!(slots.heap_bytes() / size, 50, "not below half");
    // Cleared, a run keeps its room, for what reserved it.
    slots.clear();
    assert_eq!((slots.len(), slots.heap_bytes() / size), (0, 50));
    assert!(slots.insert(0, 50));
    assert_eq!(slots.used(), [0; 50], "nothing left of the values cleared");
    // A map drained keeps its room too.
    let mut map = Map::empty(Bookkeeping::Redistributors);
    for key in 0..8u32 {
        map.insert(key, key).unwrap();
    }
    let held = map.heap_bytes();
    map.drain(|_, _| {});
    assert_eq!((map.len(), map.heap_bytes()), (0, held));
}
