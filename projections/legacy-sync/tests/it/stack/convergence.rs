//! Against a real PostgreSQL: whatever the delivery order, duplication and
//! batching, the legacy rows end equal to the event store's view.

use crate::support;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::{EventStore, StoreError};
use domain::{Envelope, OrderId};
use event_store::MemoryEventStore;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use sqs_consumer::{Delivery, Failed};
use support::*;
use uuid::Uuid;

const KNOWN_SKUS: [&str; 3] = ["muskie-casting-rod", "spinning-reel", "braided-line-20lb"];

#[derive(Clone, Debug)]
struct OrderSpec {
    customer_id: String,
    /// 0: none, 1 and 2: one of the case's baskets, 3: a basket the shop does not have.
    basket: usize,
    lines: BTreeMap<String, (u32, u64)>,
    then: Vec<Next>,
}

fn order_spec() -> impl Strategy<Value = OrderSpec> {
    // Printable as the domain defines it (`\PC` still admits U+2028/2029).
    let printable = "\\PC{1,128}".prop_filter("printable", |s: &String| s.chars().all(domain::values::is_printable));
    let customer = prop_oneof![printable, Just("'; DROP TABLE shop_order; --".to_owned()), Just("é".repeat(128)),];
    let sku =
        prop_oneof![proptest::sample::select(KNOWN_SKUS.to_vec()).prop_map(str::to_owned), "[a-z0-9][a-z0-9-]{0,63}"];
    let next = prop_oneof![Just(Next::Confirm), Just(Next::Reject), Just(Next::Cancel), Just(Next::Ship)];
    (
        customer,
        0..4usize,
        proptest::collection::btree_map(sku, (1..=1000u32, 1..=100_000_000u64), 1..4),
        proptest::collection::vec(next, 0..4),
    )
        .prop_map(|(customer_id, basket, lines, then)| OrderSpec { customer_id, basket, lines, then })
}

#[test]
fn random_orders_converge_under_any_shuffling_duplication_and_batching() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let db = runtime.block_on(TestDb::create());
    let client = runtime.block_on(db.client());
    let products = runtime.block_on(add_products(&client, &KNOWN_SKUS));
    let store = Arc::new(MemoryEventStore::new());
    let service = order_service(store.clone());
    // Two consumers at once, as the template's concurrency bound allows.
    let syncs = [db.sync(store.clone()), db.sync(store.clone())];

    let mut runner = TestRunner::new(Config { cases: 64, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec(order_spec(), 1..6), any::<u64>());
    let result = runner.run(&strategy, |(specs, seed)| {
        runtime.block_on(async {
            let baskets = [add_basket(&client).await, add_basket(&client).await];
            let mut ids = Vec::new();
            let mut events: Vec<Envelope> = Vec::new();
            let mut basket_of = HashMap::new();
            for spec in &specs {
                let id = OrderId(Uuid::new_v4());
                let basket_id = match spec.basket {
                    1 | 2 => Some(baskets[spec.basket - 1]),
                    3 => Some(Uuid::new_v4()),
                    _ => None,
                };
                let order = NewOrder {
                    customer_id: spec.customer_id.clone(),
                    basket_id,
                    lines: spec.lines.iter().map(|(sku, (q, p))| (sku.clone(), *q, *p)).collect(),
                    then: spec.then.clone(),
                };
                events.extend(run_order(&service, id, &order).await);
                ids.push(id.0);
                basket_of.insert(id.0, basket_id);
            }

            let mut rng = StdRng::seed_from_u64(seed);
            let mut pending: Vec<Delivery> =
                events.iter().flat_map(|e| deliveries(std::iter::repeat_n(e, rng.random_range(1..=3)))).collect();
            pending.shuffle(&mut rng);
            while !pending.is_empty() {
                let first: Vec<Delivery> = pending.drain(..rng.random_range(1..=10).min(pending.len())).collect();
                let second: Vec<Delivery> = pending.drain(..rng.random_range(0..=10).min(pending.len())).collect();
                let (failed_first, failed_second) =
                    tokio::join!(syncs[0].apply_batch(first), syncs[1].apply_batch(second));
                prop_assert!(
                    failed_first.is_empty() && failed_second.is_empty(),
                    "no message fails: {failed_first:?} {failed_second:?}"
                );
            }

            let expected = expected_rows(store.as_ref(), &ids, &products).await;
            prop_assert_eq!(read_rows(&client, Some(&ids)).await, expected.clone());
            let versions = applied_versions(&client, &ids).await;
            for id in &ids {
                let last = store.load(OrderId(*id)).await.map_err(|e| TestCaseError::fail(e.to_string()))?.len() as i32;
                prop_assert_eq!(versions.get(id), Some(&last));
            }
            // Each basket links to the latest placed of the orders naming it.
            let links = basket_links(&client, &baskets).await;
            for basket in baskets {
                let latest = ids
                    .iter()
                    .filter(|id| basket_of[*id] == Some(basket))
                    .max_by_key(|id| (expected[*id].placed_at, **id))
                    .map_or(String::new(), Uuid::to_string);
                prop_assert_eq!(&links[&basket], &latest);
            }
            Ok(())
        })
    });
    if let Err(error) = result {
        panic!("{error}");
    }
}

