//! Sixteen writers on one order at once, against DynamoDB Local: versions
//! stay gap-free, nothing is lost or doubled, losers of the conditional
//! write get a conflict (API commands) or win after a retry (internal ones).
//! The command service's own behaviour, on the memory store, is in
//! `service.rs`.

use contract::tables::create_events_table;
use std::sync::Arc;

use async_trait::async_trait;
use commands::{CommandContext, CommandError, OrderService, RetryPolicy};
use domain::ports::{EventStore, StoreError};
use domain::{
    Command, Currency, CustomerId, DomainError, Envelope, OrderEvent, OrderId, OrderLine, OrderStatus, PlaceOrder,
    Reason, Sku,
};
use event_store::DynamoEventStore;
use uuid::Uuid;

const WRITERS: usize = 16;

async fn service() -> OrderService {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("events");
    create_events_table(&client, &table).await.unwrap();
    OrderService::new(Arc::new(DynamoEventStore::new(client, table)))
}

fn place() -> Command {
    let line = OrderLine { sku: Sku::parse("muskie-casting-rod").unwrap(), quantity: 1, unit_price_cents: 19_900 };
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("c").unwrap(),
        basket_id: None,
        currency: Currency::parse("USD").unwrap(),
        lines: vec![line],
    })
}

async fn placed_order(service: &OrderService) -> OrderId {
    let id = OrderId(Uuid::new_v4());
    service.execute(id, &place(), &CommandContext::new("test"), RetryPolicy::NONE).await.unwrap();
    id
}

async fn all_at_once(
    service: &OrderService,
    id: OrderId,
    commands: Vec<(Command, RetryPolicy)>,
) -> Vec<Result<usize, CommandError>> {
    let barrier = Arc::new(tokio::sync::Barrier::new(commands.len()));
    let tasks: Vec<_> = commands
        .into_iter()
        .map(|(command, retry)| {
            let (service, barrier) = (service.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let outcome = service.execute(id, &command, &CommandContext::new("race"), retry).await;
                outcome.map(|o| o.appended.len())
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

async fn assert_gap_free(service: &OrderService, id: OrderId) -> Vec<OrderEvent> {
    let events = service.store().load(id).await.unwrap();
    let versions: Vec<u32> = events.iter().map(|e| e.version).collect();
    assert_eq!(versions, (1..=events.len() as u32).collect::<Vec<_>>());
    events.into_iter().map(|e| e.event).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn internal_commands_all_succeed_after_retries_and_append_once() {
    let service = service().await;
    let id = placed_order(&service).await;
    let results = all_at_once(&service, id, vec![(Command::Confirm, RetryPolicy::INTERNAL); WRITERS]).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert_eq!(results.iter().map(|r| *r.as_ref().unwrap()).sum::<usize>(), 1, "exactly one appends");
    let events = assert_gap_free(&service, id).await;
    assert_eq!(events.len(), 2);
    assert!(matches!(events[1], OrderEvent::Confirmed(_)));
}

/// The store, except that a load returns only once `writers` loads have
/// been made: every writer has read the same version before any of them
/// appends, so all but one must lose the conditional write.
struct LoadTogether {
    inner: Arc<dyn EventStore>,
    loaded: tokio::sync::Barrier,
}

#[async_trait]
impl EventStore for LoadTogether {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        let events = self.inner.load(order_id).await;
        self.loaded.wait().await;
        events
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.inner.append(events).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn api_commands_that_lose_the_race_get_a_conflict() {
    let service = service().await;
    let id = placed_order(&service).await;
    let racing = OrderService::new(Arc::new(LoadTogether {
        inner: service.store().clone(),
        loaded: tokio::sync::Barrier::new(WRITERS),
    }));
    let commands = (0..WRITERS)
        .map(|i| (Command::Cancel { reason: Some(Reason::parse(&format!("writer {i}")).unwrap()) }, RetryPolicy::NONE));
    let results = all_at_once(&racing, id, commands.collect()).await;
    // All read version 1 and wrote version 2: one won, every other lost the
    // conditional write and, with the API's policy, gets a conflict.
    let winners: Vec<usize> = (0..WRITERS).filter(|i| matches!(results[*i], Ok(1))).collect();
    assert_eq!(winners.len(), 1, "exactly one writer wins version 2: {results:?}");
    let conflicts = results.iter().filter(|r| matches!(r, Err(CommandError::Concurrency))).count();
    assert_eq!(conflicts, WRITERS - 1, "every other writer lost the race: {results:?}");
    let events = assert_gap_free(&service, id).await;
    assert_eq!(events.len(), 2);
    let OrderEvent::Cancelled(cancelled) = &events[1] else { panic!("{events:?}") };
    assert_eq!(cancelled.reason, Some(format!("writer {}", winners[0])), "the winner's cancellation is recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_writers_leave_a_consistent_history() {
    let service = service().await;
    let id = placed_order(&service).await;
    let mut commands = Vec::new();
    for i in 0..WRITERS {
        commands.push(match i % 4 {
            0 => (Command::Confirm, RetryPolicy::INTERNAL),
            1 => (Command::Cancel { reason: None }, RetryPolicy::NONE),
            2 => (Command::Ship { tracking_number: None }, RetryPolicy::NONE),
            _ => {
                (Command::Reject { reason: Reason::parse("stock").unwrap(), shortages: vec![] }, RetryPolicy::INTERNAL)
            }
        });
    }
    let results = all_at_once(&service, id, commands).await;
    let appended: usize = results.iter().filter_map(|r| r.as_ref().ok()).sum();
    for result in &results {
        assert!(
            matches!(
                result,
                Ok(_) | Err(CommandError::Concurrency) | Err(CommandError::Domain(DomainError::NotAllowed { .. }))
            ),
            "{result:?}"
        );
    }
    let events = assert_gap_free(&service, id).await;
    assert_eq!(events.len(), 1 + appended, "every success that appended is in the history, once");
    let order = service.get(id).await.unwrap().unwrap();
    assert_ne!(order.status, OrderStatus::Placed, "someone won");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn if_match_on_a_stale_version_is_a_precondition_failure() {
    let service = service().await;
    let id = placed_order(&service).await;
    let mut context = CommandContext::new("test");
    context.expected_version = Some(1);
    let stale = context.clone();
    service.execute(id, &Command::Confirm, &context, RetryPolicy::NONE).await.unwrap();
    let err = service.execute(id, &Command::Cancel { reason: None }, &stale, RetryPolicy::NONE).await.unwrap_err();
    assert!(matches!(err, CommandError::VersionMismatch { expected: 1 }), "{err:?}");
    assert_eq!(assert_gap_free(&service, id).await.len(), 2);
}
