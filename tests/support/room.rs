//! Where the drivers under test keep their bookkeeping: on the heap with
//! the crate's `alloc` feature (the default), in storage leaked for the
//! test without it (`cargo test --no-default-features`), so that the same
//! tests run both ways.

use gicv3_its::registers::GitsFrame;
use gicv3_its::{DmaMemory, DmaRegion, Its, ItsConfig, ItsError, LpiDomain, LpiDomainConfig};
#[cfg(not(feature = "alloc"))]
use gicv3_its::{DomainStorage, ItsStorage, lpi_bitmap_words};
use gicv3_its::{RedistributorInfo, RegionRefused};

/// Room for one ITS without the heap: more than any host test maps.
#[cfg(not(feature = "alloc"))]
type TestItsStorage = ItsStorage<2048, 16384, 256, 64>;

/// The LPI ID bits a domain's storage has bitmap for without the heap:
/// the tests' own domains use 16 or fewer; a previous owner's adopted
/// tables may have more (24 bits would take 2 MiB of the test's stack).
pub const LPI_ID_BITS: u32 = 20;

/// Room for one domain without the heap: 256 CPUs, 8 ITSes, 20-bit LPIs.
#[cfg(not(feature = "alloc"))]
type TestDomainStorage<M> = DomainStorage<M, 256, 8, { lpi_bitmap_words(LPI_ID_BITS) }>;

/// [`LpiDomain::new`], or [`LpiDomain::new_in`] leaked storage.
pub fn domain<M: DmaMemory + Send>(
    memory: M,
    config: LpiDomainConfig,
) -> Result<LpiDomain<M>, ItsError> {
    #[cfg(feature = "alloc")]
    return LpiDomain::new(memory, config);
    #[cfg(not(feature = "alloc"))]
    return LpiDomain::new_in(
        Box::leak(Box::new(TestDomainStorage::new())),
        memory,
        config,
    );
}

/// [`LpiDomain::with_region`], or [`LpiDomain::with_region_in`] leaked
/// storage.
pub fn domain_with_region<M: DmaMemory + Send>(
    memory: M,
    region: DmaRegion,
    config: LpiDomainConfig,
) -> Result<LpiDomain<M>, RegionRefused<M>> {
    #[cfg(feature = "alloc")]
    return LpiDomain::with_region(memory, region, config);
    #[cfg(not(feature = "alloc"))]
    return LpiDomain::with_region_in(
        Box::leak(Box::new(TestDomainStorage::new())),
        memory,
        region,
        config,
    );
}

/// [`Its::probe`], with leaked [`ItsStorage`] without the heap.
pub fn probe<F: GitsFrame, M: DmaMemory>(
    frame: F,
    memory: M,
    domain: &LpiDomain<M>,
    config: ItsConfig,
) -> Result<Its<F, M>, ItsError> {
    with_room(Its::probe(frame, memory, domain, config)?)
}

/// [`Its::probe_sharing`], with leaked [`ItsStorage`] without the heap.
pub fn probe_sharing<F: GitsFrame, M: DmaMemory>(
    frame: F,
    domain: &LpiDomain<M>,
    config: ItsConfig,
) -> Result<Its<F, M>, ItsError> {
    with_room(Its::probe_sharing(frame, domain, config)?)
}

#[cfg_attr(feature = "alloc", allow(unused_mut))]
fn with_room<F: GitsFrame, M: DmaMemory>(mut its: Its<F, M>) -> Result<Its<F, M>, ItsError> {
    #[cfg(not(feature = "alloc"))]
    its.use_storage(Box::leak(Box::new(TestItsStorage::new())))?;
    Ok(its)
}

/// [`LpiDomain::redistributors`] (which needs the heap), both ways.
pub fn redistributors<M: DmaMemory>(domain: &LpiDomain<M>) -> Vec<RedistributorInfo> {
    let mut all = Vec::new();
    domain.for_each_redistributor(|info| all.push(info));
    all
}

/// Forgets `value` without dropping it, as a kernel that hands over
/// forgets its drivers: their memory stays as they left it. (A domain in
/// storage has nothing to drop; on the heap it would give nothing back
/// either, but its handle would be freed.)
pub fn forget<T>(value: T) {
    std::mem::forget(value);
}