async fn place_and_sync(db: &TestDb, orders: &[NewOrder]) -> (Arc<MemoryEventStore>, Vec<Uuid>) {
    let store = Arc::new(MemoryEventStore::new());
    let service = order_service(store.clone());
    let mut ids = Vec::new();
    let mut events = Vec::new();
    for order in orders {
        let id = OrderId(Uuid::new_v4());
        events.extend(run_order(&service, id, order).await);
        ids.push(id.0);
    }
    let failed = db.sync(store.clone()).apply_batch(deliveries(&events)).await;
    assert!(failed.is_empty(), "failed: {failed:?}");
    (store, ids)
}

fn simple_order(customer_id: &str, skus: &[&str]) -> NewOrder {
    NewOrder {
        customer_id: customer_id.to_owned(),
        basket_id: None,
        lines: skus.iter().map(|sku| ((*sku).to_owned(), 1, 4_999)).collect(),
        then: vec![],
    }
}

#[tokio::test]
async fn hostile_strings_are_stored_verbatim() {
    let db = TestDb::create().await;
    let customers = [
        "'; DROP TABLE shop_order; --".to_owned(),
        "Robert'); DROP TABLE shop_orderitem;--".to_owned(),
        r#"O'Brien "the \"angler\"" \\ back\slash $1 $$ %s {}"#.to_owned(),
        "名前 🎣 émoji ∑ Ω e\u{301} combining".to_owned(),
        "x".repeat(128),
        "é".repeat(128),
        "🎣".repeat(128),
    ];
    let orders: Vec<NewOrder> = customers.iter().map(|c| simple_order(c, &["muskie-casting-rod"])).collect();
    let (_, ids) = place_and_sync(&db, &orders).await;
    let client = db.client().await;
    let rows = read_rows(&client, Some(&ids)).await;
    for (id, customer) in ids.iter().zip(&customers) {
        assert_eq!(&rows[id].customer_id, customer);
    }
    let tables: i64 = client
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename IN ('shop_order', 'shop_orderitem')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 2, "the legacy tables are still there");
}

#[tokio::test]
async fn unknown_skus_get_a_null_product_and_known_ones_link_by_slug() {
    let db = TestDb::create().await;
    let client = db.client().await;
    let products = add_products(&client, &["muskie-casting-rod"]).await;
    let unknown_long = "z".repeat(64);
    let (_, ids) =
        place_and_sync(&db, &[simple_order("angler", &["muskie-casting-rod", "no-such-lure", &unknown_long])]).await;
    let lines = &read_rows(&client, Some(&ids)).await[&ids[0]].lines;
    assert_eq!(lines["muskie-casting-rod"].0, Some(products["muskie-casting-rod"]));
    assert_eq!(lines["no-such-lure"].0, None);
    assert_eq!(lines[&unknown_long].0, None);
}

#[tokio::test]
async fn an_order_naming_an_existing_basket_links_it_and_an_unknown_basket_is_only_recorded() {
    let db = TestDb::create().await;
    let client = db.client().await;
    let basket = add_basket(&client).await;
    let unknown_basket = Uuid::new_v4();
    let mut with_basket = simple_order("angler", &["spinning-reel"]);
    with_basket.basket_id = Some(basket);
    let mut with_unknown = simple_order("angler", &["spinning-reel"]);
    with_unknown.basket_id = Some(unknown_basket);
    let (_, ids) = place_and_sync(&db, &[with_basket, with_unknown]).await;
    assert_eq!(basket_links(&client, &[basket, unknown_basket]).await, HashMap::from([(basket, ids[0].to_string())]));
    let rows = read_rows(&client, Some(&ids)).await;
    assert_eq!((rows[&ids[0]].basket_id, rows[&ids[1]].basket_id), (Some(basket), Some(unknown_basket)));
}

