//! Against a real PostgreSQL: when the database is unreachable or a
//! statement fails, the affected messages are reported failed, nothing is
//! half-applied, and redelivery after recovery converges.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use domain::{Envelope, OrderId};
use event_store::MemoryEventStore;
use faults::drill::OutageDrill;
use faults::TcpProxy;
use legacy_sync::LegacySync;
use sqs_consumer::{Delivery, Failed, Failure};
use support::*;
use uuid::Uuid;

fn ids(batch: &[Delivery]) -> Vec<String> {
    let mut ids: Vec<String> = batch.iter().map(|d| d.message_id.clone()).collect();
    ids.sort();
    ids
}

/// The failed messages' ids, sorted, each failed for `failure`.
fn sorted(failed: Vec<Failed>, failure: Failure) -> Vec<String> {
    assert!(failed.iter().all(|f| f.failure == failure), "every message failed as {failure:?}: {failed:?}");
    let mut ids: Vec<String> = failed.into_iter().map(|f| f.message_id).collect();
    ids.sort();
    ids
}

fn order(skus: &[&str], then: Vec<Next>) -> NewOrder {
    NewOrder {
        customer_id: "angler".into(),
        basket_id: None,
        lines: skus.iter().map(|sku| ((*sku).to_owned(), 2, 12_500)).collect(),
        then,
    }
}

async fn place(store: &Arc<MemoryEventStore>, orders: &[NewOrder]) -> Vec<(Uuid, Vec<Envelope>)> {
    let service = order_service(store.clone());
    let mut placed = Vec::new();
    for order in orders {
        let id = OrderId(Uuid::new_v4());
        placed.push((id.0, run_order(&service, id, order).await));
    }
    placed
}

#[tokio::test]
async fn an_unreachable_database_fails_the_whole_batch_applies_nothing_and_the_retry_converges() {
    let db = TestDb::create().await;
    let client = db.client().await;
    let mut proxy = TcpProxy::start(db.server_addr()).await.expect("start the proxy");
    let store = Arc::new(MemoryEventStore::new());
    let placed =
        place(&store, &[order(&["muskie-casting-rod"], vec![Next::Confirm]), order(&["spinning-reel"], vec![])]).await;
    let (a, a_events) = &placed[0];
    let (b, b_events) = &placed[1];
    let sync = LegacySync::new(db.settings_via(proxy.port).into(), store.clone());
    assert!(sync.apply_batch(deliveries(&a_events[..1])).await.is_empty(), "up: the first batch applies");
    let before = read_rows(&client, None).await;

    proxy.down().await;
    let batch: Vec<Delivery> = deliveries(a_events[1..].iter().chain(b_events));
    assert_eq!(
        sorted(sync.apply_batch(batch.clone()).await, Failure::Transient),
        ids(&batch),
        "the cached connection is cut"
    );
    assert_eq!(sorted(sync.apply_batch(batch.clone()).await, Failure::Transient), ids(&batch), "the port is closed");
    assert_eq!(read_rows(&client, None).await, before, "nothing of the batch is applied");
    assert_eq!(applied_versions(&client, &[*a, *b]).await, HashMap::from([(*a, 1)]));

    proxy.up().await.expect("bind the proxy port again");
    assert!(sync.apply_batch(batch).await.is_empty(), "after recovery the retry applies");
    assert_eq!(read_rows(&client, None).await, expected_rows(store.as_ref(), &[*a, *b], &HashMap::new()).await);
}

