//! Runs one command against one order: load its events, `decide`, append the
//! new events with a conditional write. The same code serves the API Lambda,
//! the inventory saga, the local runner and the tests.
//!
//! When the caller already knows the order's state ([`Known`]: a new order,
//! a state folded from an event it holds, or this process's [`OrderCache`]),
//! [`OrderService::execute_from`] decides on it and appends without reading:
//! one request instead of two. The conditional append is the proof: it only
//! succeeds if the order was at the assumed version. A lost append, a
//! refusal, a precondition failure or a no-op that cannot be proven on the
//! assumed state is decided again on a fresh read before anything is
//! answered, so an assumption never changes an answer, it only costs a
//! request when wrong.

pub mod backoff;
pub mod cache;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use domain::ports::{Clock, EventStore, StoreError};
use domain::{
    decide, evolve, fold, Command, DomainError, Envelope, HotList, Lane, Order, OrderEvent, OrderId, OrderStatus,
};
use tracing::Instrument;
use uuid::Uuid;

pub use cache::OrderCache;

/// Who asks, for tracing: carried into every event the command appends.
#[derive(Clone, Debug)]
pub struct CommandContext {
    pub command_id: Uuid,
    pub correlation_id: String,
    /// The upstream `eventId` for saga commands; the command id otherwise.
    pub causation_id: String,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u32>,
}

impl CommandContext {
    pub fn new(correlation_id: impl Into<String>) -> Self {
        let command_id = Uuid::new_v4();
        CommandContext {
            command_id,
            correlation_id: correlation_id.into(),
            causation_id: command_id.to_string(),
            expected_version: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct CommandOutcome {
    /// The order after the command (unchanged when it was a no-op).
    pub order: Order,
    /// What was appended; empty when the command changed nothing.
    pub appended: Vec<Envelope>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// `If-Match` named a version the order is no longer (or not yet) at.
    #[error("the order is not at version {expected}")]
    VersionMismatch { expected: u32 },
    /// Another writer won the conditional write (and retries, if any, ran out).
    #[error("the order was changed concurrently")]
    Concurrency,
    #[error(transparent)]
    Store(StoreError),
}

/// How often to decide again after losing a conditional write.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// The API answers 409/412 at once: the caller decides what to do.
    pub const NONE: RetryPolicy = RetryPolicy { attempts: 1, base_delay: Duration::ZERO };
    /// Internal (saga) commands must eventually land: retry with jitter.
    pub const INTERNAL: RetryPolicy = RetryPolicy { attempts: 20, base_delay: Duration::from_millis(5) };
}

/// What the caller already knows about the order when it issues a command.
#[derive(Clone, Debug)]
pub enum Known {
    /// Nothing: read the order's history first (what [`OrderService::execute`] does).
    Nothing,
    /// The order does not exist yet: PlaceOrder of a fresh id appends
    /// version 1 without reading. Only a retry finds it taken.
    New,
    /// The order as it was at `order.version`, and the lane its events are
    /// stored in: a true past state, folded from stored events (such as an
    /// OrderPlaced envelope), never made up. Whether it is still the current
    /// one, the conditional append finds out.
    State(Order, Lane),
    /// Whatever this service's [`OrderCache`] holds for the order (a miss reads).
    Cached,
}

impl Known {
    /// The state an OrderPlaced envelope proves: the order at version 1.
    /// Any other event (whose state needs the events before it) knows nothing.
    /// `lane` is the lane the OrderPlaced was stored in (the caller must
    /// know it: the envelope does not say).
    pub fn from_placed(placed: &Envelope, lane: Lane) -> Known {
        match (&placed.event, placed.version) {
            (OrderEvent::Placed(_), 1) => {
                evolve(None, placed).map_or(Known::Nothing, |order| Known::State(order, lane))
            }
            _ => Known::Nothing,
        }
    }

    fn as_str(&self) -> &'static str {
        match self {
            Known::Nothing => "nothing",
            Known::New => "new",
            Known::State(..) => "state",
            Known::Cached => "cached",
        }
    }
}

/// How one attempt on a known state ended.
enum Assumed {
    /// Proven: appended at the next version, or a no-op on a final state.
    Decided(CommandOutcome),
    /// The conditional append lost: the state was not the current one.
    Conflict,
    /// A refusal, a precondition failure or an unprovable no-op: only a
    /// fresh read may answer it.
    Recheck,
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Clone)]
pub struct OrderService {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    cache: Arc<OrderCache>,
    /// Decides the lane of the orders this service places (none hot by default).
    hot_list: Arc<HotList>,
}

