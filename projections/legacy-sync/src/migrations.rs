//! The sync's own schema, `order_sync`, brought up to date by
//! `orders legacy migrate` (never by the Lambda: a deploy migrates once,
//! not every cold start of every instance).

use tokio_postgres::Client;

/// The legacy shop's tables exactly as committed in `legacy/schema.sql`.
/// In AWS the shop owns them; locally and in tests they are created from this.
pub const LEGACY_SCHEMA: &str = include_str!("../../../legacy/schema.sql");

/// In order; a migration, once released, never changes.
const MIGRATIONS: &[Migration] =
    &[Migration { version: 1, name: "order_sync bookkeeping", sql: include_str!("../migrations/0001_order_sync.sql") }];

struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Any constant works; it only has to be the same for every migrator, so
/// two concurrent `migrate` runs take turns.
const MIGRATION_LOCK: i64 = 0x6f72_6465_725f_7379;

/// Applies the migrations not yet applied, all in one transaction, and
/// returns their versions.
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS order_sync;
         CREATE TABLE IF NOT EXISTS order_sync.schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .await?;
    let done: Vec<i32> =
        tx.query("SELECT version FROM order_sync.schema_migrations", &[]).await?.iter().map(|row| row.get(0)).collect();
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO order_sync.schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        tracing::info!(version = migration.version, name = migration.name, "applied migration");
        applied.push(migration.version);
    }
    tx.commit().await?;
    Ok(applied)
}

/// Creates the legacy shop's tables when `shop_order` does not exist yet
/// (a local stack's fresh database). Returns whether it created them.
pub async fn create_legacy_tables_if_missing(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let exists: bool = client.query_one("SELECT to_regclass('public.shop_order') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        client.batch_execute(LEGACY_SCHEMA).await?;
        tracing::info!("created the legacy shop tables from legacy/schema.sql");
    }
    Ok(!exists)
}