#[tokio::test]
async fn an_event_ahead_of_its_predecessor_is_folded_from_the_store_and_the_predecessor_is_then_stale() {
    let db = TestDb::create().await;
    let store = Arc::new(MemoryEventStore::new());
    let service = order_service(store.clone());
    let id = OrderId(Uuid::new_v4());
    let mut order = simple_order("angler", &["muskie-casting-rod"]);
    order.then = vec![Next::Confirm, Next::Ship];
    let events = run_order(&service, id, &order).await;
    let sync = db.sync(store.clone());

    assert!(sync.apply_batch(deliveries(&events[1..2])).await.is_empty());
    assert_eq!(sync.stats().store_loads.load(Ordering::Relaxed), 1);
    let client = db.client().await;
    let rows = read_rows(&client, Some(&[id.0])).await;
    assert_eq!(rows[&id.0].status, "shipped", "the fold reaches the store's latest version");
    assert_eq!(applied_versions(&client, &[id.0]).await[&id.0], 3);

    assert!(sync.apply_batch(deliveries(&events)).await.is_empty());
    assert_eq!(sync.stats().store_loads.load(Ordering::Relaxed), 1, "stale events need no fold");
    assert_eq!(read_rows(&client, Some(&[id.0])).await, rows);
}

#[tokio::test]
async fn a_batch_of_any_size_takes_two_round_trips() {
    let db = TestDb::create().await;
    let store = Arc::new(MemoryEventStore::new());
    let service = order_service(store.clone());
    let mut events = Vec::new();
    for _ in 0..50 {
        let mut order = simple_order("angler", &["muskie-casting-rod", "spinning-reel"]);
        order.then = vec![Next::Confirm];
        events.extend(run_order(&service, OrderId(Uuid::new_v4()), &order).await);
    }
    assert_eq!(events.len(), 100);
    let sync = db.sync(store);
    assert!(sync.apply_batch(deliveries(&events)).await.is_empty());
    assert_eq!(sync.stats().round_trips.load(Ordering::Relaxed), 2);
    assert_eq!(sync.stats().statements.load(Ordering::Relaxed), 9, "BEGIN, lock, six writes, COMMIT");
}

/// An event store whose reads fail: the event store being down.
struct UnavailableStore;

#[async_trait]
impl EventStore for UnavailableStore {
    async fn load(&self, _: OrderId) -> Result<Vec<Envelope>, StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
    async fn append(&self, _: &[Envelope]) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn when_the_event_store_is_down_only_orders_needing_a_fold_fail() {
    let db = TestDb::create().await;
    let store = Arc::new(MemoryEventStore::new());
    let service = order_service(store.clone());
    let (complete, ahead) = (OrderId(Uuid::new_v4()), OrderId(Uuid::new_v4()));
    let mut order = simple_order("angler", &["muskie-casting-rod"]);
    order.then = vec![Next::Confirm];
    let complete_events = run_order(&service, complete, &order).await;
    let ahead_events = run_order(&service, ahead, &order).await;
    let ahead_delivery = deliveries(&ahead_events[1..]);
    let mut batch = deliveries(&complete_events);
    batch.extend(ahead_delivery.clone());

    let failed = db.sync(Arc::new(UnavailableStore)).apply_batch(batch).await;
    assert_eq!(failed, vec![Failed::transient(ahead_delivery[0].message_id.clone())], "a store outage is transient");
    let client = db.client().await;
    assert_eq!(read_rows(&client, None).await.keys().copied().collect::<Vec<_>>(), vec![complete.0]);

    assert!(db.sync(store.clone()).apply_batch(ahead_delivery).await.is_empty(), "the retry converges");
    let products = HashMap::new();
    assert_eq!(read_rows(&client, None).await, expected_rows(store.as_ref(), &[complete.0, ahead.0], &products).await);
}
