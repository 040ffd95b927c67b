//! The flash sale: `hot-stock` muskie-casting-rods, `hot-orders` orders for
//! them and `other-orders` orders for tourney-casting-rod interleaved, all
//! placed first, then delivered as SQS batches (`batch-size`) to
//! `consumers` concurrent inventory consumers against DynamoDB Local.
//!
//! Both reservation strategies run in the same process, each on fresh
//! tables: `coalesced` (one conditional update of a SKU per batch) and its
//! baseline `per-order` (one transaction per order). Per strategy it reports
//! writes to the hot SKU's item per hot order, hot orders decided per
//! second, and the latency of the other product's orders (from the moment
//! their batch reaches a consumer until their OrderConfirmed is stored)
//! under four loads:
//!
//! - `flooded`: the flash sale itself;
//! - `idle`: the hot SKU idle and the shop as busy: as many orders, all for
//!   the other product (stocked for all), so the consumers work through as
//!   many batches; `flooded / idle` is what the flood costs the other orders;
//! - `alone`: only the other product's `other-orders` orders, nothing else
//!   going on, repeated until it has delivered as many batches as `flooded`
//!   (on one DynamoDB Local sharing two cores with the benchmark, this
//!   measures the machine's total load as much as the hot SKU);
//! - `spread`: as many orders as the sale, each busy one for its own SKU
//!   (stocked so that as many are confirmed as in the sale): no hot item,
//!   but one stock write per order.

use local_aws::tables::{create_events_table, create_inventory_table};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use event_store::DynamoEventStore;
use inventory::{InventoryProjection, ReservationStrategy};
use inventory_store::store::{Change, CommitError, InventoryError, InventoryStore, Reservation, Stock};
use inventory_store::DynamoInventoryStore;
use order_commands::{CommandContext, OrderService, RetryPolicy};
use order_domain::ports::{EventStore, StoreError};
use order_domain::{Command, Currency, CustomerId, Envelope, EventType, OrderId, OrderLine, PlaceOrder, Sku};

use crate::stats::{median, quantile};
use crate::EVENTS_TABLE;

const HOT: &str = "muskie-casting-rod";
const OTHER: &str = "tourney-casting-rod";
/// Orders placed at once while setting up a phase (not measured).
const PLACING_CONCURRENCY: usize = 16;

#[derive(clap::Args)]
pub struct Args {
    /// Stock of the hot SKU.
    #[arg(long, default_value_t = 100)]
    hot_stock: u64,
    /// Orders for the hot SKU (one rod each).
    #[arg(long, default_value_t = 500)]
    hot_orders: usize,
    /// Orders for another product, interleaved evenly with the hot ones.
    #[arg(long, default_value_t = 100)]
    other_orders: usize,
    /// Consumers running batches at once (Lambda's concurrency).
    #[arg(long, default_value_t = 8)]
    consumers: usize,
    /// Messages per SQS batch.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Measured rounds of each strategy, interleaved; the table shows medians.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// What runs beside the other product's orders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Load {
    Flooded,
    Idle,
    Alone,
    Spread,
}

const LOADS: [Load; 4] = [Load::Flooded, Load::Idle, Load::Alone, Load::Spread];

/// What one phase measured.
struct Phase {
    hot_writes: u64,
    contended: u64,
    hot_confirmed: usize,
    hot_rejected: usize,
    other_confirmed: usize,
    elapsed: Duration,
    other_latencies: Vec<Duration>,
}

