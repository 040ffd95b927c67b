//! Operator commands for the legacy sync, against the database named by
//! `LEGACY_DATABASE_URL` or `LEGACY_DB_SECRET_ARN`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use event_store::DynamoEventStore;
use legacy_sync::connection::describe;
use legacy_sync::migrations::create_legacy_tables_if_missing;
use legacy_sync::{DatabaseSource, RebuildOptions};

#[derive(Parser)]
#[command(
    name = "legacy-sync-admin",
    about = "Operator commands for the legacy PostgreSQL sync",
    long_about = "Operator commands for the legacy PostgreSQL sync.\n\n\
        The legacy database comes from LEGACY_DATABASE_URL (a postgres:// URL; sslmode and sslrootcert as in libpq) \
        or, in AWS, from the Secrets Manager secret LEGACY_DB_SECRET_ARN (RDS credentials JSON, verified TLS)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates or updates the sync's own schema (order_sync). Run once per deploy, before the sync
    /// handles events; the Lambda never migrates. Safe to run again.
    Migrate {
        /// Also create the legacy shop tables from legacy/schema.sql when they do not exist
        /// (a local stack's fresh database; in AWS the shop owns them).
        #[arg(long)]
        create_legacy_tables: bool,
    },
    /// Replays every order of the events table into empty shop_order / shop_orderitem tables with a
    /// parallel scan, printing progress. Interrupted, it resumes where it stopped when run again.
    Rebuild {
        /// The DynamoDB events table to replay.
        #[arg(long, env = "EVENTS_TABLE")]
        events_table: String,
        #[command(flatten)]
        options: RebuildOptions,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    match run(Cli::parse().command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("legacy-sync-admin: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    let source = DatabaseSource::from_env().await?.ok_or("set LEGACY_DATABASE_URL or LEGACY_DB_SECRET_ARN")?;
    match command {
        Command::Migrate { create_legacy_tables } => {
            let mut client = source.connect().await?;
            if create_legacy_tables && create_legacy_tables_if_missing(&client).await.map_err(|e| describe(&e))? {
                eprintln!("created the legacy shop tables from legacy/schema.sql");
            }
            let applied = legacy_sync::migrate(&mut client).await.map_err(|e| describe(&e))?;
            match applied.as_slice() {
                [] => eprintln!("order_sync schema is up to date"),
                versions => eprintln!("applied migrations {versions:?}"),
            }
        }
        Command::Rebuild { events_table, options } => {
            let aws = aws_config::load_from_env().await;
            let store = Arc::new(DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&aws), events_table));
            let summary = legacy_sync::rebuild(source, store.clone(), store, options, |p| {
                eprintln!(
                    "segment {}/{}: page {}, {} events{} | total {} events, {:.0} events/s",
                    p.segment + 1,
                    p.segments,
                    p.segment_pages,
                    p.segment_events,
                    if p.segment_done { ", done" } else { "" },
                    p.total_events,
                    p.total_events as f64 / p.elapsed.as_secs_f64().max(1e-3),
                );
            })
            .await?;
            if summary.already_finished {
                eprintln!("the last rebuild had finished already; --restart (with --truncate) rebuilds again");
            } else {
                eprintln!(
                    "rebuild {}: {} events in {:.1} s ({} in all)",
                    if summary.resumed { "resumed and finished" } else { "finished" },
                    summary.events,
                    summary.elapsed.as_secs_f64(),
                    summary.total_events,
                );
            }
        }
    }
    Ok(())
}
