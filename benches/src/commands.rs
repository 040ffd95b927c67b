//! DESIGN.md's workload: `orders` orders at concurrency 8, each placed with
//! two lines, confirmed and shipped (3 commands), against DynamoDB Local.
//! The baseline makes the same reads and writes with the bare SDK: one
//! strongly consistent Query and one conditional PutItem of an item of the
//! same size per command, and no platform code. Both write to one table
//! (distinct order ids); the throughput ratio is the median of the rounds'
//! ratios, each round running both sides back to back, in alternating order.

use event_item::{EventItem, EVENT_KIND, ORDER_ID, VERSION};
use local_aws::tables::create_events_table;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use event_store::{DynamoEventStore, RequestTotals};
use order_commands::{CommandContext, OrderService, RetryPolicy};
use order_domain::validation::{LineInput, PlaceOrderInput};
use order_domain::{Command, OrderId};

use crate::stats::{median, millis, quantile};
use crate::EVENTS_TABLE;

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

struct Run {
    commands_per_second: f64,
    latencies: Vec<Duration>,
}

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    // Both sides and every round share the table (order ids never repeat).
    let table = EVENTS_TABLE.to_owned();
    create_events_table(&client, &table).await?;
    let store = DynamoEventStore::new(client.clone(), table.as_str());
    let service = OrderService::new(Arc::new(store.clone()));
    let platform_run = || {
        let service = service.clone();
        measure(&args, move |_| platform_order(service.clone()))
    };
    let baseline_run = || {
        let (client, table) = (client.clone(), table.clone());
        measure(&args, move |i| baseline_order(client.clone(), table.clone(), i))
    };
    for _ in 0..args.warmup_rounds {
        baseline_run().await;
        platform_run().await;
    }
    let warmup_requests = store.counts().snapshot();
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        // The order alternates so that drift in the machine's speed favours neither.
        let (baseline, platform) = if round % 2 == 0 {
            let baseline = baseline_run().await;
            (baseline, platform_run().await)
        } else {
            let platform = platform_run().await;
            (baseline_run().await, platform)
        };
        rounds.push((platform, baseline));
    }
    let requests = store.counts().snapshot() - warmup_requests;
    report(&args, rounds, requests);
    Ok(())
}

/// Runs `order(i)` for every order with `concurrency` workers.
async fn measure<F, Fut>(args: &Args, order: F) -> Run
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Vec<Duration>> + Send,
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
                    latencies.extend(order(i).await);
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.expect("worker panicked"));
    }
    let elapsed = started.elapsed();
    Run { commands_per_second: latencies.len() as f64 / elapsed.as_secs_f64(), latencies }
}

async fn platform_order(service: OrderService) -> Vec<Duration> {
    let id = OrderId(uuid::Uuid::new_v4());
    let lines = ["muskie-casting-rod", "braided-line-30lb"].map(|sku| LineInput {
        sku: sku.into(),
        quantity: 1,
        unit_price_cents: 24_900,
    });
    let input =
        PlaceOrderInput { customer_id: "bench".into(), basket_id: None, currency: "USD".into(), lines: lines.into() };
    let commands =
        [Command::Place(input.validate().expect("valid")), Command::Confirm, Command::Ship { tracking_number: None }];
    let mut latencies = Vec::with_capacity(COMMANDS_PER_ORDER);
    for command in &commands {
        let started = Instant::now();
        service.execute(id, command, &CommandContext::new("bench"), RetryPolicy::NONE).await.expect("command succeeds");
        latencies.push(started.elapsed());
    }
    latencies
}

/// What the platform reads and writes, minus the platform: the same request
/// shapes, and a fixed item of the same size (a two-line OrderPlaced
/// envelope is ~500 bytes).
async fn baseline_order(client: Client, table: String, i: usize) -> Vec<Duration> {
    let order_id = uuid::Uuid::new_v4().to_string();
    let envelope = "x".repeat(500);
    let mut latencies = Vec::with_capacity(COMMANDS_PER_ORDER);
    for version in 1..=COMMANDS_PER_ORDER {
        let started = Instant::now();
        client
            .query()
            .table_name(&table)
            .key_condition_expression("#o = :o")
            .expression_attribute_names("#o", ORDER_ID)
            .expression_attribute_values(":o", AttributeValue::S(order_id.clone()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("query");
        let item = EventItem {
            order_id: order_id.clone(),
            version: version as u32,
            kind: EVENT_KIND.to_owned(),
            event_id: format!("{i}-{version}"),
            event_type: "OrderPlaced".to_owned(),
            occurred_at: "2026-11-27T09:00:00.123Z".to_owned(),
            envelope: envelope.clone(),
            // The platform's items carry the order's lane too.
            lane: Some("standard".to_owned()),
        };
        let item: HashMap<String, AttributeValue> = serde_dynamo::to_item(item).expect("an item");
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#v)")
            .expression_attribute_names("#v", VERSION)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("put");
        latencies.push(started.elapsed());
    }
    latencies
}

fn report(args: &Args, rounds: Vec<(Run, Run)>, requests: RequestTotals) {
    let mut ratios: Vec<f64> =
        rounds.iter().map(|(platform, baseline)| platform.commands_per_second / baseline.commands_per_second).collect();
    let (platform, baseline): (Vec<Run>, Vec<Run>) = rounds.into_iter().unzip();
    let summarize = |runs: Vec<Run>| {
        let mut throughput: Vec<f64> = runs.iter().map(|r| r.commands_per_second).collect();
        let mut latencies: Vec<Duration> = runs.into_iter().flat_map(|r| r.latencies).collect();
        (median(&mut throughput), quantile(&mut latencies, 0.5), quantile(&mut latencies, 0.99))
    };
    let (platform_tput, platform_p50, platform_p99) = summarize(platform);
    let (baseline_tput, baseline_p50, baseline_p99) = summarize(baseline);
    let commands = (args.orders * COMMANDS_PER_ORDER * args.rounds) as f64;
    println!(
        "commands workload: {} orders x {COMMANDS_PER_ORDER} commands, concurrency {}, {} warm-up and {} measured rounds\n",
        args.orders, args.concurrency, args.warmup_rounds, args.rounds
    );
    println!("| run | commands/s (median) | p50 | p99 |");
    println!("|---|---|---|---|");
    println!("| bare SDK baseline | {baseline_tput:.0} | {} | {} |", millis(baseline_p50), millis(baseline_p99));
    println!("| platform | {platform_tput:.0} | {} | {} |", millis(platform_p50), millis(platform_p99));
    let per_round: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
    println!(
        "\nthroughput ratio platform/baseline: {:.2} (median of the rounds' ratios: {})",
        median(&mut ratios),
        per_round.join(", ")
    );
    let [query, put, transact] =
        [requests.query, requests.put_item, requests.transact_write_items].map(|n| n as f64 / commands);
    println!(
        "DynamoDB requests per command: Query {query:.2}, PutItem {put:.2}, TransactWriteItems {transact:.2} (total {:.2})",
        query + put + transact
    );
    println!("write units per command: {:.2}", requests.write_milliunits as f64 / 1000.0 / commands);
}
