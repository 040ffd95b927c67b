//! Commands decided on a known state (`execute_from`) when the assumption is
//! wrong: the answer and the history are what a fresh read gives, and only
//! the request count differs. Every scenario runs on the memory store and on
//! DynamoDB Local. Two services over one store stand for two Lambda
//! instances, each with its own cache.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use commands::{CommandContext, CommandError, CommandOutcome, Known, OrderService, RetryPolicy};
use contract::tables::create_events_table;
use domain::ports::{EventStore, StoreError};
use domain::{
    Command, Currency, CustomerId, DomainError, Envelope, Lane, OrderEvent, OrderId, OrderLine, OrderStatus,
    PlaceOrder, Reason, Sku, TrackingNumber,
};
use event_store::{DynamoEventStore, MemoryEventStore};
use testkit::known_state::{KnownStateCounter, KnownStateTotals};
use tracing::instrument::WithSubscriber;
use uuid::Uuid;

/// Counts what a service asks of the store.
struct Counting {
    inner: Arc<dyn EventStore>,
    loads: AtomicU64,
    appends: AtomicU64,
}

impl Counting {
    /// `(loads, appends)` so far.
    fn requests(&self) -> (u64, u64) {
        (self.loads.load(Ordering::Relaxed), self.appends.load(Ordering::Relaxed))
    }
}

#[async_trait]
impl EventStore for Counting {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        self.inner.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.appends.fetch_add(1, Ordering::Relaxed);
        self.inner.append(events).await
    }
}

/// One Lambda instance: its own service, cache, request counts and
/// counts of what its commands decided on known state.
struct Instance {
    service: OrderService,
    counting: Arc<Counting>,
    known_state: KnownStateCounter,
}

impl Instance {
    fn new(store: &Arc<dyn EventStore>) -> Self {
        let counting = Arc::new(Counting { inner: store.clone(), loads: 0.into(), appends: 0.into() });
        Instance { service: OrderService::new(counting.clone()), counting, known_state: KnownStateCounter::default() }
    }

    async fn run(&self, id: OrderId, command: Command, known: Known) -> Result<CommandOutcome, CommandError> {
        self.run_if_match(id, command, known, None).await
    }

    async fn run_if_match(
        &self,
        id: OrderId,
        command: Command,
        known: Known,
        if_match: Option<u32>,
    ) -> Result<CommandOutcome, CommandError> {
        let mut context = CommandContext::new("test");
        context.expected_version = if_match;
        let command = self.service.execute_from(id, &command, &context, RetryPolicy::NONE, known);
        command.with_subscriber(self.known_state.dispatch().clone()).await
    }

    fn totals(&self) -> KnownStateTotals {
        self.known_state.snapshot()
    }
}

fn place_with(customer: &str) -> Command {
    let line = OrderLine { sku: Sku::parse("muskie-casting-rod").unwrap(), quantity: 1, unit_price_cents: 19_900 };
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse(customer).unwrap(),
        basket_id: None,
        currency: Currency::parse("USD").unwrap(),
        lines: vec![line],
    })
}

fn place() -> Command {
    place_with("angler-1")
}

fn cancel() -> Command {
    Command::Cancel { reason: Some(Reason::parse("changed my mind").unwrap()) }
}

fn ship() -> Command {
    Command::Ship { tracking_number: Some(TrackingNumber::parse("1Z999").unwrap()) }
}

/// Places a new order through `instance`; returns its id and OrderPlaced.
async fn placed(instance: &Instance) -> (OrderId, Envelope) {
    let id = OrderId(Uuid::new_v4());
    let outcome = instance.run(id, place(), Known::New).await.unwrap();
    (id, outcome.appended.into_iter().next().unwrap())
}

async fn history(store: &Arc<dyn EventStore>, id: OrderId) -> Vec<OrderEvent> {
    let events = store.load(id).await.unwrap();
    let versions: Vec<u32> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=events.len() as u32).collect::<Vec<_>>(), "gap-free");
    events.into_iter().map(|e| e.event).collect()
}

/// What a fresh read answers now, from an instance that knows nothing.
async fn fresh_answer(store: &Arc<dyn EventStore>, id: OrderId, command: Command, if_match: Option<u32>) -> String {
    let fresh = Instance::new(store);
    let mut context = CommandContext::new("fresh");
    context.expected_version = if_match;
    // Only refusals and no-ops are compared this way: they write nothing.
    answer(&fresh.service.execute(id, &command, &context, RetryPolicy::NONE).await)
}

/// An answer as the API would see it: the error, or the order view.
fn answer(result: &Result<CommandOutcome, CommandError>) -> String {
    match result {
        Ok(outcome) => format!("{:?}", outcome.order),
        Err(e) => format!("{e:?}"),
    }
}

