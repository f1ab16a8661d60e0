//! Shared set-up for the host tests: a driver on a software ITS model, and
//! checks that compare what the model's tables hold with the registry.

#![allow(dead_code)]

use gicv3_its::quirks::{QuirkOverrides, Quirks};
use gicv3_its::{
    CollectionId, DeviceId, EventId, IntId, Its, ItsConfig, ItsError, LpiDomain, LpiDomainConfig,
    ProcessorNumber,
};
use gicv3_its_model::{
    ItsModel, ModelConfig, ModelGits, ModelMemory, MsiError, Translation, Violation,
};
use std::collections::BTreeMap;

pub mod room;

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
    let mut its = room::probe(model.gits(), model.memory(), &domain, its_config).expect("probe");
    for (icid, cpu) in processor_numbers(&model).enumerate() {
        its.map_collection(CollectionId(icid as u16), cpu)
            .expect("map collection");
    }
    assert_no_violations(&model);
    (model, its)
}

/// An LPI domain on the model's memory with every redistributor
/// initialised.
pub fn new_domain(model: &ItsModel, config: LpiDomainConfig) -> ModelDomain {
    let domain = room::domain(model.memory(), config).expect("LPI domain");
    init_redistributors(model, &domain);
    domain
}

/// A driver probed on the model with a domain of its own.
pub fn probe(model: &ItsModel, config: ItsConfig) -> ModelIts {
    let domain = new_domain(model, LpiDomainConfig::default());
    room::probe(model.gits(), model.memory(), &domain, config).expect("probe")
}

pub fn init_redistributors(model: &ItsModel, domain: &ModelDomain) {
    for (index, rd_base) in model.config().redistributors.iter().enumerate() {
        let cpu = domain
            .init_redistributor_with_vlpi(&model.gicr(index), &model.gicr_vlpi(index), *rd_base)
            .expect("init redistributor");
        assert_eq!(cpu.0, model.config().processor_number(index));
    }
}

/// The processor number of each of the model's redistributors, in order.
pub fn processor_numbers(model: &ItsModel) -> impl Iterator<Item = ProcessorNumber> {
    let config = model.config();
    (0..config.redistributors.len())
        .map(move |index| ProcessorNumber(config.processor_number(index)))
}

/// The model's index of the redistributor with processor number `cpu`.
pub fn redistributor_index(model: &ItsModel, cpu: ProcessorNumber) -> usize {
    model
        .config()
        .redistributor_index(cpu.0)
        .expect("a redistributor of the model")
}

