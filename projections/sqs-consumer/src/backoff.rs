//! When a failed message comes back. A transient failure (a dependency
//! down, throttled, timing out) waits longer at each receive, so an outage
//! costs a few receives an hour instead of one every visibility timeout and
//! the queue's `maxReceiveCount` outlasts it; poison comes back at once, to
//! use up its receives and reach the dead-letter queue within seconds.

use std::time::Duration;

/// Why a message failed, which decides when it is received again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A retry later can succeed: the dependency was unavailable,
    /// throttled or timing out, or a conflict outlived the in-process
    /// retries. Backs off.
    Transient,
    /// No retry changes the outcome: unreadable, a schema version newer
    /// than this build, data a rule refuses. Goes to the dead-letter queue.
    Poison,
}

/// One message the projection could not apply, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    pub message_id: String,
    pub failure: Failure,
}

impl Failed {
    pub fn transient(message_id: impl Into<String>) -> Self {
        Failed { message_id: message_id.into(), failure: Failure::Transient }
    }

    pub fn poison(message_id: impl Into<String>) -> Self {
        Failed { message_id: message_id.into(), failure: Failure::Poison }
    }
}

/// Every message of `message_ids`, failed for the same reason.
pub fn failed_all(message_ids: impl IntoIterator<Item = String>, failure: Failure) -> Vec<Failed> {
    message_ids.into_iter().map(|message_id| Failed { message_id, failure }).collect()
}

/// The visibility a transiently failed message gets: a ceiling of `base`
/// after its first receive, doubling at each receive up to `cap`, and the
/// delay drawn between half the ceiling and the ceiling ("equal jitter":
/// messages failed together spread out, yet each waits at least half the
/// ceiling, which is what the queue's `maxReceiveCount` is sized on).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    /// 30 s doubling to 15 min: the deployed queues' schedule
    /// (docs/operations.md, "Outages and backoff").
    fn default() -> Self {
        Backoff { base: Duration::from_secs(30), cap: Duration::from_secs(15 * 60) }
    }
}

/// SQS's longest visibility timeout: 12 hours.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

impl Backoff {
    /// The ceiling after receive number `receive_count` (1-based) failed.
    pub fn ceiling(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.saturating_sub(1).min(31);
        self.base.saturating_mul(1 << doublings).min(self.cap).min(MAX_VISIBILITY)
    }

    /// The delay after receive number `receive_count` failed, for a
    /// `jitter` in [0, 1]: from half the ceiling (0) to the ceiling (1).
    pub fn delay(&self, receive_count: u32, jitter: f64) -> Duration {
        self.ceiling(receive_count).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// [`Backoff::delay`] with a random jitter.
    pub fn visibility(&self, receive_count: u32) -> Duration {
        self.delay(receive_count, rand::random::<f64>())
    }

    /// The shortest time a message that fails every receive stays out of
    /// the dead-letter queue: from its first receive to its
    /// `max_receive_count`-th, every delay at its least.
    pub fn shortest_retry_window(&self, max_receive_count: u32) -> Duration {
        (1..max_receive_count).map(|n| self.delay(n, 0.0)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn the_ceiling_doubles_from_thirty_seconds_to_fifteen_minutes() {
        let ceilings: Vec<u64> = (1..=8).map(|n| Backoff::default().ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [30, 60, 120, 240, 480, 900, 900, 900]);
        assert_eq!(Backoff::default().ceiling(u32::MAX), 900 * SECOND, "no overflow at any receive count");
        let huge = Backoff { base: 3600 * SECOND, cap: 48 * 3600 * SECOND };
        assert_eq!(huge.ceiling(10), MAX_VISIBILITY, "never past SQS's 12 hours");
    }

    #[test]
    fn the_delay_lies_between_half_the_ceiling_and_the_ceiling() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(1, 0.0), 15 * SECOND);
        assert_eq!(backoff.delay(1, 1.0), 30 * SECOND);
        assert_eq!(backoff.delay(4, 0.5), 180 * SECOND);
        assert_eq!(backoff.delay(20, 0.0), 450 * SECOND);
        for n in 1..40 {
            for _ in 0..20 {
                let delay = backoff.visibility(n);
                assert!(delay >= backoff.ceiling(n) / 2 && delay <= backoff.ceiling(n), "receive {n}: {delay:?}");
            }
        }
        let drawn: std::collections::HashSet<Duration> = (0..100).map(|_| backoff.visibility(5)).collect();
        assert!(drawn.len() > 10, "messages failed together spread out: {drawn:?}");
    }

    /// The arithmetic of docs/operations.md, "Outages and backoff": with
    /// the template's maxReceiveCount of 60, a message failing every
    /// receive stays out of the DLQ for more than 6 hours at the least.
    #[test]
    fn sixty_receives_outlast_a_six_hour_outage() {
        let backoff = Backoff::default();
        assert_eq!(backoff.shortest_retry_window(60), 24_765 * SECOND);
        assert!(backoff.shortest_retry_window(60) > 6 * 3600 * SECOND);
        assert!(backoff.shortest_retry_window(53) > 6 * 3600 * SECOND);
        assert!(backoff.shortest_retry_window(52) < 6 * 3600 * SECOND, "53 is the least that works; 60 keeps a margin");
        let longest: Duration = (1..60).map(|n| backoff.delay(n, 1.0)).sum();
        assert_eq!(longest, 49_530 * SECOND, "at most 13.75 h: far inside the 14-day retention");
    }
}