async fn a_new_order_is_placed_with_one_append_and_no_read(store: Arc<dyn EventStore>) {
    let api = Instance::new(&store);
    let (id, envelope) = placed(&api).await;
    assert_eq!(envelope.version, 1);
    assert_eq!(api.counting.requests(), (0, 1), "one conditional append, no read");
    assert_eq!(api.totals().requests_saved, 1);
    let order = api.service.get(id).await.unwrap().unwrap();
    assert_eq!((order.status, order.version), (OrderStatus::Placed, 1));
}

async fn a_place_whose_id_exists_with_the_same_body_answers_the_existing_order(store: Arc<dyn EventStore>) {
    let (first, retry) = (Instance::new(&store), Instance::new(&store));
    let id = OrderId::from_idempotency_key("service:test", &Uuid::new_v4().to_string());
    let created = first.run(id, place(), Known::New).await.unwrap();
    let again = retry.run(id, place(), Known::New).await.unwrap();
    assert!(again.appended.is_empty(), "a retry writes nothing");
    assert_eq!(again.order, created.order, "the same view as the first answer");
    assert_eq!(retry.counting.requests(), (1, 1), "the append lost, then one read");
    assert_eq!(retry.totals().stale_conflicts, 1);
    assert_eq!(history(&store, id).await.len(), 1);
}

async fn a_place_whose_id_exists_with_another_body_is_refused(store: Arc<dyn EventStore>) {
    let (first, retry) = (Instance::new(&store), Instance::new(&store));
    let id = OrderId::from_idempotency_key("service:test", &Uuid::new_v4().to_string());
    first.run(id, place(), Known::New).await.unwrap();
    let other = retry.run(id, place_with("someone-else"), Known::New).await;
    assert!(matches!(other, Err(CommandError::Domain(DomainError::AlreadyPlacedDifferently))), "{other:?}");
    assert_eq!(answer(&other), fresh_answer(&store, id, place_with("someone-else"), None).await);
    assert_eq!(history(&store, id).await.len(), 1, "nothing written");
}

async fn eight_concurrent_retries_of_one_key_create_one_order_and_answer_alike(store: Arc<dyn EventStore>) {
    let id = OrderId::from_idempotency_key("service:test", &Uuid::new_v4().to_string());
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (instance, barrier) = (Instance::new(&store), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let context = CommandContext::new("retry");
                let retry = RetryPolicy { attempts: 3, base_delay: std::time::Duration::from_millis(2) };
                instance.service.execute_from(id, &place(), &context, retry, Known::New).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().map(|o| o.appended.len()).sum::<usize>(), 1, "one creates the order");
    assert!(outcomes.iter().all(|o| o.order == outcomes[0].order), "every retry answers the same view");
    assert_eq!(history(&store, id).await.len(), 1);
}

async fn confirm_from_the_placed_envelope_appends_version_2_without_reading(store: Arc<dyn EventStore>) {
    let (api, saga) = (Instance::new(&store), Instance::new(&store));
    let (id, envelope) = placed(&api).await;
    let confirmed = saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap();
    assert_eq!((confirmed.order.status, confirmed.order.version), (OrderStatus::Confirmed, 2));
    assert_eq!(saga.counting.requests(), (0, 1));
    // Redelivered OrderPlaced: the append loses, the read finds it done.
    let again = saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap();
    assert!(again.appended.is_empty());
    assert_eq!(again.order, confirmed.order);
    assert_eq!(history(&store, id).await.len(), 2);
}

async fn a_confirm_after_a_cancel_got_in_first_is_not_allowed(store: Arc<dyn EventStore>) {
    let (api, saga) = (Instance::new(&store), Instance::new(&store));
    let (id, envelope) = placed(&api).await;
    api.run(id, cancel(), Known::Cached).await.unwrap();
    let confirm = saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await;
    assert!(
        matches!(confirm, Err(CommandError::Domain(DomainError::NotAllowed { status: OrderStatus::Cancelled, .. }))),
        "{confirm:?}"
    );
    assert_eq!(answer(&confirm), fresh_answer(&store, id, Command::Confirm, None).await);
    assert_eq!(saga.totals().stale_conflicts, 1);
    let reject = Command::Reject { reason: Reason::parse("stock").unwrap(), shortages: vec![] };
    let rejected = saga.run(id, reject.clone(), Known::from_placed(&envelope, Lane::Standard)).await;
    assert_eq!(answer(&rejected), fresh_answer(&store, id, reject, None).await);
    assert_eq!(history(&store, id).await.len(), 2, "OrderPlaced, OrderCancelled");
}

