//! The command service on the in-memory event store, no service needed:
//! what it appends, what it refuses, `If-Match`, and what it does after
//! losing a conditional write (the API's policy reports it, the internal
//! one decides again on the new state).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use commands::{CommandContext, CommandError, OrderService, RetryPolicy};
use domain::ports::{Clock, EventStore, StoreError};
use domain::{
    Command, Currency, CustomerId, DomainError, Envelope, OrderEvent, OrderId, OrderLine, OrderStatus, PlaceOrder,
    Reason, Sku, TrackingNumber,
};
use event_store::MemoryEventStore;
use uuid::Uuid;

fn place_for(customer: &str) -> Command {
    let line = OrderLine { sku: Sku::parse("muskie-casting-rod").unwrap(), quantity: 2, unit_price_cents: 19_900 };
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse(customer).unwrap(),
        basket_id: None,
        currency: Currency::parse("USD").unwrap(),
        lines: vec![line],
    })
}

fn place() -> Command {
    place_for("angler-1")
}

fn cancel() -> Command {
    Command::Cancel { reason: Some(Reason::parse("changed mind").unwrap()) }
}

fn new_id() -> OrderId {
    OrderId(Uuid::new_v4())
}

fn context() -> CommandContext {
    CommandContext::new("test")
}

fn if_match(version: u32) -> CommandContext {
    CommandContext { expected_version: Some(version), ..context() }
}

/// A retry policy that does not make the tests wait.
const RETRY_FAST: RetryPolicy = RetryPolicy { attempts: 3, base_delay: Duration::from_millis(1) };

struct FixedClock(DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn memory() -> (OrderService, Arc<MemoryEventStore>) {
    let store = Arc::new(MemoryEventStore::new());
    (OrderService::new(store.clone()), store)
}

async fn history(store: &dyn EventStore, id: OrderId) -> Vec<OrderEvent> {
    let events = store.load(id).await.unwrap();
    let versions: Vec<u32> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=events.len() as u32).collect::<Vec<_>>(), "gap-free versions");
    events.into_iter().map(|e| e.event).collect()
}

/// The memory store, where a rival writer gets in between this service's
/// load and append: just before the first `append`, it runs the rival's
/// command (through its own service, on the same store), so that append
/// loses the conditional write. Later appends go straight through. Counts
/// the appends it is asked for.
struct LosesTheFirstRace {
    inner: Arc<MemoryEventStore>,
    rival: Mutex<Option<Command>>,
    appends: AtomicU32,
}

impl LosesTheFirstRace {
    fn new(inner: Arc<MemoryEventStore>, rival: Command) -> Arc<Self> {
        Arc::new(LosesTheFirstRace { inner, rival: Mutex::new(Some(rival)), appends: AtomicU32::new(0) })
    }
}

#[async_trait]
impl EventStore for LosesTheFirstRace {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.inner.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        let rival = self.rival.lock().unwrap().take();
        if let Some(rival) = rival {
            let order_id = events[0].order_id;
            let rival_service = OrderService::new(self.inner.clone());
            let won = rival_service.execute(order_id, &rival, &CommandContext::new("rival"), RetryPolicy::NONE).await;
            assert_eq!(won.expect("the rival wins").appended.len(), 1, "the rival appends");
        }
        self.inner.append(events).await
    }
}

/// A placed order on `inner`, and a service over it whose first append
/// loses the race to `rival`.
async fn racing(rival: Command) -> (OrderService, Arc<LosesTheFirstRace>, OrderId) {
    let (service, inner) = memory();
    let id = new_id();
    service.execute(id, &place(), &context(), RetryPolicy::NONE).await.unwrap();
    let store = LosesTheFirstRace::new(inner, rival);
    (OrderService::new(store.clone()), store, id)
}

/// A store whose every append fails the same way.
struct AppendFails {
    inner: MemoryEventStore,
    error: fn(&Envelope) -> StoreError,
    appends: AtomicU32,
}

#[async_trait]
impl EventStore for AppendFails {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.inner.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        Err((self.error)(&events[0]))
    }
}

