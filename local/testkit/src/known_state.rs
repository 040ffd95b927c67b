//! What deciding on known state saved and cost, counted from the events the
//! `commands` crate logs (`requests_saved`, `stale_conflicts`, `rechecks`,
//! `cache_misses`, each 0 or 1 per command) by a tracing layer, so that
//! tests and benchmarks can say which path a command took without the
//! order service keeping counters for them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::{Interest, NoSubscriber};
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The target of the `commands` crate's events.
const TARGET: &str = "commands";

/// Counts the known-state fields of every `commands` event its
/// [`dispatch`](Self::dispatch) receives: scope it to a future with
/// `tracing::instrument::WithSubscriber::with_subscriber` (a spawned task
/// needs it too), or make it the process's global default.
#[derive(Clone, Debug)]
pub struct KnownStateCounter {
    counts: Arc<Counts>,
    dispatch: Dispatch,
}

/// The fields counted, in the order of [`Counts`] and of [`KnownStateTotals`].
const FIELDS: [&str; 4] = ["requests_saved", "stale_conflicts", "rechecks", "cache_misses"];

#[derive(Debug, Default)]
struct Counts([AtomicU64; FIELDS.len()]);

impl Counts {
    /// The counter of the field `name`, if it is one of [`FIELDS`].
    fn of(&self, name: &str) -> Option<&AtomicU64> {
        FIELDS.iter().position(|field| *field == name).map(|i| &self.0[i])
    }
}

/// [`KnownStateCounter`] at one moment; subtract two for what happened between.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KnownStateTotals {
    /// Reads not made: a command decided on a known state whose append
    /// succeeded (or whose no-op was provable without a read).
    pub requests_saved: u64,
    /// Appends lost because the known or cached state was stale (or the
    /// assumed-new order existed): each cost one request, then a fresh read.
    pub stale_conflicts: u64,
    /// Refusals, `If-Match` mismatches and unprovable no-ops decided on a
    /// known state, decided again on a fresh read (costing no extra request:
    /// the read is the one every command made before).
    pub rechecks: u64,
    /// `Known::Cached` commands that found nothing cached, so read.
    pub cache_misses: u64,
}

/// A second dispatcher, registered for the life of the process. While only
/// one is, tracing-core asks the current thread's default (not that one)
/// whether a callsite is of interest when it is first hit, so a command
/// logged outside a counter's scope first would silence the counters for
/// good (tokio-rs/tracing#2874).
static SECOND_DISPATCHER: LazyLock<Dispatch> = LazyLock::new(|| Dispatch::new(NoSubscriber::default()));

impl Default for KnownStateCounter {
    fn default() -> Self {
        LazyLock::force(&SECOND_DISPATCHER);
        let counts = Arc::new(Counts::default());
        let subscriber = tracing_subscriber::registry().with(CountingLayer(counts.clone()));
        KnownStateCounter { counts, dispatch: Dispatch::new(subscriber) }
    }
}

impl KnownStateCounter {
    /// A subscriber that counts into this counter and records nothing else.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    pub fn snapshot(&self) -> KnownStateTotals {
        let [requests_saved, stale_conflicts, rechecks, cache_misses] =
            self.counts.0.each_ref().map(|counter| counter.load(Ordering::Relaxed));
        KnownStateTotals { requests_saved, stale_conflicts, rechecks, cache_misses }
    }
}

impl std::ops::Sub for KnownStateTotals {
    type Output = KnownStateTotals;

    fn sub(self, earlier: KnownStateTotals) -> KnownStateTotals {
        KnownStateTotals {
            requests_saved: self.requests_saved - earlier.requests_saved,
            stale_conflicts: self.stale_conflicts - earlier.stale_conflicts,
            rechecks: self.rechecks - earlier.rechecks,
            cache_misses: self.cache_misses - earlier.cache_misses,
        }
    }
}

struct CountingLayer(Arc<Counts>);

/// Whether `metadata` is an event of `commands` that carries a count.
/// Nothing else interests the layer, so that every other callsite (the
/// SDK's many) stays disabled and costs nothing where it is installed.
fn counts_something(metadata: &Metadata<'_>) -> bool {
    metadata.is_event()
        && metadata.target() == TARGET
        && metadata.fields().iter().any(|field| FIELDS.contains(&field.name()))
}

impl<S: Subscriber> Layer<S> for CountingLayer {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if counts_something(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        counts_something(metadata)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        event.record(&mut Adder(&self.0));
    }
}

/// Adds each count field of an event to its counter.
struct Adder<'a>(&'a Counts);

impl Adder<'_> {
    fn add(&self, field: &Field, value: u64) {
        if let Some(counter) = self.0.of(field.name()) {
            counter.fetch_add(value, Ordering::Relaxed);
        }
    }
}

impl Visit for Adder<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.add(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.add(field, u64::try_from(value).expect("a count is never negative"));
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use tracing::instrument::WithSubscriber;

    use super::*;

    /// Only what the counter's future logs is counted, field by field, even
    /// when the same callsites were hit outside its scope first.
    #[tokio::test]
    async fn counts_the_commands_events_of_its_scope_only() {
        let counter = KnownStateCounter::default();
        let log = || {
            tracing::info!(target: "commands", requests_saved = 1, stale_conflicts = 0, rechecks = 1, "decided");
            tracing::info!(target: "commands", cache_misses = 1u64, "nothing cached");
            tracing::info!(target: "elsewhere", requests_saved = 1, "not the commands crate");
        };
        log();
        async { log() }.with_subscriber(counter.dispatch().clone()).await;
        let totals = counter.snapshot();
        assert_eq!(totals, KnownStateTotals { requests_saved: 1, stale_conflicts: 0, rechecks: 1, cache_misses: 1 });
        assert_eq!(totals - totals, KnownStateTotals::default());
    }
}