impl OrderService {
    /// A service with an [`OrderCache`] of [`cache::DEFAULT_CAPACITY`] orders.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self::with_clock(store, Arc::new(SystemClock))
    }

    pub fn with_clock(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        OrderService {
            store,
            clock,
            cache: Arc::new(OrderCache::new(cache::DEFAULT_CAPACITY)),
            hot_list: Arc::default(),
        }
    }

    /// The same service with a cache of `capacity` orders (0: no cache, so
    /// [`Known::Cached`] always reads).
    pub fn with_cache_capacity(mut self, capacity: usize) -> Self {
        self.cache = Arc::new(OrderCache::new(capacity));
        self
    }

    /// Orders this service places with a SKU of `hot_list` travel in the hot
    /// lane. Only placing reads the list: every later event of an order
    /// keeps the lane stored with its first, whatever the list says by then.
    pub fn with_hot_list(mut self, hot_list: HotList) -> Self {
        self.hot_list = Arc::new(hot_list);
        self
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn cache(&self) -> &OrderCache {
        &self.cache
    }

    /// The current state of an order, or `None` if it was never placed.
    pub async fn get(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        let (history, lane) = self.store.load_with_lane(order_id).await?;
        let state = fold(&history);
        self.remember(order_id, state.as_ref(), lane);
        Ok(state)
    }

    /// Reads the order, decides, appends; on a lost append, decides again
    /// as `retry` allows.
    pub async fn execute(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
        retry: RetryPolicy,
    ) -> Result<CommandOutcome, CommandError> {
        self.execute_with_retries(order_id, command, context, retry).instrument(command_span(order_id, command)).await
    }

    async fn execute_with_retries(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
        retry: RetryPolicy,
    ) -> Result<CommandOutcome, CommandError> {
        let mut attempt = 1;
        loop {
            match self.try_execute(order_id, command, context).await {
                Err(CommandError::Concurrency) if attempt < retry.attempts => {
                    backoff::pause(retry.base_delay, attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Decides on what the caller knows and appends without reading; when
    /// that is not proven right (see [`Assumed`]), does what
    /// [`execute`](Self::execute) does, with the whole of `retry`. The
    /// answer is always the one a fresh read gives.
    pub async fn execute_from(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
        retry: RetryPolicy,
        known: Known,
    ) -> Result<CommandOutcome, CommandError> {
        self.decide_on_known(order_id, command, context, retry, known).instrument(command_span(order_id, command)).await
    }

    async fn decide_on_known(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
        retry: RetryPolicy,
        known: Known,
    ) -> Result<CommandOutcome, CommandError> {
        let basis = known.as_str();
        // The assumed state, and the lane its events are stored in when known.
        let assumed = match known {
            Known::Nothing => None,
            Known::New => Some((None, None)),
            Known::State(order, lane) if order.order_id == order_id => Some((Some(order), Some(lane))),
            Known::State(..) => None,
            Known::Cached => {
                let cached = self.cache.get(order_id);
                if cached.is_none() {
                    tracing::info!(
                        %order_id,
                        command = command.name(),
                        known = basis,
                        cache_misses = 1,
                        "command decided on a read: nothing cached"
                    );
                }
                cached.map(|(order, lane)| (Some(order), lane))
            }
        };
        let Some((state, lane)) = assumed else {
            return self.execute_with_retries(order_id, command, context, retry).await;
        };
        let assumed_version = state.as_ref().map_or(0, |o| o.version);
        // Each a 0 or a 1, so that summing them over the log gives the totals.
        let (saved, stale, rechecks, outcome) = match self.try_assumed(order_id, state, lane, command, context).await? {
            Assumed::Decided(outcome) => (1, 0, 0, Ok(outcome)),
            Assumed::Conflict => {
                self.cache.forget(order_id);
                (0, 1, 0, self.execute_with_retries(order_id, command, context, retry).await)
            }
            Assumed::Recheck => (0, 0, 1, self.execute_with_retries(order_id, command, context, retry).await),
        };
        tracing::info!(
            %order_id,
            command = command.name(),
            known = basis,
            assumed_version,
            requests_saved = saved,
            stale_conflicts = stale,
            rechecks,
            "command decided on known state"
        );
        outcome
    }

    /// One attempt on an assumed state: no read; the append proves it.
    /// `lane` is where the order's events are stored (unknown: `None`).
    async fn try_assumed(
        &self,
        order_id: OrderId,
        state: Option<Order>,
        lane: Option<Lane>,
        command: &Command,
        context: &CommandContext,
    ) -> Result<Assumed, CommandError> {
        let version = state.as_ref().map_or(0, |o| o.version);
        if context.expected_version.is_some_and(|expected| expected != version) {
            // The assumed version may be the stale one, not the caller's.
            return Ok(Assumed::Recheck);
        }
        let Ok(events) = decide(state.as_ref(), command) else { return Ok(Assumed::Recheck) };
        if events.is_empty() {
            // A no-op is an answer only if the order cannot have moved on
            // since: from a final state no command records anything, so the
            // assumed state (true at its version) is still the current one.
            return Ok(match state {
                Some(order) if is_final(order.status) => {
                    Assumed::Decided(CommandOutcome { order, appended: Vec::new() })
                }
                _ => Assumed::Recheck,
            });
        }
        // Every event of an order travels in its OrderPlaced's lane: an
        // existing order whose lane is not known is decided on a read.
        if state.is_some() && lane.is_none() {
            return Ok(Assumed::Recheck);
        }
        let appended = self.envelopes(order_id, version, events, context);
        let lane = self.hot_list.lane_for(lane, appended.iter().map(|e| &e.event));
        match self.store.append_in_lane(&appended, lane).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return Ok(Assumed::Conflict),
            Err(e) => return Err(CommandError::Store(e)),
        }
        let order = appended.iter().fold(state, evolve).expect("a new event always yields an order");
        self.cache.put(&order, Some(lane));
        Ok(Assumed::Decided(CommandOutcome { order, appended }))
    }

    async fn try_execute(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
    ) -> Result<CommandOutcome, CommandError> {
        let (history, lane) = self.store.load_with_lane(order_id).await.map_err(CommandError::Store)?;
        let state = fold(&history);
        self.remember(order_id, state.as_ref(), lane);
        let current_version = state.as_ref().map_or(0, |o| o.version);
        if let Some(expected) = context.expected_version {
            if expected != current_version {
                return Err(CommandError::VersionMismatch { expected });
            }
        }
        let events = decide(state.as_ref(), command)?;
        if events.is_empty() {
            // `decide` only returns nothing for an existing order.
            let order = state.ok_or(CommandError::Domain(DomainError::NotFound))?;
            return Ok(CommandOutcome { order, appended: Vec::new() });
        }
        let appended = self.envelopes(order_id, current_version, events, context);
        let lane = self.hot_list.lane_for(lane, appended.iter().map(|e| &e.event));
        match self.store.append_in_lane(&appended, lane).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) if context.expected_version.is_some() => {
                // The version the caller named is gone: its precondition failed.
                return Err(CommandError::VersionMismatch { expected: current_version });
            }
            Err(StoreError::Conflict { .. }) => return Err(CommandError::Concurrency),
            Err(e) => return Err(CommandError::Store(e)),
        }
        let order = appended.iter().fold(state, evolve).expect("a new event always yields an order");
        self.cache.put(&order, Some(lane));
        Ok(CommandOutcome { order, appended })
    }

    /// The envelopes of `events`, numbered on from `after`.
    fn envelopes(
        &self,
        order_id: OrderId,
        after: u32,
        events: Vec<OrderEvent>,
        context: &CommandContext,
    ) -> Vec<Envelope> {
        let occurred_at = self.clock.now().trunc_subsecs(3);
        events
            .into_iter()
            .zip(after + 1..)
            .map(|(event, version)| Envelope {
                event_id: Uuid::new_v4(),
                order_id,
                version,
                occurred_at,
                correlation_id: context.correlation_id.clone(),
                causation_id: context.causation_id.clone(),
                traceparent: telemetry::current_traceparent(),
                event,
            })
            .collect()
    }

    /// Keeps a freshly read state for later commands on the order.
    fn remember(&self, order_id: OrderId, state: Option<&Order>, lane: Option<Lane>) {
        match state {
            Some(order) => self.cache.put(order, lane),
            None => self.cache.forget(order_id),
        }
    }
}

/// One command on one order: the span its reads and appends are traced in,
/// and whose trace context its events carry on ([`Envelope::traceparent`]).
fn command_span(order_id: OrderId, command: &Command) -> tracing::Span {
    tracing::info_span!("command", %order_id, command = command.name())
}

/// States no command leaves: nothing is ever appended after them.
fn is_final(status: OrderStatus) -> bool {
    matches!(status, OrderStatus::Rejected | OrderStatus::Cancelled | OrderStatus::Shipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Currency, CustomerId, OrderLine, PlaceOrder, Reason, Sku};

    /// `execute_from` answers a no-op on a final cached state without a
    /// read: that holds only if `decide` records nothing from a final state.
    #[test]
    fn no_command_records_anything_from_a_final_state() {
        let line = OrderLine { sku: Sku::parse("muskie-casting-rod").unwrap(), quantity: 1, unit_price_cents: 100 };
        let place = Command::Place(PlaceOrder {
            customer_id: CustomerId::parse("c").unwrap(),
            basket_id: None,
            currency: Currency::parse("USD").unwrap(),
            lines: vec![line],
        });
        let placed = Envelope {
            event_id: Uuid::new_v4(),
            order_id: OrderId(Uuid::new_v4()),
            version: 1,
            occurred_at: Utc::now(),
            correlation_id: "c".into(),
            causation_id: "c".into(),
            traceparent: None,
            event: decide(None, &place).unwrap().remove(0),
        };
        let Known::State(order, _) = Known::from_placed(&placed, Lane::Standard) else {
            panic!("OrderPlaced at version 1 is a state")
        };
        let commands = [
            place,
            Command::Confirm,
            Command::Reject { reason: Reason::parse("r").unwrap(), shortages: vec![] },
            Command::Cancel { reason: None },
            Command::Ship { tracking_number: None },
        ];
        for status in [
            OrderStatus::Placed,
            OrderStatus::Confirmed,
            OrderStatus::Rejected,
            OrderStatus::Cancelled,
            OrderStatus::Shipped,
        ] {
            let state = Order { status, ..order.clone() };
            let records_something = commands.iter().any(|c| decide(Some(&state), c).is_ok_and(|e| !e.is_empty()));
            assert_eq!(is_final(status), !records_something, "{status:?}");
        }
    }

    #[test]
    fn only_an_order_placed_at_version_1_is_a_known_state() {
        let mut envelope = Envelope {
            event_id: Uuid::new_v4(),
            order_id: OrderId(Uuid::new_v4()),
            version: 2,
            occurred_at: Utc::now(),
            correlation_id: "c".into(),
            causation_id: "c".into(),
            traceparent: None,
            event: OrderEvent::Confirmed(domain::event::OrderConfirmed {}),
        };
        assert!(matches!(Known::from_placed(&envelope, Lane::Standard), Known::Nothing));
        envelope.version = 1;
        assert!(matches!(Known::from_placed(&envelope, Lane::Standard), Known::Nothing), "not an OrderPlaced");
    }
}
