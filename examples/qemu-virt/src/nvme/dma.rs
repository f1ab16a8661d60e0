//! The driver's DMA memory: one block for the queues, the PRP list and the
//! bounce buffer, accessed through raw pointers only.

use super::NvmeError;
use crate::heap::KernelDma;
use aarch64_cpu::asm::barrier;
use gicv3_its::{DmaMemory, DmaRegion, DmaRequest};

pub(super) const PAGE: usize = 4096;
/// Largest transfer per command: the bounce buffer.
pub(super) const MAX_TRANSFER: usize = 128 * 1024;

// The driver's DMA block, page by page.
pub(super) const ADMIN_SQ: usize = 0;
pub(super) const ADMIN_CQ: usize = PAGE;
pub(super) const IO_SQ: usize = 2 * PAGE;
pub(super) const IO_CQ: usize = 3 * PAGE;
pub(super) const PRP_LIST: usize = 4 * PAGE;
pub(super) const BOUNCE: usize = 5 * PAGE;
const DMA_SIZE: usize = BOUNCE + MAX_TRANSFER;
/// The block, page aligned.
const REQUEST: DmaRequest = DmaRequest::new(DMA_SIZE, PAGE);

/// The driver's DMA memory: one zeroed, page-aligned block from the
/// kernel's DMA allocator, laid out by the `ADMIN_SQ`..`BOUNCE` offsets.
/// Accessed only through raw pointers (the controller writes it too).
pub(super) struct DmaBlock {
    allocator: KernelDma,
    region: Option<DmaRegion>,
    base: usize,
    phys: u64,
}

impl DmaBlock {
    pub(super) fn allocate() -> Result<Self, NvmeError> {
        let mut allocator = KernelDma;
        let region = allocator
            .allocate_zeroed(REQUEST)
            .ok_or(NvmeError::NoMemory)?;
        Ok(Self {
            base: region.virt().as_ptr() as usize,
            phys: region.phys(),
            region: Some(region),
            allocator,
        })
    }

    /// The controller's address of byte `offset`.
    pub(super) fn phys(&self, offset: usize) -> u64 {
        self.phys + offset as u64
    }

    /// Whether `len` bytes at `offset` are inside the block.
    fn contains(&self, offset: usize, len: usize) -> bool {
        self.region.is_some() && offset.checked_add(len).is_some_and(|end| end <= DMA_SIZE)
    }

    pub(super) fn read_u32(&self, offset: usize) -> u32 {
        if !self.contains(offset, 4) || !offset.is_multiple_of(4) {
            return 0;
        }
        // SAFETY: inside the live block (checked), aligned; volatile because
        // the controller writes it.
        u32::from_le(unsafe { ((self.base + offset) as *const u32).read_volatile() })
    }

    pub(super) fn write_u32(&self, offset: usize, value: u32) {
        if self.contains(offset, 4) && offset.is_multiple_of(4) {
            // SAFETY: as for `read_u32`; the block is ours, no reference to
            // it exists.
            unsafe { ((self.base + offset) as *mut u32).write_volatile(value.to_le()) }
        }
    }

    pub(super) fn write_u64(&self, offset: usize, value: u64) {
        self.write_u32(offset, value as u32);
        self.write_u32(offset + 4, (value >> 32) as u32);
    }

    pub(super) fn zero(&self, offset: usize, len: usize) {
        if self.contains(offset, len) {
            // SAFETY: inside the live block (checked).
            unsafe { core::ptr::write_bytes((self.base + offset) as *mut u8, 0, len) }
        }
    }

    /// Copies `data` to `offset` (the controller reads it after the
    /// doorbell's barrier).
    pub(super) fn copy_in(&self, offset: usize, data: &[u8]) {
        if self.contains(offset, data.len()) {
            // SAFETY: inside the live block (checked), which `data` (a Rust
            // slice) cannot overlap: the block is owned by the driver.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data.as_ptr(),
                    (self.base + offset) as *mut u8,
                    data.len(),
                );
            }
        }
    }

    /// Copies from `offset` to `data`, after a completion said the
    /// controller wrote it.
    pub(super) fn copy_out(&self, offset: usize, data: &mut [u8]) {
        if self.contains(offset, data.len()) {
            barrier::dmb(barrier::OSHLD);
            // SAFETY: as for `copy_in`.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    (self.base + offset) as *const u8,
                    data.as_mut_ptr(),
                    data.len(),
                );
            }
        }
    }

    /// Never gives the block back (the controller may still use it).
    pub(super) fn leak(&mut self) {
        self.region = None;
    }
}

impl Drop for DmaBlock {
    fn drop(&mut self) {
        if let Some(region) = self.region.take() {
            self.allocator.deallocate(region, REQUEST);
        }
    }
}
