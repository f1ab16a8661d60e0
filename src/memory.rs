//! Memory shared with the ITS and the redistributors: tables, ITTs and the
//! command queue. The platform provides it through [`DmaMemory`], so the crate
//! works with any allocator and any virtual-to-physical mapping.

use crate::error::ItsError;
use crate::quirks::Quirks;
use core::ptr::NonNull;

/// What the driver asks [`DmaMemory`] for, and gives back with the memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaRequest {
    /// Bytes.
    pub size: usize,
    /// Alignment of the physical address (and of the virtual one), a power
    /// of two.
    pub align: usize,
    /// The highest physical address any byte may have, like a DMA mask:
    /// `u64::MAX` when the GIC reaches all memory, `0xffff_ffff` when it
    /// reaches only the low 4 GiB ([`Quirks::BELOW_4GIB`]).
    pub max_address: u64,
}

impl DmaRequest {
    /// `size` bytes aligned to `align`, anywhere in memory.
    pub const fn new(size: usize, align: usize) -> Self {
        Self {
            size,
            align,
            max_address: u64::MAX,
        }
    }

    /// `size` bytes aligned to `align` where a GIC with `quirks` reaches
    /// them: below 4 GiB where it reaches no higher.
    pub(crate) const fn for_gic(size: usize, align: usize, quirks: Quirks) -> Self {
        Self::new(size, align).below_for(quirks)
    }

    const fn below_for(self, quirks: Quirks) -> Self {
        Self {
            max_address: if quirks.contains(Quirks::BELOW_4GIB) {
                u32::MAX as u64
            } else {
                self.max_address
            },
            ..self
        }
    }

    /// Whether `len` bytes at `phys` lie at or below `max_address`.
    pub fn allows(&self, phys: u64, len: usize) -> bool {
        len == 0
            || phys
                .checked_add(len as u64 - 1)
                .is_some_and(|last| last <= self.max_address)
    }
}

/// Allocates what `request` asks for (see [`DmaRequest::for_gic`]). Memory
/// that an implementation hands out beyond `request.max_address` anyway is
/// given back and refused with [`ItsError::UnencodableAddress`]. Whoever
/// keeps the region keeps the request, to give both back.
pub(crate) fn allocate<M: DmaMemory + ?Sized>(
    memory: &mut M,
    request: DmaRequest,
) -> Result<DmaRegion, ItsError> {
    let region = memory
        .allocate_zeroed(request)
        .ok_or(ItsError::OutOfMemory { size: request.size })?;
    // What the driver uses, and describes to the GIC, is what it asked for.
    let region = region.trimmed(request.size);
    if !request.allows(region.phys(), request.size) {
        let phys = region.phys();
        memory.deallocate(region, request);
        return Err(ItsError::UnencodableAddress { phys });
    }
    Ok(region)
}

/// A block of zeroed, physically contiguous memory that the GIC may access.
///
/// The driver keeps every `DmaRegion` it allocates until it gives it back with
/// [`DmaMemory::deallocate`].
#[derive(Debug, PartialEq, Eq)]
pub struct DmaRegion {
    virt: NonNull<u8>,
    phys: u64,
    size: usize,
}

// SAFETY: a `DmaRegion` is an exclusive handle to memory (the `DmaMemory`
// implementation promised not to hand it out twice); it may move between CPUs.
unsafe impl Send for DmaRegion {}

impl DmaRegion {
    /// Describes a block at virtual address `virt` and physical address
    /// `phys`, `size` bytes long.
    ///
    /// # Safety
    /// `virt` must be valid for reads and writes of `size` bytes for as long as
    /// the region is in use, mapped as Normal memory, not used by anyone else,
    /// and `phys` must be the address the GIC uses for the same memory.
    pub unsafe fn new(virt: NonNull<u8>, phys: u64, size: usize) -> Self {
        Self { virt, phys, size }
    }

    /// A region of no bytes: what stands in for one given back while its
    /// owner is dropped. Every access checks the size, so none reaches it.
    fn empty() -> Self {
        Self {
            virt: NonNull::dangling(),
            phys: 0,
            size: 0,
        }
    }

    /// The region, leaving one of no bytes in its place.
    pub(crate) fn take(&mut self) -> Self {
        core::mem::replace(self, Self::empty())
    }

