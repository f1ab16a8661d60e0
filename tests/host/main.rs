//! The driver against the software ITS model (`gicv3-its-model`), one test
//! binary with a module per concern. Every test judges by what the model's
//! tables hold, what it translates and delivers, and the violations it
//! recorded, not by what the driver believes.
//!
//! One binary rather than one per file: each test binary compiles the
//! driver's generic code again, and mutation testing (.cargo/mutants.toml)
//! builds them all for every mutant. The property tests, the counting
//! allocator of `bench_counts`, the global logger of `log_lines` and the
//! hand-computed command encodings keep binaries of their own.

#[path = "../support/mod.rs"]
mod support;

mod addresses;
mod bad_input;
mod coherency;
mod gicv4;
mod kvm;
mod lpi_cache;
mod lpi_tables;
mod mapping;
mod pending_tables;
mod previous_owner;
mod probe;
mod queue;
mod quirks;
mod save_restore;
mod shared_memory;
mod storage;
mod two_its;
mod waits;
