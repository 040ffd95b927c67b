//! The legacy database, when one is configured (`LEGACY_DATABASE_URL`).

use std::sync::Arc;

use catalog_import::{import_all, shop_currency, Counts, Options};
use domain::ports::EventStore;
use domain::{ProductCatalog, Sku};
use legacy_sync::{migrations, DatabaseSource, LegacySync};

/// `legacy/seed.sql`: the demo shop's products.
const SEED_SQL: &str = include_str!("../../../legacy/seed.sql");

/// The products of `legacy/seed.sql` (slug, title, price in cents): the
/// embedded runner's catalog, which has no legacy database to import from.
/// `seed_rows_match_the_seed_sql` holds the two together.
pub const SEED_PRODUCTS: [(&str, &str, u64); 3] = [
    ("muskie-casting-rod", "Muskie casting rod", 24_900),
    ("tourney-casting-rod", "Tourney casting rod", 18_900),
    ("braided-line-30lb", "Braided line 30 lb", 1_899),
];

/// The demo's purchase limits, which the legacy shop has no column for:
/// one customer may hold at most two muskie rods.
pub fn demo_limit(sku: &Sku) -> Option<u32> {
    (sku.as_str() == "muskie-casting-rod").then_some(2)
}

/// Provisioning's catalog import: the seed rows into the legacy database
/// (slugs it has are left alone), then every `shop_product` into the
/// catalog through the import `orders catalog import` runs
/// (`catalog_import`), new items with the demo's limits. Returns what it
/// did.
pub async fn import_catalog(catalog: &dyn ProductCatalog) -> Result<Counts, Box<dyn std::error::Error>> {
    let Some(source) = DatabaseSource::from_env().await? else {
        tracing::info!("no legacy database (LEGACY_DATABASE_URL): the catalog is not imported");
        return Ok(Counts::default());
    };
    source.connect().await?.batch_execute(SEED_SQL).await?;
    let options = Options { new_item_limit: demo_limit, ..Options::new(shop_currency()?) };
    Ok(import_all(&source, catalog, options).await?)
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn seed_rows_match_the_seed_sql() {
        for (slug, title, price) in super::SEED_PRODUCTS {
            let row = super::SEED_SQL.lines().position(|line| line.contains(&format!("'{title}'"))).expect(title);
            let rest: String = super::SEED_SQL.lines().skip(row).take(4).collect();
            assert!(rest.contains(&format!("'{slug}'")) && rest.contains(&format!(", {price}, ")), "{slug}: {rest}");
        }
    }
}
