//! Room for the driver's bookkeeping in a kernel without a heap: the caller
//! declares an [`ItsStorage`] and a [`DomainStorage`] as `static`s, with
//! capacities as const parameters, and hands each to one driver for good.
//! Without the `alloc` feature this is the only way; with it, it is a way
//! to bound what the driver may hold.
//!
//! A full store fails the operation that needed room with
//! [`ItsError::StorageFull`] before anything changes, as a heap that
//! refuses fails it with [`ItsError::OutOfMemory`].

use crate::error::ItsError;
use crate::id::{CollectionId, DeviceId, ProcessorNumber};
use crate::lpi::{Domain, DomainRoom, Layout, LpiDomain, LpiDomainConfig, PendingPlace};
use crate::lpi::{MAX_LPI_ID_BITS, MIN_LPI_ID_BITS, RedistributorInfo, RegionRefused};
use crate::memory::{DmaMemory, DmaRegion};
use crate::registry::{CollectionRecord, DeviceEntry, EventMapping, RegistryRoom};
use crate::tables::PageRoom;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::{Mutex, Once};

/// Room for one ITS's registry and Device table pages: up to `DEVICES`
/// mapped devices with `EVENTS` event slots between them (a device mapped
/// with `n` events takes `n`), `COLLECTIONS` collections and `PAGES`
/// level-2 pages of a two-level Device table. Each device takes about 48
/// bytes, each event slot 8, each collection 24, each page 32.
///
/// Declare it as a `static` and give it to [`crate::Its::use_storage`]:
///
/// ```
/// use gicv3_its::ItsStorage;
///
/// static ITS_STORAGE: ItsStorage<16, 256, 4, 4> = ItsStorage::new();
/// ```
pub struct ItsStorage<
    const DEVICES: usize,
    const EVENTS: usize,
    const COLLECTIONS: usize,
    const PAGES: usize,
> {
    claimed: AtomicBool,
    room: UnsafeCell<ItsRoom<DEVICES, EVENTS, COLLECTIONS, PAGES>>,
}

struct ItsRoom<const D: usize, const E: usize, const C: usize, const P: usize> {
    devices: [Option<(DeviceId, DeviceEntry)>; D],
    events: [Option<EventMapping>; E],
    collections: [Option<(CollectionId, CollectionRecord)>; C],
    pages: [Option<(usize, DmaRegion)>; P],
}

// SAFETY: the room is reached only through `claim`, which hands it out once
// (an atomic swap), and what it holds (`DmaRegion`s, plain records) may move
// between CPUs.
unsafe impl<const D: usize, const E: usize, const C: usize, const P: usize> Sync
    for ItsStorage<D, E, C, P>
{
}

impl<const D: usize, const E: usize, const C: usize, const P: usize> Default
    for ItsStorage<D, E, C, P>
{
    fn default() -> Self {
        Self::new()
    }
}

impl<const D: usize, const E: usize, const C: usize, const P: usize> ItsStorage<D, E, C, P> {
    /// Empty room, for a `static`.
    pub const fn new() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            room: UnsafeCell::new(ItsRoom {
                devices: [const { None }; D],
                events: [const { None }; E],
                collections: [const { None }; C],
                pages: [const { None }; P],
            }),
        }
    }

    /// Whether a driver holds the room.
    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// The room, to the first caller only: the registry's and the Device
    /// table's pages'.
    // The room comes out of an `UnsafeCell`, to one caller only (the
    // swap): a mutable borrow from a shared one is what this is for.
    #[allow(clippy::mut_from_ref)]
    pub(crate) fn claim(&'static self) -> Option<(RegistryRoom, PageRoom)> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above returned `false` once only, so this is the
        // only reference to the room there will ever be, and `self` is
        // `'static`.
        let room = unsafe { &mut *self.room.get() };
        let registry = RegistryRoom {
            devices: &mut room.devices,
            events: &mut room.events,
            collections: &mut room.collections,
        };
        Some((registry, &mut room.pages))
    }

    /// Checks that the room can hold what is recorded now, before it is
    /// claimed: `(devices, events, collections, pages)`.
    pub(crate) fn check(&self, recorded: (usize, usize, usize, usize)) -> Result<(), ItsError> {
        use crate::error::Bookkeeping::{Collections, Devices, Events, TablePages};
        let (devices, events, collections, pages) = recorded;
        for (store, capacity, len) in [
            (Devices, D, devices),
            (Events, E, events),
            (Collections, C, collections),
            (TablePages, P, pages),
        ] {
            if capacity < len {
                return Err(ItsError::StorageFull { store, capacity });
            }
        }
        Ok(())
    }
}

