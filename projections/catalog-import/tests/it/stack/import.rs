//! The import from a legacy database of its own into a catalog table of
//! its own: counts, idempotence, the merchandiser's limits, resumption and
//! dry runs.

use catalog_import::{Change, Checkpoint, Counts, Import, Options};
use domain::{Catalog, CatalogItem, Currency, ProductCatalog, Title};

use crate::support::{catalog, items, product_skus, sku, LegacyDb};

fn options() -> Options {
    Options::new(Currency::parse("USD").unwrap())
}

#[tokio::test]
async fn a_thousand_products_are_imported_once_and_a_second_run_writes_nothing() {
    let db = LegacyDb::create().await;
    db.add_products(1_000, 100).await;
    // Rows that are no catalog item: skipped, not imported, not fatal.
    db.execute(
        "INSERT INTO shop_product (id, title, description, slug, in_stock, price) VALUES
           (gen_random_uuid(), 'A rod', '', 'Rod With Spaces', true, 100),
           (gen_random_uuid(), 'A free sample', '', 'free-sample', true, 0)",
    )
    .await;
    let catalog = catalog().await;
    // The merchandiser limited product-0001 (and set a price the shop does not have).
    let limited = CatalogItem {
        sku: sku("product-0001"),
        title: Title::parse("Product 1").unwrap(),
        price_cents: 1,
        currency: Currency::parse("USD").unwrap(),
        active: true,
        max_per_customer: Some(2),
    };
    catalog.put(&limited).await.unwrap();

    let client = db.client().await;
    let first = Import::new(&client, &catalog, options()).run().await.unwrap();
    assert_eq!(
        first,
        Counts { products: 1_002, unchanged: 0, created: 999, updated: 1, deactivated: 0, skipped: 2 },
        "every valid product written, the limited one updated"
    );
    let skus = product_skus(1_000);
    let imported = items(&catalog, &skus).await;
    assert_eq!(imported.len(), 1_000);
    for (i, sku) in skus.iter().enumerate().map(|(i, sku)| (i + 1, sku)) {
        let item = &imported[sku];
        assert_eq!(item.title.as_str(), format!("Product {i}"));
        assert_eq!((item.price_cents, item.currency.as_str()), (1_000 + i as u64, "USD"), "{sku}");
        assert_eq!(item.active, i % 100 != 0, "{sku}: withdrawn products are inactive");
    }
    assert_eq!(imported[&sku("product-0001")].max_per_customer, Some(2), "the merchandiser's limit is kept");
    assert!(items(&catalog, &[sku("free-sample")]).await.is_empty());

    let second = Import::new(&client, &catalog, options()).run().await.unwrap();
    assert_eq!(second.written(), 0, "{second:?}");
    assert_eq!((second.products, second.unchanged, second.skipped), (1_002, 1_000, 2));
    assert_eq!(items(&catalog, &skus).await, imported, "nothing changed");

    db.execute("UPDATE shop_product SET deleted_at = now() WHERE slug = 'product-0001'").await;
    let withdrawn = Import::new(&client, &catalog, options()).run().await.unwrap();
    assert_eq!((withdrawn.deactivated, withdrawn.written()), (1, 1));
    let item = items(&catalog, &[sku("product-0001")]).await.remove(&sku("product-0001")).unwrap();
    assert_eq!((item.active, item.max_per_customer), (false, Some(2)));
}

