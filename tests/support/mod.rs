//! Shared set-up for the host tests: a driver on a software ITS model, and
//! checks that compare what the model's tables hold with the registry.

#![allow(dead_code)]

use gicv3_its::{
    CollectionId, DeviceId, EventId, IntId, Its, ItsConfig, LpiDomain, LpiDomainConfig,
    ProcessorNumber,
};
use gicv3_its_model::{ItsModel, ModelConfig, ModelGits, ModelMemory, Translation};
use std::collections::BTreeMap;

pub type ModelIts = Its<ModelGits, ModelMemory>;
pub type ModelDomain = LpiDomain<ModelMemory>;

/// A model, a probed driver with every redistributor initialised, and one
/// collection per CPU (ICID = processor number).
pub fn setup(config: ModelConfig) -> (ItsModel, ModelIts) {
    setup_with(config, ItsConfig::default())
}

pub fn setup_with(config: ModelConfig, its_config: ItsConfig) -> (ItsModel, ModelIts) {
    setup_full(config, its_config, LpiDomainConfig::default())
}

pub fn setup_full(
    config: ModelConfig,
    its_config: ItsConfig,
    domain_config: LpiDomainConfig,
) -> (ItsModel, ModelIts) {
    let model = ItsModel::new(config);
    let domain = new_domain(&model, domain_config);
    let mut its = Its::probe(model.gits(), model.memory(), &domain, its_config).expect("probe");
    for cpu in 0..model.config().redistributors.len() as u16 {
        its.map_collection(CollectionId(cpu), ProcessorNumber(cpu))
            .expect("map collection");
    }
    assert_no_violations(&model);
    (model, its)
}

/// An LPI domain on the model's memory with every redistributor
/// initialised.
pub fn new_domain(model: &ItsModel, config: LpiDomainConfig) -> ModelDomain {
    let domain = LpiDomain::new(model.memory(), config).expect("LPI domain");
    init_redistributors(model, &domain);
    domain
}

/// A driver probed on the model with a domain of its own.
pub fn probe(model: &ItsModel, config: ItsConfig) -> ModelIts {
    let domain = new_domain(model, LpiDomainConfig::default());
    Its::probe(model.gits(), model.memory(), &domain, config).expect("probe")
}

pub fn init_redistributors(model: &ItsModel, domain: &ModelDomain) {
    for (index, rd_base) in model.config().redistributors.iter().enumerate() {
        let cpu = domain
            .init_redistributor(&model.gicr(index), *rd_base)
            .expect("init redistributor");
        assert_eq!(usize::from(cpu.0), index);
    }
}

/// What the registry says every live event translates to: (DeviceID,
/// EventID) to (INTID, ICID).
pub fn registry_view(its: &ModelIts) -> BTreeMap<(DeviceId, EventId), (IntId, CollectionId)> {
    its.registry()
        .devices()
        .filter(|(_, record)| record.is_live())
        .flat_map(|(device_id, record)| {
            record
                .events()
                .map(move |(event_id, m)| ((device_id, event_id), (m.intid(), m.icid())))
        })
        .collect()
}

/// The model's translation of every mapping equals the registry's, and the
/// model reached each through a valid DTE and CTE.
pub fn assert_model_matches_registry(model: &ItsModel, its: &ModelIts) {
    let expected = registry_view(its);
    assert_eq!(
        model.mappings(),
        expected,
        "ITS tables differ from the registry"
    );
    for (&(device_id, event_id), &(intid, icid)) in &expected {
        let processor = its
            .registry()
            .collections()
            .find(|(id, _)| *id == icid)
            .map(|(_, record)| usize::from(record.processor_number.0))
            .expect("collection recorded");
        assert_eq!(
            model.translate(device_id, event_id),
            Some(Translation {
                intid,
                icid,
                processor
            }),
            "translation of ({device_id:#x}, {event_id})"
        );
    }
    let live_devices: Vec<DeviceId> = its
        .registry()
        .devices()
        .filter(|(_, r)| r.is_live())
        .map(|(id, _)| id)
        .collect();
    assert_eq!(model.valid_device_ids(), live_devices);
}

pub fn assert_no_violations(model: &ItsModel) {
    let violations = model.violations();
    assert!(violations.is_empty(), "spec violations: {violations:#?}");
}
