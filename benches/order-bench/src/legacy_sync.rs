//! The legacy sync's write path against PostgreSQL: DESIGN.md's workload
//! (orders placed with two lines, confirmed, shipped: 3 events each) applied
//! in stream order, three ways, interleaved in one run:
//!
//! - baseline: one statement per event, each its own transaction (the
//!   naive sync: an order insert with its lines, or a status update, each
//!   guarded by the applied version, in autocommit);
//! - the sync with batches of 10 (SQS's default) and of 100 (the template's
//!   batch size): one transaction of a few multi-row statements per batch.
//!
//! Every run starts from empty tables and must end in the same rows (a
//! checksum is compared), so the three are doing the same work.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use commands::{CommandContext, OrderService, RetryPolicy};
use domain::{Command, Currency, CustomerId, Envelope, OrderEvent, OrderId, OrderLine, PlaceOrder, Sku};
use event_store::MemoryEventStore;
use legacy_sync::migrations::create_legacy_tables_if_missing;
use legacy_sync::{connect, migrate, ConnectionSettings, LegacySync};
use sqs_consumer::Delivery;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::stats::median;

#[derive(clap::Args)]
pub struct Args {
    /// Orders (3 events each).
    #[arg(long, default_value_t = 1000)]
    orders: usize,
    /// Runs of each kind, interleaved; the table shows medians.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// The PostgreSQL server; the benchmark creates (and drops) a database of its own there.
    #[arg(long, env = contract::config::LEGACY_DATABASE_URL, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
}

const SKUS: [&str; 2] = ["muskie-casting-rod", "spinning-reel"];
/// Orders in flight at once in the workload, so the stream interleaves them.
const IN_FLIGHT: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    StatementPerEvent,
    Batch(usize),
}

impl Mode {
    fn label(self) -> String {
        match self {
            Mode::StatementPerEvent => "baseline: one statement per event (autocommit)".into(),
            Mode::Batch(size) => format!("sync: one transaction per batch of {size}"),
        }
    }
}

struct Run {
    events_per_second: f64,
    round_trips_per_batch: f64,
    statements_per_batch: f64,
}

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let admin = ConnectionSettings::from_url(&args.database_url)?;
    let database = format!("legacy_bench_{}", Uuid::new_v4().simple());
    connect(&admin).await?.batch_execute(&format!("CREATE DATABASE {database}")).await?;
    let result = bench(&args, admin.with_dbname(&database)).await;
    connect(&admin).await?.batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)")).await?;
    result
}

async fn bench(args: &Args, settings: ConnectionSettings) -> Result<(), Box<dyn std::error::Error>> {
    let mut client = connect(&settings).await?;
    create_legacy_tables_if_missing(&client).await?;
    migrate(&mut client).await?;
    for slug in SKUS {
        client
            .execute(
                "INSERT INTO shop_product (id, title, description, slug, in_stock, price) VALUES ($1, $2, '', $2, true, 19900)",
                &[&Uuid::new_v4(), &slug],
            )
            .await?;
    }
    let store = Arc::new(MemoryEventStore::new());
    let events = workload(store.clone(), args.orders).await?;
    eprintln!("legacy-sync: {} events of {} orders; {} rounds", events.len(), args.orders, args.rounds);

    let modes = [Mode::StatementPerEvent, Mode::Batch(10), Mode::Batch(100)];
    let mut runs: HashMap<usize, Vec<Run>> = HashMap::new();
    let mut checksums = Vec::new();
    // Round 0 warms the server's caches and is not reported.
    for round in 0..=args.rounds {
        for (i, mode) in modes.iter().enumerate() {
            client.batch_execute("TRUNCATE shop_orderitem, shop_order, order_sync.applied").await?;
            let measured = match mode {
                Mode::StatementPerEvent => statement_per_event(&client, &events).await?,
                Mode::Batch(size) => batches(&settings, store.clone(), &events, *size).await?,
            };
            checksums.push(checksum(&client).await?);
            if round > 0 {
                runs.entry(i).or_default().push(measured);
            }
        }
    }
    checksums.dedup();
    if checksums.len() != 1 {
        return Err("the three ways did not write the same rows".into());
    }

    let baseline = median(&mut runs[&0].iter().map(|r| r.events_per_second).collect::<Vec<_>>());
    println!(
        "\n### Legacy sync: {} events ({} orders × place, confirm, ship), medians of {} rounds\n",
        events.len(),
        args.orders,
        args.rounds
    );
    println!("| way | events/s | vs baseline | round trips per batch | statements per batch |");
    println!("|---|---:|---:|---:|---:|");
    for (i, mode) in modes.iter().enumerate() {
        let mode_runs = &runs[&i];
        let rate = median(&mut mode_runs.iter().map(|r| r.events_per_second).collect::<Vec<_>>());
        let trips = median(&mut mode_runs.iter().map(|r| r.round_trips_per_batch).collect::<Vec<_>>());
        let statements = median(&mut mode_runs.iter().map(|r| r.statements_per_batch).collect::<Vec<_>>());
        let per = match mode {
            Mode::StatementPerEvent => " (per event)",
            Mode::Batch(_) => "",
        };
        println!("| {} | {rate:.0} | {:.1}× | {trips:.1}{per} | {statements:.1}{per} |", mode.label(), rate / baseline);
    }
    Ok(())
}

