//! DESIGN.md's workload: `orders` orders at concurrency 8, each placed with
//! two lines, confirmed and shipped (3 commands), against DynamoDB Local.
//! The baseline makes the same reads and writes with the bare SDK: one
//! strongly consistent Query and one conditional PutItem of an item of the
//! same size per command, and no platform code.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use aws_sdk_dynamodb::Client;
use event_store::{create_events_table, DynamoEventStore};
use order_commands::{CommandContext, OrderService, RetryPolicy};
use order_domain::validation::{LineInput, PlaceOrderInput};
use order_domain::{Command, OrderId};

use crate::stats::{median, millis, quantile};

#[derive(clap::Args)]
pub struct Args {
    /// Orders per run (3 commands each).
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    /// Orders in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Runs of each kind, interleaved; the table shows medians.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

const COMMANDS_PER_ORDER: usize = 3;

struct Run {
    commands_per_second: f64,
    latencies: Vec<Duration>,
}

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let mut platform_runs = Vec::new();
    let mut baseline_runs = Vec::new();
    let mut platform_counts = Vec::new();
    // The first pair warms DynamoDB Local's JVM and is not reported; the
    // order alternates so that drift in the machine's load favours neither.
    for round in 0..=args.rounds {
        let baseline_table = fresh_table(&client, "bench-baseline").await?;
        let baseline_client = client.clone();
        let baseline_run =
            || measure(&args, move |i| baseline_order(baseline_client.clone(), baseline_table.clone(), i));
        let store = DynamoEventStore::new(client.clone(), fresh_table(&client, "bench-platform").await?);
        let service = OrderService::new(Arc::new(store.clone()));
        let platform_run = || measure(&args, move |_| platform_order(service.clone()));
        let (baseline, platform) = if round % 2 == 0 {
            let baseline = baseline_run().await;
            (baseline, platform_run().await)
        } else {
            let platform = platform_run().await;
            (baseline_run().await, platform)
        };
        if round > 0 {
            baseline_runs.push(baseline);
            platform_runs.push(platform);
            platform_counts.push(store);
        }
    }
    report(&args, platform_runs, baseline_runs, &platform_counts);
    Ok(())
}

async fn fresh_table(client: &Client, prefix: &str) -> Result<String, Box<dyn std::error::Error>> {
    let table = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    create_events_table(client, &table).await?;
    Ok(table)
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
            .expression_attribute_names("#o", "orderId")
            .expression_attribute_values(":o", AttributeValue::S(order_id.clone()))
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("query");
        let item = HashMap::from([
            ("orderId".to_owned(), AttributeValue::S(order_id.clone())),
            ("version".to_owned(), AttributeValue::N(version.to_string())),
            ("kind".to_owned(), AttributeValue::S("event".into())),
            ("eventId".to_owned(), AttributeValue::S(format!("{i}-{version}"))),
            ("eventType".to_owned(), AttributeValue::S("OrderPlaced".into())),
            ("occurredAt".to_owned(), AttributeValue::S("2026-11-27T09:00:00.123Z".into())),
            ("envelope".to_owned(), AttributeValue::S(envelope.clone())),
        ]);
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#v)")
            .expression_attribute_names("#v", "version")
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .expect("put");
        latencies.push(started.elapsed());
    }
    latencies
}

fn report(args: &Args, platform: Vec<Run>, baseline: Vec<Run>, stores: &[DynamoEventStore]) {
    let summarize = |runs: Vec<Run>| {
        let mut throughput: Vec<f64> = runs.iter().map(|r| r.commands_per_second).collect();
        let mut latencies: Vec<Duration> = runs.into_iter().flat_map(|r| r.latencies).collect();
        (median(&mut throughput), quantile(&mut latencies, 0.5), quantile(&mut latencies, 0.99))
    };
    let (platform_tput, platform_p50, platform_p99) = summarize(platform);
    let (baseline_tput, baseline_p50, baseline_p99) = summarize(baseline);
    let commands = (args.orders * COMMANDS_PER_ORDER * stores.len()) as f64;
    let total = |f: fn(&event_store::RequestCounts) -> u64| stores.iter().map(|s| f(s.counts())).sum::<u64>() as f64;
    let query = total(|c| c.query.load(Ordering::Relaxed)) / commands;
    let put = total(|c| c.put_item.load(Ordering::Relaxed)) / commands;
    let transact = total(|c| c.transact_write_items.load(Ordering::Relaxed)) / commands;
    let wcu = total(|c| c.write_milliunits.load(Ordering::Relaxed)) / 1000.0 / commands;
    println!(
        "commands workload: {} orders x {COMMANDS_PER_ORDER} commands, concurrency {}, median of {} rounds\n",
        args.orders, args.concurrency, args.rounds
    );
    println!("| run | commands/s | p50 | p99 |");
    println!("|---|---|---|---|");
    println!("| bare SDK baseline | {baseline_tput:.0} | {} | {} |", millis(baseline_p50), millis(baseline_p99));
    println!("| platform | {platform_tput:.0} | {} | {} |", millis(platform_p50), millis(platform_p99));
    println!("\nthroughput ratio platform/baseline: {:.2}", platform_tput / baseline_tput);
    println!(
        "DynamoDB requests per command: Query {query:.2}, PutItem {put:.2}, TransactWriteItems {transact:.2} (total {:.2})",
        query + put + transact
    );
    println!("write units per command: {wcu:.2}");
}
