//! The `Catalog` contract, held against both adapters (the memory one and
//! DynamoDB Local), and the per-instance cache over a counting catalog.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use catalog_store::{CachedCatalog, DynamoCatalog, MemoryCatalog, MAX_TTL};
use domain::{Catalog, CatalogError, CatalogItem, Currency, ProductCatalog, Sku, Title};

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn item(name: &str, price_cents: u64, max_per_customer: Option<u32>) -> CatalogItem {
    CatalogItem {
        sku: sku(name),
        title: Title::parse(&format!("The {name}")).unwrap(),
        price_cents,
        currency: Currency::parse("USD").unwrap(),
        active: true,
        max_per_customer,
    }
}

async fn dynamodb_catalog() -> DynamoCatalog {
    let config = testkit::dynamodb_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = testkit::unique_name("catalog");
    contract::tables::create_catalog_table(&client, &table).await.unwrap();
    DynamoCatalog::new(client, table)
}

async fn an_item_reads_back_as_put(catalog: Arc<dyn ProductCatalog>) {
    let rod = item("muskie-casting-rod", 24_900, Some(2));
    let lure = CatalogItem { active: false, ..item("lure-7", 450, None) };
    catalog.put(&rod).await.unwrap();
    catalog.put(&lure).await.unwrap();
    let found = catalog.items(&[sku("muskie-casting-rod"), sku("lure-7")]).await.unwrap();
    assert_eq!(found, HashMap::from([(sku("muskie-casting-rod"), rod), (sku("lure-7"), lure)]));
}

async fn unknown_skus_are_absent(catalog: Arc<dyn ProductCatalog>) {
    catalog.put(&item("reel", 9_900, None)).await.unwrap();
    let found = catalog.items(&[sku("reel"), sku("never-sold")]).await.unwrap();
    assert_eq!(found.keys().collect::<Vec<_>>(), [&sku("reel")]);
    assert!(catalog.items(&[]).await.unwrap().is_empty());
}

async fn put_replaces_the_whole_item(catalog: Arc<dyn ProductCatalog>) {
    catalog.put(&item("spinner", 1_000, Some(5))).await.unwrap();
    let repriced = item("spinner", 1_200, None);
    catalog.put(&repriced).await.unwrap();
    assert_eq!(catalog.items(&[sku("spinner")]).await.unwrap()[&sku("spinner")], repriced, "the limit is gone too");
}

async fn more_skus_than_one_request_takes(catalog: Arc<dyn ProductCatalog>) {
    let skus: Vec<Sku> = (0..150).map(|i| sku(&format!("hook-{i}"))).collect();
    for (i, sku) in skus.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        catalog.put(&item(sku.as_str(), 100 + i as u64, None)).await.unwrap();
    }
    let found = catalog.items(&skus).await.unwrap();
    assert_eq!(found.len(), 75, "every item put, and none of the others");
    assert_eq!(found[&sku("hook-148")].price_cents, 248);
}

async fn put_product_sets_the_shops_fields_and_keeps_the_merchandisers_limit(catalog: Arc<dyn ProductCatalog>) {
    catalog.put(&item("muskie-casting-rod", 24_900, Some(2))).await.unwrap();
    let withdrawn = CatalogItem {
        title: Title::parse("Muskie casting rod II").unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        active: false,
        ..item("muskie-casting-rod", 26_900, None)
    };
    catalog.put_product(&withdrawn).await.unwrap();
    let read = catalog.items(&[sku("muskie-casting-rod")]).await.unwrap().remove(&sku("muskie-casting-rod"));
    assert_eq!(read, Some(CatalogItem { max_per_customer: Some(2), ..withdrawn.clone() }));

    catalog.put_product(&item("muskie-casting-rod", 26_900, Some(9))).await.unwrap();
    let read = catalog.items(&[sku("muskie-casting-rod")]).await.unwrap().remove(&sku("muskie-casting-rod"));
    assert_eq!(read.map(|i| i.max_per_customer), Some(Some(2)), "an existing item keeps its own limit");

    catalog.put(&item("tourney-casting-rod", 18_900, None)).await.unwrap();
    catalog.put_product(&item("tourney-casting-rod", 18_900, Some(2))).await.unwrap();
    let read = catalog.items(&[sku("tourney-casting-rod")]).await.unwrap().remove(&sku("tourney-casting-rod"));
    assert_eq!(read.map(|i| i.max_per_customer), Some(None), "a limit the merchandiser removed stays removed");
}

