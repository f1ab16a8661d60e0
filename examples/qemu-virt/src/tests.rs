//! On-target tests, run with `test` on the kernel command line.

use crate::Kernel;

/// Runs every test; returns the number that failed.
pub fn run(_kernel: Kernel) -> usize {
    0
}