#[tokio::test]
async fn place_appends_one_event_carrying_the_context_and_the_clock() {
    let now = Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap() + chrono::Duration::microseconds(123_456);
    let store = Arc::new(MemoryEventStore::new());
    let service = OrderService::with_clock(store.clone(), Arc::new(FixedClock(now)));
    let id = new_id();
    let mut context = CommandContext::new("corr-1");
    context.causation_id = "upstream-event".into();

    let outcome = service.execute(id, &place(), &context, RetryPolicy::NONE).await.unwrap();

    assert_eq!(outcome.appended.len(), 1);
    let event = &outcome.appended[0];
    assert_eq!((event.order_id, event.version), (id, 1));
    assert!(matches!(event.event, OrderEvent::Placed(_)), "{event:?}");
    assert_eq!(event.correlation_id, "corr-1");
    assert_eq!(event.causation_id, "upstream-event");
    assert_eq!(event.occurred_at, now - chrono::Duration::microseconds(456), "milliseconds, from the clock");
    assert_eq!(outcome.order.status, OrderStatus::Placed);
    assert_eq!((outcome.order.version, outcome.order.total_cents), (1, 2 * 19_900));
    assert_eq!(store.load(id).await.unwrap(), outcome.appended, "what it returns is what it stored");
    assert_eq!(service.get(id).await.unwrap(), Some(outcome.order));
}

#[tokio::test]
async fn an_unknown_order_is_none_and_commands_on_it_are_not_found() {
    let (service, store) = memory();
    let id = new_id();
    assert_eq!(service.get(id).await.unwrap(), None);
    for command in [Command::Confirm, cancel(), Command::Ship { tracking_number: None }] {
        let err = service.execute(id, &command, &context(), RetryPolicy::NONE).await.unwrap_err();
        assert!(matches!(err, CommandError::Domain(DomainError::NotFound)), "{err:?}");
    }
    assert!(store.load(id).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_command_that_changes_nothing_succeeds_and_appends_nothing() {
    let (service, store) = memory();
    let id = new_id();
    let placed = service.execute(id, &place(), &context(), RetryPolicy::NONE).await.unwrap();

    let again = service.execute(id, &place(), &context(), RetryPolicy::NONE).await.unwrap();
    assert!(again.appended.is_empty(), "placing the same order again appends nothing");
    assert_eq!(again.order, placed.order);

    let cancelled = service.execute(id, &cancel(), &context(), RetryPolicy::NONE).await.unwrap();
    assert_eq!(cancelled.appended.len(), 1);
    let again = service.execute(id, &cancel(), &context(), RetryPolicy::NONE).await.unwrap();
    assert!(again.appended.is_empty(), "cancelling a cancelled order appends nothing");
    assert_eq!((again.order.status, again.order.version), (OrderStatus::Cancelled, 2));

    assert_eq!(history(store.as_ref(), id).await.len(), 2);
}

#[tokio::test]
async fn a_command_not_allowed_in_the_state_is_a_conflict_and_appends_nothing() {
    let (service, store) = memory();
    let id = new_id();
    for command in
        [place(), Command::Confirm, Command::Ship { tracking_number: Some(TrackingNumber::parse("1Z").unwrap()) }]
    {
        service.execute(id, &command, &context(), RetryPolicy::NONE).await.unwrap();
    }

    let err = service.execute(id, &cancel(), &context(), RetryPolicy::INTERNAL).await.unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Domain(DomainError::NotAllowed { command: "CancelOrder", status: OrderStatus::Shipped })
        ),
        "{err:?}"
    );
    let err = service.execute(id, &place_for("someone-else"), &context(), RetryPolicy::NONE).await.unwrap_err();
    assert!(matches!(err, CommandError::Domain(DomainError::AlreadyPlacedDifferently)), "{err:?}");

    assert_eq!(history(store.as_ref(), id).await.len(), 3);
}

#[tokio::test]
async fn if_match_must_name_the_current_version() {
    let (service, store) = memory();
    let id = new_id();
    service.execute(id, &place(), &context(), RetryPolicy::NONE).await.unwrap();

    for stale in [0, 2, 7] {
        let err = service.execute(id, &cancel(), &if_match(stale), RetryPolicy::INTERNAL).await.unwrap_err();
        assert!(matches!(err, CommandError::VersionMismatch { expected } if expected == stale), "{err:?}");
    }
    assert_eq!(history(store.as_ref(), id).await.len(), 1, "a mismatch appends nothing");

    let outcome = service.execute(id, &cancel(), &if_match(1), RetryPolicy::NONE).await.unwrap();
    assert_eq!((outcome.order.status, outcome.order.version), (OrderStatus::Cancelled, 2));
}

