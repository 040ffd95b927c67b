//! `orders`: the ops CLI. `orders --help` explains every command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use catalog_store::DynamoCatalog;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use domain::ports::EventStore;
use domain::{fold, EventType, OrderId};
use event_store::DynamoEventStore;
use legacy_sync::connection::describe;
use legacy_sync::migrations::create_legacy_tables_if_missing;
use ops::output::{age, bar, print_json, print_table};
use ops::scan::{self, ScanOutcome};
use ops::stack::{queue_name, queue_url, Error, Stack, StackArgs};
use ops::{catalog, dlq, rebuild, republish, state, trace};
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "orders",
    about = "The order platform's ops CLI: orders and their events, queue backfill, dead letters, projection rebuilds, the legacy sync, the catalog import",
    long_about = "The order platform's ops CLI: orders and their events, queue backfill, dead letters, projection rebuilds, the legacy sync, the catalog import.\n\n\
        It works against the local stack (eval \"$(scripts/local-stack env)\": the AWS SDK's endpoint variables) and \
        against a deployed stack (AWS credentials as usual). Names come from flags, else from --stack-name's \
        CloudFormation outputs and resources, else from EVENTS_TABLE, INVENTORY_TABLE, FULFILLMENT_TABLE, CATALOG_TABLE, else the \
        local runner's defaults.\n\nOutput is a table for people; --json prints JSON for scripts. Long commands show \
        a progress bar on stderr (when it is a terminal). Logs go to stderr: RUST_LOG (default: error)."
)]
struct Cli {
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    stack: StackArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The order as its events fold it (the API's order view).
    Show { order_id: OrderId },
    /// The order's events, oldest first: version, type, schemaVersion (stored → served when upcast), time, event,
    /// correlation and causation ids. --json: the envelopes as the API serves them, at each type's current
    /// schemaVersion.
    Events { order_id: OrderId },
    /// Backfill one subscriber's queue from the event store: the same body bytes and message attributes the topic
    /// sends a raw-delivery subscription, per order in version order, to that queue only (no other subscriber
    /// gets a duplicate). Resumable: run the same command again after an interruption.
    Republish(RepublishArgs),
    /// Dead-letter queues: list, show, redrive.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// Rebuild a projection from the event store through its live code (resumable, with progress).
    Rebuild {
        #[command(subcommand)]
        projection: RebuildCommand,
    },
    /// The legacy PostgreSQL sync: its schema and a rebuild of the legacy rows. The legacy database comes from
    /// LEGACY_DATABASE_URL (a postgres:// URL; sslmode and sslrootcert as in libpq) or, in AWS, from the Secrets
    /// Manager secret LEGACY_DB_SECRET_ARN (RDS credentials JSON, verified TLS).
    Legacy {
        #[command(subcommand)]
        command: LegacyCommand,
    },
    /// The catalog (prices, titles, purchase limits per SKU).
    Catalog {
        #[command(subcommand)]
        command: CatalogCommand,
    },
    /// The order's trace as a waterfall: each hop (api, publisher, inventory, fulfillment, legacy-sync), its
    /// DynamoDB, SNS, SQS and PostgreSQL calls, when each started and how long it took, and the stream's and the
    /// queues' wait before each hop. From the local runner, which keeps its recent traces (`cargo run`); in AWS the
    /// same spans are in CloudWatch (Transaction Search: search by the span attribute order_id). --json prints the
    /// spans.
    Trace(TraceArgs),
}

#[derive(clap::Args)]
struct TraceArgs {
    order_id: OrderId,
    /// The local runner's address.
    #[arg(long, env = "ORDERS_RUNNER_URL", default_value = "http://127.0.0.1:3000")]
    runner: String,
    /// Also draw the waterfall as an SVG picture into this file.
    #[arg(long)]
    svg: Option<PathBuf>,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Imports the legacy shop's shop_product into the catalog table: slug → SKU, title, price (minor units of
    /// SHOP_CURRENCY, default USD), deleted_at set → inactive. Each product is compared with the catalog's item and
    /// only the differences are written (never the merchandiser's maxPerCustomer), so a second run over an unchanged
    /// shop writes nothing. Prints each difference, then the counts (unchanged, created, updated, deactivated,
    /// skipped). Resumable: after every page the checkpoint (the last slug done) is kept in --state-dir; run the
    /// same command again after an interruption. The legacy database as for `orders legacy`: LEGACY_DATABASE_URL or
    /// LEGACY_DB_SECRET_ARN. In AWS the same import runs on a schedule (CatalogImportFunction).
    Import(CatalogImportArgs),
}

#[derive(clap::Args)]
struct CatalogImportArgs {
    /// Print the differences; write nothing (and record no checkpoint).
    #[arg(long)]
    dry_run: bool,
    /// Products read per query (keyset pagination by slug).
    #[arg(long, default_value_t = catalog_import::DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    page_size: u32,
    /// Where the checkpoint is kept [env: ORDERS_STATE_DIR; default: ~/.local/state/orders].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Forget an interrupted import's checkpoint and start from the first product.
    #[arg(long)]
    restart: bool,
    /// Stop after this many pages, as if interrupted (the next run resumes): for trying and testing resumption.
    #[arg(long, hide = true)]
    stop_after_pages: Option<u64>,
}

#[derive(Subcommand)]
enum LegacyCommand {
    /// Creates or updates the sync's own schema (order_sync). Run once per deploy, before the sync handles events;
    /// the Lambda never migrates. Safe to run again.
    Migrate {
        /// Also create the legacy shop tables from legacy/schema.sql when they do not exist (a local stack's fresh
        /// database; in AWS the shop owns them).
        #[arg(long)]
        create_legacy_tables: bool,
    },
    /// Replays every order of the events table into empty shop_order / shop_orderitem tables through the live
    /// sync, with a parallel scan and progress. Interrupted, it resumes where it stopped when run again (progress
    /// is kept in the database's order_sync schema). The same as `orders rebuild legacy`.
    Rebuild(LegacyRebuildArgs),
}

#[derive(clap::Args)]
struct LegacyRebuildArgs {
    /// Parallel scan segments; each uses one connection to the legacy database.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    segments: u32,
    /// Empty shop_order and shop_orderitem first (otherwise they must already be empty).
    #[arg(long)]
    truncate: bool,
    /// Forget an unfinished rebuild's progress and start over.
    #[arg(long)]
    restart: bool,
}

#[derive(clap::Args)]
struct Progress {
    /// Where resumable commands keep their progress [env: ORDERS_STATE_DIR; default: ~/.local/state/orders].
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Parallel scan segments.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    segments: u32,
    /// Items read per scan page [default: DynamoDB's 1 MB pages].
    #[arg(long)]
    page_size: Option<i32>,
    /// Forget the recorded progress of an earlier run of the same command and start over.
    #[arg(long)]
    restart: bool,
    /// Stop after this many pages, as if interrupted (the next run resumes): for trying and testing resumption.
    #[arg(long, hide = true)]
    stop_after_pages: Option<u64>,
}

#[derive(clap::Args)]
struct RepublishArgs {
    /// The subscriber's queue (URL or name).
    #[arg(long)]
    to_queue: String,
    /// Only events that occurred at or after this time (RFC 3339, e.g. 2026-11-27T09:00:00Z).
    #[arg(long)]
    since: Option<DateTime<Utc>>,
    /// Only these event types (repeat, or comma-separated).
    #[arg(long, value_delimiter = ',', value_parser = parse_event_type)]
    event_type: Vec<EventType>,
    /// Only these orders (repeat, or comma-separated); read with one query each instead of a scan.
    #[arg(long = "order", value_delimiter = ',')]
    orders: Vec<OrderId>,
    /// At this schemaVersion, as a subscription filtering on it receives them: each event whose type is written at
    /// it (its current version, or the previous one of a bumped type, down-cast), none of the others [default: each
    /// event at its type's current version].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    schema_version: Option<u32>,
    #[command(flatten)]
    progress: Progress,
}

fn parse_event_type(value: &str) -> Result<EventType, String> {
    EventType::ALL
        .into_iter()
        .find(|t| t.as_str() == value)
        .ok_or_else(|| format!("unknown event type {value:?} (one of {:?})", EventType::ALL.map(|t| t.as_str())))
}

#[derive(Subcommand)]
enum DlqCommand {
    /// Every dead-letter queue of the stack: depth, messages in flight, oldest message's age, source queues.
    List,
    /// A dead-letter queue's messages, decoded, with the failure reason where known. Messages are only peeked:
    /// they stay in the queue.
    Show {
        /// The dead-letter queue (name or URL).
        queue: String,
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
    /// Move messages back to the DLQ's source queue: SQS's own message-move task where the endpoint has it (and no
    /// --limit is given), else receive, send, then delete: an interruption leaves a duplicate at worst, never a loss.
    Redrive {
        /// The dead-letter queue (name or URL).
        queue: String,
        /// Move at most this many.
        #[arg(long)]
        limit: Option<u64>,
        /// The queue to move them to [default: the one queue whose redrive policy names this DLQ].
        #[arg(long)]
        to: Option<String>,
    },
}

#[derive(Subcommand)]
enum RebuildCommand {
    /// Stock counters and reservation records, through the live saga, following the decisions the event store
    /// records (OrderConfirmed / OrderRejected); `available` ends as the --stock-from table's count less what is
    /// reserved and shipped. The events table must be drained (every order settled).
    Inventory {
        /// The table to rebuild into (created when missing); not the live one.
        #[arg(long)]
        into: String,
        /// Where the merchandiser's counts (available + reserved + shipped per SKU) come from [default: the
        /// inventory table].
        #[arg(long)]
        stock_from: Option<String>,
        #[command(flatten)]
        progress: Progress,
    },
    /// Pick requests, through the live fulfillment projection.
    Fulfillment {
        /// The table to rebuild into (created when missing); not the live one.
        #[arg(long)]
        into: String,
        #[command(flatten)]
        progress: Progress,
    },
    /// The legacy shop_order / shop_orderitem rows, through the live sync (LEGACY_DATABASE_URL or
    /// LEGACY_DB_SECRET_ARN); progress is kept in the database's order_sync schema. The same as
    /// `orders legacy rebuild`.
    Legacy(LegacyRebuildArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("orders: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Error> {
    let json = cli.json;
    let stack = Stack::resolve(cli.stack).await?;
    let store = DynamoEventStore::new(stack.dynamodb(), &stack.events_table);
    match cli.command {
        Command::Show { order_id } => {
            let events = store.load(order_id).await?;
            let Some(order) = fold(&events) else {
                eprintln!("orders: order {order_id} not found in {}", stack.events_table);
                return Ok(ExitCode::from(2));
            };
            if json {
                print_json(&serde_json::to_value(&order)?);
            } else {
                let lines = order
                    .lines
                    .iter()
                    .map(|l| format!("{} × {} @ {}", l.quantity, l.sku.as_str(), l.unit_price_cents))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rows = [
                    ("order", order.order_id.to_string()),
                    ("status", order.status.as_lowercase().to_owned()),
                    ("version", order.version.to_string()),
                    ("customer", order.customer_id.as_str().to_owned()),
                    ("basket", order.basket_id.map(|b| b.to_string()).unwrap_or_else(|| "-".into())),
                    ("currency", order.currency.as_str().to_owned()),
                    ("total (cents)", order.total_cents.to_string()),
                    ("lines", lines),
                    ("placed at", order.placed_at.to_rfc3339()),
                    ("updated at", order.updated_at.to_rfc3339()),
                ];
                print_table(&["field", "value"], &rows.map(|(k, v)| vec![k.to_owned(), v]));
            }
        }
        Command::Events { order_id } => {
            let events = store.load_stored(order_id).await?;
            if events.is_empty() {
                eprintln!("orders: order {order_id} not found in {}", stack.events_table);
                return Ok(ExitCode::from(2));
            }
            // As the API serves them: at each type's current schemaVersion,
            // upcast from the version they were stored at.
            if json {
                let envelopes: Vec<&domain::Envelope> = events.iter().map(|e| &e.envelope).collect();
                print_json(&json!({ "events": envelopes }));
            } else {
                let rows: Vec<Vec<String>> = events
                    .iter()
                    .map(|stored| {
                        let e = &stored.envelope;
                        let current = e.event_type().schema_version();
                        let schema = match stored.schema_version {
                            written if written == current => written.to_string(),
                            written => format!("{written} → {current}"),
                        };
                        vec![
                            e.version.to_string(),
                            e.event_type().as_str().to_owned(),
                            schema,
                            e.occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                            e.event_id.to_string(),
                            e.correlation_id.clone(),
                            e.causation_id.clone(),
                        ]
                    })
                    .collect();
                print_table(
                    &["version", "type", "schema", "occurred at", "event id", "correlation id", "causation id"],
                    &rows,
                );
            }
        }
        Command::Republish(args) => {
            let sqs = stack.sqs();
            let queue_url = queue_url(&sqs, &args.to_queue).await?;
            let total = scan::approximate_events(&stack.dynamodb(), &stack.events_table).await;
            let progress_bar = bar(if args.orders.is_empty() { total } else { None }, "events");
            let options = republish::Options {
                queue_url: queue_url.clone(),
                filter: republish::Filter {
                    since: args.since,
                    event_types: args.event_type,
                    orders: args.orders,
                    schema_version: args.schema_version,
                },
                segments: args.progress.segments,
                page_size: args.progress.page_size,
                state_dir: args.progress.state_dir.unwrap_or_else(state::default_dir),
                restart: args.progress.restart,
                stop_after_pages: args.progress.stop_after_pages,
            };
            let outcome = republish::run(store, &stack.events_table, sqs, options, &progress_bar).await?;
            progress_bar.finish_and_clear();
            return Ok(report_scan("republish", &outcome, json, json!({ "queueUrl": queue_url }), "sent"));
        }
        Command::Dlq { command } => return dlq_command(&stack, command, json).await,
        Command::Rebuild { projection } => return rebuild_command(&stack, projection, json).await,
        Command::Legacy { command: LegacyCommand::Migrate { create_legacy_tables } } => {
            legacy_migrate(create_legacy_tables).await?
        }
        Command::Legacy { command: LegacyCommand::Rebuild(args) } => return legacy_rebuild(&stack, args, json).await,
        Command::Catalog { command: CatalogCommand::Import(args) } => return catalog_import(&stack, args, json).await,
        Command::Trace(args) => return order_trace(args, json).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints what a resumable scan did; exit code 3 when it stopped early.
fn report_scan(what: &str, outcome: &ScanOutcome, json: bool, extra: serde_json::Value, handled: &str) -> ExitCode {
    let status = if outcome.already_finished {
        "already finished (--restart runs it again)"
    } else if outcome.interrupted {
        "interrupted (run the same command again to resume)"
    } else if outcome.resumed {
        "resumed and finished"
    } else {
        "finished"
    };
    if json {
        let mut value = json!({
            "status": status,
            "finished": outcome.progress.finished(),
            "resumed": outcome.resumed,
            "eventsScanned": outcome.progress.events,
            "eventsScannedThisRun": outcome.this_run,
            handled: outcome.progress.handled,
        });
        if let (Some(value), Some(extra)) = (value.as_object_mut(), extra.as_object()) {
            value.extend(extra.clone());
        }
        print_json(&value);
    } else {
        eprintln!(
            "{what} {status}: {} events scanned ({} by this run), {} {handled}",
            outcome.progress.events, outcome.this_run, outcome.progress.handled
        );
    }
    if outcome.interrupted {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}

async fn dlq_command(stack: &Stack, command: DlqCommand, json: bool) -> Result<ExitCode, Error> {
    let sqs = stack.sqs();
    match command {
        DlqCommand::List => {
            let mut summaries = Vec::new();
            for url in stack.dead_letter_queues().await? {
                summaries.push(dlq::summary(&sqs, &url).await?);
            }
            if json {
                print_json(&serde_json::to_value(&summaries)?);
            } else {
                let rows: Vec<Vec<String>> = summaries
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.depth.to_string(),
                            s.in_flight.to_string(),
                            s.oldest_age_seconds.map(age).unwrap_or_else(|| "-".into()),
                            s.sources.iter().map(|u| queue_name(u)).collect::<Vec<_>>().join(", "),
                        ]
                    })
                    .collect();
                print_table(&["dead-letter queue", "depth", "in flight", "oldest", "source queues"], &rows);
            }
        }
        DlqCommand::Show { queue, limit } => {
            let url = queue_url(&sqs, &queue).await?;
            let letters: Vec<_> = dlq::peek(&sqs, &url, limit).await?.iter().map(dlq::decode).collect();
            if json {
                print_json(&serde_json::to_value(&letters)?);
            } else {
                let rows: Vec<Vec<String>> = letters
                    .iter()
                    .map(|l| {
                        let dash = || "-".to_owned();
                        vec![
                            l.message_id.clone(),
                            l.sent_at.clone().unwrap_or_else(dash),
                            l.receive_count.map(|c| c.to_string()).unwrap_or_else(dash),
                            l.event_type.clone().unwrap_or_else(dash),
                            l.order_id.clone().unwrap_or_else(dash),
                            l.version.map(|v| v.to_string()).unwrap_or_else(dash),
                            l.reason.clone(),
                        ]
                    })
                    .collect();
                print_table(&["message id", "sent at", "receives", "type", "order", "version", "reason"], &rows);
            }
        }
        DlqCommand::Redrive { queue, limit, to } => {
            let url = queue_url(&sqs, &queue).await?;
            let target = dlq::redrive_target(&sqs, &url, to.as_deref()).await?;
            let progress_bar = bar(None, "messages moved");
            let report = dlq::redrive(&sqs, &url, &target, limit, &progress_bar).await?;
            progress_bar.finish_and_clear();
            if json {
                print_json(&serde_json::to_value(&report)?);
            } else {
                eprintln!(
                    "moved {} messages from {} to {} ({}){}",
                    report.moved,
                    queue_name(&report.from),
                    queue_name(&report.to),
                    report.method,
                    if report.not_deleted > 0 {
                        format!(
                            "; {} were sent but could not be deleted and will show in the DLQ again",
                            report.not_deleted
                        )
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn rebuild_command(stack: &Stack, command: RebuildCommand, json: bool) -> Result<ExitCode, Error> {
    let client = stack.dynamodb();
    let total = scan::approximate_events(&client, &stack.events_table).await;
    let options = |progress: Progress| rebuild::ScanOptions {
        segments: progress.segments,
        page_size: progress.page_size,
        state_dir: progress.state_dir.unwrap_or_else(state::default_dir),
        restart: progress.restart,
        stop_after_pages: progress.stop_after_pages,
    };
    match command {
        RebuildCommand::Fulfillment { into, progress } => {
            let tables = rebuild::Tables {
                dynamodb: &client,
                events: &stack.events_table,
                live: &stack.fulfillment_table,
                into: &into,
            };
            let progress_bar = bar(total, "events");
            let outcome = rebuild::fulfillment(&tables, &options(progress), &progress_bar).await?;
            progress_bar.finish_and_clear();
            Ok(report_scan("fulfillment rebuild", &outcome, json, json!({ "into": into }), "applied"))
        }
        RebuildCommand::Inventory { into, stock_from, progress } => {
            let tables = rebuild::Tables {
                dynamodb: &client,
                events: &stack.events_table,
                live: &stack.inventory_table,
                into: &into,
            };
            let progress_bar = bar(total, "events");
            let rebuilt = rebuild::inventory(&tables, stock_from.as_deref(), &options(progress), &progress_bar).await?;
            progress_bar.finish_and_clear();
            let Some(rows) = rebuilt.stock else {
                return Ok(report_scan(
                    "inventory rebuild",
                    &rebuilt.outcome,
                    json,
                    json!({ "into": into }),
                    "applied",
                ));
            };
            let stock_from = stock_from.unwrap_or_else(|| stack.inventory_table.clone());
            let short: Vec<_> = rows.iter().filter(|r| r.short).map(|r| r.sku.clone()).collect();
            let code = report_scan(
                "inventory rebuild",
                &rebuilt.outcome,
                json,
                json!({ "into": into, "stockFrom": stock_from, "stock": rows, "short": short }),
                "applied",
            );
            if !json {
                let table: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.sku.clone(),
                            r.available.to_string(),
                            r.reserved.to_string(),
                            r.shipped.to_string(),
                            r.total.to_string(),
                            if r.short { "short".into() } else { String::new() },
                        ]
                    })
                    .collect();
                print_table(&["sku", "available", "reserved", "shipped", "count", ""], &table);
            }
            Ok(code)
        }
        RebuildCommand::Legacy(args) => legacy_rebuild(stack, args, json).await,
    }
}

async fn legacy_source() -> Result<legacy_sync::DatabaseSource, Error> {
    Ok(legacy_sync::DatabaseSource::from_env().await?.ok_or("set LEGACY_DATABASE_URL or LEGACY_DB_SECRET_ARN")?)
}

async fn legacy_migrate(create_legacy_tables: bool) -> Result<(), Error> {
    let mut client = legacy_source().await?.connect().await?;
    if create_legacy_tables && create_legacy_tables_if_missing(&client).await.map_err(|e| describe(&e))? {
        eprintln!("created the legacy shop tables from legacy/schema.sql");
    }
    let applied = legacy_sync::migrate(&mut client).await.map_err(|e| describe(&e))?;
    match applied.as_slice() {
        [] => eprintln!("order_sync schema is up to date"),
        versions => eprintln!("applied migrations {versions:?}"),
    }
    Ok(())
}

async fn legacy_rebuild(stack: &Stack, args: LegacyRebuildArgs, json: bool) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let source = legacy_source().await?;
    let client = stack.dynamodb();
    let total = scan::approximate_events(&client, &stack.events_table).await;
    let options =
        legacy_sync::RebuildOptions { segments: args.segments, truncate: args.truncate, restart: args.restart };
    let progress_bar = bar(total, "events");
    let outcome = rebuild::legacy(&client, &stack.events_table, source, options, &progress_bar).await?;
    progress_bar.finish_and_clear();
    let status = match (outcome.already_finished, outcome.resumed) {
        (true, _) => "already finished (--restart --truncate rebuilds again)",
        (false, true) => "resumed and finished",
        (false, false) => "finished",
    };
    let seconds = started.elapsed().as_secs_f64();
    if json {
        print_json(&json!({
            "status": status,
            "events": outcome.this_run,
            "totalEvents": outcome.progress.events,
            "seconds": seconds,
        }));
    } else {
        eprintln!(
            "legacy rebuild {status}: {} events in {seconds:.1} s ({} in all)",
            outcome.this_run, outcome.progress.events
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn catalog_import(stack: &Stack, args: CatalogImportArgs, json: bool) -> Result<ExitCode, Error> {
    let started = Instant::now();
    let source = legacy_source().await?;
    let target = DynamoCatalog::new(stack.dynamodb(), &stack.catalog_table);
    let import = catalog_import::Options {
        page_size: args.page_size,
        dry_run: args.dry_run,
        ..catalog_import::Options::new(catalog_import::shop_currency()?)
    };
    let options = catalog::ImportOptions {
        import,
        catalog_table: stack.catalog_table.clone(),
        state_dir: args.state_dir.unwrap_or_else(state::default_dir),
        restart: args.restart,
        stop_after_pages: args.stop_after_pages,
    };
    let progress = catalog::Progress::on_stderr(catalog::products(&source).await?);
    let outcome = catalog::import(&source, &target, options, &progress).await;
    progress.finish();
    let outcome = outcome?;
    let status = match (args.dry_run, outcome.interrupted, outcome.resumed) {
        (true, true, _) => "dry run interrupted (nothing written)",
        (true, false, _) => "dry run (nothing written)",
        (false, true, _) => "interrupted (run the same command again to resume)",
        (false, false, true) => "resumed and finished",
        (false, false, false) => "finished",
    };
    let counts = outcome.counts;
    let seconds = started.elapsed().as_secs_f64();
    if json {
        let mut value = json!({
            "status": status,
            "dryRun": args.dry_run,
            "finished": !outcome.interrupted,
            "resumed": outcome.resumed,
            "catalogTable": stack.catalog_table,
            "written": counts.written(),
            "differences": outcome.differences,
            "skipped": outcome.skipped.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "seconds": seconds,
        });
        if let (Some(value), serde_json::Value::Object(counts)) = (value.as_object_mut(), serde_json::to_value(counts)?)
        {
            value.extend(counts);
        }
        print_json(&value);
    } else {
        for difference in &outcome.differences {
            println!("{difference}");
        }
        for invalid in &outcome.skipped {
            eprintln!("skipped: {invalid}");
        }
        eprintln!(
            "catalog import {status}: {} products: {} unchanged, {} created, {} updated, {} deactivated, {} skipped; \
             {} {} in {seconds:.1} s",
            counts.products,
            counts.unchanged,
            counts.created,
            counts.updated,
            counts.deactivated,
            counts.skipped,
            counts.written(),
            if args.dry_run { "to write" } else { "written" },
        );
    }
    Ok(if outcome.interrupted { ExitCode::from(3) } else { ExitCode::SUCCESS })
}

/// The width of the waterfall's bars.
const TRACE_BAR_WIDTH: usize = 48;

async fn order_trace(args: TraceArgs, json: bool) -> Result<ExitCode, Error> {
    let spans = trace::from_runner(&args.runner, args.order_id).await?;
    let rows = trace::rows(&spans);
    if let Some(path) = &args.svg {
        std::fs::write(path, trace::svg(&rows)).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if json {
        print_json(&serde_json::to_value(&spans)?);
    } else {
        print!("{}", trace::waterfall(&rows, TRACE_BAR_WIDTH));
    }
    Ok(ExitCode::SUCCESS)
}
