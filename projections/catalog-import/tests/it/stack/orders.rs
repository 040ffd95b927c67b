//! What the import means for orders, through the in-process API (the
//! `api` crate's router, on the imported catalog table): a withdrawn
//! product cannot be ordered, and a new legacy price reaches new orders
//! within one import plus the API's catalog cache TTL.

use std::sync::Arc;
use std::time::Duration;

use api::App;
use catalog_import::{Import, Options};
use commands::OrderService;
use domain::access::ServiceRule;
use domain::Currency;
use event_store::MemoryEventStore;
use inventory_store::{InventoryService, MemoryInventoryStore};
use serde_json::Value;
use tower::ServiceExt;

use crate::support::{catalog, LegacyDb};

/// The API over `catalog`, keeping items `ttl`; the `events/` payloads'
/// checkout backend is a service.
fn app(catalog: catalog_store::DynamoCatalog, ttl: Duration) -> App {
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    let orders = OrderService::new(Arc::new(MemoryEventStore::new()));
    App::with_catalog_cache(orders, stock, Arc::new(catalog), ttl)
        .with_services(ServiceRule::new(["checkout-backend"], ""))
}

/// `events/api-place-order.json` (the checkout backend's POST /orders) for
/// one unit of `sku` at the catalog's price; the status and the body.
async fn place_order(app: &App, sku: &str) -> (u16, Value) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/api-place-order.json");
    let mut payload: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    payload["headers"].as_object_mut().unwrap().remove("idempotency-key");
    payload["body"] = serde_json::json!({ "customerId": "customer-1842", "lines": [{ "sku": sku, "quantity": 1 }] })
        .to_string()
        .into();
    let request = lambda_http::request::from_str(&payload.to_string()).expect("an API Gateway v2 payload");
    let response = api::router(app.clone()).oneshot(request).await.expect("the router never fails");
    let status = response.status().as_u16();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&body).unwrap())
}

fn options() -> Options {
    Options::new(Currency::parse("USD").unwrap())
}

#[tokio::test]
async fn a_withdrawn_products_sku_is_refused_as_unknown_sku() {
    let db = LegacyDb::create().await;
    db.add_products(1_000, 100).await;
    let catalog = catalog().await;
    Import::new(&db.client().await, &catalog, options()).run().await.unwrap();
    let app = app(catalog, Duration::from_secs(30));

    let (status, refused) = place_order(&app, "product-0100").await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["type"], "/problems/unknown-sku");
    assert_eq!(refused["errors"][0]["field"], "lines[0].sku");
    let (status, placed) = place_order(&app, "product-0099").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["lines"][0]["unitPriceCents"], 1_099);
}

#[tokio::test]
async fn a_legacy_price_change_reaches_new_orders_within_one_import_and_the_cache_ttl() {
    let ttl = Duration::from_millis(500);
    let db = LegacyDb::create().await;
    db.add_products(3, 1_000).await;
    let catalog = catalog().await;
    let client = db.client().await;
    Import::new(&client, &catalog, options()).run().await.unwrap();
    let app = app(catalog.clone(), ttl);
    assert_eq!(place_order(&app, "product-0002").await.1["totalCents"], 1_002);

    db.execute("UPDATE shop_product SET price = 1500 WHERE slug = 'product-0002'").await;
    tokio::time::sleep(ttl).await;
    assert_eq!(place_order(&app, "product-0002").await.1["totalCents"], 1_002, "not before the import");

    let counts = Import::new(&client, &catalog, options()).run().await.unwrap();
    assert_eq!((counts.updated, counts.written()), (1, 1));
    tokio::time::sleep(ttl).await;
    let (status, placed) = place_order(&app, "product-0002").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["lines"][0]["unitPriceCents"], 1_500, "one import and one TTL later");
}
