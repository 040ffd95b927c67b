//! The one backoff of the workspace: exponential with full jitter, capped.
//! The command service pauses with it between conditional writes it lost,
//! the inventory saga between commits another writer contended.

use std::time::Duration;

/// The ceiling stops doubling after this many attempts: 64 × the base.
const MAX_DOUBLINGS: u32 = 6;

/// How long to pause before retrying after `attempt` (1-based) failed:
/// uniformly random between zero and `base × 2^attempt`, the exponent
/// capped at 6 ("full jitter", so that writers that collided once spread
/// out instead of colliding again).
pub fn delay(base: Duration, attempt: u32) -> Duration {
    let ceiling = base * 2u32.pow(attempt.min(MAX_DOUBLINGS));
    ceiling.mul_f64(rand::random::<f64>())
}

/// Sleeps for [`delay`]`(base, attempt)`.
pub async fn pause(base: Duration, attempt: u32) {
    tokio::time::sleep(delay(base, attempt)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_stays_under_a_ceiling_that_doubles_then_stops() {
        let base = Duration::from_millis(5);
        for attempt in 0..20 {
            let ceiling = base * 2u32.pow(attempt.min(6));
            for _ in 0..50 {
                assert!(delay(base, attempt) <= ceiling, "attempt {attempt}");
            }
        }
        assert!((0..200).map(|_| delay(base, 30)).any(|d| d > base * 32), "capped at 64 × base, not below");
        assert_eq!(delay(Duration::ZERO, 3), Duration::ZERO);
    }
}
