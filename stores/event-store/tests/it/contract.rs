//! One contract, two adapters: every test here runs against the in-memory
//! store and against DynamoDB Local, so the two cannot drift.

use contract::tables::create_events_table;
use std::collections::HashSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use contract::event_item::EventItem;
use domain::event::{OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected};
use domain::ports::{EventScan, EventStore, StoreError};
use domain::upcast::{SchemaVersions, UpcastError};
use domain::{Currency, CustomerId, Envelope, EventType, OrderEvent, OrderId, OrderLine, Sku};
use event_store::{DynamoEventStore, MemoryEventStore};
use uuid::Uuid;

trait Store: EventStore + EventScan {}
impl<T: EventStore + EventScan> Store for T {}

fn placed(lines: usize) -> OrderEvent {
    let lines: Vec<OrderLine> = (0..lines)
        .map(|i| OrderLine { sku: Sku::parse(&format!("sku-{i:03}")).unwrap(), quantity: 1, unit_price_cents: 100 })
        .collect();
    OrderEvent::Placed(OrderPlaced {
        customer_id: CustomerId::parse("customer 'quoted' ünïcode").unwrap(),
        basket_id: Some(Uuid::new_v4()),
        currency: Currency::parse("EUR").unwrap(),
        total_cents: 100 * lines.len() as u64,
        lines,
    })
}

fn envelope(order_id: OrderId, version: u32, event: OrderEvent) -> Envelope {
    Envelope {
        event_id: Uuid::new_v4(),
        order_id,
        version,
        occurred_at: Utc.timestamp_millis_opt(1_764_230_400_123 + i64::from(version)).unwrap(),
        correlation_id: "corr-1".into(),
        causation_id: "cause-1".into(),
        traceparent: None,
        event,
    }
}

fn confirmed(order_id: OrderId, version: u32) -> Envelope {
    envelope(order_id, version, OrderEvent::Confirmed(OrderConfirmed {}))
}

fn new_order() -> OrderId {
    OrderId(Uuid::new_v4())
}

async fn unknown_order_has_no_events(store: Arc<dyn Store>) {
    assert!(store.load(new_order()).await.unwrap().is_empty());
}

async fn appended_events_load_in_version_order(store: Arc<dyn Store>) {
    let id = new_order();
    let first = envelope(id, 1, placed(2));
    store.append(std::slice::from_ref(&first)).await.unwrap();
    let rest = vec![confirmed(id, 2), envelope(id, 3, OrderEvent::Cancelled(OrderCancelled { reason: None }))];
    store.append(&rest).await.unwrap();
    let loaded = store.load(id).await.unwrap();
    assert_eq!(loaded, [vec![first], rest].concat());
    // Other orders are untouched.
    assert!(store.load(new_order()).await.unwrap().is_empty());
}

async fn a_taken_version_is_a_conflict_and_writes_nothing(store: Arc<dyn Store>) {
    let id = new_order();
    store.append(&[envelope(id, 1, placed(1))]).await.unwrap();
    let err = store.append(&[envelope(id, 1, placed(3))]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { version: 1, .. }), "{err:?}");
    // A command's events commit all or none: v2 is free but v1 is not.
    store.append(&[confirmed(id, 2)]).await.unwrap();
    let err = store.append(&[confirmed(id, 2), confirmed(id, 3)]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { version: 2, .. }), "{err:?}");
    assert_eq!(store.load(id).await.unwrap().len(), 2);
}

async fn long_histories_are_read_across_pages(store: Arc<dyn Store>) {
    // 200 events of ~7 KB exceed DynamoDB's 1 MB page, so the query pages
    // (`dynamodb_reads_of_long_histories_take_several_pages` proves it).
    let id = new_order();
    let events: Vec<Envelope> = (1..=200).map(|v| envelope(id, v, placed(100))).collect();
    for event in &events {
        store.append(std::slice::from_ref(event)).await.unwrap();
    }
    assert_eq!(store.load(id).await.unwrap(), events);
}

async fn only_one_of_many_concurrent_writers_wins_a_version(store: Arc<dyn Store>) {
    let id = new_order();
    store.append(&[envelope(id, 1, placed(1))]).await.unwrap();
    let writers = (0..16).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.append(&[confirmed(id, 2)]).await })
    });
    let results: Vec<_> = futures_join(writers).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(results.iter().filter_map(|r| r.as_ref().err()).all(|e| matches!(e, StoreError::Conflict { .. })));
    assert_eq!(store.load(id).await.unwrap().len(), 2);
}