#[derive(Default)]
struct Results {
    hot_writes_per_order: Vec<f64>,
    hot_orders_per_second: Vec<f64>,
    /// Milliseconds, per load in `LOADS` order.
    p50: [Vec<f64>; 4],
    p99: [Vec<f64>; 4],
    /// Flooded over each load's p50, per round, so that drift between
    /// rounds (other load on the machine) cancels out.
    flooded_over: [Vec<f64>; 4],
    contended: Vec<f64>,
    outcome: String,
}

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() && std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        return Err("AWS_ENDPOINT_URL_DYNAMODB is not set: run `scripts/local-stack up` and \
                    `eval \"$(scripts/local-stack env)\"` first"
            .into());
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    // A fresh inventory table (no stream) per phase, so every sale starts
    // from the same stock; the events table is shared (order ids never repeat).
    let events_table = EVENTS_TABLE;
    create_events_table(&client, events_table).await?;
    let strategies = [("coalesced", ReservationStrategy::Coalesced), ("per-order", ReservationStrategy::PerOrder)];
    let mut results: Vec<Results> = strategies.iter().map(|_| Results::default()).collect();
    // Round 0 warms DynamoDB Local's JVM and is not reported.
    for round in 0..=args.rounds {
        for ((name, strategy), results) in strategies.iter().zip(&mut results) {
            // Every other round runs the loads in reverse, so that drift in
            // the machine's speed favours none of them.
            let mut order: Vec<usize> = (0..LOADS.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            let mut p50 = [0.0; 4];
            for i in order {
                let load = LOADS[i];
                let mut phase = run_phase(&client, events_table, &args, *strategy, load).await?;
                if load == Load::Alone {
                    let repeats = (args.hot_orders + args.other_orders) / args.other_orders.max(1);
                    for _ in 1..repeats {
                        let again = run_phase(&client, events_table, &args, *strategy, load).await?;
                        phase.other_latencies.extend(again.other_latencies);
                    }
                }
                if round == 0 {
                    continue;
                }
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                p50[i] = ms(quantile(&mut phase.other_latencies, 0.5));
                results.p50[i].push(p50[i]);
                results.p99[i].push(ms(quantile(&mut phase.other_latencies, 0.99)));
                if load != Load::Flooded {
                    continue;
                }
                eprintln!(
                    "round {round} {name}: {} hot writes, {} contended commits, hot {} confirmed / {} rejected, \
                     other {} confirmed, {:.2} s",
                    phase.hot_writes,
                    phase.contended,
                    phase.hot_confirmed,
                    phase.hot_rejected,
                    phase.other_confirmed,
                    phase.elapsed.as_secs_f64()
                );
                results.hot_writes_per_order.push(phase.hot_writes as f64 / args.hot_orders.max(1) as f64);
                results.hot_orders_per_second.push(args.hot_orders as f64 / phase.elapsed.as_secs_f64());
                results.contended.push(phase.contended as f64);
                results.outcome = format!(
                    "{}/{} confirmed, {} rejected; other {}/{} confirmed",
                    phase.hot_confirmed, args.hot_orders, phase.hot_rejected, phase.other_confirmed, args.other_orders
                );
            }
            if round > 0 {
                for (ratios, load_p50) in results.flooded_over.iter_mut().zip(p50) {
                    ratios.push(p50[0] / load_p50);
                }
            }
        }
    }
    println!(
        "Flash sale against DynamoDB Local: {} × {HOT} in stock, {} orders for it and {} for {OTHER} \
         interleaved, SQS batches of {}, {} consumers; medians of {} rounds (ratios: median of the per-round ratios). \
         Latencies are of the {OTHER} orders, from their batch reaching a consumer to their OrderConfirmed stored.\n",
        args.hot_stock, args.hot_orders, args.other_orders, args.batch_size, args.consumers, args.rounds
    );
    println!(
        "| strategy | hot-SKU item writes per hot order | hot orders decided/s | contended commits | \
         non-hot p50 flooded / idle / alone / spread | flooded/idle p50 | flooded/alone p50 | flooded/spread p50 | \
         p99 flooded / idle / alone / spread | outcome (last round) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ((name, _), r) in strategies.iter().zip(&mut results) {
        let as_ms = |v: f64| format!("{v:.0} ms");
        let p50: Vec<String> = r.p50.iter_mut().map(|v| as_ms(median(v))).collect();
        let p99: Vec<String> = r.p99.iter_mut().map(|v| as_ms(median(v))).collect();
        let [_, over_idle, over_alone, over_spread] = r.flooded_over.each_mut().map(|v| median(v));
        println!(
            "| {name} | {:.3} | {:.0} | {:.0} | {} | {over_idle:.2} | {over_alone:.2} | {over_spread:.2} | {} | {} |",
            median(&mut r.hot_writes_per_order),
            median(&mut r.hot_orders_per_second),
            median(&mut r.contended),
            p50.join(" / "),
            p99.join(" / "),
            r.outcome,
        );
    }
    Ok(())
}

