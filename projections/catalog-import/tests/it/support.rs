//! A legacy shop database of its own per test on the local PostgreSQL
//! server, filled with products, and a catalog table of its own on DynamoDB
//! Local.

use std::collections::HashMap;

use catalog_store::DynamoCatalog;
use domain::{Catalog, CatalogItem, Sku};
use legacy_sync::migrations::create_legacy_tables_if_missing;
use legacy_sync::{connect, ConnectionSettings};
use tokio_postgres::Client;

/// A database with the legacy shop's tables (`legacy/schema.sql`), dropped
/// when the value is (even when the test panics).
pub struct LegacyDb {
    name: String,
    settings: ConnectionSettings,
    admin: ConnectionSettings,
}

impl LegacyDb {
    pub async fn create() -> Self {
        let url = std::env::var(contract::config::LEGACY_DATABASE_URL).expect(
            "LEGACY_DATABASE_URL is not set: this test needs the local stack's PostgreSQL (`scripts/local-stack env`)",
        );
        let admin = ConnectionSettings::from_url(&url).expect("LEGACY_DATABASE_URL is a postgres:// URL");
        let name = format!("catalog_import_{}", uuid::Uuid::new_v4().simple());
        let server = connect(&admin).await.unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"));
        server.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        let db = LegacyDb { settings: admin.with_dbname(&name), admin, name };
        assert!(create_legacy_tables_if_missing(&db.client().await).await.expect("legacy/schema.sql loads"));
        db
    }

    pub async fn client(&self) -> Client {
        connect(&self.settings).await.expect("connect to the test database")
    }

    /// Products `product-0001` … `product-{n}`: title `Product {i}`, price
    /// `1000 + i`, every `withdrawn_every`-th one withdrawn.
    pub async fn add_products(&self, n: i32, withdrawn_every: i32) {
        self.client()
            .await
            .execute(
                "INSERT INTO shop_product (id, title, description, slug, in_stock, price, deleted_at)
                 SELECT gen_random_uuid(), 'Product ' || i, '', 'product-' || lpad(i::text, 4, '0'), true, 1000 + i,
                        CASE WHEN i % $2 = 0 THEN now() END
                 FROM generate_series(1, $1) AS i",
                &[&n, &withdrawn_every],
            )
            .await
            .expect("insert products");
    }

    pub async fn execute(&self, sql: &str) {
        self.client().await.batch_execute(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

impl Drop for LegacyDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async move {
                connect(&admin)
                    .await
                    .ok()?
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// A fresh catalog table.
pub async fn catalog() -> DynamoCatalog {
    let config = testkit::dynamodb_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = testkit::unique_name("catalog-import");
    contract::tables::create_catalog_table(&client, &table).await.unwrap();
    DynamoCatalog::new(client, table)
}

pub fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

/// `product-0001` … `product-{n}`.
pub fn product_skus(n: usize) -> Vec<Sku> {
    (1..=n).map(|i| sku(&format!("product-{i:04}"))).collect()
}

/// The items of `skus` the catalog has.
pub async fn items(catalog: &dyn Catalog, skus: &[Sku]) -> HashMap<Sku, CatalogItem> {
    catalog.items(skus).await.unwrap()
}
