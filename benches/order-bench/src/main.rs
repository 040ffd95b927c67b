//! `cargo run --release -p order-bench -- <benchmark>`: each benchmark runs
//! its workload against the local stack together with a baseline in the
//! same process, and prints a Markdown table for docs/benchmarks.md.

use clap::{Parser, Subcommand};

mod commands;
mod cost;
mod dynamodb_local;
mod flash_sale;
mod legacy_sync;
mod publisher;
mod stats;

/// The events table of every DynamoDB benchmark and every invocation,
/// created if missing and never deleted. DynamoDB Local answers requests to
/// a stream-enabled table created after earlier traffic far more slowly than
/// to an older one (docs/local-development.md, "Local stack"), so fresh tables made each run slower
/// than the one before, and reruns crawl.
const EVENTS_TABLE: &str = "bench-events";
const CATALOG_TABLE: &str = "bench-catalog";

#[derive(Parser)]
#[command(about = "Benchmarks of the order platform against the local stack (scripts/local-stack up)")]
struct Cli {
    #[command(subcommand)]
    benchmark: Benchmark,
}

#[derive(Subcommand)]
enum Benchmark {
    /// DESIGN.md's command workload (place, confirm, ship) vs the bare SDK.
    Commands(commands::Args),
    /// What DynamoDB Local serves alone: PutItem and Query per second at concurrency 1–8, and CPU per request.
    DynamodbLocal(dynamodb_local::Args),
    /// The AWS bill of an order, counted from the spans of a run through the whole pipeline, vs a naive design.
    Cost(cost::Args),
    /// Stream records to SNS: PublishBatch vs one Publish per record.
    Publisher(publisher::Args),
    /// Flash sale on one hot SKU: coalesced vs per-order reservations.
    FlashSale(flash_sale::Args),
    /// Legacy sync: one transaction per batch vs one statement per event.
    LegacySync(legacy_sync::Args),
    /// The runner on the local stack under steady load while faults are injected; then nothing may be lost.
    ///
    /// Starts the runner (built with `cargo build --release -p runner` unless --runner names
    /// one) on resources of its own, its DynamoDB, SNS and PostgreSQL endpoints behind fault proxies, and
    /// places --orders orders at --rate per second over HTTP (the hot SKU and quiet ones, cancels, ships).
    /// Faults, at shares of the load's duration: a poison message on each consumer queue (5 %), PostgreSQL
    /// unreachable (15 % and 75 %), SNS PublishBatch errors (30 %), DynamoDB throttling (45 %), the runner
    /// killed with SIGKILL and started again (60 %). Then it waits for the pipeline to drain and checks that
    /// every accepted order is stored, a raw-delivery downstream queue got every stored event, inventory,
    /// pick requests and legacy rows equal their rebuild from the event store, and the DLQs hold only the
    /// poison. Prints a Markdown table; exits 1 if anything was lost or did not converge.
    Soak(soak::Args),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    match Cli::parse().benchmark {
        Benchmark::Commands(args) => commands::run(args).await,
        Benchmark::DynamodbLocal(args) => dynamodb_local::run(args).await,
        Benchmark::Publisher(args) => publisher::run(args).await,
        Benchmark::Cost(args) => cost::run(args).await.map_err(|e| e as Box<dyn std::error::Error>),
        Benchmark::FlashSale(args) => flash_sale::run(args).await,
        Benchmark::LegacySync(args) => legacy_sync::run(args).await,
        Benchmark::Soak(args) => {
            let runner = match &args.runner {
                Some(path) => path.clone(),
                None => soak::stack::build_runner()?,
            };
            let report = soak::run(&args, runner).await?;
            println!("{report}");
            if !report.passed() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
