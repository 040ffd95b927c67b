//! The legacy database, when one is configured (`LEGACY_DATABASE_URL`).

use std::sync::Arc;

use domain::ports::EventStore;
use legacy_sync::{migrations, DatabaseSource, LegacySync};

/// The legacy sync, with its database made ready: locally the runner
/// creates the legacy tables if they are missing (an empty shop) and runs
/// the sync's own migrations, which in AWS is `orders legacy migrate`.
pub async fn sync(events: Arc<dyn EventStore>) -> Result<Option<LegacySync>, Box<dyn std::error::Error>> {
    let Some(source) = DatabaseSource::from_env().await? else {
        tracing::info!("legacy sync off: set LEGACY_DATABASE_URL to sync into PostgreSQL");
        return Ok(None);
    };
    let mut client = source.connect().await?;
    if migrations::create_legacy_tables_if_missing(&client).await? {
        tracing::info!("created the legacy shop tables (legacy/schema.sql) in an empty database");
    }
    let applied = migrations::migrate(&mut client).await?;
    tracing::info!(?applied, "legacy sync migrations up to date");
    Ok(Some(LegacySync::new(source, events)))
}
