//! Against PostgreSQL and DynamoDB Local: rebuilding the legacy order
//! tables from an events table of 10,000 events reproduces, row for row,
//! what the live sync wrote — also when the rebuild is interrupted and
//! resumed.

use crate::support;

use contract::event_item::EventItem;
use contract::tables::create_events_table;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use domain::{Envelope, OrderId};
use event_store::{DynamoEventStore, MemoryEventStore};
use legacy_sync::{rebuild, RebuildError, RebuildOptions};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use support::*;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

const EVENTS: usize = 10_000;
const SKUS: [&str; 3] = ["muskie-casting-rod", "spinning-reel", "braided-line-20lb"];

/// 3,333 orders of three events (confirmed then shipped or cancelled) and
/// one of a single event: 10,000 events, made by the command handler on
/// the returned in-memory store.
async fn histories() -> (Vec<(Uuid, Vec<Envelope>)>, Arc<MemoryEventStore>) {
    let history = Arc::new(MemoryEventStore::new());
    let service = order_service(history.clone());
    let mut orders = Vec::new();
    let mut count = 0;
    let mut i = 0;
    while count < EVENTS {
        let then = match (EVENTS - count, i % 2) {
            (1, _) => vec![],
            (_, 0) => vec![Next::Confirm, Next::Ship],
            _ => vec![Next::Confirm, Next::Cancel],
        };
        let order = NewOrder {
            customer_id: format!("angler-{i}"),
            basket_id: None,
            lines: vec![
                (SKUS[i % 3].to_owned(), 1 + (i % 7) as u32, 1_000 + i as u64),
                ("fly-box".to_owned(), 2, 1_500),
            ],
            then,
        };
        let id = OrderId(Uuid::new_v4());
        let events = run_order(&service, id, &order).await;
        count += events.len();
        orders.push((id.0, events));
        i += 1;
    }
    assert_eq!(count, EVENTS);
    (orders, history)
}

/// Loads the events into the table with `BatchWriteItem`, 25 items a call,
/// in the events table's documented item layout (docs/design.md,
/// "Event store"): a few hundred requests instead of one conditional write per
/// order, which DynamoDB Local on a busy two-core machine takes minutes for.
/// How the items got there does not matter to the rebuild, which reads them
/// through `DynamoEventStore`'s scan.
async fn load_into_dynamodb(dynamodb: &aws_sdk_dynamodb::Client, table: &str, events: Vec<Envelope>) {
    let writers = Arc::new(Semaphore::new(4));
    let mut writes = tokio::task::JoinSet::new();
    for chunk in events.chunks(25) {
        let requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|e| {
                let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(EventItem::new(e)).unwrap();
                WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item)).build().unwrap()).build()
            })
            .collect();
        let (dynamodb, table) = (dynamodb.clone(), table.to_owned());
        let permit = writers.clone().acquire_owned().await.unwrap();
        writes.spawn(async move {
            let mut pending = HashMap::from([(table, requests)]);
            while !pending.is_empty() {
                let out =
                    dynamodb.batch_write_item().set_request_items(Some(pending)).send().await.expect("BatchWriteItem");
                pending =
                    out.unprocessed_items.unwrap_or_default().into_iter().filter(|(_, r)| !r.is_empty()).collect();
            }
            drop(permit);
        });
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_of_10_000_events_reproduces_the_live_syncs_rows_and_resumes_after_an_interruption() {
    let aws = testkit::dynamodb_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let table = testkit::unique_name("legacy-rebuild-events");
    create_events_table(&dynamodb, &table).await.expect("create the events table");
    let (orders, history) = histories().await;
    load_into_dynamodb(&dynamodb, &table, orders.iter().flat_map(|(_, e)| e.iter().cloned()).collect()).await;
    let store = Arc::new(DynamoEventStore::new(dynamodb.clone(), table.clone()));

    let db = TestDb::create().await;
    let client = db.client().await;
    let products = add_products(&client, &SKUS).await;

    // The live sync: every event once or twice, shuffled, in batches of 10,
    // through two consumers at once. It folds from the in-memory copy of the
    // same events (DynamoDB Local is slow to answer thousands of queries on a
    // busy machine; the two stores are held to one contract by event-store's tests).
    let mut rng = StdRng::seed_from_u64(5);
    let mut messages: Vec<Envelope> = orders.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
    messages.extend(messages.clone().into_iter().step_by(7));
    messages.shuffle(&mut rng);
    let syncs = [db.sync(history.clone()), db.sync(history.clone())];
    for pair in messages.chunks(20) {
        let (first, second) = pair.split_at(pair.len().min(10));
        let (a, b) = tokio::join!(syncs[0].apply_batch(deliveries(first)), syncs[1].apply_batch(deliveries(second)));
        assert!(a.is_empty() && b.is_empty(), "no message fails");
    }
    let live = read_rows(&client, None).await;
    let ids: Vec<Uuid> = orders.iter().map(|(id, _)| *id).collect();
    assert_eq!(live.len(), orders.len());
    assert_eq!(live, expected_rows(history.as_ref(), &ids, &products).await, "the live sync converged");

    let options = |truncate| RebuildOptions { segments: 4, truncate, restart: false };
    let refused = rebuild(db.source(), (*store).clone(), store.clone(), options(false), |_| {}).await;
    assert!(matches!(refused, Err(RebuildError::NotEmpty)), "{refused:?}");

    // Interrupted as soon as the first page is recorded.
    let recorded = Arc::new(Notify::new());
    let signal = recorded.clone();
    tokio::select! {
        biased;
        _ = recorded.notified() => {}
        finished = rebuild(db.source(), (*store).clone(), store.clone(), options(true), move |p| {
            // Called once at the start, then after every recorded page.
            if p.events > 0 {
                signal.notify_one();
            }
        }) => {
            panic!("the rebuild finished before it could be interrupted: {finished:?}")
        }
    }
    let open: i64 =
        client.query_one("SELECT count(*) FROM order_sync.rebuild_segment WHERE NOT done", &[]).await.unwrap().get(0);
    assert!(open > 0, "the interruption left segments to resume");
    assert!(read_rows(&client, None).await.len() < orders.len(), "the interrupted rebuild is partial");

    let mismatch =
        rebuild(db.source(), (*store).clone(), store.clone(), RebuildOptions { segments: 2, ..options(false) }, |_| {})
            .await;
    assert!(matches!(mismatch, Err(RebuildError::SegmentsMismatch { in_progress: 4, requested: 2 })), "{mismatch:?}");

    let reported = Arc::new(AtomicU64::new(0));
    let seen = reported.clone();
    let summary = rebuild(db.source(), (*store).clone(), store.clone(), options(false), move |p| {
        seen.fetch_max(p.events, Ordering::Relaxed);
    })
    .await
    .expect("the rebuild resumes and finishes");
    assert!(summary.resumed);
    assert_eq!(summary.progress.events, EVENTS as u64);
    assert!(summary.this_run < EVENTS as u64, "the resumed run did not start over");
    assert_eq!(reported.load(Ordering::Relaxed), EVENTS as u64, "progress reached every event");
    assert_eq!(read_rows(&client, None).await, live, "the rebuild reproduces the live sync's rows");
    let versions = applied_versions(&client, &ids).await;
    assert!(orders.iter().all(|(id, events)| versions[id] == events.len() as i32), "every order at its last version");
    dynamodb.delete_table().table_name(table).send().await.expect("delete the events table");
}
