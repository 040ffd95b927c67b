//! The flash sale, timed end to end: every order from its arrival on its
//! queue (its OrderPlaced stored and published) to its decision
//! (OrderConfirmed / OrderRejected stored), queue wait included, with
//! `consumers` inventory consumers taking SQS-sized batches against
//! DynamoDB Local. Each order goes to the queue of the lane stored with it
//! (what the publisher and the SNS filter policies do in AWS).
//!
//! Two routings run in the same process, rounds interleaved:
//!
//! - `single queue` (the baseline, the platform before lanes): every order on
//!   one queue, `consumers` consumers, batches of `batch-size`;
//! - `lanes`: orders placed with a hot SKU on the hot lane's queue, drained
//!   by `hot-consumers` more consumers in batches of up to `hot-batch-size`
//!   (the template's `InventoryHotMaxConcurrency` and `InventoryHotBatchSize`);
//!   everything else on the standard queue with the same `consumers` and
//!   `batch-size` as the single queue (the template's standard lane keeps
//!   its own concurrency).
//!
//! Loads (latencies are the quiet orders', for `tourney-casting-rod`):
//!
//! - `flooded`: the sale, arriving at once: `hot-orders` orders for
//!   `hot-stock` muskie rods with `other-orders` quiet orders interleaved;
//! - `idle`: as many orders in all, every one quiet (the hot SKU idle, the
//!   shop as busy): `flooded / idle` is what the sale costs the quiet orders;
//! - `burst`: `burst-hot-orders` hot orders arriving in one burst, faster
//!   than the saga decides them, with `burst-quiet-orders` quiet orders
//!   placed live during it, one every `quiet-interval-ms`;
//! - `calm`: the same quiet orders placed the same way, with no burst:
//!   `burst / calm` is what the burst costs them.
//!
//! Orders that arrive at once are placed beforehand (untimed) and released
//! together: in AWS placing scales out over the events table's partitions,
//! while here it would share DynamoDB Local's one thread with the saga it is
//! meant to flood. The live quiet orders are timed from their OrderPlaced
//! stored.
//!
//! It also samples each queue's depth over the burst and reports hot-SKU
//! item writes: per hot order, and per second at `target-rate` hot orders
//! per second with the hot lane's batches (docs/design.md, "Capacity of a sale
//! on one SKU"). The hot SKU has the demo catalog's purchase limit
//! (`max-per-customer`) and every order its own customer, so every
//! reservation of it also takes a customer's share, in the same transaction.

use contract::tables::{create_events_table, create_inventory_table};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use catalog_store::MemoryCatalog;
use commands::{CommandContext, OrderService, RetryPolicy};
use domain::ports::{EventStore, StoreError};
use domain::{
    CatalogItem, Command, Currency, CustomerId, Envelope, EventType, HotList, Lane, OrderId, OrderLine, PlaceOrder,
    Sku, Title,
};
use event_store::DynamoEventStore;
use inventory::{InventoryProjection, ReservationStrategy};
use inventory_store::store::{
    Change, CommitError, InventoryError, InventoryStore, Reservation, ShareKey, Stock, MAX_CHANGE_ITEMS,
};
use inventory_store::DynamoInventoryStore;

use crate::stats::{median, quantile};
use crate::EVENTS_TABLE;

const HOT: &str = "muskie-casting-rod";
const OTHER: &str = "tourney-casting-rod";
/// Orders placed at once (checkout's concurrency; the API takes many more).
const PLACING_CONCURRENCY: usize = 16;
/// How often the queues' depth is sampled during the burst.
const DEPTH_SAMPLE: Duration = Duration::from_millis(250);