/// One phase on a fresh inventory table: place every order, then deliver them all.
async fn run_phase(
    client: &Client,
    events_table: &str,
    args: &Args,
    strategy: ReservationStrategy,
    load: Load,
) -> Result<Phase, Box<dyn std::error::Error>> {
    let inventory_table = format!("bench-inventory-{}", uuid::Uuid::new_v4().simple());
    create_inventory_table(client, &inventory_table).await?;
    let events = Arc::new(TimedEvents::new(DynamoEventStore::new(client.clone(), events_table)));
    let inventory =
        Arc::new(CountingInventory::new(DynamoInventoryStore::new(client.clone(), inventory_table.as_str())));
    let other_stock = if load == Load::Idle { args.other_orders + args.hot_orders } else { args.other_orders };
    inventory.set_available(&sku(OTHER), other_stock as u64).await?;
    let busy_orders = match load {
        Load::Flooded => {
            inventory.set_available(&sku(HOT), args.hot_stock).await?;
            args.hot_orders
        }
        Load::Spread => {
            // As many confirmed as in the sale; the rest find no stock.
            for i in 0..args.hot_stock.min(args.hot_orders as u64) {
                inventory.set_available(&sku(&format!("spread-{i}")), 1).await?;
            }
            args.hot_orders
        }
        Load::Idle => args.hot_orders,
        Load::Alone => 0,
    };
    let orders = OrderService::new(events.clone());

    let total = busy_orders + args.other_orders;
    // Order i is for the other product whenever i·other/total steps up: evenly spread.
    let is_other: Vec<bool> = (0..total)
        .map(|i| load == Load::Idle || (i + 1) * args.other_orders / total > i * args.other_orders / total)
        .collect();
    let mut busy = 0..;
    let skus: Vec<String> = is_other
        .iter()
        .map(|other| match (other, load) {
            (true, _) => OTHER.to_owned(),
            (false, Load::Spread) => format!("spread-{}", busy.next().expect("endless")),
            (false, _) => HOT.to_owned(),
        })
        .collect();
    let mut placed: Vec<Envelope> = Vec::with_capacity(total);
    for chunk in skus.chunks(PLACING_CONCURRENCY) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|sku_name| {
                let (orders, sku_name) = (orders.clone(), sku_name.clone());
                tokio::spawn(async move { place(&orders, &sku_name).await })
            })
            .collect();
        for task in tasks {
            placed.push(task.await??);
        }
    }
    let other_order: HashMap<OrderId, bool> = placed.iter().zip(&is_other).map(|(p, o)| (p.order_id, *o)).collect();

    let projection = Arc::new(InventoryProjection::new(inventory.clone(), orders).with_strategy(strategy));
    let handed: Arc<Mutex<HashMap<OrderId, Instant>>> = Arc::default();
    let queue: Arc<Mutex<VecDeque<Envelope>>> = Arc::new(Mutex::new(placed.into()));
    let started = Instant::now();
    let consumers: Vec<_> = (0..args.consumers)
        .map(|_| {
            let (queue, handed, projection) = (queue.clone(), handed.clone(), projection.clone());
            let batch_size = args.batch_size;
            tokio::spawn(async move {
                loop {
                    let batch: Vec<Envelope> = {
                        let mut queue = queue.lock().expect("queue lock");
                        let n = queue.len().min(batch_size);
                        queue.drain(..n).collect()
                    };
                    if batch.is_empty() {
                        return;
                    }
                    let now = Instant::now();
                    {
                        let mut handed = handed.lock().expect("handed lock");
                        for envelope in &batch {
                            handed.entry(envelope.order_id).or_insert(now);
                        }
                    }
                    let bodies: Vec<String> = batch.iter().map(Envelope::to_json).collect();
                    let failed = sqs_consumer::deliver_bodies(&*projection, &bodies).await;
                    let mut queue = queue.lock().expect("queue lock");
                    for id in failed {
                        let i: usize = id.parse().expect("message ids are indices");
                        queue.push_back(batch[i].clone());
                    }
                }
            })
        })
        .collect();
    for consumer in consumers {
        consumer.await?;
    }
    let elapsed = started.elapsed();
    client.delete_table().table_name(&inventory_table).send().await?;

    let settled = events.settled.lock().expect("settled lock");
    let handed = handed.lock().expect("handed lock");
    let count = |other: bool, event_type: EventType| {
        settled.iter().filter(|(id, (_, t))| other_order[*id] == other && *t == event_type).count()
    };
    let other_latencies =
        settled.iter().filter(|(id, _)| other_order[*id]).map(|(id, (at, _))| at.duration_since(handed[id])).collect();
    Ok(Phase {
        hot_writes: inventory.hot_writes.load(Ordering::Relaxed),
        contended: inventory.contended.load(Ordering::Relaxed),
        hot_confirmed: count(false, EventType::OrderConfirmed),
        hot_rejected: count(false, EventType::OrderRejected),
        other_confirmed: count(true, EventType::OrderConfirmed),
        elapsed,
        other_latencies,
    })
}

