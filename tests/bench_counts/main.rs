//! The deterministic half of the save/restore benchmark as ordinary tests
//! on the ITS model, so that a regression in what save and restore make the
//! hardware do fails CI: commands, doorbells, completion waits and polls,
//! how they grow, the registry's heap and the table memory. No timing.
//!
//! The workload (fake DeviceIDs from 0x100, four collections on four
//! redistributors, the floor's command lists) is the benchmark's own,
//! `crates/bench-workload`.

extern crate alloc;

mod commands;
#[path = "../../benches/support/heap.rs"]
mod heap;
mod memory;
use bench_workload as workload;

use gicv3_its::{
    Batching, Its, ItsConfig, LpiDomain, LpiDomainConfig, ProcessorNumber, QueueStats,
};
use gicv3_its_model::{ItsModel, ModelConfig, ModelGits, ModelMemory, PageSizes};
use heap::{CountingAllocator, Uncounted};
use std::collections::BTreeMap;
use workload::{COLLECTIONS, Counts, FLAT_DEVICE_TABLE_BYTES, Geometry, TableBytes};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

type BenchIts = Its<Uncounted<ModelGits>, Uncounted<ModelMemory>>;

/// The model's redistributors: one collection on each.
const REDISTRIBUTORS: u64 = 4;
/// Slots of the driver's default queue.
const SLOTS: u64 = 2048;

fn model_config() -> ModelConfig {
    ModelConfig {
        redistributors: (0..REDISTRIBUTORS)
            .map(|i| 0x080a_0000 + i * 0x2_0000)
            .collect(),
        ..ModelConfig::default()
    }
}

fn its_config(batching: Batching) -> ItsConfig {
    ItsConfig {
        batching,
        // A flat Device table, as the floor writes its commands against the
        // tables the driver left, and save gives level-2 pages back.
        max_flat_device_table_bytes: FLAT_DEVICE_TABLE_BYTES,
        ..ItsConfig::default()
    }
}

/// LPI tables for the model's redistributors, at 16 LPI bits.
fn domain_config() -> LpiDomainConfig {
    LpiDomainConfig {
        ..LpiDomainConfig::default()
    }
}

/// A driver on `model` with its redistributors and collections set up.
fn probe(model: &ItsModel, config: ItsConfig) -> BenchIts {
    probe_with(model, config, domain_config())
}

fn probe_with(model: &ItsModel, config: ItsConfig, domain_config: LpiDomainConfig) -> BenchIts {
    let domain = LpiDomain::new(Uncounted(model.memory()), domain_config).expect("LPI domain");
    for (index, &rd_base) in model.config().redistributors.iter().enumerate() {
        domain
            .init_redistributor(&Uncounted(model.gicr(index)), rd_base)
            .expect("init redistributor");
    }
    let mut its = Its::probe(
        Uncounted(model.gits()),
        Uncounted(model.memory()),
        &domain,
        config,
    )
    .expect("probe");
    workload::map_collections(&mut its, |icid| {
        ProcessorNumber(icid.0 % REDISTRIBUTORS as u16)
    })
    .expect("collections");
    its
}

/// A model and a driver with `devices` x `events` mapped.
fn mapped(devices: u32, events: u32, config: ItsConfig) -> (ItsModel, BenchIts) {
    mapped_with(devices, events, config, domain_config())
}

fn mapped_with(
    devices: u32,
    events: u32,
    config: ItsConfig,
    domain_config: LpiDomainConfig,
) -> (ItsModel, BenchIts) {
    let model = ItsModel::new(model_config());
    let mut its = probe_with(&model, config, domain_config);
    workload::map_devices(&mut its, 0, devices, events).expect("map devices");
    workload::map_events(&mut its, 0, devices, events).expect("map events");
    (model, its)
}

/// What the model processed, by command name, and its CREADR reads.
fn model_counts(model: &ItsModel) -> (BTreeMap<&'static str, u64>, u64) {
    let stats = model.stats();
    (stats.commands, stats.polls)
}

/// Commands by name processed between two snapshots.
fn processed(
    before: &BTreeMap<&'static str, u64>,
    after: &BTreeMap<&'static str, u64>,
    name: &str,
) -> u64 {
    after.get(name).copied().unwrap_or(0) - before.get(name).copied().unwrap_or(0)
}

/// One save and one restore: their counts, and the commands the model saw
/// in each, by name.
struct Round {
    save: Counts,
    restore: Counts,
    saved: BTreeMap<&'static str, u64>,
    restored: BTreeMap<&'static str, u64>,
    /// CREADR reads the model saw in save and restore together.
    model_polls: u64,
}

fn round(model: &ItsModel, its: &mut BenchIts) -> Round {
    let count = |before: QueueStats, after: QueueStats| Counts::between(before, after);
    let (m0, p0) = model_counts(model);
    let s0 = its.queue_stats();
    its.save().expect("save");
    let (m1, _) = model_counts(model);
    let s1 = its.queue_stats();
    let _ = its.restore().expect("restore");
    let (m2, p2) = model_counts(model);
    let s2 = its.queue_stats();
    let by_name = |before: &BTreeMap<_, _>, after: &BTreeMap<_, _>| {
        after
            .keys()
            .map(|&name| (name, processed(before, after, name)))
            .filter(|&(_, n)| n > 0)
            .collect()
    };
    assert!(model.violations().is_empty(), "{:?}", model.violations());
    Round {
        save: count(s0, s1),
        restore: count(s1, s2),
        saved: by_name(&m0, &m1),
        restored: by_name(&m1, &m2),
        model_polls: p2 - p0,
    }
}

fn names(pairs: &[(&'static str, u64)]) -> BTreeMap<&'static str, u64> {
    pairs.iter().copied().filter(|&(_, n)| n > 0).collect()
}

/// The benchmark points the counts are checked at: (devices, events).
const POINTS: [(u32, u32); 6] = [(1, 1), (16, 8), (256, 1), (256, 32), (1024, 8), (1024, 32)];
