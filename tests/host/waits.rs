//! Waits bounded in time: with a clock (`WaitPolicy::clock`, the generic
//! timer by default on aarch64), a wait for the hardware that never ends
//! gives up once its timeout has passed, however many register reads that
//! took. Under KVM a read traps and costs microseconds, on bare metal
//! nanoseconds, so only time is a bound the caller can state; the read
//! budget is a backstop for a clock that does not advance.

use crate::support::room;
use crate::support::*;
use core::cell::Cell;
use core::time::Duration;
use gicv3_its::wait::WaitPolicy;
use gicv3_its::{
    CollectionId, ItsConfig, ItsError, LpiDomainConfig, ProcessorNumber, RedistributorInfo, WaitFor,
};
use gicv3_its_model::{Consumption, ItsModel, ModelConfig, Quiescence, RedistributorPower};

thread_local! {
    /// The time of this thread's clock (the tests run in parallel).
    static NOW_MS: Cell<u64> = const { Cell::new(0) };
}

/// A clock that advances 1 ms each time it is read.
fn ticking() -> Duration {
    NOW_MS.with(|now| {
        let ms = now.get();
        now.set(ms + 1);
        Duration::from_millis(ms)
    })
}

/// 25 ms on the ticking clock: 25 reads of the clock.
const TIMEOUT_READS: u32 = 25;

/// A wait of 25 ms on the ticking clock, with a read budget of `polls`.
fn timed(poll_budget: u32) -> WaitPolicy {
    WaitPolicy {
        poll_budget,
        clock: Some(ticking),
        timeout: Duration::from_millis(TIMEOUT_READS.into()),
    }
}

/// Read budgets far above what the timeout allows: the clock decides.
const BUDGETS: [u32; 2] = [1_000_000, u32::MAX];

/// A read budget below what the timeout allows is the backstop: it ends
/// the wait first (a clock that does not advance would never end it).
#[test]
fn a_read_budget_below_the_timeout_ends_the_wait_first() {
    let model = ItsModel::new(ModelConfig::default());
    let domain = new_domain(&model, LpiDomainConfig::default());
    let its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
    model.reconfigure(|c| c.quiescence = Quiescence::Never);
    let config = ItsConfig {
        wait: timed(3),
        ..ItsConfig::default()
    };
    assert_eq!(
        room::probe(model.gits(), model.memory(), &domain, config).err(),
        Some(ItsError::Timeout {
            waiting_for: WaitFor::Quiescent,
            polls: 3
        })
    );
    std::mem::forget(its);
}

/// Save waits for quiescence by the policy the driver was probed with, not
/// a default of its own.
#[test]
fn save_waits_by_the_configured_policy() {
    let model = ItsModel::new(ModelConfig::default());
    let domain = new_domain(&model, LpiDomainConfig::default());
    let config = ItsConfig {
        wait: timed(3),
        ..ItsConfig::default()
    };
    let mut its = room::probe(model.gits(), model.memory(), &domain, config).unwrap();
    model.reconfigure(|c| c.quiescence = Quiescence::Never);
    assert_eq!(
        its.save(),
        Err(ItsError::Timeout {
            waiting_for: WaitFor::Quiescent,
            polls: 3,
        })
    );
    std::mem::forget(its);
}

#[test]
fn commands_never_consumed_time_out_after_the_timeout() {
    for budget in BUDGETS {
        let model = ItsModel::new(ModelConfig::default());
        let domain = new_domain(&model, LpiDomainConfig::default());
        let config = ItsConfig {
            wait: timed(budget),
            ..ItsConfig::default()
        };
        let mut its = room::probe(model.gits(), model.memory(), &domain, config).unwrap();
        model.reconfigure(|c| c.consumption = Consumption::Never);
        let reads_before = model.stats().polls;
        let polls = match its.map_collection(CollectionId(0), ProcessorNumber(0)) {
            Err(ItsError::Timeout {
                waiting_for: WaitFor::CommandCompletion,
                polls,
            }) => polls,
            other => panic!("expected a timeout, got {other:?}"),
        };
        // The clock is read before each poll, so 24 polls fit in the 25 ms.
        // The model counts every GITS_CREADR read.
        assert_eq!(polls, TIMEOUT_READS - 1);
        assert_eq!(model.stats().polls - reads_before, u64::from(polls));
        std::mem::forget(its);
    }
}

#[test]
fn an_its_that_never_quiesces_times_out_after_the_timeout() {
    for budget in BUDGETS {
        let model = ItsModel::new(ModelConfig::default());
        let domain = new_domain(&model, LpiDomainConfig::default());
        let its = room::probe(model.gits(), model.memory(), &domain, ItsConfig::default()).unwrap();
        model.reconfigure(|c| c.quiescence = Quiescence::Never);
        let config = ItsConfig {
            wait: timed(budget),
            ..ItsConfig::default()
        };
        assert_eq!(
            room::probe(model.gits(), model.memory(), &domain, config).err(),
            Some(ItsError::Timeout {
                waiting_for: WaitFor::Quiescent,
                polls: TIMEOUT_READS
            })
        );
        std::mem::forget(its);
    }
}

#[test]
fn redistributor_waits_time_out_after_the_timeout() {
    for budget in BUDGETS {
        // GICR_PWRR: the group never powers up.
        let model = ItsModel::new(ModelConfig {
            redistributor_power: Some(RedistributorPower {
                never_powers_up: true,
                ..RedistributorPower::default()
            }),
            ..ModelConfig::gic600()
        });
        let config = LpiDomainConfig {
            wait: timed(budget),
            ..LpiDomainConfig::default()
        };
        let domain = room::domain(model.memory(), config).unwrap();
        assert_eq!(
            domain.init_redistributor(&model.gicr(0), 0x080a_0000),
            Err(ItsError::Timeout {
                waiting_for: WaitFor::RedistributorPower,
                polls: TIMEOUT_READS
            })
        );

        // GICR_CTLR.RWP never clears after EnableLPIs is set.
        let model = ItsModel::new(ModelConfig {
            rwp_reads: u32::MAX,
            ..ModelConfig::default()
        });
        let domain = room::domain(model.memory(), config).unwrap();
        assert_eq!(
            domain.init_redistributor(&model.gicr(0), 0x080a_0000),
            Err(ItsError::Timeout {
                waiting_for: WaitFor::RedistributorWrite,
                polls: TIMEOUT_READS
            })
        );
        assert_eq!(
            room::redistributors(&domain),
            Vec::<RedistributorInfo>::new()
        );
    }
}