async fn put_product_creates_a_new_item_as_given(catalog: Arc<dyn ProductCatalog>) {
    let limited = item("reel", 9_900, Some(3));
    let unlimited = CatalogItem { active: false, ..item("lure-7", 450, None) };
    catalog.put_product(&limited).await.unwrap();
    catalog.put_product(&unlimited).await.unwrap();
    let found = catalog.items(&[sku("reel"), sku("lure-7")]).await.unwrap();
    assert_eq!(found, HashMap::from([(sku("reel"), limited), (sku("lure-7"), unlimited)]));
}

testkit::against_both_adapters!(
    memory: std::sync::Arc::new(super::MemoryCatalog::new()),
    dynamodb: std::sync::Arc::new(super::dynamodb_catalog().await);
    an_item_reads_back_as_put,
    unknown_skus_are_absent,
    put_replaces_the_whole_item,
    more_skus_than_one_request_takes,
    put_product_sets_the_shops_fields_and_keeps_the_merchandisers_limit,
    put_product_creates_a_new_item_as_given,
);

#[tokio::test]
async fn dynamodb_a_stored_item_out_of_range_is_corrupt_not_priced() {
    let config = testkit::dynamodb_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = testkit::unique_name("catalog");
    contract::tables::create_catalog_table(&client, &table).await.unwrap();
    let catalog = DynamoCatalog::new(client.clone(), &table);
    let attribute = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&table)
        .item("sku", attribute("muskie-casting-rod"))
        .item("title", attribute("Muskie casting rod"))
        .item("priceCents", aws_sdk_dynamodb::types::AttributeValue::N("0".into()))
        .item("currency", attribute("USD"))
        .item("active", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    let read = catalog.items(&[sku("muskie-casting-rod")]).await;
    assert!(matches!(read, Err(CatalogError::Corrupt(_))), "{read:?}");
}

/// A catalog that counts the requests it answers.
#[derive(Default)]
struct Counting {
    inner: MemoryCatalog,
    reads: AtomicUsize,
}

#[async_trait]
impl Catalog for Counting {
    async fn items(&self, skus: &[Sku]) -> Result<HashMap<Sku, CatalogItem>, CatalogError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.items(skus).await
    }

    async fn put(&self, item: &CatalogItem) -> Result<(), CatalogError> {
        self.inner.put(item).await
    }
}

#[tokio::test]
async fn a_warm_cache_answers_without_a_request() {
    let counting = Arc::new(Counting::default());
    counting.put(&item("muskie-casting-rod", 24_900, Some(2))).await.unwrap();
    let cache = CachedCatalog::new(counting.clone(), Duration::from_secs(30));
    let asked = [sku("muskie-casting-rod"), sku("never-sold")];
    for _ in 0..100 {
        let found = cache.items(&asked).await.unwrap();
        assert_eq!(found.keys().collect::<Vec<_>>(), [&sku("muskie-casting-rod")]);
    }
    assert_eq!(counting.reads.load(Ordering::SeqCst), 1, "one read for both SKUs, the unknown one included");
    cache.items(&[sku("muskie-casting-rod"), sku("reel")]).await.unwrap();
    assert_eq!(counting.reads.load(Ordering::SeqCst), 2, "only what is not cached is read");
}

#[tokio::test]
async fn a_new_price_is_seen_once_the_ttl_has_passed() {
    let counting = Arc::new(Counting::default());
    counting.put(&item("muskie-casting-rod", 24_900, None)).await.unwrap();
    let cache = CachedCatalog::new(counting.clone(), Duration::from_millis(50));
    let price = |found: HashMap<Sku, CatalogItem>| found[&sku("muskie-casting-rod")].price_cents;
    assert_eq!(price(cache.items(&[sku("muskie-casting-rod")]).await.unwrap()), 24_900);
    counting.put(&item("muskie-casting-rod", 26_900, None)).await.unwrap();
    assert_eq!(price(cache.items(&[sku("muskie-casting-rod")]).await.unwrap()), 24_900, "within the TTL");
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert_eq!(price(cache.items(&[sku("muskie-casting-rod")]).await.unwrap()), 26_900, "after the TTL");
}

#[tokio::test]
async fn a_put_through_the_cache_is_seen_at_once_and_the_ttl_is_at_most_a_minute() {
    let counting = Arc::new(Counting::default());
    let cache = CachedCatalog::new(counting.clone(), Duration::from_secs(3600));
    assert_eq!(cache.ttl(), MAX_TTL);
    assert!(cache.items(&[sku("reel")]).await.unwrap().is_empty());
    cache.put(&item("reel", 9_900, None)).await.unwrap();
    assert_eq!(cache.items(&[sku("reel")]).await.unwrap()[&sku("reel")].price_cents, 9_900);
    assert_eq!(counting.reads.load(Ordering::SeqCst), 1);
}
