//! Where everything lives in RAM, so that two kernels (the boot kernel and
//! the image kernel it resumes) agree on it without talking to each other.
//!
//! Offsets are from the base of the RAM region that holds the kernel (QEMU
//! virt: 0x4000_0000), and depend on nothing else, so every boot of the same
//! binary computes the same layout:
//!
//! ```text
//! +0             kernel Image (text, rodata, then data, bss and stacks)
//! +16 MiB        LPI tables (1 MiB): property table and pending tables,
//!                ItsConfig::lpi_tables of every kernel; never in an image
//! +17 MiB        handover ticket (one page): the image kernel's allocation
//!                offset, for the next boot kernel; never in an image
//! +32 MiB        arena region (ARENA_BYTES + SKEW_SPAN): the kernel heap
//!                (16 MiB) starts at +32 MiB + skew, skew = k MiB, k < 64
//! +112 MiB ..    scratch: the snapshot buffer (image kernel) and the staging
//!                area (boot kernel); never in an image, holes (DTB,
//!                /memreserve/) left out
//! ```
//!
//! An image holds the kernel's writable part (data, bss, stacks) and its
//! arena; text and rodata are the same binary in both kernels (the image
//! header checks a checksum of them). Scratch, the LPI tables and the ticket
//! lie outside both, so the boot kernel can stage the image in scratch and
//! copy it into place without overwriting its source.
//!
//! The skew is the "boot-time allocation offset": it moves every heap
//! allocation (ITS tables, ITTs, NVMe queues), so a boot kernel's ITTs are
//! not where the image kernel's are, as in the bug this project exists to
//! prevent. The heap's largest block is 1 MiB (heap.rs), so an arena that
//! starts on a 1 MiB boundary is cut into the same blocks wherever it
//! starts, and two boots that allocate the same things get the same
//! addresses shifted by exactly the difference of their skews. A boot kernel takes a skew different from the one the image
//! kernel left in the ticket (same-process reboot); with no ticket (a cold
//! boot) it is drawn from the DTB's `rng-seed`.

use aarch64_cpu::registers::Readable;
use core::fmt;
use core::ops::Range;
use core::ptr::NonNull;
use flat_device_tree::Fdt;
use gicv3_its::DmaRegion;

const MIB: usize = 1 << 20;
/// The LPI tables' offset from RAM base.
const LPI_OFFSET: usize = 16 * MIB;
/// Bytes reserved for the LPI tables: a 16-bit property table (56 KiB,
/// rounded to 64 KiB) and up to 15 pending tables of 64 KiB.
pub const LPI_BYTES: usize = MIB;
/// The ticket's offset from RAM base.
const TICKET_OFFSET: usize = 17 * MIB;
/// The arena region's offset from RAM base.
const ARENA_OFFSET: usize = 32 * MIB;
/// Bytes of kernel heap.
pub const ARENA_BYTES: usize = 16 * MIB;
/// Skew granule (the heap's largest block) and number of skews.
pub const SKEW_GRANULE: usize = MIB;
const SKEWS: u64 = 64;
/// Room for the largest skew.
const SKEW_SPAN: usize = SKEW_GRANULE * SKEWS as usize;
/// Scratch starts here (the arena region's end).
const SCRATCH_OFFSET: usize = 112 * MIB;
/// Least scratch the kernel accepts.
const MIN_SCRATCH: usize = 32 * MIB;

const TICKET_MAGIC: u64 = u64::from_le_bytes(*b"HIBTICKT");

/// Why the layout does not fit this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutError {
    /// No RAM region holds the kernel image, or it is not inside the
    /// initially mapped block.
    NoKernelRam,
    /// The kernel image reaches into the reserved regions.
    KernelTooLarge,
    /// A hole (DTB, /memreserve/) overlaps a reserved region or the arena.
    HoleInReserved,
    /// Too little RAM is left for scratch.
    NoScratch,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKernelRam => write!(f, "no mapped RAM region holds the kernel"),
            Self::KernelTooLarge => write!(f, "the kernel image reaches the LPI tables"),
            Self::HoleInReserved => write!(f, "the DTB or a /memreserve/ overlaps the arena"),
            Self::NoScratch => write!(f, "less than {} MiB of scratch RAM", MIN_SCRATCH / MIB),
        }
    }
}

/// The RAM layout of this boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The kernel's writable part: data, bss and stacks (4 KiB aligned).
    pub kernel_writable: Range<usize>,
    /// The LPI tables every kernel shares.
    pub lpi_tables: Range<usize>,
    /// The handover ticket page.
    pub ticket: usize,
    /// Where any kernel's arena may lie.
    pub arena_region: Range<usize>,
    /// This kernel's heap.
    pub arena: Range<usize>,
    /// This kernel's skew index (skew = index * 64 KiB).
    pub skew: u32,
    /// Free RAM for hibernation buffers.
    pub scratch: Range<usize>,
}