/// DESIGN.md's workload through the real command handler: orders placed
/// with two lines, confirmed, shipped, `IN_FLIGHT` at a time, so the
/// stream interleaves orders the way the events table's stream does.
async fn workload(store: Arc<MemoryEventStore>, orders: usize) -> Result<Vec<Envelope>, Box<dyn std::error::Error>> {
    let service = OrderService::new(store);
    let mut events = Vec::with_capacity(orders * 3);
    let ids: Vec<OrderId> = (0..orders).map(|_| OrderId(Uuid::new_v4())).collect();
    for group in ids.chunks(IN_FLIGHT) {
        for step in 0..3 {
            for (i, id) in group.iter().enumerate() {
                let command = match step {
                    0 => Command::Place(PlaceOrder {
                        customer_id: CustomerId::parse(&format!("customer-{i}"))?,
                        basket_id: None,
                        currency: Currency::parse("EUR")?,
                        lines: SKUS
                            .iter()
                            .map(|sku| Ok(OrderLine { sku: Sku::parse(sku)?, quantity: 1, unit_price_cents: 19_900 }))
                            .collect::<Result<_, &str>>()?,
                    }),
                    1 => Command::Confirm,
                    _ => Command::Ship { tracking_number: None },
                };
                let context = CommandContext::new("bench");
                events.extend(service.execute(*id, &command, &context, RetryPolicy::NONE).await?.appended);
            }
        }
    }
    Ok(events)
}

fn deliveries(events: &[Envelope]) -> Vec<Delivery> {
    events
        .iter()
        .map(|e| Delivery { message_id: e.event_id.to_string(), envelope: e.clone(), lane: None, traceparent: None })
        .collect()
}

async fn batches(
    settings: &ConnectionSettings,
    store: Arc<MemoryEventStore>,
    events: &[Envelope],
    size: usize,
) -> Result<Run, Box<dyn std::error::Error>> {
    let sync = LegacySync::new(settings.clone().into(), store);
    // Connect outside the timing: a Lambda instance keeps its connection.
    sync.connect().await?;
    let warm = (sync.stats().round_trips.load(Ordering::Relaxed), sync.stats().statements.load(Ordering::Relaxed));
    let started = Instant::now();
    for batch in events.chunks(size) {
        let failed = sync.apply_batch(deliveries(batch)).await;
        if !failed.is_empty() {
            return Err(format!("{} messages failed", failed.len()).into());
        }
    }
    let elapsed = started.elapsed();
    let batches = events.len().div_ceil(size) as f64;
    Ok(Run {
        events_per_second: events.len() as f64 / elapsed.as_secs_f64(),
        round_trips_per_batch: (sync.stats().round_trips.load(Ordering::Relaxed) - warm.0) as f64 / batches,
        statements_per_batch: (sync.stats().statements.load(Ordering::Relaxed) - warm.1) as f64 / batches,
    })
}

