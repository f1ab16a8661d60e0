//! An ITS that allocates through its LPI domain's memory provider
//! (`Its::probe_sharing`): one provider, which cannot be cloned, serves the
//! LPI tables and the ITS, and gets back everything the ITS took.

use crate::support::room;
use crate::support::*;
use core::ptr::NonNull;
use gicv3_its::{
    CollectionId, DeviceId, DmaMemory, DmaRegion, DmaRequest, EventId, ItsConfig, LpiDomainConfig,
    ProcessorNumber,
};
use gicv3_its_model::{ItsModel, ModelConfig, ModelMemory};

/// The model's memory behind a provider that is not `Clone`, as a kernel's
/// own frame allocator may be.
struct Unshared(ModelMemory);

// SAFETY: every call goes to the model's memory, which keeps the promises.
unsafe impl DmaMemory for Unshared {
    fn allocate_zeroed(&mut self, request: DmaRequest) -> Option<DmaRegion> {
        self.0.allocate_zeroed(request)
    }

    fn deallocate(&mut self, region: DmaRegion, request: DmaRequest) {
        self.0.deallocate(region, request);
    }

    fn clean_invalidate_to_poc(&self, virt: NonNull<u8>, len: usize) {
        self.0.clean_invalidate_to_poc(virt, len);
    }
}

#[test]
fn an_its_allocates_through_the_domains_provider_and_gives_everything_back() {
    let model = ItsModel::new(ModelConfig::default());
    let domain =
        room::domain(Unshared(model.memory()), LpiDomainConfig::default()).expect("LPI domain");
    let init = || {
        for (index, rd_base) in model.config().redistributors.iter().enumerate() {
            domain
                .init_redistributor(&model.gicr(index), *rd_base)
                .expect("init redistributor");
        }
    };
    init();
    let domain_only = model.live_allocations();
    let mut its = room::probe_sharing(model.gits(), &domain, ItsConfig::default()).expect("probe");
    assert!(
        model.live_allocations().len() > domain_only.len(),
        "the ITS's tables and queue came from the domain's provider"
    );
    its.map_collection(CollectionId(0), ProcessorNumber(0))
        .expect("map collection");
    its.map_device(DeviceId(1), 4).expect("map device");
    let lpi = its
        .map_event(DeviceId(1), EventId(2), CollectionId(0))
        .expect("map event");
    let translated = |model: &ItsModel| model.translate(DeviceId(1), EventId(2)).map(|t| t.intid);
    assert_eq!(translated(&model), Some(lpi));

    its.save().expect("save");
    domain.save().expect("domain save");
    assert_eq!(translated(&model), None);
    init();
    let restored = its.restore().expect("restore");
    assert_eq!((restored.devices, restored.events), (1, 1));
    assert_eq!(translated(&model), Some(lpi));

    drop(its);
    assert_eq!(
        model.live_allocations(),
        domain_only,
        "everything the ITS took went back to the domain's provider"
    );
    assert_no_violations(&model);
}
