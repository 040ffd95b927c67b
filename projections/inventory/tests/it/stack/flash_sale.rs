//! The Black-Friday story against DynamoDB Local, lanes on: 100
//! `muskie-casting-rod` in stock, 500 orders for it placed concurrently with
//! 100 orders for `tourney-casting-rod` interleaved; each order goes to the
//! queue of the lane stored with it (muskie is the hot list), and both lanes
//! are drained at once as SQS batches by their own concurrent consumers (the
//! template's defaults), each message with its `lane` attribute as the topic
//! sends it, so the saga settles on the OrderPlaced state; then the whole
//! delivery again, duplicated and shuffled, through the lanes again. The
//! muskie rod has a purchase limit and every order its own customer, so
//! each reservation of it also takes that customer's share.

use crate::common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use catalog_store::MemoryCatalog;
use commands::OrderService;
use common::{catalog_item, dynamodb_stores, place_as, sku};
use domain::event::{Shortage, UnavailableLine};
use domain::ports::EventStore;
use domain::{Envelope, HotList, Lane, OrderEvent, OrderStatus};
use event_store::DynamoEventStore;
use inventory::{InventoryProjection, InventoryStore};
use inventory_store::store::ShareKey;
use rand::seq::SliceRandom;
use testkit::delivery::deliver_in_lane;
use testkit::known_state::KnownStateCounter;
use tracing::instrument::WithSubscriber;

const HOT: &str = "muskie-casting-rod";
const OTHER: &str = "tourney-casting-rod";
const HOT_STOCK: u64 = 100;
const HOT_ORDERS: usize = 500;
const OTHER_ORDERS: usize = 100;
/// The standard lane: `InventoryMaxConcurrency` consumers (8 here), batches of 10.
const CONSUMERS: usize = 8;
const SQS_BATCH: usize = 10;
/// The hot lane: the template's `InventoryHotMaxConcurrency` and `InventoryHotBatchSize`.
const HOT_CONSUMERS: usize = 2;
const HOT_BATCH: usize = 50;

/// Delivers each lane's envelopes through its own queue, both at once.
async fn deliver_through_lanes(
    projection: Arc<InventoryProjection>,
    events: &dyn EventStore,
    envelopes: Vec<&Envelope>,
) {
    let (mut hot, mut standard) = (Vec::new(), Vec::new());
    for envelope in envelopes {
        let (_, lane) = events.load_with_lane(envelope.order_id).await.unwrap();
        match lane.expect("every order is stored with its lane") {
            Lane::Hot => hot.push(envelope.to_json()),
            Lane::Standard => standard.push(envelope.to_json()),
        }
    }
    tokio::join!(
        deliver_through_queue(projection.clone(), Lane::Hot, hot, HOT_CONSUMERS, HOT_BATCH),
        deliver_through_queue(projection, Lane::Standard, standard, CONSUMERS, SQS_BATCH),
    );
}

/// Delivers `bodies` the way SQS and Lambda would from `lane`'s queue:
/// batches of up to `batch` taken by `consumers` concurrent consumers,
/// failed messages back in the queue.
async fn deliver_through_queue(
    projection: Arc<InventoryProjection>,
    lane: Lane,
    bodies: Vec<String>,
    consumers: usize,
    batch: usize,
) {
    let queue = Arc::new(Mutex::new(VecDeque::from(bodies)));
    let consumers = (0..consumers).map(|_| {
        let (queue, projection) = (queue.clone(), projection.clone());
        let consumer = async move {
            loop {
                let batch: Vec<String> = {
                    let mut queue = queue.lock().unwrap();
                    let n = queue.len().min(batch);
                    queue.drain(..n).collect()
                };
                if batch.is_empty() {
                    return;
                }
                let failed = deliver_in_lane(&*projection, &batch, lane).await;
                let mut queue = queue.lock().unwrap();
                for id in failed {
                    let i: usize = id.trim_start_matches('m').parse().unwrap();
                    queue.push_back(batch[i].clone());
                }
            }
        };
        // In the caller's subscriber: the test counts what the saga decides.
        tokio::spawn(consumer.with_current_subscriber())
    });
    for consumer in consumers {
        consumer.await.unwrap();
    }
}

/// Reads the hot SKU over and over while the sale runs: every read must
/// decode (a negative counter would not) and account for all the stock.
fn watch_hot_stock(store: Arc<dyn InventoryStore>, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut reads = 0;
        while !stop.load(Ordering::SeqCst) {
            let stock = store.stock(&[sku(HOT)]).await.expect("stock decodes: no counter below zero");
            let hot = &stock[&sku(HOT)];
            assert_eq!(hot.available + hot.reserved + hot.shipped, HOT_STOCK, "stock is conserved: {hot:?}");
            reads += 1;
        }
        reads
    })
}

/// The lane each event of the order is stored in, oldest first.
async fn lanes(stored: &DynamoEventStore, placed: &Envelope) -> Vec<Lane> {
    stored.load_stored(placed.order_id).await.unwrap().into_iter().map(|e| e.lane).collect()
}