#[tokio::test]
async fn a_failing_statement_rolls_the_batch_back_and_only_the_failing_orders_messages_are_retried() {
    let db = TestDb::create().await;
    let client = db.client().await;
    // The legacy shop refusing one SKU: its order's line insert raises.
    client
        .batch_execute(
            "CREATE FUNCTION refuse_line() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'the shop refuses %', NEW.sku; END $$;
             CREATE TRIGGER refuse_forbidden_rod BEFORE INSERT ON shop_orderitem
             FOR EACH ROW WHEN (NEW.sku = 'forbidden-rod') EXECUTE FUNCTION refuse_line();",
        )
        .await
        .unwrap();
    let store = Arc::new(MemoryEventStore::new());
    let placed = place(
        &store,
        &[
            order(&["muskie-casting-rod"], vec![Next::Confirm]),
            order(&["spinning-reel", "forbidden-rod"], vec![Next::Confirm]),
            order(&["braided-line-20lb"], vec![]),
        ],
    )
    .await;
    let order_ids: Vec<Uuid> = placed.iter().map(|(id, _)| *id).collect();
    let refused = order_ids[1];
    let sync = db.sync(store.clone());

    // Alone in its batch: the order row was inserted before the line failed, and is rolled back.
    let alone = deliveries(&placed[1].1);
    assert_eq!(sorted(sync.apply_batch(alone.clone()).await, Failure::Poison), ids(&alone), "refused: poison");
    assert!(read_rows(&client, None).await.is_empty(), "no shop_order row without its lines");
    assert_eq!(applied_versions(&client, &[refused]).await.get(&refused).copied().unwrap_or(0), 0);

    // With other orders: those apply, the refused order's messages (duplicates included) fail.
    let mut batch: Vec<Delivery> = placed.iter().flat_map(|(_, events)| deliveries(events)).collect();
    let duplicate = deliveries(&placed[1].1[..1]);
    batch.extend(duplicate.clone());
    let refused_messages: Vec<Delivery> = batch.iter().filter(|d| d.envelope.order_id.0 == refused).cloned().collect();
    assert_eq!(sorted(sync.apply_batch(batch).await, Failure::Poison), ids(&refused_messages));
    let rows = read_rows(&client, None).await;
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), sorted_uuids(&[order_ids[0], order_ids[2]]));

    client.batch_execute("DROP TRIGGER refuse_forbidden_rod ON shop_orderitem").await.unwrap();
    assert!(sync.apply_batch(refused_messages).await.is_empty(), "the retry converges once the shop accepts it");
    assert_eq!(read_rows(&client, None).await, expected_rows(store.as_ref(), &order_ids, &HashMap::new()).await);
}

fn sorted_uuids(ids: &[Uuid]) -> Vec<Uuid> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_statement_held_past_the_statement_timeout_fails_the_batch_for_a_retry() {
    let db = TestDb::create().await;
    let store = Arc::new(MemoryEventStore::new());
    let placed = place(&store, &[order(&["muskie-casting-rod"], vec![Next::Confirm])]).await;
    let mut settings = db.settings.clone();
    settings.statement_timeout = Duration::from_millis(300);
    let sync = LegacySync::new(settings.into(), store.clone());

    // The legacy shop holding a lock on shop_order (a long report, a migration).
    let mut blocker = db.client().await;
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE shop_order IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let batch = deliveries(&placed[0].1);
    assert_eq!(sorted(sync.apply_batch(batch.clone()).await, Failure::Transient), ids(&batch));
    lock.rollback().await.unwrap();

    let client = db.client().await;
    assert!(read_rows(&client, None).await.is_empty());
    assert!(sync.apply_batch(batch).await.is_empty(), "the retry converges once the lock is gone");
    assert_eq!(read_rows(&client, None).await, expected_rows(store.as_ref(), &[placed[0].0], &HashMap::new()).await);
}

/// The legacy database is unreachable for 24 s (longer than the old 5 ×
/// visibility): no message reaches the DLQ, every order's rows are those
/// of all its events once it is back (whatever order they came in), the
/// receive counts show the backoff; a poison message in the same queue
/// reaches the DLQ meanwhile.
#[tokio::test]
async fn a_database_outage_dead_letters_nothing_but_poison() {
    let db = TestDb::create().await;
    let mut proxy = TcpProxy::start(db.server_addr()).await.expect("start the proxy");
    let store = Arc::new(MemoryEventStore::new());
    let placed = place(
        &store,
        &[
            order(&["muskie-casting-rod"], vec![Next::Confirm, Next::Ship]),
            order(&["spinning-reel"], vec![Next::Cancel]),
            order(&["braided-line-20lb"], vec![Next::Confirm]),
            order(&["jig-head"], vec![Next::Reject]),
        ],
    )
    .await;
    let sync = LegacySync::new(db.settings_via(proxy.port).into(), store.clone());
    let bodies: Vec<String> = placed.iter().flat_map(|(_, events)| events.iter().rev().map(|e| e.to_json())).collect();
    let drill = OutageDrill::prepare("legacy-sync-outage", &bodies).await;

    proxy.down().await;
    let during = drill.through_outage(&sync).await;
    proxy.up().await.expect("bind the proxy port again");
    let after = drill.until_drained(&sync).await;

    drill.assert_only_poison_dead_lettered(&during, &after).await;
    let order_ids: Vec<Uuid> = placed.iter().map(|(id, _)| *id).collect();
    let client = db.client().await;
    assert_eq!(read_rows(&client, None).await, expected_rows(store.as_ref(), &order_ids, &HashMap::new()).await);
}
