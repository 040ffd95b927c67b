//! The catalog at the API: `GET`/`PUT /catalog/{sku}`, and orders priced
//! from it (DESIGN.md "Catalog" and `POST /orders`' refusals).

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use api::App;
use async_trait::async_trait;
use commands::OrderService;
use common::{memory_app, payload, send, test_catalog, test_services, to_request, Answer};
use domain::ports::EventScan;
use domain::{Catalog, CatalogError, CatalogItem, Sku};
use event_store::MemoryEventStore;
use inventory_store::{InventoryService, MemoryInventoryStore};
use serde_json::Value;

const JSON: (&str, &str) = ("content-type", "application/json");

async fn post_order(app: &App, key: Option<&str>, body: &str) -> Answer {
    let mut headers = vec![JSON];
    headers.extend(key.map(|key| ("idempotency-key", key)));
    send(app, to_request(&payload("POST", "/orders", &headers, Some(body)))).await
}

fn muskie_order(customer: &str, price: Option<u64>) -> String {
    let price = price.map(|p| format!(r#","unitPriceCents":{p}"#)).unwrap_or_default();
    format!(r#"{{"customerId":"{customer}","lines":[{{"sku":"muskie-casting-rod","quantity":1{price}}}]}}"#)
}

async fn set_price(app: &App, sku: &str, price_cents: u64) -> Answer {
    let body = format!(r#"{{"title":"Muskie casting rod","priceCents":{price_cents},"currency":"USD","active":true}}"#);
    send(app, to_request(&payload("PUT", &format!("/catalog/{sku}"), &[JSON], Some(&body)))).await
}

/// The request of a caller with no token at all.
fn anonymous(method: &str, path: &str) -> lambda_http::Request {
    let mut request = payload(method, path, &[], None);
    request["requestContext"].as_object_mut().unwrap().remove("authorizer");
    to_request(&request)
}

#[tokio::test]
async fn the_one_cent_muskie_rod_is_refused_and_an_order_without_a_price_pays_the_catalogs() {
    let (app, store) = memory_app();
    let refused = post_order(&app, None, &muskie_order("customer-1842", Some(1))).await;
    assert_eq!(refused.status, 409, "{}", refused.json);
    assert_eq!(refused.json["type"], "/problems/price-changed");
    assert_eq!(refused.json["errors"][0]["field"], "lines[0].unitPriceCents");
    assert_eq!(refused.json["errors"][0]["currentPriceCents"], 24_900);
    assert!(refused.json["detail"].as_str().unwrap().contains("24900"), "{}", refused.json);
    assert!(store.scan_page(0, 1, None).await.unwrap().events.is_empty(), "nothing stored");

    let placed = post_order(&app, None, &muskie_order("customer-1842", None)).await;
    assert_eq!(placed.status, 201, "{}", placed.json);
    assert_eq!(placed.json["lines"][0]["unitPriceCents"], 24_900);
    assert_eq!(placed.json["totalCents"], 24_900);
    assert_eq!(placed.json["currency"], "USD", "the catalog's currency when the caller names none");
    let shown = post_order(&app, None, &muskie_order("customer-1842", Some(24_900))).await;
    assert_eq!(shown.status, 201, "the price the catalog has is accepted: {}", shown.json);
}

#[tokio::test]
async fn a_retry_answers_the_order_as_placed_even_after_the_price_changed() {
    let store = Arc::new(MemoryEventStore::new());
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    let app = App::with_catalog_cache(OrderService::new(store), stock, test_catalog(), Duration::ZERO)
        .with_services(test_services());
    let first = post_order(&app, Some("k-1"), &muskie_order("customer-1842", None)).await;
    assert_eq!(first.status, 201, "{}", first.json);
    assert_eq!(set_price(&app, "muskie-casting-rod", 26_900).await.status, 200);

    for body in [muskie_order("customer-1842", None), muskie_order("customer-1842", Some(24_900))] {
        let retry = post_order(&app, Some("k-1"), &body).await;
        assert_eq!(retry.status, 201, "{body}: {}", retry.json);
        assert_eq!(retry.json["orderId"], first.json["orderId"]);
        assert_eq!(retry.json["lines"][0]["unitPriceCents"], 24_900, "as placed, not as priced now");
    }
    let reused = post_order(&app, Some("k-1"), &muskie_order("customer-1842", Some(26_900))).await;
    assert_eq!(reused.status, 422, "the same key with another body: {}", reused.json);
    let stale = post_order(&app, Some("k-2"), &muskie_order("customer-1842", Some(24_900))).await;
    assert_eq!(stale.status, 409, "{}", stale.json);
    assert_eq!(stale.json["errors"][0]["currentPriceCents"], 26_900);
    let repriced = post_order(&app, Some("k-3"), &muskie_order("customer-1842", None)).await;
    assert_eq!(repriced.json["lines"][0]["unitPriceCents"], 26_900);
}

#[tokio::test]
async fn a_new_price_reaches_orders_once_the_instances_cache_expires() {
    let catalog = test_catalog();
    let store = Arc::new(MemoryEventStore::new());
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    let ttl = Duration::from_millis(100);
    let app =
        App::with_catalog_cache(OrderService::new(store), stock, catalog.clone(), ttl).with_services(test_services());
    let price = |answer: Answer| answer.json["lines"][0]["unitPriceCents"].clone();
    assert_eq!(price(post_order(&app, None, &muskie_order("c-1", None)).await), 24_900);
    let mut repriced = catalog.items(&[Sku::parse("muskie-casting-rod").unwrap()]).await.unwrap();
    let mut item = repriced.remove(&Sku::parse("muskie-casting-rod").unwrap()).unwrap();
    item.price_cents = 21_900;
    catalog.put(&item).await.unwrap(); // by another instance (or the import)
    assert_eq!(price(post_order(&app, None, &muskie_order("c-2", None)).await), 24_900, "within the TTL");
    tokio::time::sleep(ttl).await;
    assert_eq!(price(post_order(&app, None, &muskie_order("c-3", None)).await), 21_900, "after the TTL");
}

/// A catalog that counts the reads it answers.
struct Counting {
    inner: Arc<dyn Catalog>,
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
async fn a_warm_instance_prices_orders_without_reading_the_catalog() {
    let counting = Arc::new(Counting { inner: test_catalog(), reads: AtomicUsize::new(0) });
    let store = Arc::new(MemoryEventStore::new());
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    let app = App::new(OrderService::new(store), stock, counting.clone()).with_services(test_services());
    for customer in 0..50 {
        let placed = post_order(&app, None, &muskie_order(&format!("customer-{customer}"), None)).await;
        assert_eq!(placed.status, 201, "{}", placed.json);
    }
    let read = send(&app, anonymous("GET", "/catalog/muskie-casting-rod")).await;
    assert_eq!(read.status, 200);
    assert_eq!(counting.reads.load(Ordering::SeqCst), 1, "one read for 50 orders and a GET");
}

#[tokio::test]
async fn anyone_reads_an_item_and_may_cache_it_for_30_seconds() {
    let (app, _) = memory_app();
    let read = send(&app, anonymous("GET", "/catalog/muskie-casting-rod")).await;
    assert_eq!(read.status, 200, "{}", read.json);
    assert_eq!(read.headers["cache-control"], "public, max-age=30");
    let expected: Value = serde_json::json!({
        "sku": "muskie-casting-rod", "title": "The muskie-casting-rod", "priceCents": 24900,
        "currency": "USD", "active": true, "maxPerCustomer": 2,
    });
    assert_eq!(read.json, expected);
    let unknown = send(&app, anonymous("GET", "/catalog/never-sold")).await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.headers["content-type"], "application/problem+json");
}

#[tokio::test]
async fn the_merchandiser_sets_an_item_and_the_next_order_is_priced_by_it() {
    let (app, _) = memory_app();
    let body = r#"{"title":"Spinning reel 3000","priceCents":12900,"currency":"USD","active":true,"maxPerCustomer":1}"#;
    let set = send(&app, to_request(&payload("PUT", "/catalog/spinning-reel", &[JSON], Some(body)))).await;
    assert_eq!(set.status, 200, "{}", set.json);
    assert_eq!(set.json["maxPerCustomer"], 1);
    let read = send(&app, anonymous("GET", "/catalog/spinning-reel")).await;
    assert_eq!(read.json, set.json);
    let order = r#"{"customerId":"c-1","lines":[{"sku":"spinning-reel","quantity":1}]}"#;
    let placed = post_order(&app, None, order).await;
    assert_eq!((placed.status, placed.json["totalCents"].clone()), (201, 12_900.into()));
    let two = r#"{"customerId":"c-1","lines":[{"sku":"spinning-reel","quantity":2}]}"#;
    let refused = post_order(&app, None, two).await;
    assert_eq!((refused.status, refused.json["type"].clone()), (422, "/problems/limit-exceeded".into()));

    let withdrawn = body.replace(r#""active":true"#, r#""active":false"#);
    assert_eq!(
        send(&app, to_request(&payload("PUT", "/catalog/spinning-reel", &[JSON], Some(&withdrawn)))).await.status,
        200
    );
    let refused = post_order(&app, None, order).await;
    assert_eq!((refused.status, refused.json["type"].clone()), (422, "/problems/unknown-sku".into()));
    let read = send(&app, anonymous("GET", "/catalog/spinning-reel")).await;
    assert_eq!((read.status, read.json["active"].clone()), (200, false.into()), "a withdrawn item still reads");
}