/// Room for an [`LpiDomain`]: the domain itself (with its memory provider
/// `M`), up to `CPUS` redistributors and their pending tables, `ITSES`
/// attached ITSes, and an LPI bitmap of `LPI_WORDS` 64-bit words, one bit
/// per LPI ([`lpi_bitmap_words`] of the domain's ID bits). Each CPU takes
/// about 80 bytes, each ITS 8, and the bitmap 8 KiB for 16-bit LPIs, with
/// the domain itself beside them.
///
/// Declare it as a `static` and create the domain in it with
/// [`LpiDomain::new_in`] or [`LpiDomain::with_region_in`]:
///
/// ```
/// use gicv3_its::{DomainStorage, PoolMemory, lpi_bitmap_words};
///
/// // Four CPUs, one ITS, 16-bit LPIs.
/// static DOMAIN: DomainStorage<PoolMemory, 4, 1, { lpi_bitmap_words(16) }> =
///     DomainStorage::new();
/// ```
pub struct DomainStorage<M, const CPUS: usize, const ITSES: usize, const LPI_WORDS: usize> {
    claimed: AtomicBool,
    domain: Once<Mutex<Domain<M>>>,
    room: UnsafeCell<DomainArrays<CPUS, ITSES, LPI_WORDS>>,
}

struct DomainArrays<const C: usize, const I: usize, const W: usize> {
    redistributors: [Option<(ProcessorNumber, RedistributorInfo)>; C],
    pending: [Option<(ProcessorNumber, PendingPlace)>; C],
    own: [Option<(ProcessorNumber, DmaRegion)>; C],
    its: [Option<(u32, bool)>; I],
    bitmap: [u64; W],
}

// SAFETY: the room is reached only through `claim`, which hands it out once
// (an atomic swap); the domain is behind a lock, and what it holds (the
// provider, `DmaRegion`s, plain records) may move between CPUs when `M`
// may.
unsafe impl<M: Send, const C: usize, const I: usize, const W: usize> Sync
    for DomainStorage<M, C, I, W>
{
}

impl<M, const C: usize, const I: usize, const W: usize> Default for DomainStorage<M, C, I, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, const C: usize, const I: usize, const W: usize> DomainStorage<M, C, I, W> {
    /// Empty room, for a `static`.
    pub const fn new() -> Self {
        Self {
            claimed: AtomicBool::new(false),
            domain: Once::new(),
            room: UnsafeCell::new(DomainArrays {
                redistributors: [const { None }; C],
                pending: [const { None }; C],
                own: [const { None }; C],
                its: [const { None }; I],
                bitmap: [0; W],
            }),
        }
    }

    /// Whether a domain holds the room.
    pub fn is_claimed(&self) -> bool {
        self.claimed.load(Ordering::Acquire)
    }

    /// The room, to the first caller only.
    fn claim(&'static self) -> Option<DomainRoom> {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: the swap above returned `false` once only, so this is the
        // only reference to the room there will ever be, and `self` is
        // `'static`.
        let room = unsafe { &mut *self.room.get() };
        Some(DomainRoom {
            redistributors: &mut room.redistributors,
            pending: &mut room.pending,
            own: &mut room.own,
            its: &mut room.its,
            bitmap: &mut room.bitmap,
        })
    }
}

impl<M: DmaMemory> LpiDomain<M> {
    /// [`LpiDomain::new`] with the domain and its bookkeeping in `storage`
    /// (no heap): the property table is allocated from `memory`, each
    /// pending table when its redistributor is first initialised.
    ///
    /// # Errors
    /// [`ItsError::StorageFull`] if the storage's LPI bitmap is smaller than
    /// the ID bits need ([`lpi_bitmap_words`]);
    /// [`ItsError::StorageClaimed`] if the storage holds another domain;
    /// then as [`LpiDomain::new`]. Nothing is claimed on an error.
    pub fn new_in<const C: usize, const I: usize, const W: usize>(
        storage: &'static DomainStorage<M, C, I, W>,
        mut memory: M,
        config: LpiDomainConfig,
    ) -> Result<Self, ItsError> {
        check_bitmap(W, &config)?;
        if storage.is_claimed() {
            return Err(ItsError::StorageClaimed);
        }
        let region = Self::allocate_property(&mut memory, &config)?;
        match place(storage, memory, Layout::Allocated, region, &config) {
            Ok(domain) => Ok(domain),
            Err((error, region, mut memory)) => {
                memory.deallocate(region, Self::property_request(&config));
                Err(error)
            }
        }
    }

