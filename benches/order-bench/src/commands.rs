//! DESIGN.md's workload: `orders` orders at concurrency 8, each placed with
//! two lines, confirmed and shipped (3 commands), against DynamoDB Local,
//! four ways in the same process:
//!
//! - **known state** (the platform as deployed): PlaceOrder is priced from
//!   the catalog as the API prices it (the instance's catalog cache over the
//!   catalog table: one read per SKU per cache TTL, so none on a warm
//!   instance) and appends first (`Known::New`) through an API instance;
//!   ConfirmOrder is issued the way
//!   the inventory saga issues it, from another instance (another Lambda,
//!   another cache), on the state its OrderPlaced envelope holds
//!   (`Known::from_placed`); ShipOrder goes through the API instance, whose
//!   cache still holds the order as placed, so it is refused there and
//!   decided again on a read: 4 requests for 3 commands.
//! - **read then write** (the platform before known state, kept as a
//!   baseline): every command reads the order's history, then appends.
//! - **bare SDK**: the same reads and writes as read-then-write with the bare
//!   SDK, one strongly consistent Query and one conditional PutItem of an item
//!   of the same size per command, and no platform code.
//! - **write-only ceiling**: the bare SDK's conditional PutItem alone, no
//!   read at all. Every command appends one event, so no command path can
//!   outrun this on the same server; it shows, per round, how far above the
//!   bare baseline saving reads can go at all.
//!
//! All write to one table (distinct order ids); the throughput ratios are
//! medians of the rounds' ratios, each round running the four back to back,
//! in rotating order.

use contract::event_item::{EventItem, EVENT_KIND, ORDER_ID, VERSION};
use contract::tables::{create_catalog_table, create_events_table};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use catalog_store::{CachedCatalog, DynamoCatalog};
use commands::{CommandContext, Known, OrderService, RetryPolicy};
use domain::{
    Catalog, CatalogItem, Command, Currency, CustomerId, Lane, OrderId, OrderLine, OrderRequest, PlaceOrder,
    RequestedLine, Sku, Title,
};
use event_store::DynamoEventStore;
use testkit::known_state::{KnownStateCounter, KnownStateTotals};
use testkit::requests::{RequestCounter, RequestTotals};
use tracing::instrument::WithSubscriber;

use crate::stats::{median, millis, quantile};
use crate::{CATALOG_TABLE, EVENTS_TABLE};

#[derive(clap::Args)]
pub struct Args {
    /// Orders per run (3 commands each).
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    /// Orders in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Measured rounds (one run of each kind, alternating which goes first).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// Unreported rounds first: DynamoDB Local's JVM takes a few thousand
    /// requests to reach its speed.
    #[arg(long, default_value_t = 2)]
    warmup_rounds: usize,
}

const COMMANDS_PER_ORDER: usize = 3;

/// The sides, in the order of the table.
const SIDES: [&str; 4] = [
    "bare SDK baseline",
    "platform, read then write (old path)",
    "platform, known state",
    "write-only ceiling (bare SDK PutItem, no read)",
];
const BARE: usize = 0;
const OLD: usize = 1;
const KNOWN: usize = 2;
const CEILING: usize = 3;

struct Run {
    commands_per_second: f64,
    /// Per order: Place, Confirm, Ship.
    latencies: Vec<[Duration; COMMANDS_PER_ORDER]>,
}

/// The known-state side's two Lambda instances (the API's with its catalog
/// cache), and what their commands decided on known state.
#[derive(Clone)]
struct KnownState {
    api: OrderService,
    catalog: Arc<CachedCatalog>,
    saga: OrderService,
    decisions: KnownStateCounter,
}