    /// The first `size` bytes of the region (all of it if it is smaller).
    pub(crate) fn trimmed(self, size: usize) -> Self {
        Self {
            size: size.min(self.size),
            ..self
        }
    }

    /// The virtual address of the first byte.
    pub fn virt(&self) -> NonNull<u8> {
        self.virt
    }

    /// The physical address of the first byte, as the GIC sees it.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// The size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether a `u64` at `offset` is inside the region and 8-byte aligned
    /// in memory.
    fn u64_in_bounds(&self, offset: usize) -> bool {
        offset.checked_add(8).is_some_and(|end| end <= self.size)
            && (self.virt.as_ptr() as usize)
                .wrapping_add(offset)
                .is_multiple_of(8)
    }

    /// Writes the little-endian `u64` at byte `offset`, which must be 8-byte
    /// aligned and inside the region. Returns `false` (and writes nothing)
    /// otherwise.
    pub(crate) fn write_u64(&mut self, offset: usize, value: u64) -> bool {
        if !self.u64_in_bounds(offset) {
            return false;
        }
        // SAFETY: the range is inside the region and aligned (checked
        // above), and `new`'s caller promised the region is valid and ours.
        // A volatile write because the GIC reads it.
        unsafe {
            self.virt
                .as_ptr()
                .add(offset)
                .cast::<u64>()
                .write_volatile(value.to_le());
        }
        true
    }

    /// Reads the little-endian `u64` at byte `offset` (8-byte aligned, inside).
    pub(crate) fn read_u64(&self, offset: usize) -> Option<u64> {
        if !self.u64_in_bounds(offset) {
            return None;
        }
        // SAFETY: as for `write_u64`.
        Some(u64::from_le(unsafe {
            self.virt.as_ptr().add(offset).cast::<u64>().read_volatile()
        }))
    }

    /// Sets `len` bytes from `offset` to `value`, clamped to the region.
    pub(crate) fn fill(&mut self, offset: usize, len: usize, value: u8) {
        let start = offset.min(self.size);
        let len = len.min(self.size - start);
        // SAFETY: `start..start + len` is inside the region (clamped above).
        unsafe { core::ptr::write_bytes(self.virt.as_ptr().add(start), value, len) }
    }

    /// Writes one byte at `offset`; `false` if outside the region.
    pub(crate) fn write_u8(&mut self, offset: usize, value: u8) -> bool {
        if offset >= self.size {
            return false;
        }
        // SAFETY: `offset` is inside the region (checked above).
        unsafe { self.virt.as_ptr().add(offset).write_volatile(value) }
        true
    }

    /// Cleans and invalidates `len` bytes from `offset` to the Point of
    /// Coherency when the GIC does not snoop
    /// (`attributes.needs_cache_clean()`).
    pub(crate) fn clean<M: DmaMemory + ?Sized>(
        &self,
        memory: &M,
        attributes: MemoryAttributes,
        offset: usize,
        len: usize,
    ) {
        if !attributes.needs_cache_clean() || offset >= self.size {
            return;
        }
        let start = self.virt.as_ptr().wrapping_add(offset);
        if let Some(start) = NonNull::new(start) {
            memory.clean_invalidate_to_poc(start, len.min(self.size - offset));
        }
    }

    /// Reads one byte at `offset`.
    pub(crate) fn read_u8(&self, offset: usize) -> Option<u8> {
        if offset >= self.size {
            return None;
        }
        // SAFETY: `offset` is inside the region (checked above).
        Some(unsafe { self.virt.as_ptr().add(offset).read_volatile() })
    }
}

