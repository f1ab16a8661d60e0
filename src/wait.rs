//! Bounded waits. Every wait for the hardware (commands consumed, room in
//! the queue, GITS_CTLR.Quiescent, GICR_CTLR.RWP, a redistributor powering
//! up) gives up with [`crate::ItsError::Timeout`] instead of spinning for
//! ever.
//!
//! A budget of register reads means microseconds on bare metal and seconds
//! under KVM, where each read traps; so when the caller provides a clock
//! ([`WaitPolicy::clock`]) a wait is bounded in time, by default one second
//! as Linux bounds its own, and the read budget is only the fallback.

use crate::error::{ItsError, WaitFor};
use core::time::Duration;

/// A monotonic clock: the time since some fixed point, never going back.
/// For example the generic timer's CNTVCT_EL0 divided by CNTFRQ_EL0.
pub type Clock = fn() -> Duration;

/// How long a wait for the hardware may take.
#[derive(Clone, Copy, Debug)]
pub struct WaitPolicy {
    /// Register reads before giving up, when there is no clock.
    pub poll_budget: u32,
    /// The clock that bounds waits in time, if the caller has one.
    pub clock: Option<Clock>,
    /// How long a wait may take when there is a clock.
    pub timeout: Duration,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            poll_budget: 1_000_000,
            clock: None,
            timeout: Duration::from_secs(1),
        }
    }
}

/// One wait in progress.
pub(crate) struct Wait {
    policy: WaitPolicy,
    start: Option<Duration>,
    polls: u32,
}

impl Wait {
    /// Starts a wait now.
    pub(crate) fn start(policy: WaitPolicy) -> Self {
        Self {
            start: policy.clock.map(|clock| clock()),
            policy,
            polls: 0,
        }
    }

    /// Polls `done` until it holds; gives up with a timeout for
    /// `waiting_for` once the time (or, without a clock, the read budget)
    /// is spent. Each call of `done` is one read; `done` may fail, which
    /// ends the wait with its error.
    pub(crate) fn until(
        policy: WaitPolicy,
        waiting_for: WaitFor,
        mut done: impl FnMut() -> Result<bool, ItsError>,
    ) -> Result<(), ItsError> {
        let mut wait = Self::start(policy);
        loop {
            if done()? {
                return Ok(());
            }
            wait.count();
            if wait.expired() {
                return Err(wait.timeout(waiting_for));
            }
            core::hint::spin_loop();
        }
    }

    /// Counts one register read.
    pub(crate) fn count(&mut self) {
        self.polls = self.polls.saturating_add(1);
    }

    /// Whether the wait must give up: its time, or without a clock its read
    /// budget, is spent.
    pub(crate) fn expired(&self) -> bool {
        match (self.policy.clock, self.start) {
            (Some(clock), Some(start)) => clock().saturating_sub(start) >= self.policy.timeout,
            _ => self.polls >= self.policy.poll_budget,
        }
    }

    /// The error for giving up.
    pub(crate) fn timeout(&self, waiting_for: WaitFor) -> ItsError {
        ItsError::Timeout {
            waiting_for,
            polls: self.polls,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn without_a_clock_the_read_budget_bounds_the_wait() {
        let policy = WaitPolicy {
            poll_budget: 5,
            ..WaitPolicy::default()
        };
        let mut reads = 0;
        let result = Wait::until(policy, WaitFor::Quiescent, || {
            reads += 1;
            // A wait that reads past its budget would spin for ever on a
            // stalled ITS: fail here instead of hanging the test.
            assert!(reads <= 1000, "the wait read past its budget");
            Ok(false)
        });
        assert_eq!(
            result,
            Err(ItsError::Timeout {
                waiting_for: WaitFor::Quiescent,
                polls: 5
            })
        );
        assert_eq!(reads, 5);
        assert_eq!(Wait::until(policy, WaitFor::Quiescent, || Ok(true)), Ok(()));
    }

    /// A clock that advances 1 ms each time it is read.
    static NOW_MS: AtomicU64 = AtomicU64::new(0);
    fn ticking() -> Duration {
        Duration::from_millis(NOW_MS.fetch_add(1, Ordering::Relaxed))
    }

    #[test]
    fn with_a_clock_time_bounds_the_wait_whatever_the_read_budget() {
        let policy = WaitPolicy {
            poll_budget: 3,
            clock: Some(ticking),
            timeout: Duration::from_millis(50),
        };
        let mut reads = 0u32;
        let result = Wait::until(policy, WaitFor::CommandCompletion, || {
            reads += 1;
            assert!(reads <= 1000, "the wait outlived its clock");
            Ok(false)
        });
        assert!(matches!(result, Err(ItsError::Timeout { polls: 50, .. })));
        // Far more reads than the budget: the clock decides.
        assert_eq!(reads, 50);
    }
}