/// The two SKUs of every order, at the price the other sides put on their
/// lines, so that every side appends events of one size.
const SKUS: [&str; 2] = ["muskie-casting-rod", "braided-line-30lb"];
const UNIT_PRICE_CENTS: u64 = 24_900;

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    // Every side and every round share the table (order ids never repeat).
    let table = EVENTS_TABLE.to_owned();
    create_events_table(&client, &table).await?;
    create_catalog_table(&client, CATALOG_TABLE).await?;
    let catalog_table = DynamoCatalog::new(client.clone(), CATALOG_TABLE);
    for sku in SKUS {
        catalog_table.put(&catalog_item(sku)).await?;
    }
    // One client per platform side, so that each counts its own requests.
    let (old_requests, known_requests) = (RequestCounter::default(), RequestCounter::default());
    let old_store = DynamoEventStore::new(old_requests.client(&config), table.as_str());
    let old = OrderService::new(Arc::new(old_store)).with_cache_capacity(0);
    let known_store = DynamoEventStore::new(known_requests.client(&config), table.as_str());
    let known = KnownState {
        api: OrderService::new(Arc::new(known_store.clone())),
        catalog: Arc::new(CachedCatalog::new(
            Arc::new(DynamoCatalog::new(known_requests.client(&config), CATALOG_TABLE)),
            api::CATALOG_CACHE_TTL,
        )),
        saga: OrderService::new(Arc::new(known_store.clone())),
        decisions: KnownStateCounter::default(),
    };
    let args = &args;
    let run_side = |side: usize| {
        let (client, table, old, known) = (client.clone(), table.clone(), old.clone(), known.clone());
        async move {
            match side {
                BARE => measure(args, move |i| baseline_order(client.clone(), table.clone(), i, Read::Yes)).await,
                CEILING => measure(args, move |i| baseline_order(client.clone(), table.clone(), i, Read::No)).await,
                OLD => measure(args, move |_| old_path_order(old.clone())).await,
                _ => {
                    let decisions = known.decisions.dispatch().clone();
                    measure(args, move |_| known_state_order(known.clone()).with_subscriber(decisions.clone())).await
                }
            }
        }
    };
    for _ in 0..args.warmup_rounds {
        for side in [BARE, OLD, KNOWN, CEILING] {
            run_side(side).await;
        }
    }
    let before = (old_requests.snapshot(), known_requests.snapshot(), known.decisions.snapshot());
    let mut rounds: Vec<[Option<Run>; 4]> = Vec::new();
    for round in 0..args.rounds {
        // The order rotates so that drift in the machine's speed favours none.
        let mut runs = [None, None, None, None];
        for k in 0..SIDES.len() {
            let side = (round + k) % SIDES.len();
            runs[side] = Some(run_side(side).await);
        }
        rounds.push(runs);
    }
    let rounds: Vec<[Run; 4]> = rounds.into_iter().map(|runs| runs.map(|r| r.expect("every side ran"))).collect();
    let requests = [old_requests.snapshot() - before.0, known_requests.snapshot() - before.1];
    let decisions = known.decisions.snapshot() - before.2;
    report(args, rounds, requests, decisions);
    Ok(())
}

/// Runs `order(i)` for every order with `concurrency` workers.
async fn measure<F, Fut>(args: &Args, order: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = [Duration; COMMANDS_PER_ORDER]> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (next, order, total) = (next.clone(), order.clone(), args.orders);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return latencies;
                    }
                    latencies.push(order(i).await);
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker panicked"));
    }
    let elapsed = started.elapsed();
    let commands = latencies.len() * COMMANDS_PER_ORDER;
    Run { commands_per_second: commands as f64 / elapsed.as_secs_f64(), latencies }
}

fn place_command() -> Command {
    let lines = SKUS.map(|sku| OrderLine { sku: sku_of(sku), quantity: 1, unit_price_cents: UNIT_PRICE_CENTS });
    Command::Place(PlaceOrder {
        customer_id: customer(),
        basket_id: None,
        currency: Currency::parse("USD").expect("a valid currency"),
        lines: lines.into(),
    })
}

/// The same order as a shopper's request: no prices, the catalog's apply.
fn order_request() -> OrderRequest {
    let lines = SKUS.map(|sku| RequestedLine { sku: sku_of(sku), quantity: 1, unit_price_cents: None });
    OrderRequest { customer_id: customer(), basket_id: None, currency: None, lines: lines.into() }
}

/// What the API does before it appends: the catalog's items (from the
/// instance's cache when warm), then the lines priced.
async fn priced(catalog: &CachedCatalog) -> Command {
    let request = order_request();
    let skus: Vec<Sku> = request.lines.iter().map(|line| line.sku.clone()).collect();
    let items = catalog.items(&skus).await.expect("the catalog answers");
    Command::Place(request.price(&items).expect("the catalog prices the order"))
}

fn catalog_item(sku: &str) -> CatalogItem {
    CatalogItem {
        sku: sku_of(sku),
        title: Title::parse(sku).expect("a valid title"),
        price_cents: UNIT_PRICE_CENTS,
        currency: Currency::parse("USD").expect("a valid currency"),
        active: true,
        max_per_customer: None,
    }
}