/// Where the driver gets memory for the GIC, and how it makes CPU writes
/// visible to a GIC that does not snoop the caches.
///
/// # Safety
/// `allocate_zeroed` must return memory that satisfies [`DmaRegion::new`]'s
/// contract, is zeroed, has at least the requested size and alignment, and is
/// not handed out again until it is given back with `deallocate`.
///
/// A provider owns what it needs (`'static`): the LPI domain that holds it
/// may live in a `static` ([`crate::DomainStorage`]).
pub unsafe trait DmaMemory: 'static {
    /// Allocates `request.size` zeroed bytes aligned to `request.align` (a
    /// power of two), or returns `None` when there is no memory.
    ///
    /// Memory beyond `request.max_address` is of no use to the GIC: an
    /// implementation that can place memory below it should (the driver
    /// gives back and refuses anything that lies beyond).
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion>;

    /// Gives back a region from `allocate_zeroed`, with the `request` it
    /// was allocated for (as a `Layout`-based allocator needs it); the
    /// region's size is `request.size` (the driver uses no more than it
    /// asked for, of a larger region). The GIC no longer uses it.
    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest);

    /// Cleans and invalidates the data cache for `len` bytes at `virt` to
    /// the Point of Coherency (`dc civac` on every line, then `dsb sy`), so
    /// that a GIC that does not snoop reads what the CPU wrote, and the CPU
    /// holds no line of memory the GIC writes afterwards (a stale line
    /// would be read, or written back over the GIC's data, later). The
    /// maintenance must have completed when this returns. Called only when
    /// the GIC refused a shareable, cacheable attribute.
    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize);
}

/// Memory attributes the driver programs into CBASER, BASERn, PROPBASER and
/// PENDBASER (the same encodings in all of them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryAttributes {
    /// Inner Shareable, Normal Inner/Outer Read-allocate Write-allocate
    /// Write-back: the GIC snoops the CPU caches.
    InnerShareableWriteBack,
    /// Non-shareable, Normal Non-cacheable: the GIC reads memory directly and
    /// the CPU cleans its caches to the Point of Coherency after every write.
    NonCacheable,
}

/// The Shareability and cacheability encodings, the same in GITS_BASERn,
/// GITS_CBASER, GICR_PROPBASER and GICR_PENDBASER (Arm IHI 0069, their
/// register descriptions).
pub(crate) mod encoding {
    /// Shareability: Non-shareable.
    pub(crate) const NON_SHAREABLE: u64 = 0b00;
    /// Shareability: Inner Shareable.
    pub(crate) const INNER_SHAREABLE: u64 = 0b01;
    /// InnerCache: Normal Inner Non-cacheable.
    pub(crate) const NON_CACHEABLE: u64 = 0b001;
    /// InnerCache: the first cacheable encoding (Read-allocate,
    /// Write-through); every one above it is cacheable too.
    pub(crate) const FIRST_CACHEABLE: u64 = 0b010;
    /// InnerCache: Normal Inner Read-allocate, Write-allocate, Write-back.
    pub(crate) const WRITE_BACK: u64 = 0b111;
}

impl MemoryAttributes {
    /// The Shareability field value (Inner Shareable, or Non-shareable).
    pub const fn shareability(self) -> u64 {
        match self {
            Self::InnerShareableWriteBack => encoding::INNER_SHAREABLE,
            Self::NonCacheable => encoding::NON_SHAREABLE,
        }
    }

    /// The InnerCache field value (Read- and Write-allocate Write-back, or
    /// Non-cacheable).
    pub const fn inner_cache(self) -> u64 {
        match self {
            Self::InnerShareableWriteBack => encoding::WRITE_BACK,
            Self::NonCacheable => encoding::NON_CACHEABLE,
        }
    }

