//! The legacy database, when one is configured (`LEGACY_DATABASE_URL`).

use std::sync::Arc;

use domain::ports::EventStore;
use domain::{Catalog, CatalogItem, Currency, Sku, Title};
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
pub fn demo_limit(sku: &str) -> Option<u32> {
    (sku == "muskie-casting-rod").then_some(2)
}

/// The legacy shop's currency (`SHOP_CURRENCY`, default USD).
fn shop_currency() -> Result<Currency, String> {
    let code = std::env::var("SHOP_CURRENCY").unwrap_or_else(|_| "USD".to_owned());
    Currency::parse(&code).map_err(|e| format!("SHOP_CURRENCY={code}: {e}"))
}

/// Provisioning's one-shot catalog import: the seed rows into the legacy
/// database (slugs it has are left alone), then every `shop_product` into
/// the catalog: `slug` → SKU, `title`, `price`, withdrawn (`deleted_at`)
/// → inactive. A limit the catalog already has is kept (the legacy shop
/// has none); a new item gets the demo's. Rows that are no valid catalog
/// item are skipped with a warning.
pub async fn import_catalog(catalog: &dyn Catalog) -> Result<usize, Box<dyn std::error::Error>> {
    let Some(source) = DatabaseSource::from_env().await? else {
        tracing::info!("no legacy database (LEGACY_DATABASE_URL): the catalog is not imported");
        return Ok(0);
    };
    let currency = shop_currency()?;
    let client = source.connect().await?;
    client.batch_execute(SEED_SQL).await?;
    let rows =
        client.query("SELECT slug, title, price, deleted_at IS NULL FROM shop_product ORDER BY slug", &[]).await?;
    let mut imported = 0;
    for row in rows {
        let (slug, title, price, active): (String, String, i32, bool) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        let parsed = (Sku::parse(&slug), Title::parse(&title), domain::catalog::price_cents(i64::from(price)));
        let (Ok(sku), Ok(title), Ok(price_cents)) = parsed else {
            tracing::warn!(%slug, "shop_product row is no valid catalog item: skipped");
            continue;
        };
        let kept = catalog.items(std::slice::from_ref(&sku)).await?.remove(&sku).map(|item| item.max_per_customer);
        let max_per_customer = kept.unwrap_or_else(|| demo_limit(sku.as_str()));
        let item = CatalogItem { sku, title, price_cents, currency: currency.clone(), active, max_per_customer };
        catalog.put(&item).await?;
        imported += 1;
    }
    Ok(imported)
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
