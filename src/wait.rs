//! Bounded waits. Every wait for the hardware (commands consumed, room in
//! the queue, GITS_CTLR.Quiescent, GICR_CTLR.RWP, a redistributor powering
//! up) gives up with [`crate::ItsError::Timeout`] instead of spinning for
//! ever.
//!
//! A budget of register reads means a fraction of a second on bare metal and
//! seconds under KVM, where each read traps; so a wait is bounded in time,
//! by default one second as Linux bounds its own, on a clock: on aarch64 the
//! generic timer (`generic_timer`) unless the caller gives another. The
//! read budget stays as a backstop, for a clock that does not advance.

use crate::error::{ItsError, WaitFor};
use core::time::Duration;

/// A monotonic clock: the time since some fixed point, never going back.
/// For example the generic timer's CNTVCT_EL0 divided by CNTFRQ_EL0.
pub type Clock = fn() -> Duration;

/// How long a wait for the hardware may take.
#[derive(Clone, Copy, Debug)]
pub struct WaitPolicy {
    /// Register reads before giving up: the bound without a clock, and a
    /// backstop with one (a clock that does not advance).
    pub poll_budget: u32,
    /// The clock that bounds waits in time.
    pub clock: Option<Clock>,
    /// How long a wait may take when there is a clock.
    pub timeout: Duration,
}

impl Default for WaitPolicy {
    /// On aarch64: one second on the generic timer, with a backstop of
    /// 100,000,000 reads (far beyond a second, under KVM too, where a read
    /// traps). Without a generic timer (firmware left CNTFRQ_EL0 at 0), and
    /// elsewhere (host tests): 1,000,000 reads, no clock.
    fn default() -> Self {
        #[cfg(target_arch = "aarch64")]
        let clock = generic_timer_runs().then_some(generic_timer as Clock);
        #[cfg(not(target_arch = "aarch64"))]
        let clock = None;
        Self {
            poll_budget: if clock.is_some() {
                100_000_000
            } else {
                1_000_000
            },
            clock,
            timeout: Duration::from_secs(1),
        }
    }
}

/// Whether firmware set the generic timer's frequency (CNTFRQ_EL0).
#[cfg(target_arch = "aarch64")]
fn generic_timer_runs() -> bool {
    use aarch64_cpu::registers::{CNTFRQ_EL0, Readable};
    CNTFRQ_EL0.get() != 0
}

/// The time since the generic timer started: the virtual counter
/// (CNTVCT_EL0) over its frequency (CNTFRQ_EL0). Zero while firmware left
/// CNTFRQ_EL0 at 0, in which case waits end on their read budget.
#[cfg(target_arch = "aarch64")]
pub fn generic_timer() -> Duration {
    use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0, Readable};
    counter_time(CNTVCT_EL0.get(), CNTFRQ_EL0.get())
}

/// The time `ticks` of a counter running at `frequency` Hz stand for; zero
/// for a frequency of 0 (a counter nobody set up).
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub(crate) fn counter_time(ticks: u64, frequency: u64) -> Duration {
    if frequency == 0 {
        return Duration::ZERO;
    }
    let seconds = ticks / frequency;
    // Below `frequency`, times 10^9: fits in 128 bits whatever the counter.
    let nanos = u128::from(ticks % frequency) * 1_000_000_000 / u128::from(frequency);
    Duration::new(seconds, nanos as u32)
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

    /// Whether the wait must give up: its time, or its read budget, is
    /// spent.
    pub(crate) fn expired(&self) -> bool {
        let timed_out = match (self.policy.clock, self.start) {
            (Some(clock), Some(start)) => clock().saturating_sub(start) >= self.policy.timeout,
            _ => false,
        };
        timed_out || self.polls >= self.policy.poll_budget
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
    fn with_a_clock_time_bounds_the_wait_before_the_read_budget() {
        let policy = WaitPolicy {
            poll_budget: 1_000_000,
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
        assert_eq!(reads, 50);
    }

    /// A clock that never advances (firmware left CNTFRQ_EL0 at 0).
    fn stopped() -> Duration {
        Duration::ZERO
    }

    #[test]
    fn a_clock_that_does_not_advance_leaves_the_read_budget_as_the_backstop() {
        let policy = WaitPolicy {
            poll_budget: 7,
            clock: Some(stopped),
            timeout: Duration::from_secs(1),
        };
        let mut reads = 0u32;
        let result = Wait::until(policy, WaitFor::Quiescent, || {
            reads += 1;
            assert!(reads <= 1000, "the wait read past its budget");
            Ok(false)
        });
        assert!(matches!(result, Err(ItsError::Timeout { polls: 7, .. })));
        assert_eq!(reads, 7);
    }

    #[test]
    fn counter_ticks_become_time() {
        // QEMU's generic timer runs at 62.5 MHz; Arm's at 1 GHz from v8.6.
        assert_eq!(counter_time(0, 62_500_000), Duration::ZERO);
        assert_eq!(counter_time(62_500_000, 62_500_000), Duration::from_secs(1));
        assert_eq!(
            counter_time(3 * 62_500_000 + 625, 62_500_000),
            Duration::new(3, 10_000)
        );
        assert_eq!(
            counter_time(1_500_000_001, 1_000_000_000),
            Duration::new(1, 500_000_001)
        );
        assert_eq!(
            counter_time(u64::MAX, 1_000_000_000),
            Duration::new(u64::MAX / 1_000_000_000, (u64::MAX % 1_000_000_000) as u32)
        );
        assert_eq!(counter_time(12345, 0), Duration::ZERO);
    }

    #[test]
    fn the_default_is_one_second_with_a_read_budget() {
        let policy = WaitPolicy::default();
        assert_eq!(policy.timeout, Duration::from_secs(1));
        // Host tests have no generic timer: reads bound the wait.
        assert!(policy.clock.is_none());
        assert_eq!(policy.poll_budget, 1_000_000);
    }
}