async fn a_segmented_scan_sees_every_event_once(store: Arc<dyn Store>) {
    let ids: Vec<OrderId> = (0..25).map(|_| new_order()).collect();
    for id in &ids {
        store.append(&[envelope(*id, 1, placed(1))]).await.unwrap();
        store.append(&[confirmed(*id, 2)]).await.unwrap();
    }
    let mut seen = Vec::new();
    for segment in 0..3 {
        let mut cursor = None;
        loop {
            let page = store.scan_page(segment, 3, cursor).await.unwrap();
            seen.extend(page.events.into_iter().filter(|e| ids.contains(&e.order_id)).map(|e| (e.order_id, e.version)));
            cursor = page.cursor;
            if cursor.is_none() {
                break;
            }
        }
    }
    let unique: HashSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 50);
    assert_eq!(unique.len(), 50);
}

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut results = Vec::new();
    for handle in handles.collect::<Vec<_>>() {
        results.push(handle.await.unwrap());
    }
    results
}

async fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryEventStore::new())
}

async fn dynamodb() -> Arc<dyn Store> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("events");
    create_events_table(&client, &table).await.unwrap();
    Arc::new(DynamoEventStore::new(client, table))
}

testkit::against_both_adapters!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    memory: super::memory().await,
    dynamodb: super::dynamodb().await;
    unknown_order_has_no_events,
    appended_events_load_in_version_order,
    a_taken_version_is_a_conflict_and_writes_nothing,
    long_histories_are_read_across_pages,
    only_one_of_many_concurrent_writers_wins_a_version,
    a_segmented_scan_sees_every_event_once,
);

#[tokio::test]
async fn dynamodb_reads_of_long_histories_take_several_pages() {
    let requests = testkit::requests::RequestCounter::default();
    let client = requests.client(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("events");
    create_events_table(&client, &table).await.unwrap();
    let store = DynamoEventStore::new(client, table);
    let id = new_order();
    for v in 1..=200 {
        store.append(&[envelope(id, v, placed(100))]).await.unwrap();
    }
    let queries_before = requests.snapshot().query;
    assert_eq!(store.load(id).await.unwrap().len(), 200);
    let queries = requests.snapshot().query - queries_before;
    assert!(queries >= 2, "expected several pages, got {queries} query");
}

/// An event of a newer build than the reader's (a rolling deployment) is
/// [`StoreError::NewerThanBuild`], not corrupt: read by the store of the
/// build before OrderRejected's bump, and by this build from an item a
/// future build wrote. Only DynamoDB can hold one: the memory store keeps
/// the envelopes this build made.
#[tokio::test]
async fn dynamodb_an_event_of_a_newer_build_is_no_corruption() {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("events");
    create_events_table(&client, &table).await.unwrap();
    let store = DynamoEventStore::new(client.clone(), &table);
    let previous = store.clone().in_build(SchemaVersions::previous());
    let rejected = |id| {
        let rejected = OrderRejected { reason: "insufficient stock".into(), shortages: Vec::new() };
        [envelope(id, 1, placed(1)), envelope(id, 2, OrderEvent::Rejected(rejected))]
    };

    let id = new_order();
    store.append(&rejected(id)).await.unwrap();
    let error = previous.load(id).await.unwrap_err();
    assert!(
        matches!(&error, StoreError::NewerThanBuild(UpcastError::NewerThanBuild { version: 2, current: 1, .. })),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "event in store written by a newer build: schemaVersion 2 of OrderRejected is newer than this build (reads up to 1)"
    );
    assert!(std::error::Error::source(&error).is_some_and(|source| source.is::<UpcastError>()));

    // The previous build writes OrderRejected at 1, which both builds read.
    let older = new_order();
    previous.append(&rejected(older)).await.unwrap();
    let stored = store.load_stored(older).await.unwrap();
    assert_eq!(stored.iter().map(|e| e.schema_version).collect::<Vec<_>>(), [1, 1]);
    assert_eq!(previous.load(older).await.unwrap(), store.load(older).await.unwrap());

    // A future build's item; an unreadable one stays corrupt.
    let (future, unreadable) = (new_order(), new_order());
    let event = envelope(future, 1, placed(1));
    let newer = EventType::OrderPlaced.schema_version() + 1;
    let json = event.to_json().replace(r#""schemaVersion":1"#, &format!(r#""schemaVersion":{newer}"#));
    let broken = envelope(unreadable, 1, placed(1));
    for item in [EventItem::with_envelope_json(&event, json), EventItem::with_envelope_json(&broken, "{}".into())] {
        let item = serde_dynamo::to_item(item).unwrap();
        client.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    }
    assert!(matches!(store.load(future).await, Err(StoreError::NewerThanBuild(_))));
    assert!(matches!(store.load(unreadable).await, Err(StoreError::Corrupt(_))));
}