fn sku_of(sku: &str) -> Sku {
    Sku::parse(sku).expect("a valid SKU")
}

fn customer() -> CustomerId {
    CustomerId::parse("bench").expect("a valid customer id")
}

/// Times one command.
async fn timed<T>(command: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let outcome = command.await;
    (outcome, started.elapsed())
}

/// The old path: every command reads, then appends.
async fn old_path_order(service: OrderService) -> [Duration; COMMANDS_PER_ORDER] {
    let id = OrderId(uuid::Uuid::new_v4());
    let commands = [place_command(), Command::Confirm, Command::Ship { tracking_number: None }];
    let mut latencies = [Duration::ZERO; COMMANDS_PER_ORDER];
    for (command, latency) in commands.iter().zip(&mut latencies) {
        let (outcome, took) =
            timed(service.execute(id, command, &CommandContext::new("bench"), RetryPolicy::NONE)).await;
        outcome.expect("command succeeds");
        *latency = took;
    }
    latencies
}

/// As deployed: Place through the API (assume new), Confirm as the saga
/// issues it (from the OrderPlaced envelope, on its own instance), Ship
/// through the API (its cache).
async fn known_state_order(known: KnownState) -> [Duration; COMMANDS_PER_ORDER] {
    let id = OrderId(uuid::Uuid::new_v4());
    let api = CommandContext::new("bench");
    let (placed, place) = timed(async {
        let command = priced(&known.catalog).await;
        known.api.execute_from(id, &command, &api, PlaceOrderRetry::POLICY, Known::New).await
    })
    .await;
    let placed = placed.expect("place succeeds").appended.remove(0);
    let mut saga = CommandContext::new(placed.correlation_id.clone());
    saga.causation_id = placed.event_id.to_string();
    let (confirmed, confirm) = timed(known.saga.execute_from(
        id,
        &Command::Confirm,
        &saga,
        RetryPolicy::INTERNAL,
        Known::from_placed(&placed, Lane::Standard),
    ))
    .await;
    confirmed.expect("confirm succeeds");
    let ship_command = Command::Ship { tracking_number: None };
    let (shipped, ship) = timed(known.api.execute_from(
        id,
        &ship_command,
        &CommandContext::new("bench"),
        RetryPolicy::NONE,
        Known::Cached,
    ))
    .await;
    shipped.expect("ship succeeds");
    [place, confirm, ship]
}

/// The API's PlaceOrder retry policy (`handlers/api/src/orders.rs`).
struct PlaceOrderRetry;

impl PlaceOrderRetry {
    const POLICY: RetryPolicy = RetryPolicy { attempts: 3, base_delay: Duration::from_millis(2) };
}

/// Whether a bare command reads the order's history before it appends.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    /// The bare SDK baseline: read then write.
    Yes,
    /// The write-only ceiling.
    No,
}

/// What the platform reads and writes, minus the platform: the same request
/// shapes, and a fixed item of the same size.
async fn baseline_order(client: Client, table: String, i: usize, read: Read) -> [Duration; COMMANDS_PER_ORDER] {
    let order_id = uuid::Uuid::new_v4().to_string();
    let mut latencies = [Duration::ZERO; COMMANDS_PER_ORDER];
    for version in 1..=COMMANDS_PER_ORDER {
        let started = Instant::now();
        if read == Read::Yes {
            bare_query(&client, &table, &order_id).await;
        }
        bare_put(&client, &table, &order_id, version as u32, format!("{i}-{version}")).await;
        latencies[version - 1] = started.elapsed();
    }
    latencies
}

/// The platform's read of an order's history with the bare SDK: one
/// strongly consistent `Query`.
pub(crate) async fn bare_query(client: &Client, table: &str, order_id: &str) {
    client
        .query()
        .table_name(table)
        .key_condition_expression("#o = :o")
        .expression_attribute_names("#o", ORDER_ID)
        .expression_attribute_values(":o", AttributeValue::S(order_id.to_owned()))
        .consistent_read(true)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("query");
}