#[derive(clap::Args)]
pub struct Args {
    /// Stock of the hot SKU.
    #[arg(long, default_value_t = 100)]
    hot_stock: u64,
    /// Orders for the hot SKU in the sale (`flooded`), one rod each.
    #[arg(long, default_value_t = 500)]
    hot_orders: usize,
    /// Quiet orders in the sale, interleaved evenly with the hot ones.
    #[arg(long, default_value_t = 100)]
    other_orders: usize,
    /// Hot orders placed in one burst (`burst`).
    #[arg(long, default_value_t = 5000)]
    burst_hot_orders: usize,
    /// Quiet orders placed during the burst (and alone, `calm`).
    #[arg(long, default_value_t = 200)]
    burst_quiet_orders: usize,
    /// Milliseconds between the burst's quiet orders.
    #[arg(long, default_value_t = 20)]
    quiet_interval_ms: u64,
    /// Consumers of the single queue, and of the standard lane (its floor).
    #[arg(long, default_value_t = 8)]
    consumers: usize,
    /// Messages per SQS batch of the single queue and the standard lane.
    #[arg(long, default_value_t = 10)]
    batch_size: usize,
    /// Consumers of the hot lane (the template's InventoryHotMaxConcurrency).
    #[arg(long, default_value_t = 2)]
    hot_consumers: usize,
    /// Most messages per hot lane batch (the template's InventoryHotBatchSize).
    #[arg(long, default_value_t = 50)]
    hot_batch_size: usize,
    /// The sale rate, hot orders per second, for the hot-item writes per second it causes.
    #[arg(long, default_value_t = 500.0)]
    target_rate: f64,
    /// Reservation strategy of the saga.
    #[arg(long, value_enum, default_value_t = Strategy::Coalesced)]
    strategy: Strategy,
    /// Measured rounds (after one warm-up round of the sale loads); the tables show medians.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The hot SKU's purchase limit per customer (the demo catalog's).
    #[arg(long, default_value_t = 2)]
    max_per_customer: u32,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Strategy {
    Coalesced,
    PerOrder,
}

impl Strategy {
    fn reservation(self) -> ReservationStrategy {
        match self {
            Strategy::Coalesced => ReservationStrategy::Coalesced,
            Strategy::PerOrder => ReservationStrategy::PerOrder,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Routing {
    SingleQueue,
    Lanes,
}

const ROUTINGS: [Routing; 2] = [Routing::SingleQueue, Routing::Lanes];

impl Routing {
    fn name(self) -> &'static str {
        match self {
            Routing::SingleQueue => "single queue (baseline)",
            Routing::Lanes => "lanes",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Load {
    Flooded,
    Idle,
    Burst,
    Calm,
}

const LOADS: [Load; 4] = [Load::Flooded, Load::Idle, Load::Burst, Load::Calm];

/// What one phase measured.
struct Phase {
    hot_writes: u64,
    hot_confirmed: usize,
    hot_rejected: usize,
    quiet_confirmed: usize,
    hot_orders: usize,
    quiet_orders: usize,
    /// From the first placement to the last decision.
    elapsed: Duration,
    /// Place → decided of each quiet order.
    quiet_latencies: Vec<Duration>,
    /// (time from start, hot queue depth, standard queue depth); one queue: all in the standard column.
    depths: Vec<(Duration, usize, usize)>,
}

/// Medians over rounds, per routing and load.
#[derive(Default)]
struct Results {
    p50: HashMap<(usize, usize), Vec<f64>>,
    p99: HashMap<(usize, usize), Vec<f64>>,
    /// Per routing: flooded/idle and burst/calm, of p50 and p99, per round.
    ratios: HashMap<(usize, &'static str), Vec<f64>>,
    hot_writes_per_hot_order: HashMap<(usize, usize), Vec<f64>>,
    hot_decided_per_second: HashMap<(usize, usize), Vec<f64>>,
    outcomes: HashMap<(usize, usize), String>,
    depths: HashMap<usize, Vec<(Duration, usize, usize)>>,
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
    create_events_table(&client, EVENTS_TABLE).await?;
    let mut results = Results::default();
    // Round 0 warms DynamoDB Local's JVM with the sale loads and is not reported.
    for round in 0..=args.rounds {
        // Every other round runs the routings and loads in reverse, so drift
        // in the machine's speed favours none.
        let mut routings: Vec<usize> = (0..ROUTINGS.len()).collect();
        let mut loads: Vec<usize> = (0..LOADS.len()).collect();
        if round % 2 == 1 {
            routings.reverse();
            loads.reverse();
        }
        for &r in &routings {
            let routing = ROUTINGS[r];
            let mut p = HashMap::new();
            for &l in &loads {
                let load = LOADS[l];
                if round == 0 && matches!(load, Load::Burst | Load::Calm) {
                    continue;
                }
                let phase = run_phase(&client, &args, routing, load).await?;
                eprintln!(
                    "round {round} {} {load:?}: hot {} confirmed / {} rejected of {}, quiet {}/{} confirmed, \
                     {} hot writes, {:.2} s",
                    routing.name(),
                    phase.hot_confirmed,
                    phase.hot_rejected,
                    phase.hot_orders,
                    phase.quiet_confirmed,
                    phase.quiet_orders,
                    phase.hot_writes,
                    phase.elapsed.as_secs_f64()
                );
                if round == 0 {
                    continue;
                }
                let mut latencies = phase.quiet_latencies;
                let ms = |d: Duration| d.as_secs_f64() * 1000.0;
                let (p50, p99) = (ms(quantile(&mut latencies, 0.5)), ms(quantile(&mut latencies, 0.99)));
                p.insert(l, (p50, p99));
                results.p50.entry((r, l)).or_default().push(p50);
                results.p99.entry((r, l)).or_default().push(p99);
                if phase.hot_orders > 0 {
                    let per_order = phase.hot_writes as f64 / phase.hot_orders as f64;
                    results.hot_writes_per_hot_order.entry((r, l)).or_default().push(per_order);
                    let decided = (phase.hot_confirmed + phase.hot_rejected) as f64 / phase.elapsed.as_secs_f64();
                    results.hot_decided_per_second.entry((r, l)).or_default().push(decided);
                }
                results.outcomes.insert(
                    (r, l),
                    format!(
                        "hot {}/{} confirmed, {} rejected; quiet {}/{} confirmed",
                        phase.hot_confirmed,
                        phase.hot_orders,
                        phase.hot_rejected,
                        phase.quiet_confirmed,
                        phase.quiet_orders
                    ),
                );
                if load == Load::Burst {
                    results.depths.insert(r, phase.depths);
                }
            }
            if round > 0 {
                let ratio = |a: usize, b: usize, pick: fn(&(f64, f64)) -> f64| pick(&p[&a]) / pick(&p[&b]);
                let entries: [(&'static str, f64); 4] = [
                    ("flooded/idle p50", ratio(0, 1, |x| x.0)),
                    ("flooded/idle p99", ratio(0, 1, |x| x.1)),
                    ("burst/calm p50", ratio(2, 3, |x| x.0)),
                    ("burst/calm p99", ratio(2, 3, |x| x.1)),
                ];
                for (name, value) in entries {
                    results.ratios.entry((r, name)).or_default().push(value);
                }
            }
        }
    }
    report(&args, &mut results);
    Ok(())
}

fn report(args: &Args, results: &mut Results) {
    let strategy = match args.strategy {
        Strategy::Coalesced => "coalesced",
        Strategy::PerOrder => "per-order",
    };
    println!(
        "Flash sale against DynamoDB Local, {strategy} reservations, place → decided (queue wait included); \
         medians of {} rounds (ratios: median of the per-round ratios). Sale: {} × {HOT} in stock, {} orders for \
         it with {} quiet ({OTHER}) orders interleaved; idle: as many orders, all quiet. Burst: {} hot orders at \
         once with {} quiet orders placed during it; calm: those quiet orders alone, placed at the same moments. \
         Single queue: {} consumers, batches of {}. Lanes: the standard lane as the single queue, the hot lane \
         {} consumers, batches of up to {}. {HOT}: at most {} per customer, every order its own customer.\n",
        args.rounds,
        args.hot_stock,
        args.hot_orders,
        args.other_orders,
        args.burst_hot_orders,
        args.burst_quiet_orders,
        args.consumers,
        args.batch_size,
        args.hot_consumers,
        args.hot_batch_size,
        args.max_per_customer,
    );
    println!(
        "| routing | quiet p50 flooded / idle | flooded/idle p50 | quiet p99 flooded / idle | flooded/idle p99 | \
         quiet p50 burst / calm | burst/calm p50 | quiet p99 burst / calm | burst/calm p99 | hot decided/s (burst) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (r, routing) in ROUTINGS.iter().enumerate() {
        let cell = |map: &mut HashMap<(usize, usize), Vec<f64>>, l: usize| {
            map.get_mut(&(r, l)).map_or(f64::NAN, |v| median(v))
        };
        let (f50, i50, b50, c50) = (
            cell(&mut results.p50, 0),
            cell(&mut results.p50, 1),
            cell(&mut results.p50, 2),
            cell(&mut results.p50, 3),
        );
        let (f99, i99, b99, c99) = (
            cell(&mut results.p99, 0),
            cell(&mut results.p99, 1),
            cell(&mut results.p99, 2),
            cell(&mut results.p99, 3),
        );
        let decided = cell(&mut results.hot_decided_per_second, 2);
        let mut ratio = |name: &'static str| results.ratios.get_mut(&(r, name)).map_or(f64::NAN, |v| median(v));
        println!(
            "| {} | {f50:.0} / {i50:.0} ms | **{:.2}** | {f99:.0} / {i99:.0} ms | {:.2} | {b50:.0} / {c50:.0} ms | \
             **{:.2}** | {b99:.0} / {c99:.0} ms | {:.2} | {decided:.0} |",
            routing.name(),
            ratio("flooded/idle p50"),
            ratio("flooded/idle p99"),
            ratio("burst/calm p50"),
            ratio("burst/calm p99"),
        );
    }
    println!();
    for (r, routing) in ROUTINGS.iter().enumerate() {
        for (l, load) in LOADS.iter().enumerate() {
            if let Some(outcome) = results.outcomes.get(&(r, l)) {
                let writes = results.hot_writes_per_hot_order.get_mut(&(r, l)).map(|v| median(v));
                let writes = writes.map_or(String::new(), |w| format!(", {w:.3} hot-item writes per hot order"));
                println!("- {} {load:?} (last round): {outcome}{writes}", routing.name());
            }
        }
    }
    println!("\nQueue depth over the burst (last round; messages waiting, not yet in a batch):\n");
    for (r, routing) in ROUTINGS.iter().enumerate() {
        let Some(depths) = results.depths.get(&r) else { continue };
        let every = (depths.len() / 16).max(1);
        let series: Vec<String> = depths
            .iter()
            .step_by(every)
            .map(|(at, hot, standard)| match routing {
                Routing::SingleQueue => format!("{:.1}s {standard}", at.as_secs_f64()),
                Routing::Lanes => format!("{:.1}s {hot}/{standard}", at.as_secs_f64()),
            })
            .collect();
        let peak_hot = depths.iter().map(|d| d.1).max().unwrap_or(0);
        let peak_standard = depths.iter().map(|d| d.2).max().unwrap_or(0);
        match routing {
            Routing::SingleQueue => {
                println!("- {} (inventory): peak {peak_standard}; {}", routing.name(), series.join(", "))
            }
            Routing::Lanes => println!(
                "- {} (inventory-hot / inventory): peak {peak_hot} / {peak_standard}; {}",
                routing.name(),
                series.join(", ")
            ),
        }
    }
    // The hot item at the sale rate: one conditional write per transaction
    // of a hot batch while stock lasts, none once sold out. A transaction
    // holds the SKU's item and, per order, its record and its customer's share.
    let orders_per_transaction = (MAX_CHANGE_ITEMS - 1) / 2;
    let transactions = args.hot_batch_size.max(1).div_ceil(orders_per_transaction);
    let per_batch = args.target_rate / args.hot_batch_size.max(1) as f64 * transactions as f64;
    let lanes = ROUTINGS.iter().position(|r| *r == Routing::Lanes).expect("lanes run");
    let measured = results.hot_writes_per_hot_order.get_mut(&(lanes, 0)).map_or(f64::NAN, |v| median(v));
    println!(
        "\nHot item at {:.0} hot orders/s: at most {per_batch:.1} writes/s with hot batches of {} ({transactions} \
         transaction(s) each) while stock lasts \
         ({:.0} WCU/s as 2-unit transactional writes of a ≤ 1 KB item, of the 1,000 WCU/s one partition takes); \
         {:.3} writes per hot order measured in the sale with lanes → {:.1} writes/s; per-order reservations \
         would make {:.0} writes/s ({:.0} WCU/s).",
        args.target_rate,
        args.hot_batch_size,
        2.0 * per_batch,
        measured,
        measured * args.target_rate,
        args.target_rate,
        2.0 * args.target_rate
    );
}

/// The orders of one phase, in arrival order: (SKU, whether it is quiet,
/// whether it is placed live during the phase rather than released at its start).
fn orders_of(args: &Args, load: Load) -> Vec<(&'static str, bool, bool)> {
    let interleaved = |busy: usize, quiet: usize| {
        let total = busy + quiet;
        // Order i is quiet whenever i·quiet/total steps up: evenly spread.
        (0..total).map(move |i| {
            if (i + 1) * quiet / total > i * quiet / total {
                (OTHER, true, false)
            } else {
                (HOT, false, false)
            }
        })
    };
    match load {
        Load::Flooded => interleaved(args.hot_orders, args.other_orders).collect(),
        Load::Idle => interleaved(0, args.hot_orders + args.other_orders).collect(),
        Load::Burst => std::iter::repeat_n((HOT, false, false), args.burst_hot_orders)
            .chain(std::iter::repeat_n((OTHER, true, true), args.burst_quiet_orders))
            .collect(),
        Load::Calm => std::iter::repeat_n((OTHER, true, true), args.burst_quiet_orders).collect(),
    }
}

type Queue = Arc<Mutex<VecDeque<Envelope>>>;

/// One phase on a fresh inventory table. The orders that arrive at once
/// (the sale; the burst's hot orders) are placed first, untimed, and reach
/// their queues together at the start: in AWS placing scales out across the
/// events table's partitions, while here it would share DynamoDB Local's one
/// thread with the saga it is meant to flood. The burst's quiet orders are
/// placed live, one every `quiet-interval-ms`, each reaching its queue the
/// moment its OrderPlaced is stored. Every order is timed from its arrival
/// on the queue to its decision stored.
async fn run_phase(
    client: &Client,
    args: &Args,
    routing: Routing,
    load: Load,
) -> Result<Phase, Box<dyn std::error::Error>> {
    let inventory_table = format!("bench-inventory-{}", uuid::Uuid::new_v4().simple());
    create_inventory_table(client, &inventory_table).await?;
    let events = Arc::new(TimedEvents::new(DynamoEventStore::new(client.clone(), EVENTS_TABLE)));
    let inventory =
        Arc::new(CountingInventory::new(DynamoInventoryStore::new(client.clone(), inventory_table.as_str())));
    let plan = orders_of(args, load);
    let quiet_total = plan.iter().filter(|(_, quiet, _)| *quiet).count();
    let hot_total = plan.len() - quiet_total;
    inventory.set_available(&sku(OTHER), quiet_total as u64).await?;
    if hot_total > 0 {
        inventory.set_available(&sku(HOT), args.hot_stock).await?;
    }
    let hot_list = HotList::new([sku(HOT)]);
    let orders = OrderService::new(events.clone()).with_hot_list(hot_list);
    let catalog = Arc::new(MemoryCatalog::with_items([
        catalog_item(HOT, Some(args.max_per_customer)),
        catalog_item(OTHER, None),
    ]));
    let projection = Arc::new(
        InventoryProjection::new(inventory.clone(), catalog, orders.clone()).with_strategy(args.strategy.reservation()),
    );

    // The orders released at the start, placed beforehand.
    let released: Vec<(&str, bool)> = plan.iter().filter(|o| !o.2).map(|(s, q, _)| (*s, *q)).collect();
    let mut placed: Vec<(Envelope, bool)> = Vec::with_capacity(released.len());
    for chunk in released.chunks(PLACING_CONCURRENCY) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|(sku_name, quiet)| {
                let (orders, sku_name, quiet) = (orders.clone(), *sku_name, *quiet);
                tokio::spawn(async move { place(&orders, sku_name).await.map(|e| (e, quiet)) })
            })
            .collect();
        for task in tasks {
            placed.push(task.await??);
        }
    }

    let standard: Queue = Arc::default();
    let hot: Queue = match routing {
        Routing::SingleQueue => standard.clone(),
        Routing::Lanes => Arc::default(),
    };
    let queue_of = |lane: Lane| if lane == Lane::Hot { hot.clone() } else { standard.clone() };
    let placing_done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut arrived: HashMap<OrderId, (Instant, bool)> = HashMap::with_capacity(plan.len());
    for (envelope, quiet) in placed {
        arrived.insert(envelope.order_id, (started, quiet));
        queue_of(events.lane(envelope.order_id)).lock().expect("queue lock").push_back(envelope);
    }

    // The consumers: the single queue's (or the standard lane's), and the hot lane's.
    let mut consumers = Vec::new();
    let mut lanes = vec![(standard.clone(), args.consumers, args.batch_size)];
    if routing == Routing::Lanes {
        lanes.push((hot.clone(), args.hot_consumers, args.hot_batch_size));
    }
    for (queue, count, batch_size) in lanes {
        for _ in 0..count {
            let (queue, projection, placing_done) = (queue.clone(), projection.clone(), placing_done.clone());
            consumers.push(tokio::spawn(async move {
                consume(&queue, projection.as_ref(), batch_size, &placing_done).await
            }));
        }
    }

    // The queues' depth, sampled.
    let sampler = {
        let (hot, standard, placing_done) = (hot.clone(), standard.clone(), placing_done.clone());
        let separate = routing == Routing::Lanes;
        tokio::spawn(async move {
            let mut depths = Vec::new();
            loop {
                let standard_depth = standard.lock().expect("queue lock").len();
                let hot_depth = if separate { hot.lock().expect("queue lock").len() } else { 0 };
                depths.push((started.elapsed(), hot_depth, standard_depth));
                if placing_done.load(Ordering::Acquire) && hot_depth == 0 && standard_depth == 0 {
                    return depths;
                }
                tokio::time::sleep(DEPTH_SAMPLE).await;
            }
        })
    };

    // The live quiet orders, one every interval, each on its lane's queue once stored.
    let live = plan.iter().filter(|o| o.2).count();
    let interval = Duration::from_millis(args.quiet_interval_ms);
    let mut live_tasks = Vec::with_capacity(live);
    for (i, (sku_name, quiet, _)) in plan.iter().filter(|o| o.2).enumerate() {
        tokio::time::sleep_until((started + interval * i as u32).into()).await;
        let (orders, events, sku_name, quiet) = (orders.clone(), events.clone(), *sku_name, *quiet);
        let (hot, standard) = (hot.clone(), standard.clone());
        live_tasks.push(tokio::spawn(async move {
            let envelope = place(&orders, sku_name).await?;
            let at = Instant::now();
            let queue = if events.lane(envelope.order_id) == Lane::Hot { hot } else { standard };
            let order_id = envelope.order_id;
            queue.lock().expect("queue lock").push_back(envelope);
            Ok::<_, String>((order_id, at, quiet))
        }));
    }
    for task in live_tasks {
        let (order_id, at, quiet) = task.await??;
        arrived.insert(order_id, (at, quiet));
    }
    placing_done.store(true, Ordering::Release);
    for consumer in consumers {
        consumer.await?;
    }
    let depths = sampler.await?;
    client.delete_table().table_name(&inventory_table).send().await?;

    let settled = events.settled.lock().expect("settled lock");
    let count = |quiet: bool, event_type: EventType| {
        settled.iter().filter(|(id, (_, t))| arrived[*id].1 == quiet && *t == event_type).count()
    };
    let last_decision = settled.values().map(|(at, _)| *at).max().unwrap_or(started);
    let quiet_latencies =
        settled.iter().filter(|(id, _)| arrived[*id].1).map(|(id, (at, _))| at.duration_since(arrived[id].0)).collect();
    Ok(Phase {
        hot_writes: inventory.hot_writes.load(Ordering::Relaxed),
        hot_confirmed: count(false, EventType::OrderConfirmed),
        hot_rejected: count(false, EventType::OrderRejected),
        quiet_confirmed: count(true, EventType::OrderConfirmed),
        hot_orders: hot_total,
        quiet_orders: quiet_total,
        elapsed: last_decision - started,
        quiet_latencies,
        depths,
    })
}

/// One consumer: batches of up to `batch_size` from `queue`; failed messages
/// go back to the end. Returns once placing is done and the queue is empty.
async fn consume(queue: &Queue, projection: &InventoryProjection, batch_size: usize, placing_done: &AtomicBool) {
    loop {
        let batch: Vec<Envelope> = {
            let mut queue = queue.lock().expect("queue lock");
            let n = queue.len().min(batch_size);
            queue.drain(..n).collect()
        };
        if batch.is_empty() {
            if placing_done.load(Ordering::Acquire) && queue.lock().expect("queue lock").is_empty() {
                return;
            }
            // An empty receive: SQS long polling answers as soon as a message comes.
            tokio::time::sleep(Duration::from_millis(2)).await;
            continue;
        }
        let bodies: Vec<String> = batch.iter().map(Envelope::to_json).collect();
        let failed = testkit::delivery::deliver_bodies(projection, &bodies).await;
        let mut queue = queue.lock().expect("queue lock");
        for id in failed {
            let i: usize = id.parse().expect("message ids are indices");
            queue.push_back(batch[i].clone());
        }
    }
}

fn sku(name: &str) -> Sku {
    Sku::parse(name).expect("benchmark SKUs are valid")
}

fn catalog_item(name: &str, max_per_customer: Option<u32>) -> CatalogItem {
    CatalogItem {
        sku: sku(name),
        title: Title::parse(name).expect("a valid title"),
        price_cents: 24_900,
        currency: Currency::parse("EUR").expect("valid"),
        active: true,
        max_per_customer,
    }
}

/// One order of one unit, by a customer of its own.
async fn place(orders: &OrderService, sku_name: &str) -> Result<Envelope, String> {
    let customer = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let command = Command::Place(PlaceOrder {
        customer_id: CustomerId::parse(&customer).expect("valid"),
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
/// was stored, and the lane each order was placed in (what the publisher
/// reads from the stream image).
struct TimedEvents {
    inner: DynamoEventStore,
    settled: Mutex<HashMap<OrderId, (Instant, EventType)>>,
    lanes: Mutex<HashMap<OrderId, Lane>>,
}

impl TimedEvents {
    fn new(inner: DynamoEventStore) -> Self {
        TimedEvents { inner, settled: Mutex::default(), lanes: Mutex::default() }
    }

    fn lane(&self, order_id: OrderId) -> Lane {
        self.lanes.lock().expect("lanes lock").get(&order_id).copied().unwrap_or_default()
    }
}

#[async_trait]
impl EventStore for TimedEvents {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.inner.load(order_id).await
    }

    async fn load_with_lane(&self, order_id: OrderId) -> Result<(Vec<Envelope>, Option<Lane>), StoreError> {
        self.inner.load_with_lane(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.append_in_lane(events, Lane::Standard).await
    }

    async fn append_in_lane(&self, events: &[Envelope], lane: Lane) -> Result<(), StoreError> {
        self.inner.append_in_lane(events, lane).await?;
        let at = Instant::now();
        if let Some(first) = events.first() {
            self.lanes.lock().expect("lanes lock").entry(first.order_id).or_insert(lane);
        }
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
}

impl CountingInventory {
    fn new(inner: DynamoInventoryStore) -> Self {
        CountingInventory { inner, hot: sku(HOT), hot_writes: AtomicU64::new(0) }
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

    async fn shares(&self, shares: &[ShareKey]) -> Result<HashMap<ShareKey, u64>, InventoryError> {
        self.inner.shares(shares).await
    }

    async fn commit(&self, change: &Change) -> Result<(), CommitError> {
        if change.stock_changes().any(|(sku, _)| *sku == self.hot) {
            self.hot_writes.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.commit(change).await
    }
}