    /// [`LpiDomain::with_region`] with the domain and its bookkeeping in
    /// `storage` (no heap).
    ///
    /// # Errors
    /// The region and `memory` come back in a [`RegionRefused`] whose
    /// `error` is [`ItsError::StorageFull`] if the storage's LPI bitmap is
    /// smaller than the ID bits need, [`ItsError::StorageClaimed`] if the
    /// storage holds another domain, or as [`LpiDomain::with_region`].
    /// Nothing is claimed on an error.
    pub fn with_region_in<const C: usize, const I: usize, const W: usize>(
        storage: &'static DomainStorage<M, C, I, W>,
        memory: M,
        region: DmaRegion,
        config: LpiDomainConfig,
    ) -> Result<Self, RegionRefused<M>> {
        let checked = check_bitmap(W, &config)
            .and_then(|()| Self::check_region(&region, &config))
            .and_then(|()| match storage.is_claimed() {
                true => Err(ItsError::StorageClaimed),
                false => Ok(()),
            });
        if let Err(error) = checked {
            return Err(RegionRefused {
                error,
                region,
                memory,
            });
        }
        place(storage, memory, Layout::Fixed, region, &config).map_err(|(error, region, memory)| {
            RegionRefused {
                error,
                region,
                memory,
            }
        })
    }
}

/// Words of LPI bitmap a domain of `id_bits` LPI ID bits needs: the
/// `LPI_WORDS` parameter of a [`DomainStorage`], one bit per LPI from 8192
/// to `2^id_bits - 1`. The bits are clamped to 14..=24, as
/// [`LpiDomainConfig::clamped_id_bits`] clamps them.
pub const fn lpi_bitmap_words(id_bits: u32) -> usize {
    let id_bits = if id_bits < MIN_LPI_ID_BITS {
        MIN_LPI_ID_BITS
    } else if id_bits > MAX_LPI_ID_BITS {
        MAX_LPI_ID_BITS
    } else {
        id_bits
    };
    ((1usize << id_bits) - 8192).div_ceil(64)
}

/// Fails unless `words` of bitmap cover the LPIs of `config`.
fn check_bitmap(words: usize, config: &LpiDomainConfig) -> Result<(), ItsError> {
    let needed = lpi_bitmap_words(config.clamped_id_bits());
    if words < needed {
        return Err(ItsError::StorageFull {
            store: crate::error::Bookkeeping::LpiBitmap,
            capacity: words,
        });
    }
    Ok(())
}

/// Claims `storage` and builds the domain in it.
fn place<M: DmaMemory, const C: usize, const I: usize, const W: usize>(
    storage: &'static DomainStorage<M, C, I, W>,
    memory: M,
    layout: Layout,
    region: DmaRegion,
    config: &LpiDomainConfig,
) -> Result<LpiDomain<M>, (ItsError, DmaRegion, M)> {
    let Some(room) = storage.claim() else {
        return Err((ItsError::StorageClaimed, region, memory));
    };
    // The bitmap was checked: this cannot fail.
    let domain = Domain::new(memory, layout, region, config, Some(room))?;
    let domain = storage.domain.call_once(|| Mutex::new(domain));
    Ok(LpiDomain::in_storage(domain))
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn the_documented_sizes_hold() {
        // ItsStorage's documentation: about 48 bytes a device, 8 an event
        // slot, 24 a collection, 32 a page.
        assert!(size_of::<ItsRoom<1, 0, 0, 0>>() <= 48);
        assert_eq!(size_of::<ItsRoom<0, 1, 0, 0>>(), 8);
        assert!(size_of::<ItsRoom<0, 0, 1, 0>>() <= 24);
        assert!(size_of::<ItsRoom<0, 0, 0, 1>>() <= 32);
        assert_eq!(size_of::<DomainArrays<0, 0, 1>>(), 8);
        assert!(size_of::<DomainArrays<1, 0, 0>>() <= 80);
        assert!(size_of::<DomainArrays<0, 1, 0>>() <= 8);
    }

    #[test]
    fn a_storage_is_claimed_once() {
        let storage: &'static ItsStorage<1, 2, 3, 4> = std::boxed::Box::leak(Default::default());
        let (registry, pages) = storage.claim().expect("the first claim");
        assert_eq!((registry.devices.len(), registry.events.len()), (1, 2));
        assert_eq!((registry.collections.len(), pages.len()), (3, 4));
        assert!(storage.claim().is_none());
        assert!(storage.is_claimed());
    }
}