#[tokio::test]
async fn losing_the_race_with_if_match_is_a_precondition_failure_not_retried() {
    let (service, store, id) = racing(Command::Confirm).await;
    let err = service.execute(id, &cancel(), &if_match(1), RETRY_FAST).await.unwrap_err();
    assert!(matches!(err, CommandError::VersionMismatch { expected: 1 }), "{err:?}");
    assert_eq!(store.appends.load(Ordering::SeqCst), 1, "not retried: the caller's version is gone");
    let events = history(store.as_ref(), id).await;
    assert!(matches!(events[..], [OrderEvent::Placed(_), OrderEvent::Confirmed(_)]), "only the rival's: {events:?}");
}

#[tokio::test]
async fn the_api_policy_reports_a_lost_race_as_a_concurrency_conflict() {
    let (service, store, id) = racing(Command::Confirm).await;
    let err = service.execute(id, &cancel(), &context(), RetryPolicy::NONE).await.unwrap_err();
    assert!(matches!(err, CommandError::Concurrency), "{err:?}");
    assert_eq!(store.appends.load(Ordering::SeqCst), 1);
    let events = history(store.as_ref(), id).await;
    assert!(matches!(events[..], [OrderEvent::Placed(_), OrderEvent::Confirmed(_)]), "only the rival's: {events:?}");
}

#[tokio::test]
async fn a_retry_decides_again_on_the_state_the_winner_left() {
    // The rival confirmed first: cancelling a confirmed order is allowed, and
    // lands after the rival's event.
    let (service, store, id) = racing(Command::Confirm).await;
    let outcome = service.execute(id, &cancel(), &context(), RETRY_FAST).await.unwrap();
    assert_eq!(store.appends.load(Ordering::SeqCst), 2, "lost once, then won");
    assert_eq!(outcome.appended.iter().map(|e| e.version).collect::<Vec<_>>(), [3]);
    assert_eq!((outcome.order.status, outcome.order.version), (OrderStatus::Cancelled, 3));
    let events = history(store.as_ref(), id).await;
    assert!(matches!(events[..], [OrderEvent::Placed(_), OrderEvent::Confirmed(_), OrderEvent::Cancelled(_)]));

    // The rival did the same thing: on the retry there is nothing left to do.
    let (service, store, id) = racing(Command::Confirm).await;
    let outcome = service.execute(id, &Command::Confirm, &context(), RETRY_FAST).await.unwrap();
    assert!(outcome.appended.is_empty(), "{outcome:?}");
    assert_eq!((outcome.order.status, outcome.order.version), (OrderStatus::Confirmed, 2));
    assert_eq!(store.appends.load(Ordering::SeqCst), 1, "the retry found nothing to append");

    // The rival cancelled: confirming a cancelled order is not allowed.
    let (service, store, id) = racing(cancel()).await;
    let err = service.execute(id, &Command::Confirm, &context(), RETRY_FAST).await.unwrap_err();
    assert!(
        matches!(err, CommandError::Domain(DomainError::NotAllowed { status: OrderStatus::Cancelled, .. })),
        "{err:?}"
    );
    assert_eq!(history(store.as_ref(), id).await.len(), 2);
}

#[tokio::test]
async fn retries_run_out_after_the_policys_attempts() {
    let store = Arc::new(AppendFails {
        inner: MemoryEventStore::new(),
        error: |e| StoreError::Conflict { order_id: e.order_id, version: e.version },
        appends: AtomicU32::new(0),
    });
    let service = OrderService::new(store.clone());
    let err = service.execute(new_id(), &place(), &context(), RETRY_FAST).await.unwrap_err();
    assert!(matches!(err, CommandError::Concurrency), "{err:?}");
    assert_eq!(store.appends.load(Ordering::SeqCst), RETRY_FAST.attempts);
}

#[tokio::test]
async fn a_store_failure_is_reported_as_such_and_not_retried() {
    let store = Arc::new(AppendFails {
        inner: MemoryEventStore::new(),
        error: |_| StoreError::Unavailable("throttled".into()),
        appends: AtomicU32::new(0),
    });
    let service = OrderService::new(store.clone());
    let err = service.execute(new_id(), &place(), &context(), RetryPolicy::INTERNAL).await.unwrap_err();
    assert!(matches!(err, CommandError::Store(StoreError::Unavailable(_))), "{err:?}");
    assert_eq!(store.appends.load(Ordering::SeqCst), 1);
}