impl Layout {
    /// Plans the layout from the DTB. `image` is the whole kernel image,
    /// `writable` its data/bss/stack part, `mapped` what the initial page
    /// table maps, `holes` the DTB and reserved memory. Reads (and clears)
    /// the handover ticket to choose the skew.
    pub fn plan(
        fdt: &Fdt,
        image: Range<usize>,
        writable: Range<usize>,
        mapped: Range<usize>,
        holes: &[Range<usize>],
    ) -> Result<Self, LayoutError> {
        let mut ram = None;
        crate::platform::for_each_memory_region(fdt, |region| {
            let region = region.start as usize..region.end as usize;
            if region.start <= image.start && image.end <= region.end {
                ram = Some(region);
            }
        });
        let ram = ram.ok_or(LayoutError::NoKernelRam)?;
        let base = ram.start;
        // Everything must be in the initial map: the handover copy runs on it.
        let end = ram.end.min(mapped.end);
        if base < mapped.start || base + SCRATCH_OFFSET + MIN_SCRATCH > end {
            return Err(LayoutError::NoKernelRam);
        }
        if image.end > base + LPI_OFFSET {
            return Err(LayoutError::KernelTooLarge);
        }
        let lpi_tables = base + LPI_OFFSET..base + LPI_OFFSET + LPI_BYTES;
        let ticket = base + TICKET_OFFSET;
        let arena_region = base + ARENA_OFFSET..base + ARENA_OFFSET + ARENA_BYTES + SKEW_SPAN;
        let reserved = lpi_tables.start..arena_region.end;
        if holes
            .iter()
            .any(|hole| hole.start < reserved.end && reserved.start < hole.end)
        {
            return Err(LayoutError::HoleInReserved);
        }
        // Scratch: the largest hole-free piece above the arena region.
        let mut scratch = 0..0;
        let mut start = base + SCRATCH_OFFSET;
        // No heap yet: walk the holes in address order without sorting.
        loop {
            let next_hole = holes
                .iter()
                .filter(|hole| hole.end > start && hole.start < end && hole.start < hole.end)
                .min_by_key(|hole| hole.start);
            let piece_end = next_hole.map_or(end, |hole| hole.start.max(start));
            let piece = start.next_multiple_of(4096)..piece_end & !4095;
            if piece.end > piece.start && piece.end - piece.start > scratch.end - scratch.start {
                scratch = piece;
            }
            match next_hole {
                Some(hole) => start = hole.end,
                None => break,
            }
        }
        if scratch.end - scratch.start < MIN_SCRATCH {
            return Err(LayoutError::NoScratch);
        }
        let skew = choose_skew(fdt, ticket);
        let arena_start = arena_region.start + skew as usize * SKEW_GRANULE;
        Ok(Self {
            kernel_writable: writable,
            lpi_tables,
            ticket,
            arena_region,
            arena: arena_start..arena_start + ARENA_BYTES,
            skew,
            scratch,
        })
    }

    /// The LPI table region as driver memory ([`gicv3_its::ItsConfig::lpi_tables`]).
    ///
    /// # Safety
    /// At most one region may exist per boot: call it once.
    pub unsafe fn lpi_region(&self) -> DmaRegion {
        let start = self.lpi_tables.start;
        // SAFETY: reserved RAM (never heap, scratch or image), identity
        // mapped as Normal memory, so phys == virt; the caller promised
        // there is no other handle to it. The start is RAM base + 16 MiB,
        // never null.
        unsafe {
            DmaRegion::new(
                NonNull::new(start as *mut u8).unwrap_or(NonNull::dangling()),
                start as u64,
                self.lpi_tables.len(),
            )
        }
    }

    /// Leaves this kernel's skew for the next boot kernel, which will choose
    /// another. Called just before the image kernel resets.
    pub fn write_ticket(&self) {
        // SAFETY: the ticket page is reserved RAM (no heap, no image, no
        // scratch), identity mapped as Normal memory; only this module
        // touches it, with IRQs irrelevant (plain stores).
        unsafe {
            let ticket = self.ticket as *mut u64;
            ticket.write_volatile(TICKET_MAGIC);
            ticket.add(1).write_volatile(u64::from(self.skew));
        }
    }
}

/// A skew different from the ticket's, or random from `rng-seed` (or the
/// counter) without one. Clears the ticket.
fn choose_skew(fdt: &Fdt, ticket: usize) -> u32 {
    let seed = fdt
        .find_node("/chosen")
        .and_then(|chosen| chosen.property("rng-seed"))
        .and_then(|seed| seed.value.get(..8))
        .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8])))
        .unwrap_or_else(|| aarch64_cpu::registers::CNTPCT_EL0.get());
    // SAFETY: as in `write_ticket`; reading and clearing the reserved page.
    let previous = unsafe {
        let ticket = ticket as *mut u64;
        let found = (ticket.read_volatile() == TICKET_MAGIC).then(|| ticket.add(1).read_volatile());
        ticket.write_volatile(0);
        found
    };
    match previous {
        Some(previous) if previous < SKEWS => ((previous + 1 + seed % (SKEWS - 1)) % SKEWS) as u32,
        _ => (seed % SKEWS) as u32,
    }
}