async fn a_cancel_decided_on_a_stale_cached_state_answers_as_a_fresh_read(store: Arc<dyn EventStore>) {
    let (api, other) = (Instance::new(&store), Instance::new(&store));
    let (id, envelope) = placed(&api).await; // `api` caches version 1, PLACED
    other.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap();
    other.run(id, ship(), Known::Cached).await.unwrap();
    // `api` still holds PLACED: a cancel looks allowed there, the append loses.
    let cancelled = api.run(id, cancel(), Known::Cached).await;
    assert!(matches!(cancelled, Err(CommandError::Domain(DomainError::NotAllowed { .. }))), "{cancelled:?}");
    assert_eq!(answer(&cancelled), fresh_answer(&store, id, cancel(), None).await);
    assert_eq!(api.totals().stale_conflicts, 1);
    assert_eq!(history(&store, id).await.len(), 3, "nothing more written");
}

async fn a_ship_refused_on_a_stale_cached_state_is_decided_again_and_ships(store: Arc<dyn EventStore>) {
    let (api, saga) = (Instance::new(&store), Instance::new(&store));
    let (id, envelope) = placed(&api).await; // `api` caches PLACED
    saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap();
    let (loads, appends) = api.counting.requests();
    let shipped = api.run(id, ship(), Known::Cached).await.unwrap();
    assert_eq!((shipped.order.status, shipped.order.version), (OrderStatus::Shipped, 3));
    assert_eq!(api.counting.requests(), (loads + 1, appends + 1), "refused on PLACED, so one read, then the append");
    assert_eq!(api.totals().rechecks, 1);
    // Now cached as SHIPPED (final): shipping again is a no-op answered without a read.
    let again = api.run(id, ship(), Known::Cached).await.unwrap();
    assert!(again.appended.is_empty());
    assert_eq!(api.counting.requests(), (loads + 1, appends + 1));
    assert_eq!(answer(&Ok(again)), fresh_answer(&store, id, ship(), None).await);
}

async fn a_no_op_on_a_stale_cached_state_is_checked_with_a_read(store: Arc<dyn EventStore>) {
    let (saga, other) = (Instance::new(&store), Instance::new(&store));
    let (id, envelope) = placed(&other).await;
    saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap(); // caches CONFIRMED, v2
    other.run(id, cancel(), Known::Nothing).await.unwrap();
    // Confirm is a no-op on the cached CONFIRMED, which is not final: read.
    let confirm = saga.run(id, Command::Confirm, Known::Cached).await;
    assert!(matches!(confirm, Err(CommandError::Domain(DomainError::NotAllowed { .. }))), "{confirm:?}");
    assert_eq!(answer(&confirm), fresh_answer(&store, id, Command::Confirm, None).await);
    assert_eq!(saga.totals().rechecks, 1);
}

async fn if_match_is_checked_against_the_true_version_not_the_cached_one(store: Arc<dyn EventStore>) {
    let (api, saga) = (Instance::new(&store), Instance::new(&store));
    let (id, envelope) = placed(&api).await; // `api` caches version 1
    saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap(); // now version 2
                                                                                                  // The caller saw version 2: the cache's version 1 must not make it a 412.
    let cancelled = api.run_if_match(id, cancel(), Known::Cached, Some(2)).await.unwrap();
    assert_eq!((cancelled.order.status, cancelled.order.version), (OrderStatus::Cancelled, 3));

    let (id, envelope) = placed(&api).await;
    saga.run(id, Command::Confirm, Known::from_placed(&envelope, Lane::Standard)).await.unwrap();
    // The caller saw version 1, as the stale cache did: the order is at 2, so 412.
    let stale = api.run_if_match(id, cancel(), Known::Cached, Some(1)).await;
    assert!(matches!(stale, Err(CommandError::VersionMismatch { expected: 1 })), "{stale:?}");
    assert_eq!(answer(&stale), fresh_answer(&store, id, cancel(), Some(1)).await);
    assert_eq!(history(&store, id).await.len(), 2, "nothing written");
}

async fn memory() -> Arc<dyn EventStore> {
    Arc::new(MemoryEventStore::new())
}

async fn dynamodb() -> Arc<dyn EventStore> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("events");
    create_events_table(&client, &table).await.unwrap();
    Arc::new(DynamoEventStore::new(client, table))
}

testkit::against_both_adapters!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    memory: super::memory().await,
    dynamodb: super::dynamodb().await;
    a_new_order_is_placed_with_one_append_and_no_read,
    a_place_whose_id_exists_with_the_same_body_answers_the_existing_order,
    a_place_whose_id_exists_with_another_body_is_refused,
    eight_concurrent_retries_of_one_key_create_one_order_and_answer_alike,
    confirm_from_the_placed_envelope_appends_version_2_without_reading,
    a_confirm_after_a_cancel_got_in_first_is_not_allowed,
    a_cancel_decided_on_a_stale_cached_state_answers_as_a_fresh_read,
    a_ship_refused_on_a_stale_cached_state_is_decided_again_and_ships,
    a_no_op_on_a_stale_cached_state_is_checked_with_a_read,
    if_match_is_checked_against_the_true_version_not_the_cached_one,
);