async fn outcome(events: &dyn EventStore, placed: &[Envelope]) -> Vec<(OrderStatus, usize)> {
    let mut outcome = Vec::with_capacity(placed.len());
    for p in placed {
        let history = events.load(p.order_id).await.unwrap();
        outcome.push((domain::fold(&history).unwrap().status, history.len()));
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flash_sale_never_oversells_and_never_starves_other_products() {
    let (inventory, stored) = dynamodb_stores().await;
    let (inventory, events): (Arc<dyn InventoryStore>, Arc<dyn EventStore>) =
        (Arc::new(inventory), Arc::new(stored.clone()));
    inventory.set_available(&sku(HOT), HOT_STOCK).await.unwrap();
    inventory.set_available(&sku(OTHER), 1_000).await.unwrap();
    let orders = OrderService::new(events.clone()).with_hot_list(HotList::parse(HOT).unwrap());

    // Placed concurrently, one tourney order after every five muskie orders.
    let total = HOT_ORDERS + OTHER_ORDERS;
    let placing = (0..total).map(|i| {
        let orders = orders.clone();
        tokio::spawn(async move { place_as(&orders, &buyer(i), &[(if i % 6 == 5 { OTHER } else { HOT }, 1)]).await })
    });
    let mut placed = Vec::with_capacity(total);
    for task in placing {
        placed.push(task.await.unwrap());
    }
    let is_hot = |p: &Envelope| matches!(&p.event, OrderEvent::Placed(o) if o.lines[0].sku.as_str() == HOT);
    assert_eq!(placed.iter().filter(|p| is_hot(p)).count(), HOT_ORDERS);
    for p in &placed {
        let expected = if is_hot(p) { Lane::Hot } else { Lane::Standard };
        assert_eq!(events.load_with_lane(p.order_id).await.unwrap().1, Some(expected), "placed in its lane");
    }

    let catalog = Arc::new(MemoryCatalog::with_items([catalog_item(HOT, Some(2)), catalog_item(OTHER, None)]));
    let projection = Arc::new(InventoryProjection::new(inventory.clone(), catalog, orders.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_hot_stock(inventory.clone(), stop.clone());
    let known_state = KnownStateCounter::default();
    let sale = deliver_through_lanes(projection.clone(), &*events, placed.iter().collect());
    sale.with_subscriber(known_state.dispatch().clone()).await;
    stop.store(true, Ordering::SeqCst);
    assert!(watcher.await.unwrap() > 0, "the stock was watched during the sale");

    let first = outcome(&*events, &placed).await;
    let count = |hot: bool, status: OrderStatus| {
        placed.iter().zip(&first).filter(|(p, (s, _))| is_hot(p) == hot && *s == status).count()
    };
    assert_eq!(count(true, OrderStatus::Confirmed), 100);
    assert_eq!(count(true, OrderStatus::Rejected), 400);
    assert_eq!(count(false, OrderStatus::Confirmed), OTHER_ORDERS, "every tourney order confirmed");
    assert!(first.iter().all(|(_, events)| *events == 2), "one OrderConfirmed or OrderRejected per order");
    for p in &placed {
        let expected = if is_hot(p) { Lane::Hot } else { Lane::Standard };
        assert_eq!(lanes(&stored, p).await, [expected, expected], "decided in its lane");
    }
    let saved = known_state.snapshot().requests_saved;
    assert_eq!(saved, total as u64, "every order settled on its OrderPlaced state, without a read");
    for p in placed.iter().filter(|p| is_hot(p)) {
        if let Some(OrderEvent::Rejected(r)) = events.load(p.order_id).await.unwrap().pop().map(|e| e.event) {
            assert_eq!(
                r.shortages,
                vec![Shortage::from(UnavailableLine { sku: sku(HOT), requested: 1, available: 0 })]
            );
        }
    }
    let stock = |inventory: Arc<dyn InventoryStore>| async move {
        let mut stock = inventory.stock(&[sku(HOT), sku(OTHER)]).await.unwrap();
        let (hot, other) = (stock.remove(&sku(HOT)).unwrap(), stock.remove(&sku(OTHER)).unwrap());
        ((hot.available, hot.reserved), (other.available, other.reserved))
    };
    assert_eq!(stock(inventory.clone()).await, ((0, 100), (900, 100)));
    let shares = |inventory: Arc<dyn InventoryStore>| {
        let keys: Vec<ShareKey> = (0..total)
            .filter(|i| i % 6 != 5)
            .map(|i| ShareKey { customer_id: domain::CustomerId::parse(&buyer(i)).unwrap(), sku: sku(HOT) })
            .collect();
        async move { inventory.shares(&keys).await.unwrap().into_values().filter(|held| *held > 0).collect::<Vec<_>>() }
    };
    assert_eq!(shares(inventory.clone()).await, [1u64; 100], "each confirmed buyer holds one rod in its share");

    // SQS delivers at least once and in no order: everything again, twice, shuffled.
    let mut again: Vec<&Envelope> = placed.iter().chain(&placed).collect();
    again.shuffle(&mut rand::rng());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_hot_stock(inventory.clone(), stop.clone());
    deliver_through_lanes(projection, &*events, again).await;
    stop.store(true, Ordering::SeqCst);
    watcher.await.unwrap();
    assert_eq!(outcome(&*events, &placed).await, first, "redelivery changed no order");
    assert_eq!(stock(inventory.clone()).await, ((0, 100), (900, 100)), "redelivery changed no stock");
    assert_eq!(shares(inventory).await, [1u64; 100], "nor any share");
}

/// The customer of the `i`th order.
fn buyer(i: usize) -> String {
    format!("buyer-{i}")
}
