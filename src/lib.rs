//! Driver for the Arm GICv3 Interrupt Translation Service (ITS), with save and
//! restore hooks that leave the ITS holding no mapping across hibernation or a
//! handover to another kernel.
//!
//! The ITS turns a device's MSI write (DeviceID, EventID) into an LPI on a
//! redistributor, using tables in memory: a Device table (DeviceID -> ITT), an
//! Interrupt Translation Table per device (EventID -> LPI, collection) and a
//! Collection table (collection -> redistributor). The ITS writes those tables
//! itself, which means that when one kernel hands over to another (a boot
//! kernel jumping into a hibernation image, kexec), any mapping left behind
//! points into memory the next kernel owns. This crate records every mapping
//! in a [`Registry`], so that [`Its::save`] can unmap everything and
//! [`Its::restore`] can replay it.
//!
//! Layers, data flowing one way: [`Its`] (requests) -> [`Registry`] (what
//! is mapped) -> [`ItsCommand`] (the 32-byte encodings) -> the command queue
//! (ring, doorbell, bounded waits) -> [`registers`] over [`registers::MmioFrame`] (one load
//! or store per access). The ITS's own tables and the [`LpiDomain`]'s LPI
//! tables are the memory the GIC reads; [`DmaMemory`] is how the platform
//! provides it.
//!
//! ```no_run
//! use core::ptr::NonNull;
//! use gicv3_its::registers::{GicrMmio, GitsMmio};
//! use gicv3_its::{
//!     CollectionId, DeviceId, DmaMemory, EventId, Its, ItsConfig, ItsError, LpiDomain,
//!     LpiDomainConfig,
//! };
//!
//! # #[cfg(feature = "alloc")]
//! fn bring_up<M: DmaMemory + Clone>(memory: M) -> Result<(), ItsError> {
//!     // SAFETY: on QEMU virt the ITS frame is at 0x0808_0000 and the first
//!     // redistributor at 0x080a_0000, identity-mapped as Device memory and
//!     // used by nothing else.
//!     let (gits, gicr) = unsafe {
//!         (
//!             GitsMmio::new(NonNull::new(0x0808_0000 as *mut u8).unwrap()),
//!             GicrMmio::new(NonNull::new(0x080a_0000 as *mut u8).unwrap()),
//!         )
//!     };
//!     // The LPIs, shared by every ITS of the machine; one redistributor per CPU.
//!     let lpis = LpiDomain::new(memory.clone(), LpiDomainConfig::default())?;
//!     let cpu = lpis.init_redistributor(&gicr, 0x080a_0000)?;
//!     let mut its = Its::probe(gits, memory, &lpis, ItsConfig::default())?;
//!     its.map_collection(CollectionId(0), cpu)?;
//!     its.map_device(DeviceId(0x10), 4)?; // PCI 00:02.0, four MSI vectors
//!     let lpi = its.map_event(DeviceId(0x10), EventId(0), CollectionId(0))?; // EventID 0
//!     let _ = lpi; // ... program the device's MSI with GITS_TRANSLATER and EventID 0
//!
//!     its.save()?; // before hibernating or handing over: the ITS maps nothing
//!     lpis.save()?; // every ITS saved: no redistributor counts as ready now
//!     // ... snapshot, power cycle, resume ...
//!     lpis.init_redistributor(&gicr, 0x080a_0000)?;
//!     its.restore()?; // every collection, device and event replayed
//!     Ok(())
//! }
//! ```
//!
//! Features: `alloc` (default) keeps the driver's bookkeeping on the heap.
//! Without it the crate links no `alloc`, and the bookkeeping lives in
//! storage the caller declares as `static`s: [`DomainStorage`]
//! ([`LpiDomain::new_in`]) and [`ItsStorage`] ([`Its::use_storage`]).
//!
//! Spec references are to the GIC architecture specification, Arm IHI 0069
//! (GICv3 and GICv4): chapter 5 (LPIs and the ITS, 5.3 the commands) and
//! chapter 12 (the GITS_* and GICR_* registers).
#![cfg_attr(not(test), no_std)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]
#![warn(unreachable_pub)]
// Without `alloc`, the docs still name the heap's constructors
// (`LpiDomain::new`, `with_region`), whose `_in` forms say "as ...": the
// links resolve in the default build, which is the one documented.
#![cfg_attr(not(feature = "alloc"), allow(rustdoc::broken_intra_doc_links))]

// The heap, for the bookkeeping only, with the `alloc` feature (default);
// without it, the caller gives room ([`ItsStorage`], [`DomainStorage`]).
#[cfg(any(feature = "alloc", test))]
extern crate alloc;

// The driver, private: everything a caller uses is re-exported below, once.
mod base_register;
mod command;
mod dma_pool;
mod error;
mod id;
mod its;
mod lpi;
mod memory;
mod queue;
mod registry;
mod storage;
mod store;
mod tables;

// Namespaces a caller reaches by path: the registers, the GIC around the
// ITS, platform quirks, bounded waits, and taking the GIC over from a
// previous owner.
pub mod gic;
pub mod quirks;
pub mod registers;
pub mod takeover;
pub mod wait;

pub use command::{COMMAND_SIZE, ItsCommand, RdBase};
pub use dma_pool::{DmaPool, PoolMemory};
pub use error::{Bookkeeping, ItsError, WaitFor};
pub use id::{CollectionId, DeviceId, EventId, IntId, ProcessorNumber};
pub use its::{Batching, Doorbell, Its, ItsConfig, ItsFeatures, ItsState, MemoryUse, Restored};
pub use lpi::{
    DEFAULT_PRIORITY, LpiConfig, LpiDomain, LpiDomainConfig, MAX_LPI_ID_BITS, MIN_LPI_ID_BITS,
    RedistributorInfo, RegionRefused,
};
pub use memory::{DmaMemory, DmaRegion, DmaRequest, MemoryAttributes};
pub use queue::QueueStats;
pub use registry::{CollectionRecord, DeviceRecord, EventMapping, Registry};
pub use storage::{DomainStorage, ItsStorage, lpi_bitmap_words};
/// The register-description crate the descriptors are built on, for
/// callers that describe registers of their own ([`registers::Register`]).
pub use tock_registers;

/// The README's code, compiled as a doctest (it uses the heap).
#[cfg(all(doctest, feature = "alloc"))]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
