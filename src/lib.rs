//! Driver for the Arm GICv3 Interrupt Translation Service (ITS).
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod command;
pub mod error;
pub mod its;
pub mod lpi;
pub mod memory;
pub mod mmio;
pub mod queue;
pub mod registers;
pub mod registry;
pub mod suspend;
pub mod tables;

pub use command::{ItsCommand, RdBase};
pub use error::{ItsError, WaitFor};
pub use its::{Its, ItsConfig, ItsFeatures, ItsState, MemoryUse};
pub use memory::{DmaMemory, DmaRegion, MemoryAttributes};
pub use queue::QueueStats;
pub use registers::{GicrLpiFrame, GicrMmio, GitsFrame, GitsMmio};
