//! Property tests: random sequences of map, unmap, move, save, restore,
//! resets, CPUs going offline and injected faults, on random model
//! configurations, with one ITS (`one_its`) and with two sharing one LPI
//! domain (`two_its`). After every step the model's tables must translate
//! exactly what the registry says (nothing at all while saved), and the
//! model must have seen no spec violation.
//!
//! `PROPTEST_CASES=N` sets the number of cases of the two-ITS test (64 by
//! default; the README records a release run of 10,000).

#[path = "../support/mod.rs"]
mod support;

mod garbage;
mod one_its;
mod ops;
mod two_its;
