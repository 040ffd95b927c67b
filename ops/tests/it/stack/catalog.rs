//! `orders catalog import` against a legacy database and a catalog table of
//! its own: the differences a dry run prints, counts, and resumption from
//! the checkpoint file.

use catalog_store::DynamoCatalog;
use domain::{Catalog, Sku};
use legacy_sync::migrations::create_legacy_tables_if_missing;

use super::cli::{legacy_database, Run, Stack};

/// A legacy database with `n` products `product-001`… (price `1000 + i`),
/// and a fresh catalog table; `orders catalog import` on the two.
struct Shop {
    stack: Stack,
    url: String,
    db: tokio_postgres::Client,
    table: String,
}

impl Shop {
    async fn with_products(n: i32) -> Self {
        let stack = Stack::connect().await;
        let (url, db) = legacy_database().await;
        create_legacy_tables_if_missing(&db).await.unwrap();
        db.execute(
            "INSERT INTO shop_product (id, title, description, slug, in_stock, price)
             SELECT gen_random_uuid(), 'Product ' || i, '', 'product-' || lpad(i::text, 3, '0'), true, 1000 + i
             FROM generate_series(1, $1) AS i",
            &[&n],
        )
        .await
        .unwrap();
        let table = testkit::unique_name("ops-catalog");
        contract::tables::create_catalog_table(&stack.dynamodb, &table).await.unwrap();
        Shop { stack, url, db, table }
    }

    fn import(&self, args: &[&str]) -> Run {
        let mut all = vec!["--catalog-table", self.table.as_str(), "catalog", "import"];
        all.extend(args);
        self.stack.orders_with(&all, &[("LEGACY_DATABASE_URL", self.url.as_str())])
    }

    async fn item_count(&self, n: usize) -> usize {
        let catalog = DynamoCatalog::new(self.stack.dynamodb.clone(), &self.table);
        let skus: Vec<Sku> = (1..=n).map(|i| Sku::parse(&format!("product-{i:03}")).unwrap()).collect();
        catalog.items(&skus).await.unwrap().len()
    }

    fn checkpoints(&self) -> usize {
        std::fs::read_dir(&self.stack.state_dir)
            .map(|dir| {
                dir.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("catalog-import")).count()
            })
            .unwrap_or(0)
    }
}

#[tokio::test]
async fn catalog_import_dry_run_prints_the_differences_and_a_second_run_writes_nothing() {
    let shop = Shop::with_products(3).await;
    let dry = shop.import(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(
        dry.stdout.lines().collect::<Vec<_>>(),
        [
            r#"+ product-001  title "Product 1", priceCents 1001, currency "USD", active true"#,
            r#"+ product-002  title "Product 2", priceCents 1002, currency "USD", active true"#,
            r#"+ product-003  title "Product 3", priceCents 1003, currency "USD", active true"#,
        ]
    );
    assert!(dry.stderr.contains("dry run (nothing written): 3 products"), "{}", dry.stderr);
    assert!(dry.stderr.contains("3 created") && dry.stderr.contains("3 to write"), "{}", dry.stderr);
    assert_eq!(shop.item_count(3).await, 0, "a dry run writes nothing");
    assert_eq!(shop.checkpoints(), 0, "nor a checkpoint");

    let first = shop.import(&["--json"]).json();
    assert_eq!((first["created"].as_u64(), first["written"].as_u64()), (Some(3), Some(3)), "{first}");
    assert_eq!(shop.item_count(3).await, 3);
    let again = shop.import(&["--json"]).json();
    assert_eq!((again["unchanged"].as_u64(), again["written"].as_u64()), (Some(3), Some(0)), "{again}");
    assert_eq!(again["differences"].as_array().map(Vec::len), Some(0));

    shop.db
        .batch_execute("UPDATE shop_product SET price = 1500, deleted_at = now() WHERE slug = 'product-002'")
        .await
        .unwrap();
    let dry = shop.import(&["--dry-run", "--json"]).json();
    assert_eq!(dry["dryRun"], true);
    assert_eq!((dry["deactivated"].as_u64(), dry["written"].as_u64()), (Some(1), Some(1)), "{dry}");
    assert_eq!(
        dry["differences"],
        serde_json::json!([{ "sku": "product-002", "change": "deactivated", "fields": [
            { "field": "priceCents", "before": 1002, "after": 1500 },
            { "field": "active", "before": true, "after": false },
        ]}])
    );
    let text = shop.import(&["--dry-run"]);
    assert_eq!(text.stdout.trim_end(), "- product-002  priceCents 1002 → 1500, active true → false");
}

#[tokio::test]
async fn catalog_import_resumes_from_its_checkpoint_with_progress_lines_off_a_terminal() {
    let shop = Shop::with_products(50).await;
    let stopped = shop.import(&["--page-size", "10", "--stop-after-pages", "2"]);
    assert_eq!(stopped.code, 3, "interrupted: {}", stopped.stderr);
    assert!(
        stopped.stderr.contains("interrupted (run the same command again to resume): 20 products"),
        "{}",
        stopped.stderr
    );
    assert!(
        stopped.stderr.contains("catalog import: 20/50 products, 20 to write, up to \"product-020\""),
        "{}",
        stopped.stderr
    );
    assert_eq!(shop.item_count(50).await, 20);
    assert_eq!(shop.checkpoints(), 1);

    let resumed = shop.import(&["--page-size", "10"]);
    assert_eq!(resumed.code, 0, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("resumed and finished: 50 products: 0 unchanged, 50 created"),
        "{}",
        resumed.stderr
    );
    assert_eq!(resumed.stdout.lines().count(), 30, "this run's differences: the products after the checkpoint");
    assert!(resumed.stdout.starts_with("+ product-021 "), "{}", resumed.stdout);
    assert_eq!(shop.item_count(50).await, 50);
    assert_eq!(shop.checkpoints(), 0, "a finished import forgets its checkpoint");

    let whole = shop.import(&["--json"]).json();
    assert_eq!((whole["status"].as_str(), whole["unchanged"].as_u64()), (Some("finished"), Some(50)), "{whole}");

    let restarted = shop.import(&["--page-size", "10", "--stop-after-pages", "1"]);
    assert_eq!(restarted.code, 3);
    let fresh = shop.import(&["--restart", "--json"]).json();
    assert_eq!((fresh["resumed"].as_bool(), fresh["products"].as_u64()), (Some(false), Some(50)), "{fresh}");
}
