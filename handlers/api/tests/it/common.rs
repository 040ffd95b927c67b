//! Requests for API tests, built from the API Gateway payloads in `events/`
//! (the same files `cargo lambda invoke` and `sam local invoke` use).

use std::path::PathBuf;
use std::sync::Arc;

use api::{routes, App};
use catalog_store::MemoryCatalog;
use commands::OrderService;
use domain::access::{Scope, ServiceRule};
use domain::{CatalogItem, Currency, Sku, Title};
use event_store::MemoryEventStore;
use inventory_store::{InventoryService, MemoryInventoryStore};
use lambda_http::http::HeaderMap;
use lambda_http::Request;
use serde_json::Value;
use tower::ServiceExt;

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(format!("api-{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))).unwrap()
}

pub fn to_request(payload: &Value) -> Request {
    lambda_http::request::from_str(&payload.to_string()).expect("a valid API Gateway v2 payload")
}

/// The subject of the service token [`payload`] carries: every scope, so
/// only the request itself decides the answer.
pub const OPERATOR: &str = "test-operator";

/// An API Gateway v2 payload for any method, path, headers and body, from a
/// service holding every scope.
pub fn payload(method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut payload = fixture("place-order");
    let every_scope: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    payload["requestContext"]["authorizer"]["jwt"]["claims"] =
        serde_json::json!({ "sub": OPERATOR, "client_id": OPERATOR, "scope": every_scope.join(" ") });
    payload["rawPath"] = path.into();
    payload["requestContext"]["http"]["method"] = method.into();
    payload["requestContext"]["http"]["path"] = path.into();
    let mut all_headers = serde_json::Map::new();
    for (name, value) in headers {
        all_headers.insert(name.to_string(), Value::from(*value));
    }
    payload["headers"] = Value::Object(all_headers);
    match body {
        Some(body) => payload["body"] = body.into(),
        None => drop(payload.as_object_mut().unwrap().remove("body")),
    }
    payload
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

/// Sends a request and checks what every answer must be: a status the
/// route table declares (and so the OpenAPI document documents), and a
/// problem+json body for every error.
pub async fn send(app: &App, request: Request) -> Answer {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = api::router(app.clone()).oneshot(request).await.expect("the router never fails");
    let status = response.status().as_u16();
    let same_path: Vec<_> = routes::table().into_iter().filter(|r| matches_template(r.path, &path)).collect();
    let headers = response.headers().clone();
    if let Some(route) = same_path.iter().find(|r| r.method == method) {
        assert!(route.statuses.contains(&status), "{method} {path} answered {status}, not in the route table");
    } else if same_path.is_empty() {
        assert_eq!(status, 404, "unrouted {method} {path}");
    } else {
        assert_eq!(status, 405, "{method} on the route {path}");
        // A GET route answers HEAD too.
        let mut allowed: Vec<&str> = same_path.iter().map(|r| r.method.as_str()).collect();
        if allowed.contains(&"GET") {
            allowed.push("HEAD");
        }
        assert_eq!(headers["allow"], allowed.join(","), "405 names the methods of {path}");
    }
    let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let json: Value = serde_json::from_slice(&body).unwrap_or_else(|e| panic!("expected a JSON body ({e}): {body:?}"));
    if status >= 400 {
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(json["status"], status);
        for member in ["type", "title", "detail"] {
            assert!(json[member].is_string(), "problem without {member}: {json}");
        }
    }
    assert!(headers.contains_key("x-correlation-id"), "every answer echoes X-Correlation-Id");
    Answer { status, headers, json }
}

/// Whether `path` is an instance of the route template `template`.
fn matches_template(template: &str, path: &str) -> bool {
    let (template, path): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    template.len() == path.len()
        && template.iter().zip(&path).all(|(t, p)| (t.starts_with('{') && !p.is_empty()) || t == p)
}

/// The catalog the tests price from (`legacy/seed.sql`'s products and a
/// lure), with the muskie rod's limit of 2 per customer.
pub const CATALOG: [(&str, u64, Option<u32>); 4] = [
    ("muskie-casting-rod", 24_900, Some(2)),
    ("tourney-casting-rod", 18_900, None),
    ("braided-line-30lb", 1_899, None),
    ("lure-7", 450, None),
];

pub fn catalog_item(sku: &str, price_cents: u64, max_per_customer: Option<u32>) -> CatalogItem {
    CatalogItem {
        sku: Sku::parse(sku).unwrap(),
        title: Title::parse(&format!("The {sku}")).unwrap(),
        price_cents,
        currency: Currency::parse("USD").unwrap(),
        active: true,
        max_per_customer,
    }
}

/// [`CATALOG`], and `withdrawn-rod`, which is not for sale.
pub fn test_catalog() -> Arc<MemoryCatalog> {
    let withdrawn = CatalogItem { active: false, ..catalog_item("withdrawn-rod", 5_000, None) };
    let items = CATALOG.map(|(sku, price_cents, limit)| catalog_item(sku, price_cents, limit));
    Arc::new(MemoryCatalog::with_items(items.into_iter().chain([withdrawn])))
}

/// An API on memory adapters, priced from [`test_catalog`], whose service
/// clients are [`OPERATOR`] and those of the `events/` payloads.
pub fn memory_app() -> (App, Arc<MemoryEventStore>) {
    let store = Arc::new(MemoryEventStore::new());
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    (App::new(OrderService::new(store.clone()), stock, test_catalog()).with_services(test_services()), store)
}

pub fn test_services() -> ServiceRule {
    ServiceRule::new([OPERATOR, "checkout-backend", "warehouse", "merchandiser"], "")
}
