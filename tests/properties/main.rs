//! Property tests: random sequences of map, unmap, move, save, restore,
//! resets, CPUs going offline and injected faults, on random model
//! configurations, with one ITS (`one_its`) and with two sharing one LPI
//! domain (`two_its`). After every step the model's tables must translate
//! exactly what the registry says (nothing at all while saved), and the
//! model must have seen no spec violation. `garbage` boots on whatever
//! state a previous owner could leave.
//!
//! `PROPTEST_CASES=N` sets the number of cases of the two-ITS test and the
//! previous-owner test (`garbage`): 64 by default; the README records a
//! release run of 10,000 of each.

#[path = "../support/mod.rs"]
mod support;

mod garbage;
mod one_its;
mod ops;
mod two_its;

/// Cases of the tests that take `PROPTEST_CASES` (the README records the
/// release runs), 64 otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}