/// Maps `devices` devices (DeviceIDs 0x100, 0x108, ...) with `events`
/// events each, spread over collections 0 to 3.
pub fn populate(its: &mut ModelIts, devices: u32, events: u32) {
    for d in 0..devices {
        let device_id = 0x100 + d * 8;
        its.map_device(DeviceId(device_id), events).unwrap();
        for e in 0..events {
            its.map_event(
                DeviceId(device_id),
                EventId(e),
                CollectionId(((d + e) % 4) as u16),
            )
            .unwrap();
        }
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
            .map(|(_, record)| redistributor_index(model, record.processor_number()))
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

// ------------------------------------------------ a workload and its outcome

/// What went wrong when a driver ran a workload on a model; nothing at all
/// when the driver handled the hardware.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The first error the driver returned, and the step that returned it
    /// (the workload stops there).
    pub error: Option<(&'static str, ItsError)>,
    /// MSIs that did not arrive as the registry says: lost, on another LPI
    /// or CPU, or delivered while their LPI was disabled.
    pub wrong_deliveries: Vec<String>,
    /// What the model caught: the GIC reading or writing memory it should
    /// not, commands it could not decode, register writes it ignored.
    pub violations: Vec<Violation>,
}

impl Outcome {
    pub fn is_clean(&self) -> bool {
        self.error.is_none() && self.wrong_deliveries.is_empty() && self.violations.is_empty()
    }

    pub fn assert_clean(&self) {
        assert!(self.is_clean(), "expected a clean run: {self:#?}");
    }

    /// Whether the model caught a violation matching `wanted`.
    pub fn caught(&self, wanted: impl Fn(&Violation) -> bool) -> bool {
        self.violations.iter().any(wanted)
    }
}

/// Quirk overrides that ignore `quirks`.
pub fn ignoring(quirks: Quirks) -> QuirkOverrides {
    QuirkOverrides {
        ignore: quirks,
        ..QuirkOverrides::default()
    }
}

/// Quirk overrides that force `quirks`.
pub fn forcing(quirks: Quirks) -> QuirkOverrides {
    QuirkOverrides {
        force: quirks,
        ..QuirkOverrides::default()
    }
}

/// An ITS and an LPI domain configuration with the same quirk overrides.
pub fn with_overrides(quirks: QuirkOverrides) -> (ItsConfig, LpiDomainConfig) {
    (
        ItsConfig {
            quirks,
            ..ItsConfig::default()
        },
        LpiDomainConfig {
            quirks,
            ..LpiDomainConfig::default()
        },
    )
}

/// A driver on `model`: an LPI domain, every redistributor initialised, the
/// ITS probed, one collection per CPU (ICID = processor number).
pub fn bring_up(
    model: &ItsModel,
    its_config: ItsConfig,
    domain_config: LpiDomainConfig,
) -> Result<ModelIts, (&'static str, ItsError)> {
    let domain = room::domain(model.memory(), domain_config).map_err(|e| ("LpiDomain::new", e))?;
    for (index, rd_base) in model.config().redistributors.iter().enumerate() {
        domain
            .init_redistributor_with_vlpi(&model.gicr(index), &model.gicr_vlpi(index), *rd_base)
            .map_err(|e| ("init_redistributor", e))?;
    }
    let mut its =
        room::probe(model.gits(), model.memory(), &domain, its_config).map_err(|e| ("probe", e))?;
    for (icid, cpu) in processor_numbers(model).enumerate() {
        its.map_collection(CollectionId(icid as u16), cpu)
            .map_err(|e| ("map_collection", e))?;
    }
    Ok(its)
}

/// Brings a driver up on a model of `config` and runs [`exercise`] with
/// DeviceID 0x10 and `events` events.
pub fn run(
    config: ModelConfig,
    its_config: ItsConfig,
    domain_config: LpiDomainConfig,
    events: u32,
) -> Outcome {
    let model = ItsModel::new(config);
    let mut outcome = match bring_up(&model, its_config, domain_config) {
        Ok(mut its) => {
            let outcome = exercise(&model, &mut its, DeviceId(0x10), events);
            // A driver the model broke may not tear down cleanly.
            std::mem::forget(its);
            outcome
        }
        Err(error) => Outcome {
            error: Some(error),
            ..Outcome::default()
        },
    };
    outcome.violations = model.take_violations();
    outcome
}

/// Maps `device` with `events` events spread over the collections, sends
/// each an MSI and checks it arrives once, on the LPI and CPU the registry
/// says; disables event 0's LPI and checks its MSI is held back, enables it
/// and checks it then arrives; saves and restores the ITS (the
/// redistributors keep running) and checks event 0 again. Stops at the
/// first driver error. The violations are left in the model.
pub fn exercise(model: &ItsModel, its: &mut ModelIts, device: DeviceId, events: u32) -> Outcome {
    let mut outcome = Outcome::default();
    if let Err(error) = workload(model, its, device, events, &mut outcome.wrong_deliveries) {
        outcome.error = Some(error);
    }
    outcome
}

fn workload(
    model: &ItsModel,
    its: &mut ModelIts,
    device: DeviceId,
    events: u32,
    wrong: &mut Vec<String>,
) -> Result<(), (&'static str, ItsError)> {
    let cpus = model.config().redistributors.len() as u32;
    its.map_device(device, events)
        .map_err(|e| ("map_device", e))?;
    for event in 0..events {
        let icid = CollectionId((event % cpus) as u16);
        its.map_event(device, EventId(event), icid)
            .map_err(|e| ("map_event", e))?;
    }
    for event in (0..events).map(EventId) {
        check_delivery(model, its, device, event, wrong);
    }

    let event = EventId(0);
    let (lpi, cpu) = expected(model, its, device, event);
    its.configure_event(device, event, 0xa0, false)
        .map_err(|e| ("configure_event", e))?;
    let held = model.send_msi(device, event);
    if held != Err(MsiError::LpiDisabled(lpi)) {
        wrong.push(format!("MSI of disabled {lpi:?}: {held:?}"));
    }
    let taken = model.take_pending(cpu);
    if !taken.is_empty() {
        wrong.push(format!("disabled {lpi:?}: CPU {cpu} took {taken:?}"));
    }
    its.configure_event(device, event, 0xa0, true)
        .map_err(|e| ("configure_event", e))?;
    let taken = model.take_pending(cpu);
    if taken != [lpi] {
        wrong.push(format!("re-enabled {lpi:?}: CPU {cpu} took {taken:?}"));
    }

    its.save().map_err(|e| ("save", e))?;
    its.domain().save().map_err(|e| ("LpiDomain::save", e))?;
    for (index, rd_base) in model.config().redistributors.iter().enumerate() {
        its.domain()
            .init_redistributor_with_vlpi(&model.gicr(index), &model.gicr_vlpi(index), *rd_base)
            .map_err(|e| ("init_redistributor", e))?;
    }
    let restored = its.restore().map_err(|e| ("restore", e))?;
    if restored.deferred_collections != 0 {
        wrong.push(format!("restore deferred collections: {restored:?}"));
    }
    check_delivery(model, its, device, event, wrong);
    Ok(())
}

/// The LPI and CPU (the model's redistributor index) the registry says an
/// event arrives on.
fn expected(model: &ItsModel, its: &ModelIts, device: DeviceId, event: EventId) -> (IntId, usize) {
    let mapping = its.registry().event(device, event).expect("mapped event");
    let cpu = its
        .registry()
        .collections()
        .find(|(id, _)| *id == mapping.icid())
        .map(|(_, record)| redistributor_index(model, record.processor_number()))
        .expect("collection recorded");
    (mapping.intid(), cpu)
}

/// Sends the event's MSI and checks it arrives once, as the registry says.
fn check_delivery(
    model: &ItsModel,
    its: &ModelIts,
    device: DeviceId,
    event: EventId,
    wrong: &mut Vec<String>,
) {
    let (lpi, cpu) = expected(model, its, device, event);
    match model.send_msi(device, event) {
        Ok(t) if (t.intid, t.processor) == (lpi, cpu) => {}
        other => wrong.push(format!(
            "MSI ({device:?}, {event:?}) for {lpi:?} on CPU {cpu}: {other:?}"
        )),
    }
    let taken = model.take_pending(cpu);
    if taken != [lpi] {
        wrong.push(format!(
            "({device:?}, {event:?}): CPU {cpu} took {taken:?}, not [{lpi:?}]"
        ));
    }
}

/// Violations that are all pending tables the CPU zeroed without cleaning
/// (the GIC sees them non-zero under PTZ = 1), at least one.
pub fn uncleaned_pending_tables_only(violations: &[Violation]) -> bool {
    !violations.is_empty()
        && violations
            .iter()
            .all(|v| matches!(v, Violation::PendingTableNotZero(_)))
}