#[tokio::test]
async fn an_import_resumed_from_its_checkpoint_continues_after_the_last_page_done() {
    let db = LegacyDb::create().await;
    db.add_products(250, 1_000).await;
    let catalog = catalog().await;
    let client = db.client().await;
    let paged = Options { page_size: 40, ..options() };
    let mut interrupted = Import::new(&client, &catalog, paged.clone());
    for _ in 0..3 {
        assert_eq!(interrupted.next_page().await.unwrap().expect("a page").products, 40);
    }
    let checkpoint: Checkpoint =
        serde_json::from_str(&serde_json::to_string(interrupted.checkpoint()).unwrap()).expect("it round-trips");
    assert_eq!(checkpoint.after.as_deref(), Some("product-0120"));
    assert_eq!(checkpoint.counts.created, 120);
    assert_eq!(items(&catalog, &product_skus(250)).await.len(), 120, "the pages done are written");

    // A product changed before the checkpoint is the next run's: the resumed one reads on from it.
    db.execute("UPDATE shop_product SET price = 1 WHERE slug = 'product-0001'").await;
    let mut resumed = Import::new(&client, &catalog, paged).resume(checkpoint);
    let mut read = 0;
    while let Some(page) = resumed.next_page().await.unwrap() {
        read += page.products;
    }
    assert_eq!(read, 130, "only the products after the checkpoint are read");
    let counts = resumed.checkpoint().counts;
    assert_eq!(counts, Counts { products: 250, created: 250, ..Counts::default() }, "counts over the whole import");
    let imported = items(&catalog, &product_skus(250)).await;
    assert_eq!(imported.len(), 250);
    assert_eq!(imported[&sku("product-0001")].price_cents, 1_001);
}

#[tokio::test]
async fn a_dry_run_reports_the_differences_and_writes_nothing() {
    let db = LegacyDb::create().await;
    db.add_products(5, 5).await;
    let catalog = catalog().await;
    let client = db.client().await;
    Import::new(&client, &catalog, options()).run().await.unwrap();
    db.execute(
        "UPDATE shop_product SET price = 2500, title = 'Product one' WHERE slug = 'product-0001';
         UPDATE shop_product SET deleted_at = now() WHERE slug = 'product-0002';
         INSERT INTO shop_product (id, title, description, slug, in_stock, price)
           VALUES (gen_random_uuid(), 'Reel', '', 'reel', true, 1999);",
    )
    .await;
    let before = items(&catalog, &[product_skus(5), vec![sku("reel")]].concat()).await;

    let mut dry = Import::new(&client, &catalog, Options { dry_run: true, ..options() });
    let page = dry.next_page().await.unwrap().expect("one page");
    let shown: Vec<String> = page.differences.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            r#"~ product-0001  title "Product 1" → "Product one", priceCents 1001 → 2500"#,
            "- product-0002  active true → false",
            r#"+ reel  title "Reel", priceCents 1999, currency "USD", active true"#,
        ]
    );
    let changes: Vec<Change> = page.differences.iter().map(|d| d.change).collect();
    assert_eq!(changes, [Change::Updated, Change::Deactivated, Change::Created]);
    assert!(dry.next_page().await.unwrap().is_none());
    let counts = dry.checkpoint().counts;
    assert_eq!((counts.unchanged, counts.updated, counts.deactivated, counts.created), (3, 1, 1, 1));
    assert_eq!(items(&catalog, &[product_skus(5), vec![sku("reel")]].concat()).await, before, "nothing written");
}

#[tokio::test]
async fn a_product_the_catalog_lacks_gets_the_limit_for_new_items_and_an_existing_one_keeps_its_own() {
    let db = LegacyDb::create().await;
    db.add_products(2, 1_000).await;
    let catalog = catalog().await;
    let client = db.client().await;
    catalog
        .put_product(&CatalogItem {
            sku: sku("product-0002"),
            title: Title::parse("Product 2").unwrap(),
            price_cents: 5,
            currency: Currency::parse("USD").unwrap(),
            active: true,
            max_per_customer: None,
        })
        .await
        .unwrap();
    let limited = Options { new_item_limit: |_| Some(3), ..options() };
    let counts = Import::new(&client, &catalog, limited).run().await.unwrap();
    assert_eq!((counts.created, counts.updated), (1, 1));
    let imported = items(&catalog, &product_skus(2)).await;
    assert_eq!(imported[&sku("product-0001")].max_per_customer, Some(3));
    assert_eq!(imported[&sku("product-0002")].max_per_customer, None);
}
