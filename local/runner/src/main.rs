//! The local runner: the whole platform in one process.
//!
//! With no AWS endpoint variables it runs embedded, on in-memory adapters,
//! so `cargo run` needs nothing installed. With `AWS_ENDPOINT_URL_DYNAMODB`
//! (or `AWS_ENDPOINT_URL`) set, as `scripts/local-stack env` prints, it runs
//! the same handlers against DynamoDB Local and moto.

use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Parser, Subcommand};

mod auth;
mod demo;
mod embedded;
mod http;
mod legacy;
mod provision;
mod stack;
mod storefront;

#[derive(Parser)]
#[command(
    name = "order-platform",
    about = "Runs the order platform locally: the HTTP API and the event pipeline in one process",
    long_about = "Runs the order platform locally: the HTTP API and the event pipeline in one process.\n\n\
        Embedded (default): in-memory event store, nothing to install.\n\
        Local stack: set the variables `scripts/local-stack env` prints (AWS_ENDPOINT_URL_DYNAMODB, ...)\n\
        and the runner uses DynamoDB Local, moto SNS/SQS and PostgreSQL instead."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Commands>,
    #[command(flatten)]
    serve: ServeArgs,
    /// Log format: `auto` (compact on a terminal, JSON lines when stdout is
    /// not one), `json` or `compact`. RUST_LOG filters (default `info`).
    #[arg(long, global = true, env = "LOG_FORMAT", default_value = "auto")]
    log_format: telemetry::LogFormat,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(long, env = "ORDER_PLATFORM_ADDR", default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    #[command(flatten)]
    auth: auth::AuthArgs,
    /// Hot SKUs, comma-separated: orders placed with one travel in the hot
    /// lane (queue `inventory-hot`). Empty: no hot lane traffic.
    #[arg(long, env = contract::config::HOT_SKUS, default_value = domain::DEFAULT_HOT_SKUS)]
    hot_skus: String,
    /// Embedded mode: start with no stock instead of the demo stock
    /// (100 `muskie-casting-rod`, 500 `tourney-casting-rod`).
    #[arg(long)]
    no_seed: bool,
}

#[derive(Subcommand)]
enum Commands {
    /// Serve the HTTP API and run the pipeline (the default).
    Serve(ServeArgs),
    /// Create the tables, topic and queues on the local stack (idempotent).
    Provision,
    /// Print a token the runner accepts (`--auth embedded`):
    /// `token --customer customer-1842`, `token --service warehouse --scope orders:ship`.
    Token(auth::TokenArgs),
    /// Demonstrations against a running platform (start it first: `cargo run`).
    #[command(subcommand)]
    Demo(Demo),
}

#[derive(Subcommand)]
enum Demo {
    /// A flash sale: many buyers rush the hot rod (`muskie-casting-rod`)
    /// while quiet orders for another product (`tourney-casting-rod`) keep
    /// coming; sets both stocks, follows every order to its decision, then
    /// prints a summary per SKU and checks it (exit 1 if a check fails).
    FlashSale(demo::FlashSaleArgs),
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    // The runner keeps its latest spans for `orders trace` (and sends them
    // to an OTLP endpoint too when one is configured).
    let traces = telemetry::RecentTraces::new(RECENT_SPANS);
    telemetry::init_with(cli.log_format, telemetry::Exports::from_env().with_recent(traces.clone()));
    match cli.command {
        Some(Commands::Provision) => provision::run(&stack::Names::from_env()?).await,
        Some(Commands::Token(args)) => {
            println!("{}", auth::mint(&args)?);
            Ok(())
        }
        Some(Commands::Demo(Demo::FlashSale(args))) => {
            demo::flash_sale(&args).await.map_err(|e| e as Box<dyn std::error::Error>)
        }
        Some(Commands::Serve(args)) => serve(args, traces).await,
        None => serve(cli.serve, traces).await,
    }
}

/// Spans the runner remembers: a few hundred orders' journeys.
const RECENT_SPANS: usize = 50_000;

async fn serve(args: ServeArgs, traces: telemetry::RecentTraces) -> Result<(), Box<dyn std::error::Error>> {
    let authorizer = auth::authorizer(&args.auth).await?;
    let mut names = stack::Names::from_env()?;
    names.hot_list = domain::HotList::parse(&args.hot_skus)?;
    tracing::info!(hot_skus = %names.hot_list, "hot lane");
    let app = if stack::is_configured() {
        tracing::info!("local stack mode: AWS endpoint variables are set");
        stack::start(&names).await?
    } else {
        tracing::info!("embedded mode: in-memory adapters (set AWS_ENDPOINT_URL_DYNAMODB for the local stack)");
        embedded::start(&names, !args.no_seed).await?
    };
    let sign_in = match args.auth.mode {
        auth::AuthMode::Oidc => http::SignIn::External {
            authority: args.auth.issuer.clone().expect("clap requires --issuer with --auth oidc"),
            client_id: args.auth.audience.clone(),
        },
        auth::AuthMode::Embedded | auth::AuthMode::Off => {
            let issuer = auth::embedded_issuer(&args.auth)?;
            http::SignIn::Embedded(Arc::new(oidc::Provider::new(issuer, storefront::CLIENT_ID)))
        }
    };
    let services = args.auth.service_rule();
    tracing::info!(service_client_ids = ?services.client_ids().collect::<Vec<_>>(), scope_prefix = %args.auth.scope_prefix, "services");
    http::serve(args.addr, http::router(app.with_services(services), authorizer, sign_in, traces)).await
}