/// An order's first event: the order row, its lines (linked to products by
/// slug) and its applied version, in one statement.
const INSERT_PLACED: &str = "
WITH placed AS (
    INSERT INTO shop_order (id, customer_id, basket_id, status, currency, total, placed_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
    ON CONFLICT (id) DO NOTHING RETURNING id
), lines AS (
    INSERT INTO shop_orderitem (order_id, product_id, sku, item_price, quantity)
    SELECT placed.id, product.id, line.sku, line.item_price, line.quantity
    FROM placed, unnest($8::text[], $9::int4[], $10::int4[]) AS line(sku, item_price, quantity)
    LEFT JOIN shop_product product ON product.slug = line.sku
)
INSERT INTO order_sync.applied (order_id, version) SELECT id, 1 FROM placed";

/// A later event: the status, when the applied version is its predecessor.
const UPDATE_STATUS: &str = "
WITH applied AS (
    UPDATE order_sync.applied SET version = $2, applied_at = now()
    WHERE order_id = $1 AND version = $2 - 1 RETURNING order_id
)
UPDATE shop_order SET status = $3, updated_at = $4 FROM applied WHERE shop_order.id = applied.order_id";

async fn statement_per_event(client: &Client, events: &[Envelope]) -> Result<Run, Box<dyn std::error::Error>> {
    let started = Instant::now();
    for event in events {
        let id = event.order_id.0;
        let at: DateTime<Utc> = event.occurred_at;
        match &event.event {
            OrderEvent::Placed(placed) => {
                let skus: Vec<&str> = placed.lines.iter().map(|l| l.sku.as_str()).collect();
                let prices: Vec<i32> = placed.lines.iter().map(|l| l.unit_price_cents as i32).collect();
                let quantities: Vec<i32> = placed.lines.iter().map(|l| l.quantity as i32).collect();
                let params: [(&(dyn ToSql + Sync), Type); 10] = [
                    (&id, Type::UUID),
                    (&placed.customer_id.as_str(), Type::TEXT),
                    (&placed.basket_id, Type::UUID),
                    (&"placed", Type::TEXT),
                    (&placed.currency.as_str(), Type::TEXT),
                    (&(placed.total_cents as i64), Type::INT8),
                    (&at, Type::TIMESTAMPTZ),
                    (&skus, Type::TEXT_ARRAY),
                    (&prices, Type::INT4_ARRAY),
                    (&quantities, Type::INT4_ARRAY),
                ];
                client.execute_typed(INSERT_PLACED, &params).await?;
            }
            other => {
                let status = match other {
                    OrderEvent::Confirmed(_) => "confirmed",
                    OrderEvent::Rejected(_) => "rejected",
                    OrderEvent::Cancelled(_) => "cancelled",
                    _ => "shipped",
                };
                let version = event.version as i32;
                let params: [(&(dyn ToSql + Sync), Type); 4] =
                    [(&id, Type::UUID), (&version, Type::INT4), (&status, Type::TEXT), (&at, Type::TIMESTAMPTZ)];
                client.execute_typed(UPDATE_STATUS, &params).await?;
            }
        }
    }
    Ok(Run {
        events_per_second: events.len() as f64 / started.elapsed().max(Duration::from_nanos(1)).as_secs_f64(),
        round_trips_per_batch: 1.0,
        statements_per_batch: 1.0,
    })
}

/// A digest of every legacy order row and line (serial ids aside).
async fn checksum(client: &Client) -> Result<String, tokio_postgres::Error> {
    let row = client
        .query_one(
            "SELECT (SELECT md5(coalesce(string_agg(concat_ws('|', id, customer_id, basket_id, status, currency, total,
                                                              placed_at, updated_at), ',' ORDER BY id), '')) FROM shop_order)
                 || (SELECT md5(coalesce(string_agg(concat_ws('|', order_id, product_id, sku, item_price, quantity), ','
                                                    ORDER BY order_id, sku), '')) FROM shop_orderitem)",
            &[],
        )
        .await?;
    Ok(row.get(0))
}
