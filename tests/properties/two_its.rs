//! Two ITSes sharing one LPI domain, as on servers: random operations on
//! either, both saved (then the domain) and restored (redistributors
//! first) in the documented order, with power cycles between, and CPUs
//! going offline (their collections moved away on both ITSes first) and
//! coming back. After every step each ITS translates exactly what its own
//! registry says, no INTID is mapped twice, MSIs arrive as configured, and
//! a hypervisor saving the VM would write nothing of a saved ITS.

use crate::cases;
use crate::ops::{Op, apply, expected_error, mapping_op};
use crate::support::room;
use crate::support::*;
use gicv3_its::IntId;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{CollectionId, ItsConfig, ItsError, ItsState, LpiDomainConfig, ProcessorNumber};
use gicv3_its_model::{Coherency, ItsModel, ModelConfig, MsiError, Translation};
use proptest::prelude::*;
use std::collections::BTreeSet;

#[derive(Clone, Debug)]
enum Step {
    /// A mapping operation on ITS 0 or 1.
    On(usize, Op),
    /// Both ITSes saved, then the domain; a power cycle after, if `reset`.
    SaveAll { reset: bool },
    /// The online CPUs' redistributors initialised, then both ITSes
    /// restored.
    RestoreAll,
    /// A CPU goes offline: on both ITSes its collections move to another
    /// online CPU, then the domain marks it offline.
    Offline(u16),
    /// A CPU comes back: its redistributor initialised again.
    Online(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        12 => (0usize..2, mapping_op()).prop_map(|(its, op)| Step::On(its, op)),
        2 => any::<bool>().prop_map(|reset| Step::SaveAll { reset }),
        2 => Just(Step::RestoreAll),
        1 => (0u16..4).prop_map(Step::Offline),
        1 => (0u16..4).prop_map(Step::Online),
    ]
}

fn model_config() -> impl Strategy<Value = ModelConfig> {
    (any::<bool>(), any::<bool>()).prop_map(|(coherent, pta)| ModelConfig {
        its_count: 2,
        coherency: if coherent {
            Coherency::Coherent
        } else {
            Coherency::NonCoherent
        },
        shareable: coherent,
        pta,
        arena_size: 16 << 20,
        ..ModelConfig::default()
    })
}

/// The two drivers, the CPUs online, and the model.
struct Machine {
    model: ItsModel,
    its: [ModelIts; 2],
    online: BTreeSet<u16>,
}

impl Machine {
    fn new(config: ModelConfig) -> Self {
        let model = ItsModel::new(config);
        let domain = new_domain(&model, LpiDomainConfig::default());
        let its = [0, 1].map(|index| {
            let config = ItsConfig {
                wait: WaitPolicy {
                    poll_budget: 10_000,
                    ..WaitPolicy::default()
                },
                ..ItsConfig::default()
            };
            let mut its = room::probe(model.its(index).gits(), model.memory(), &domain, config)
                .expect("probe");
            for cpu in 0..4 {
                its.map_collection(CollectionId(cpu), ProcessorNumber(cpu))
                    .expect("collection");
            }
            its
        });
        Self {
            model,
            its,
            online: (0..4).collect(),
        }
    }

    fn saved(&self) -> bool {
        self.its.iter().all(|its| its.state() == ItsState::Saved)
    }

    fn active(&self) -> bool {
        self.its.iter().all(|its| its.state() == ItsState::Active)
    }

    fn run(&mut self, step: &Step) -> Result<(), ItsError> {
        match *step {
            Step::On(index, ref op) => apply(&mut self.its[index], op).expect("a mapping op"),
            Step::SaveAll { reset } => {
                for its in &mut self.its {
                    its.save()?;
                }
                self.its[0].domain().save()?;
                if reset {
                    self.model.reset();
                }
                Ok(())
            }
            Step::RestoreAll if self.saved() => {
                let domain = self.its[0].domain().clone();
                for &cpu in &self.online {
                    let index = usize::from(cpu);
                    domain.init_redistributor(
                        &self.model.gicr(index),
                        self.model.config().redistributors[index],
                    )?;
                }
                for its in &mut self.its {
                    let restored = its.restore()?;
                    // Collections only ever target online CPUs.
                    assert_eq!(restored.deferred_collections, 0, "{restored:?}");
                }
                Ok(())
            }
            Step::Offline(cpu) if self.active() && self.online.len() > 1 => {
                if !self.online.remove(&cpu) {
                    return Ok(());
                }
                let to = ProcessorNumber(*self.online.first().expect("another CPU"));
                for its in &mut self.its {
                    let moving: Vec<CollectionId> = its
                        .registry()
                        .collections()
                        .filter(|(_, record)| record.processor_number() == ProcessorNumber(cpu))
                        .map(|(icid, _)| icid)
                        .collect();
                    for icid in moving {
                        its.move_collection(icid, to)?;
                    }
                }
                self.its[0].domain().offline(ProcessorNumber(cpu))
            }
            Step::Online(cpu) if self.active() && !self.online.contains(&cpu) => {
                let index = usize::from(cpu);
                self.its[0].domain().init_redistributor(
                    &self.model.gicr(index),
                    self.model.config().redistributors[index],
                )?;
                self.online.insert(cpu);
                Ok(())
            }
            Step::RestoreAll | Step::Offline(_) | Step::Online(_) => Ok(()),
        }
    }

    /// Each ITS translates what its registry says (nothing once saved),
    /// every MSI arrives as configured, no INTID is mapped twice, and the
    /// model saw no violation.
    fn check(&self) {
        let mut intids = BTreeSet::<IntId>::new();
        for (index, its) in self.its.iter().enumerate() {
            let view = self.model.its(index);
            if its.state() == ItsState::Saved {
                assert!(view.mappings().is_empty(), "ITS {index} saved");
                assert_eq!(view.kvm_save_tables(), [], "ITS {index} saved");
                continue;
            }
            assert_eq!(view.mappings(), registry_view(its), "ITS {index}");
            for ((device, event), mapping) in its.registry().mappings() {
                assert!(
                    intids.insert(mapping.intid()),
                    "{:?} twice",
                    mapping.intid()
                );
                let cpu = its
                    .registry()
                    .collections()
                    .find(|(icid, _)| *icid == mapping.icid())
                    .map(|(_, record)| usize::from(record.processor_number().0))
                    .expect("collection recorded");
                let delivered = view.send_msi(device, event);
                if mapping.config().enabled() {
                    let expected = Translation {
                        intid: mapping.intid(),
                        icid: mapping.icid(),
                        processor: cpu,
                    };
                    assert_eq!(delivered, Ok(expected), "ITS {index}");
                } else {
                    assert_eq!(
                        delivered,
                        Err(MsiError::LpiDisabled(mapping.intid())),
                        "ITS {index}"
                    );
                }
            }
        }
        for cpu in 0..4 {
            self.model.take_pending(cpu);
        }
        assert_no_violations(&self.model);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn two_itses_on_one_domain_translate_what_their_registries_say(
        config in model_config(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut machine = Machine::new(config);
        for step in &steps {
            if let Err(error) = machine.run(step) {
                prop_assert!(
                    expected_error(&error) || matches!(error, ItsError::SharedLpiDomain { itses: 2 }),
                    "{step:?}: unexpected {error:?}"
                );
            }
            machine.check();
        }
        // Whatever happened: saved, nothing is left; restored, everything
        // is back.
        machine.run(&Step::SaveAll { reset: true }).unwrap();
        machine.check();
        machine.run(&Step::RestoreAll).unwrap();
        machine.check();
    }
}