    /// Whether CPU writes need a clean to PoC before the GIC reads them.
    pub const fn needs_cache_clean(self) -> bool {
        matches!(self, Self::NonCacheable)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A region over the first `size` bytes of `buffer`.
    fn region_in(buffer: &mut [u8], size: usize) -> DmaRegion {
        assert!(size <= buffer.len());
        let virt = NonNull::new(buffer.as_mut_ptr()).unwrap();
        // SAFETY: the first `size` bytes of `buffer`, which outlives the
        // region in each test and is used through the region only.
        unsafe { DmaRegion::new(virt, 0x1000, size) }
    }

    #[test]
    fn fill_stays_inside_the_region() {
        let mut buffer = [0u8; 64];
        let mut region = region_in(&mut buffer, 32);
        region.fill(16, 100, 0xff);
        region.fill(40, 8, 0xee); // wholly outside: nothing
        assert_eq!(buffer[..16], [0; 16]);
        assert_eq!(buffer[16..32], [0xff; 16]);
        assert_eq!(buffer[32..], [0; 32], "nothing past the region's end");
    }

    #[test]
    fn u64s_outside_the_region_or_misaligned_are_refused() {
        let mut buffer = [0u64; 8];
        let virt = NonNull::new(buffer.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: the first 32 bytes of `buffer`, used through the region only.
        let mut region = unsafe { DmaRegion::new(virt, 0x1000, 32) };
        assert!(region.write_u64(24, 7));
        assert_eq!(region.read_u64(24), Some(7));
        for offset in [28, 32, 4, usize::MAX - 3] {
            assert!(!region.write_u64(offset, 9), "offset {offset}");
            assert_eq!(region.read_u64(offset), None, "offset {offset}");
        }
        assert_eq!(buffer[3..], [7, 0, 0, 0, 0]);
    }

    /// Memory that hands out nothing and records what it was asked to
    /// clean: the crate's unit tests' `DmaMemory`.
    #[derive(Default)]
    pub(crate) struct Recorder(pub(crate) core::cell::RefCell<alloc::vec::Vec<(usize, usize)>>);

    // SAFETY: allocates nothing, so hands out no memory at all.
    unsafe impl DmaMemory for Recorder {
        fn allocate_zeroed(&mut self, _: DmaRequest) -> Option<DmaRegion> {
            None
        }
        fn deallocate(&mut self, _: DmaRegion, _: DmaRequest) {}
        fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
            self.0.borrow_mut().push((virt.as_ptr() as usize, len));
        }
    }

    /// Memory that hands out a 4 KiB larger region than asked for, from a
    /// buffer, and records what it was given back.
    struct Generous {
        buffer: alloc::vec::Vec<u8>,
        given_back: alloc::vec::Vec<(usize, DmaRequest)>,
    }

    // SAFETY: hands out its buffer once (the test allocates once).
    unsafe impl DmaMemory for Generous {
        fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
            let virt = NonNull::new(self.buffer.as_mut_ptr())?;
            // SAFETY: the buffer, used through the region only.
            Some(unsafe { DmaRegion::new(virt, 0x10_0000, request.size + 4096) })
        }
        fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
            self.given_back.push((region.size(), request));
        }
        fn clean_invalidate_to_poc(&self, _: NonNull<u8>, _: usize) {}
    }

    #[test]
    fn the_driver_uses_what_it_asked_for_of_a_larger_region() {
        let mut memory = Generous {
            buffer: alloc::vec![0; 8192],
            given_back: alloc::vec::Vec::new(),
        };
        let request = DmaRequest::new(4096, 4096);
        let region = allocate(&mut memory, request).unwrap();
        assert_eq!(region.size(), 4096);
        // Beyond what was asked for: refused and given back, as asked.
        let low = DmaRequest {
            max_address: 0x10_0fff,
            ..DmaRequest::new(4096, 4096)
        };
        assert_eq!(
            allocate(&mut memory, DmaRequest { size: 4097, ..low }).err(),
            Some(ItsError::UnencodableAddress { phys: 0x10_0000 })
        );
        assert_eq!(
            memory.given_back,
            [(4097, DmaRequest { size: 4097, ..low })]
        );
        assert!(
            allocate(&mut memory, low).is_ok(),
            "exactly up to the limit"
        );
    }

    #[test]
    fn requests_allow_what_ends_at_their_limit() {
        let below_4gib = DmaRequest::for_gic(4096, 4096, Quirks::BELOW_4GIB);
        assert_eq!(below_4gib.max_address, 0xffff_ffff);
        assert!(below_4gib.allows(0xffff_f000, 4096));
        assert!(!below_4gib.allows(0xffff_f000, 4097));
        assert!(!below_4gib.allows(u64::MAX, 2));
        assert!(below_4gib.allows(u64::MAX, 0));
        let anywhere = DmaRequest::for_gic(4096, 4096, Quirks::NON_COHERENT);
        assert_eq!(anywhere, DmaRequest::new(4096, 4096));
        assert!(anywhere.allows(u64::MAX, 1));
    }

    #[test]
    fn a_clean_stops_at_the_region_end_and_only_when_needed() {
        let mut buffer = [0u8; 64];
        let base = buffer.as_ptr() as usize;
        let region = region_in(&mut buffer, 32);
        let memory = Recorder::default();
        region.clean(&memory, MemoryAttributes::NonCacheable, 8, 100);
        region.clean(&memory, MemoryAttributes::NonCacheable, 32, 4);
        region.clean(&memory, MemoryAttributes::InnerShareableWriteBack, 0, 8);
        assert_eq!(*memory.0.borrow(), [(base + 8, 24)]);
    }
}
