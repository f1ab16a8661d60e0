//! Two ITSes sharing one LPI domain, as on servers with several ITSes: each
//! has its own tables, queue and registry, both map into the same INTIDs,
//! property table and redistributors. Judged by what the model's two ITSes
//! translate and deliver.

use crate::support::room;
use crate::support::*;
use gicv3_its::{
    CollectionId, DeviceId, EventId, IntId, Its, ItsConfig, ItsError, LpiDomainConfig,
    ProcessorNumber,
};
use gicv3_its_model::{ItsModel, ModelConfig, ModelGits, ModelMemory, Translation};
use std::collections::BTreeSet;

type Driver = Its<ModelGits, ModelMemory>;

/// A model with two ITSes, an LPI domain over its redistributors, and a
/// driver on each ITS with one collection per CPU.
fn two_its() -> (ItsModel, ModelDomain, Driver, Driver) {
    let model = ItsModel::new(ModelConfig {
        its_count: 2,
        ..ModelConfig::default()
    });
    let domain = new_domain(&model, LpiDomainConfig::default());
    let probe = |index: usize| {
        let mut its = room::probe(
            model.its(index).gits(),
            model.memory(),
            &domain,
            ItsConfig::default(),
        )
        .expect("probe");
        for cpu in 0..4 {
            its.map_collection(CollectionId(cpu), ProcessorNumber(cpu))
                .expect("collection");
        }
        its
    };
    let (a, b) = (probe(0), probe(1));
    (model, domain, a, b)
}

/// Maps `devices` devices of 4 events on `its`, from `first` (DeviceIDs),
/// spread over the four CPUs. Returns the LPIs.
fn populate(its: &mut Driver, first: u32, devices: u32) -> Vec<IntId> {
    let mut lpis = Vec::new();
    for d in 0..devices {
        let device = DeviceId(first + d);
        its.map_device(device, 4).unwrap();
        for e in 0..4 {
            let icid = CollectionId(((d + e) % 4) as u16);
            lpis.push(its.map_event(device, EventId(e), icid).unwrap());
        }
    }
    lpis
}

/// Every event of `its` translates, on its ITS of the model, to the LPI and
/// CPU the registry says, and its MSI is delivered there.
fn assert_translates(model: &ItsModel, index: usize, its: &Driver) {
    let view = model.its(index);
    for ((device, event), mapping) in its.registry().mappings() {
        let cpu = its
            .registry()
            .collections()
            .find(|(icid, _)| *icid == mapping.icid())
            .map(|(_, record)| usize::from(record.processor_number().0))
            .expect("collection recorded");
        let expected = Translation {
            intid: mapping.intid(),
            icid: mapping.icid(),
            processor: cpu,
        };
        assert_eq!(view.translate(device, event), Some(expected), "ITS {index}");
        assert_eq!(view.send_msi(device, event), Ok(expected), "ITS {index}");
        assert_eq!(model.take_pending(cpu), vec![mapping.intid()]);
    }
}

#[test]
fn both_map_the_same_device_ids_to_distinct_lpis() {
    let (model, domain, mut a, mut b) = two_its();
    // The same DeviceIDs on both ITSes (they are different devices behind
    // different ITSes), never the same LPI.
    let from_a = populate(&mut a, 0x10, 8);
    let from_b = populate(&mut b, 0x10, 8);
    let all: BTreeSet<IntId> = from_a.iter().chain(&from_b).copied().collect();
    assert_eq!(
        all.len(),
        from_a.len() + from_b.len(),
        "an LPI handed out twice"
    );
    assert_eq!(domain.allocated_lpis(), 64);
    assert_translates(&model, 0, &a);
    assert_translates(&model, 1, &b);
    // Each ITS's tables hold its own mappings only.
    assert_eq!(model.its(0).mappings().len(), 32);
    assert_eq!(model.its(1).mappings().len(), 32);
    // An LPI one ITS holds cannot go to the other; once freed, it can.
    b.map_device(DeviceId(0x100), 1).unwrap();
    assert_eq!(
        b.map_event_to_lpi(DeviceId(0x100), EventId(0), CollectionId(0), from_a[0]),
        Err(ItsError::LpiInUse { intid: from_a[0] })
    );
    a.unmap_device(DeviceId(0x10)).unwrap();
    b.map_event_to_lpi(DeviceId(0x100), EventId(0), CollectionId(0), from_a[0])
        .unwrap();
    assert_translates(&model, 1, &b);
    assert_no_violations(&model);
}

#[test]
fn save_and_restore_both_across_a_power_cycle() {
    let (model, domain, mut a, mut b) = two_its();
    populate(&mut a, 0x10, 4);
    populate(&mut b, 0x20, 4);
    // The domain refuses to be saved while an ITS is live.
    a.save().unwrap();
    assert_eq!(domain.save(), Err(ItsError::ItsStillActive { active: 1 }));
    b.save().unwrap();
    domain.save().unwrap();
    for index in 0..2 {
        assert!(model.its(index).mappings().is_empty());
        assert!(model.its(index).valid_collections().is_empty());
        assert!(model.its(index).held_itts().is_empty());
    }
    model.reset();
    init_redistributors(&model, &domain);
    let _ = a.restore().unwrap();
    let _ = b.restore().unwrap();
    assert_translates(&model, 0, &a);
    assert_translates(&model, 1, &b);
    assert_no_violations(&model);
}

#[test]
fn restoring_one_leaves_the_other_s_lpis_configured() {
    let (model, _domain, mut a, mut b) = two_its();
    populate(&mut a, 0x10, 2);
    populate(&mut b, 0x20, 2);
    // A is saved and restored on its own (B stays live): A's restore
    // rewrites the property table for free LPIs and its own, not B's.
    a.save().unwrap();
    let _ = a.restore().unwrap();
    assert_translates(&model, 1, &b);
    assert_translates(&model, 0, &a);
    assert_no_violations(&model);
}

#[test]
fn moving_all_of_a_cpu_s_collections_is_refused_while_another_its_is_live() {
    let (model, _domain, mut a, mut b) = two_its();
    populate(&mut a, 0x10, 2);
    populate(&mut b, 0x20, 2);
    // MOVALL would move B's pending LPIs too.
    assert_eq!(
        a.move_collections(ProcessorNumber(1), ProcessorNumber(0)),
        Err(ItsError::SharedLpiDomain { itses: 2 })
    );
    // Moving one collection has no such effect and is allowed.
    a.move_collection(CollectionId(1), ProcessorNumber(0))
        .unwrap();
    b.save().unwrap();
    a.move_collections(ProcessorNumber(2), ProcessorNumber(0))
        .unwrap();
    assert_translates(&model, 0, &a);
    assert_no_violations(&model);
}

#[test]
fn dropping_one_its_frees_its_lpis_for_the_other() {
    let (model, domain, mut a, mut b) = two_its();
    let from_a = populate(&mut a, 0x10, 2);
    populate(&mut b, 0x20, 2);
    drop(a);
    assert_eq!(domain.allocated_lpis(), 8);
    assert!(model.its(0).mappings().is_empty());
    b.map_device(DeviceId(0x100), 8).unwrap();
    for (event, &lpi) in (0..).zip(&from_a) {
        b.map_event_to_lpi(DeviceId(0x100), EventId(event), CollectionId(0), lpi)
            .unwrap();
    }
    assert_translates(&model, 1, &b);
    assert_no_violations(&model);
}
