//! What redistributors cache of the LPI property table (Arm IHI 0069
//! 5.1.1): a configuration byte changed while its LPI was routed elsewhere,
//! or by another kernel, stays stale in a redistributor until an INV or
//! INVALL reaches it. Every MAPC that points a collection at a
//! redistributor is followed by INVALL, so LPIs that arrive through that
//! collection use the table as it is now. `lpi_tables.rs` covers
//! `map_collection`; these cover the other MAPCs: `move_collection`,
//! `move_collections`, `restore_collections` and the replay of `restore`.
//! Each shows a disabled LPI held back, where a redistributor without the
//! INVALL would deliver it from its stale "enabled".

use crate::support::room;
use crate::support::*;
use gicv3_its::{
    CollectionId, DeviceId, DmaMemory, DmaRegion, EventId, IntId, ItsConfig, LpiDomainConfig,
    ProcessorNumber,
};
use gicv3_its_model::{ItsModel, ModelConfig, MsiError};

const DEVICE: DeviceId = DeviceId(0x10);
const EVENT: EventId = EventId(0);

/// The event's LPI, first on collection 1 (CPU 1), whose redistributor
/// caches it enabled when its MSI arrives; then moved to collection 0
/// (CPU 0) and disabled there: the INV reaches CPU 0 only, and CPU 1 still
/// caches "enabled".
fn stale_on_cpu_1() -> (ItsModel, ModelIts, IntId) {
    let (model, mut its) = setup(ModelConfig::default());
    its.map_device(DEVICE, 1).unwrap();
    let lpi = its.map_event(DEVICE, EVENT, CollectionId(1)).unwrap();
    assert_eq!(model.send_msi(DEVICE, EVENT).unwrap().processor, 1);
    assert_eq!(model.take_pending(1), [lpi]);
    its.move_event(DEVICE, EVENT, CollectionId(0)).unwrap();
    its.configure_event(DEVICE, EVENT, 0xa0, false).unwrap();
    (model, its, lpi)
}

/// The event's MSI now reaches CPU 1, and its LPI is held back there.
fn held_on_cpu_1(model: &ItsModel, lpi: IntId) {
    assert_eq!(
        model.send_msi(DEVICE, EVENT),
        Err(MsiError::LpiDisabled(lpi))
    );
    assert_eq!(model.take_pending(1), []);
    assert_no_violations(model);
}

#[test]
fn move_collection_drops_what_the_new_redistributor_cached() {
    let (model, mut its, lpi) = stale_on_cpu_1();
    its.move_collection(CollectionId(0), ProcessorNumber(1))
        .unwrap();
    held_on_cpu_1(&model, lpi);
}

#[test]
fn move_collections_drops_what_the_new_redistributor_cached() {
    let (model, mut its, lpi) = stale_on_cpu_1();
    its.move_collections(ProcessorNumber(0), ProcessorNumber(1))
        .unwrap();
    held_on_cpu_1(&model, lpi);
}

#[test]
fn restore_collections_drops_what_the_redistributor_cached() {
    let (model, mut its, lpi) = stale_on_cpu_1();
    // Saved and restored in memory, CPU 1 coming back last: collection 1
    // waits for it, and the event (on collection 0) is replayed at once.
    its.save().unwrap();
    its.domain().save().unwrap();
    its.domain()
        .init_redistributor(&model.gicr(0), model.config().redistributors[0])
        .unwrap();
    let _ = its.restore().unwrap();
    its.domain()
        .init_redistributor(&model.gicr(1), model.config().redistributors[1])
        .unwrap();
    its.restore_collections(ProcessorNumber(1)).unwrap();
    // Back to collection 1 (MOVI carries no invalidation of its own).
    its.move_event(DEVICE, EVENT, CollectionId(1)).unwrap();
    held_on_cpu_1(&model, lpi);
}

/// Hibernation where EnableLPIs cannot be cleared, so every kernel uses the
/// same LPI tables: the image kernel disabled its LPI 8192 before saving;
/// the boot kernel then used 8192 enabled on CPU 0, whose redistributor
/// cached that; once resumed, the image kernel's restore rewrites the
/// property table and its replay (MAPC, INVALL) makes CPU 0 read it again.
#[test]
fn restore_drops_what_a_boot_kernel_left_cached() {
    let model = ItsModel::new(ModelConfig {
        sticky_enable_lpis: true,
        redistributors: vec![0x080a_0000],
        ..ModelConfig::default()
    });
    let domain_config = LpiDomainConfig::default();
    let bytes = domain_config.region_bytes(1);
    let region = model
        .memory()
        .allocate_zeroed(gicv3_its::DmaRequest::new(bytes, 65536))
        .unwrap();
    let (virt, phys) = (region.virt(), region.phys());

    let image_domain = room::domain_with_region(model.memory(), region, domain_config).unwrap();
    init_redistributors(&model, &image_domain);
    let mut image = room::probe(
        model.gits(),
        model.memory(),
        &image_domain,
        ItsConfig::default(),
    )
    .unwrap();
    image
        .map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    image.map_device(DEVICE, 1).unwrap();
    let lpi = image.map_event(DEVICE, EVENT, CollectionId(0)).unwrap();
    image.configure_event(DEVICE, EVENT, 0xa0, false).unwrap();
    image.save().unwrap();
    image_domain.save().unwrap();

    // The boot kernel, on the same tables.
    // SAFETY: the region the image kernel's domain uses; the boot kernel
    // runs while the image kernel does not.
    let same = unsafe { DmaRegion::new(virt, phys, bytes) };
    let boot_domain = room::domain_with_region(model.memory(), same, domain_config).unwrap();
    init_redistributors(&model, &boot_domain);
    let mut boot = room::probe(
        model.gits(),
        model.memory(),
        &boot_domain,
        ItsConfig::default(),
    )
    .unwrap();
    boot.map_collection(CollectionId(0), ProcessorNumber(0))
        .unwrap();
    boot.map_device(DeviceId(0x20), 1).unwrap();
    let its_lpi = boot
        .map_event(DeviceId(0x20), EVENT, CollectionId(0))
        .unwrap();
    assert_eq!(its_lpi, lpi);
    model.send_msi(DeviceId(0x20), EVENT).unwrap();
    assert_eq!(model.take_pending(0), [lpi]);
    boot.save().unwrap();
    boot_domain.save().unwrap();
    // It jumps into the image: none of its code runs again.
    room::forget(boot);
    room::forget(boot_domain);

    init_redistributors(&model, &image_domain);
    let _ = image.restore().unwrap();
    assert_eq!(
        model.send_msi(DEVICE, EVENT),
        Err(MsiError::LpiDisabled(lpi))
    );
    assert_eq!(model.take_pending(0), []);
    assert_no_violations(&model);
}