/// The platform's append of one event with the bare SDK: a conditional
/// `PutItem` of an item the size of a two-line OrderPlaced (~500 bytes of
/// envelope).
pub(crate) async fn bare_put(client: &Client, table: &str, order_id: &str, version: u32, event_id: String) {
    let item = EventItem {
        order_id: order_id.to_owned(),
        version,
        kind: EVENT_KIND.to_owned(),
        event_id,
        event_type: "OrderPlaced".to_owned(),
        occurred_at: "2026-11-27T09:00:00.123Z".to_owned(),
        envelope: "x".repeat(500),
        // The platform's items carry the order's lane too.
        lane: Some("standard".to_owned()),
    };
    let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).expect("an item");
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#v)")
        .expression_attribute_names("#v", VERSION)
        .return_consumed_capacity(ReturnConsumedCapacity::Total)
        .send()
        .await
        .expect("put");
}

fn report(args: &Args, rounds: Vec<[Run; 4]>, requests: [RequestTotals; 2], known: KnownStateTotals) {
    let ratio = |a: usize, b: usize| {
        let mut ratios: Vec<f64> =
            rounds.iter().map(|runs| runs[a].commands_per_second / runs[b].commands_per_second).collect();
        let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        (median(&mut ratios), per_round.join(", "))
    };
    let commands = (args.orders * COMMANDS_PER_ORDER * args.rounds) as f64;
    println!(
        "commands workload: {} orders x {COMMANDS_PER_ORDER} commands, concurrency {}, {} warm-up and {} measured rounds\n",
        args.orders, args.concurrency, args.warmup_rounds, args.rounds
    );
    println!("| run | commands/s (median) | p50 | p99 | Place p50 | Confirm p50 | Ship p50 | DynamoDB requests per command |");
    println!("|---|---|---|---|---|---|---|---|");
    for (side, name) in SIDES.iter().enumerate() {
        let mut throughput: Vec<f64> = rounds.iter().map(|runs| runs[side].commands_per_second).collect();
        let orders: Vec<[Duration; COMMANDS_PER_ORDER]> =
            rounds.iter().flat_map(|runs| runs[side].latencies.iter().copied()).collect();
        let mut all: Vec<Duration> = orders.iter().flatten().copied().collect();
        let of = |k: usize| quantile(&mut orders.iter().map(|o| o[k]).collect::<Vec<_>>(), 0.5);
        let (place, confirm, ship) = (of(0), of(1), of(2));
        let per_command = match side {
            BARE => 2.0,
            CEILING => 1.0,
            _ => {
                let r = requests[side - 1];
                (r.query + r.batch_get_item + r.put_item + r.transact_write_items) as f64 / commands
            }
        };
        println!(
            "| {name} | {:.0} | {} | {} | {} | {} | {} | {per_command:.2} |",
            median(&mut throughput),
            millis(quantile(&mut all, 0.5)),
            millis(quantile(&mut all, 0.99)),
            millis(place),
            millis(confirm),
            millis(ship),
        );
    }
    for (a, b, what) in [
        (KNOWN, BARE, "known state / bare SDK"),
        (OLD, BARE, "read then write / bare SDK"),
        (KNOWN, OLD, "known state / read then write"),
        (CEILING, BARE, "write-only ceiling / bare SDK"),
        (KNOWN, CEILING, "known state / write-only ceiling"),
    ] {
        let (median, per_round) = ratio(a, b);
        println!("\nthroughput ratio {what}: {median:.2} (median of the rounds' ratios: {per_round})");
    }
    for (side, r) in [(OLD, requests[0]), (KNOWN, requests[1])] {
        let [query, catalog, put, transact] =
            [r.query, r.batch_get_item, r.put_item, r.transact_write_items].map(|n| n as f64 / commands);
        println!(
            "\n{}: DynamoDB requests per command: Query {query:.2}, catalog BatchGetItem {catalog:.4}, PutItem {put:.2}, \
             TransactWriteItems {transact:.2} (total {:.2}); write units per command {:.2}",
            SIDES[side],
            query + catalog + put + transact,
            r.write_milliunits as f64 / 1000.0 / commands
        );
    }
    println!(
        "\nknown state, per command: requests saved {:.2}, stale conflicts {:.4}, rechecks {:.2}, cache misses {:.4} \
         ({} saved, {} stale conflicts, {} rechecks, {} cache misses)",
        known.requests_saved as f64 / commands,
        known.stale_conflicts as f64 / commands,
        known.rechecks as f64 / commands,
        known.cache_misses as f64 / commands,
        known.requests_saved,
        known.stale_conflicts,
        known.rechecks,
        known.cache_misses,
    );
}