fn sku(name: &str) -> Sku {
    Sku::parse(name).expect("benchmark SKUs are valid")
}

async fn place(orders: &OrderService, sku_name: &str) -> Result<Envelope, String> {
    let command = Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("bench").expect("valid"),
        basket_id: None,
        currency: Currency::parse("EUR").expect("valid"),
        lines: vec![OrderLine { sku: sku(sku_name), quantity: 1, unit_price_cents: 24_900 }],
    });
    let outcome = orders
        .execute(OrderId(uuid::Uuid::new_v4()), &command, &CommandContext::new("bench"), RetryPolicy::NONE)
        .await
        .map_err(|e| e.to_string())?;
    outcome.appended.into_iter().next().ok_or_else(|| "PlaceOrder appended nothing".to_owned())
}

/// The event store, noting when each order's OrderConfirmed/OrderRejected
/// was stored.
struct TimedEvents {
    inner: DynamoEventStore,
    settled: Mutex<HashMap<OrderId, (Instant, EventType)>>,
}

impl TimedEvents {
    fn new(inner: DynamoEventStore) -> Self {
        TimedEvents { inner, settled: Mutex::default() }
    }
}

#[async_trait]
impl EventStore for TimedEvents {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.inner.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.inner.append(events).await?;
        let at = Instant::now();
        if let Some(first) = events.first() {
            if matches!(first.event_type(), EventType::OrderConfirmed | EventType::OrderRejected) {
                self.settled.lock().expect("settled lock").entry(first.order_id).or_insert((at, first.event_type()));
            }
        }
        Ok(())
    }
}

/// The inventory store, counting write attempts (refused ones included)
/// that touch the hot SKU's item.
struct CountingInventory {
    inner: DynamoInventoryStore,
    hot: Sku,
    hot_writes: AtomicU64,
    /// Commits that met another transaction on one of their items.
    contended: AtomicU64,
}

impl CountingInventory {
    fn new(inner: DynamoInventoryStore) -> Self {
        CountingInventory { inner, hot: sku(HOT), hot_writes: AtomicU64::new(0), contended: AtomicU64::new(0) }
    }
}

#[async_trait]
impl InventoryStore for CountingInventory {
    async fn stock(&self, skus: &[Sku]) -> Result<HashMap<Sku, Stock>, InventoryError> {
        self.inner.stock(skus).await
    }

    async fn set_available(&self, sku: &Sku, available: u64) -> Result<Stock, InventoryError> {
        self.inner.set_available(sku, available).await
    }

    async fn reservations(&self, orders: &[OrderId]) -> Result<HashMap<OrderId, Reservation>, InventoryError> {
        self.inner.reservations(orders).await
    }

    async fn commit(&self, change: &Change) -> Result<(), CommitError> {
        if change.stock_changes().any(|(sku, _)| *sku == self.hot) {
            self.hot_writes.fetch_add(1, Ordering::Relaxed);
        }
        let result = self.inner.commit(change).await;
        if matches!(result, Err(CommitError::Contended)) {
            self.contended.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}
