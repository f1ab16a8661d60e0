//! One ITS on a random model configuration (QEMU-like, non-coherent,
//! asynchronous, PTA, KVM's), with random faults.

use crate::ops::{Op, apply, expected_error, op};
use crate::support::*;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{ItsConfig, ItsState};
use gicv3_its_model::{Coherency, Consumption, ModelConfig};
use proptest::prelude::*;

fn model_config() -> impl Strategy<Value = ModelConfig> {
    prop_oneof![3 => spec_config(), 1 => kvm_config()]
}

/// KVM's emulated ITS, consuming commands at once or a few per CREADR read.
fn kvm_config() -> impl Strategy<Value = ModelConfig> {
    any::<bool>().prop_map(|asynchronous| ModelConfig {
        consumption: consumption(asynchronous),
        arena_size: 16 << 20,
        ..ModelConfig::kvm()
    })
}

/// What the spec allows, as QEMU and hardware choose it.
fn spec_config() -> impl Strategy<Value = ModelConfig> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(two_level, shareable, asynchronous, pta)| ModelConfig {
            devbits: if two_level { 20 } else { 16 },
            coherency: if shareable {
                Coherency::Coherent
            } else {
                Coherency::NonCoherent
            },
            shareable,
            pta,
            consumption: consumption(asynchronous),
            arena_size: 16 << 20,
            ..ModelConfig::default()
        },
    )
}

/// Commands consumed at once, or a few per GITS_CREADR read.
fn consumption(asynchronous: bool) -> Consumption {
    if asynchronous {
        Consumption::Asynchronous {
            commands_per_creadr_read: 3,
        }
    } else {
        Consumption::Synchronous
    }
}

fn check(model: &gicv3_its_model::ItsModel, its: &ModelIts) {
    // A hypervisor saving the VM writes only memory the model handed out
    // (else a violation), and nothing at all while saved.
    let saved_writes = model.kvm_save_tables();
    match its.state() {
        ItsState::Active | ItsState::Restoring => {
            assert_model_matches_registry(model, its);
            assert_msis_follow_the_lpi_configuration(model, its);
        }
        ItsState::Saved => {
            assert!(model.valid_device_ids().is_empty());
            assert!(model.valid_collections().is_empty());
            assert!(model.mappings().is_empty());
            assert_eq!(saved_writes, []);
        }
        ItsState::NeedsRecovery => {}
    }
    assert_no_violations(model);
}

/// An MSI to every live event is delivered exactly when the registry says
/// its LPI is enabled: the property table and the redistributors' cached
/// configuration (INV, INVALL after a restore) agree with the registry.
fn assert_msis_follow_the_lpi_configuration(model: &gicv3_its_model::ItsModel, its: &ModelIts) {
    use gicv3_its_model::MsiError;
    for (device_id, record) in its.registry().devices().filter(|(_, r)| r.is_live()) {
        for (event_id, mapping) in record.events() {
            let result = model.send_msi(device_id, event_id);
            if mapping.config().enabled() {
                assert_eq!(
                    result.map(|t| t.intid),
                    Ok(mapping.intid()),
                    "MSI ({device_id:#x}, {event_id})"
                );
            } else {
                assert_eq!(
                    result.map(|t| t.intid),
                    Err(MsiError::LpiDisabled(mapping.intid())),
                    "MSI ({device_id:#x}, {event_id}) to a disabled LPI"
                );
            }
        }
    }
    for processor in 0..model.config().redistributors.len() {
        model.take_pending(processor);
    }
}

/// Runs `ops` on `its`, checking the model against the registry after
/// each, then saves and restores once more.
fn run(
    model: &gicv3_its_model::ItsModel,
    its: &mut ModelIts,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    for op in ops {
        let result = if let Some(result) = apply(its, &op) {
            result
        } else {
            match op {
                Op::Save => its.save(),
                // Every redistributor stays ready: nothing is deferred.
                Op::Restore => its.restore().map(|restored| {
                    assert_eq!(restored.deferred_collections, 0, "{restored:?}");
                }),
                Op::ResetWhileSaved => {
                    if its.state() == ItsState::Saved {
                        model.reset();
                        init_redistributors(model, its.domain());
                    }
                    Ok(())
                }
                Op::FailAllocationAfter { n } => {
                    model.fail_allocations_after(n);
                    Ok(())
                }
                Op::StallAfter { n } => {
                    let processed = model.command_log().len() as u64;
                    model.reconfigure(|c| c.stall_on_command = Some(processed + n));
                    Ok(())
                }
                _ => unreachable!("a mapping operation: `apply` ran it"),
            }
        };
        if let Err(error) = &result {
            prop_assert!(expected_error(error), "unexpected {error:?}");
        }
        // Faults are one-shot: clear them, and recover from a stall.
        model.fail_allocations(false);
        model.reconfigure(|c| c.stall_on_command = None);
        if its.state() == ItsState::NeedsRecovery {
            its.recover().unwrap();
        }
        check(model, its);
    }
    // Whatever happened, a save leaves nothing and a restore brings back
    // exactly the registry.
    let _ = its.restore();
    its.save().unwrap();
    check(model, its);
    let _ = its.restore().unwrap();
    prop_assert_eq!(its.unreplayed_devices().count(), 0);
    check(model, its);
    Ok(())
}

/// A driver on `config` whose registry lives in `storage` (small: maps
/// fail with `StorageFull` at random points), one collection per CPU.
fn in_storage<const D: usize, const E: usize, const P: usize>(
    config: ModelConfig,
    its_config: ItsConfig,
) -> (gicv3_its_model::ItsModel, ModelIts) {
    let model = gicv3_its_model::ItsModel::new(config);
    let domain = new_domain(&model, gicv3_its::LpiDomainConfig::default());
    let mut its =
        gicv3_its::Its::probe(model.gits(), model.memory(), &domain, its_config).expect("probe");
    let storage = Box::leak(Box::new(gicv3_its::ItsStorage::<D, E, 8, P>::new()));
    its.use_storage(storage).expect("storage");
    for (icid, cpu) in processor_numbers(&model).enumerate() {
        its.map_collection(gicv3_its::CollectionId(icid as u16), cpu)
            .expect("map collection");
    }
    (model, its)
}

fn its_config() -> ItsConfig {
    ItsConfig {
        wait: WaitPolicy {
            poll_budget: 10_000,
            ..WaitPolicy::default()
        },
        ..ItsConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn model_always_translates_what_the_registry_says(
        config in model_config(),
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let (model, mut its) = setup_with(config, its_config());
        run(&model, &mut its, ops)?;
    }

    /// The same with the registry in small storage of the caller's, as
    /// without the heap: full stores refuse maps at random points, and
    /// nothing else changes.
    #[test]
    fn a_registry_in_small_storage_stays_what_the_model_translates(
        config in model_config(),
        room in 0..3usize,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let (model, mut its) = match room {
            0 => in_storage::<2, 6, 1>(config, its_config()),
            1 => in_storage::<4, 12, 2>(config, its_config()),
            _ => in_storage::<8, 40, 4>(config, its_config()),
        };
        run(&model, &mut its, ops)?;
    }
}
