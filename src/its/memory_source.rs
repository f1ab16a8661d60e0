//! Where an ITS's memory comes from: a provider of its own
//! ([`crate::Its::probe`]), or the LPI domain's, shared
//! ([`crate::Its::probe_sharing`]), so that one provider that is not `Clone`
//! (a kernel's frame allocator, say) serves the LPI tables and every ITS.

use crate::lpi::LpiDomain;
use crate::memory::{DmaMemory, DmaRegion, DmaRequest};
use core::ptr::NonNull;

/// An ITS's memory provider.
pub(crate) enum MemorySource<M: DmaMemory> {
    /// The ITS's own.
    Own(M),
    /// The domain's, reached through its lock for each call. The domain
    /// never calls into an ITS while it holds the lock, so this cannot
    /// deadlock.
    Domain(LpiDomain<M>),
}

// SAFETY: every call goes to one `DmaMemory` implementation, the ITS's own or
// the domain's, which keeps its promises for what it hands out; a region
// goes back to the provider it came from, as the source of an ITS never
// changes.
unsafe impl<M: DmaMemory> DmaMemory for MemorySource<M> {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        match self {
            Self::Own(memory) => memory.allocate_zeroed(request),
            Self::Domain(domain) => domain.with_memory(|memory| memory.allocate_zeroed(request)),
        }
    }

    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        match self {
            Self::Own(memory) => memory.deallocate(region, request),
            Self::Domain(domain) => domain.with_memory(|memory| memory.deallocate(region, request)),
        }
    }

    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
        match self {
            Self::Own(memory) => memory.clean_invalidate_to_poc(virt, len),
            Self::Domain(domain) => {
                domain.with_memory(|memory| memory.clean_invalidate_to_poc(virt, len))
            }
        }
    }
}
