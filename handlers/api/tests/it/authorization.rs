//! Who may do what, route by route: the API behind the local stand-in for
//! API Gateway's JWT authorizer, driven by the `events/` request fixtures
//! with tokens of a local issuer. Every refused request leaves the event
//! store and the stock as they were.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use api::App;
use axum::middleware::from_fn_with_state;
use commands::{CommandContext, RetryPolicy};
use common::{memory_app, payload, to_request};
use domain::access::ServiceRule;
use domain::ports::EventScan;
use domain::{Command, OrderId, Sku};
use local_aws::authorizer::{authorize, Authorizer, JwtAuthorizer};
use local_aws::issuer::{LocalIssuer, TokenRequest};
use serde_json::{json, Value};
use testkit::access::{
    cases, with_signature_of, Token, PLACE_FOR_OTHER, PLACE_OWN, PLACE_OWN_IN_BASKET, SERVICE_CLIENT, SKU, STOCK,
    UNLISTED_CLIENT,
};
use tower::ServiceExt;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "order-platform";
const JSON: (&str, &str) = ("content-type", "application/json");
/// The app client customers sign in through.
const STOREFRONT: &str = "storefront";

struct Tokens {
    issuer: LocalIssuer,
    other: LocalIssuer,
}

impl Tokens {
    fn new() -> Self {
        Tokens {
            issuer: LocalIssuer::generate(ISSUER, AUDIENCE).unwrap(),
            other: LocalIssuer::generate(ISSUER, AUDIENCE).unwrap(),
        }
    }

    fn mint(&self, subject: &str, client_id: &str, scopes: &[&str]) -> String {
        mint(&self.issuer, subject, client_id, scopes)
    }

    fn header(&self, token: Token) -> Option<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let bearer = match token {
            Token::None => return None,
            Token::Customer(id) => self.mint(id, STOREFRONT, &[]),
            Token::Service(scopes) => self.mint(SERVICE_CLIENT, SERVICE_CLIENT, scopes),
            Token::UserWithScopes(id, scopes) => self.mint(id, SERVICE_CLIENT, scopes),
            Token::UnlistedClient(scopes) => self.mint(UNLISTED_CLIENT, UNLISTED_CLIENT, scopes),
            Token::Expired => self.issuer.sign(&json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": "customer-1", "iat": now - 600, "exp": now - 60,
            })),
            Token::WrongAudience => self.issuer.sign(&json!({
                "iss": ISSUER, "aud": "another-api", "sub": "customer-1", "iat": now, "exp": now + 300,
            })),
            Token::BadSignature => with_signature_of(
                &self.mint("customer-1", STOREFRONT, &[]),
                &mint(&self.other, "customer-1", STOREFRONT, &[]),
            ),
        };
        Some(format!("Bearer {bearer}"))
    }
}

fn mint(issuer: &LocalIssuer, subject: &str, client_id: &str, scopes: &[&str]) -> String {
    let scopes = scopes.iter().map(|s| s.to_string()).collect();
    let lifetime = Duration::from_secs(300);
    issuer.mint(&TokenRequest { subject: subject.into(), client_id: client_id.into(), scopes, lifetime })
}

fn router(app: &App, tokens: &Tokens) -> axum::Router {
    let keys = tokens.issuer.jwks().clone();
    let authorizer = Arc::new(Authorizer::Jwt(JwtAuthorizer::new(ISSUER, AUDIENCE, keys)));
    api::router(app.clone()).layer(from_fn_with_state(authorizer, authorize))
}

/// Sends `method path` with `token`; the fixture's own claims (an operator
/// with every scope) are replaced by what the authorizer makes of the token.
async fn send(
    app: &App,
    tokens: &Tokens,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Token,
    key: Option<&str>,
) -> (u16, Value, bool) {
    let authorization = tokens.header(token);
    let mut headers = vec![JSON];
    if let Some(value) = &authorization {
        headers.push(("authorization", value));
    }
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    let request = to_request(&payload(method, path, &headers, body));
    let response = router(app, tokens).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let challenged = response.headers().get("www-authenticate").is_some_and(|v| v == "Bearer");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap(), challenged)
}

#[tokio::test]
async fn every_route_refuses_what_the_token_does_not_allow_and_changes_nothing() {
    let (app, store) = memory_app();
    let app = app.with_services(ServiceRule::parse(SERVICE_CLIENT, ""));
    let tokens = Tokens::new();
    let (status, placed, _) =
        send(&app, &tokens, "POST", "/orders", Some(PLACE_OWN), Token::Customer("customer-1"), Some("own")).await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["customerId"], "customer-1", "a customer's order is its own");
    let own: OrderId = placed["orderId"].as_str().unwrap().parse().unwrap();
    let (status, other, _) =
        send(&app, &tokens, "POST", "/orders", Some(PLACE_OWN), Token::Customer("customer-3"), Some("c3")).await;
    assert_eq!(status, 201, "{other}");
    let confirmed: OrderId = other["orderId"].as_str().unwrap().parse().unwrap();
    app.orders.execute(confirmed, &Command::Confirm, &CommandContext::new("t"), RetryPolicy::NONE).await.unwrap();
    let sku = Sku::parse(SKU).unwrap();
    app.inventory.set_available(&sku, 100).await.unwrap();
    let scan = || async { store.scan_page(0, 1, None).await.unwrap().events };
    let (events_before, stock_before) = (scan().await, app.inventory.get(&sku).await.unwrap());

    let cases = cases(own, confirmed);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in cases {
        let (status, body, challenged) =
            send(&app, &tokens, case.method, &case.path, case.body, case.token, None).await;
        let what = format!("{} ({} {} with {:?})", case.name, case.method, case.path, case.token);
        assert_eq!(status, case.status, "{what}: {body}");
        if status >= 400 {
            assert_eq!(body["status"], status, "{what}: problem+json");
        }
        assert_eq!(status == 401, challenged, "{what}: WWW-Authenticate: Bearer exactly on a 401");
        assert_eq!(scan().await, events_before, "{what} changed the event store");
        assert_eq!(app.inventory.get(&sku).await.unwrap(), stock_before, "{what} changed the stock");
    }

    // The allowed commands, each once.
    let (status, _, _) =
        send(&app, &tokens, "POST", &format!("/orders/{own}/cancel"), Some("{}"), Token::Customer("customer-1"), None)
            .await;
    assert_eq!(status, 200, "the customer cancels its own order");
    let ship = format!("/orders/{confirmed}/ship");
    let (status, _, _) = send(&app, &tokens, "POST", &ship, Some("{}"), Token::Service(&["orders:ship"]), None).await;
    assert_eq!(status, 200, "the warehouse ships");
    let stock = format!("/inventory/{SKU}");
    let (status, body, _) =
        send(&app, &tokens, "PUT", &stock, Some(STOCK), Token::Service(&["inventory:write"]), None).await;
    assert_eq!((status, &body["available"]), (200, &json!(7)), "the merchandiser sets stock");
    let (status, body, _) =
        send(&app, &tokens, "POST", "/orders", Some(PLACE_FOR_OTHER), Token::Service(&["orders:write"]), None).await;
    assert_eq!((status, &body["customerId"]), (201, &json!("customer-2")), "checkout places for any customer");
}

#[tokio::test]
async fn a_customer_naming_a_basket_is_refused_with_nothing_stored_and_checkout_may_name_one() {
    let (app, store) = memory_app();
    let app = app.with_services(ServiceRule::parse(SERVICE_CLIENT, ""));
    let tokens = Tokens::new();
    let (status, body, _) =
        send(&app, &tokens, "POST", "/orders", Some(PLACE_OWN_IN_BASKET), Token::Customer("customer-1"), Some("k"))
            .await;
    assert_eq!((status, &body["type"]), (403, &json!("/problems/forbidden")), "{body}");
    assert!(body["detail"].as_str().unwrap().contains("basketId"), "{body}");
    assert!(store.scan_page(0, 1, None).await.unwrap().events.is_empty(), "a refused order stores nothing");

    let for_customer: Value = {
        let mut body: Value = serde_json::from_str(PLACE_OWN_IN_BASKET).unwrap();
        body["customerId"] = json!("customer-1");
        body
    };
    let body = for_customer.to_string();
    let (status, placed, _) =
        send(&app, &tokens, "POST", "/orders", Some(&body), Token::Service(&["orders:write"]), None).await;
    assert_eq!((status, &placed["basketId"]), (201, &for_customer["basketId"]), "{placed}");
}

#[tokio::test]
async fn service_scopes_count_only_with_the_configured_prefix() {
    let (app, _) = memory_app();
    let app = app.with_services(ServiceRule::parse(SERVICE_CLIENT, "orders-api"));
    app.inventory.set_available(&Sku::parse(SKU).unwrap(), 3).await.unwrap();
    let tokens = Tokens::new();
    let stock = format!("/inventory/{SKU}");
    let cases: [(&'static [&'static str], u16); 3] =
        [(&["inventory:read"], 403), (&["other-api/inventory:read"], 403), (&["orders-api/inventory:read"], 200)];
    for (scopes, status) in cases {
        let answer = send(&app, &tokens, "GET", &stock, None, Token::Service(scopes), None).await;
        assert_eq!(answer.0, status, "{scopes:?}: {}", answer.1);
    }
}

#[tokio::test]
async fn two_customers_with_one_idempotency_key_get_two_orders_each_their_own() {
    let (app, _) = memory_app();
    let app = app.with_services(ServiceRule::parse(SERVICE_CLIENT, ""));
    let tokens = Tokens::new();
    let place =
        |customer| send(&app, &tokens, "POST", "/orders", Some(PLACE_OWN), Token::Customer(customer), Some("same-key"));
    let (status_a, a, _) = place("customer-a").await;
    let (status_b, b, _) = place("customer-b").await;
    assert_eq!((status_a, status_b), (201, 201));
    assert_ne!(a["orderId"], b["orderId"], "one key, two callers, two orders");
    let (again, retried, _) = place("customer-a").await;
    assert_eq!((again, &retried), (201, &a), "a's retry answers a's order");
    for (owner, stranger, order) in [("customer-a", "customer-b", &a), ("customer-b", "customer-a", &b)] {
        let path = format!("/orders/{}", order["orderId"].as_str().unwrap());
        let (status, _, _) = send(&app, &tokens, "GET", &path, None, Token::Customer(owner), None).await;
        assert_eq!(status, 200, "{owner} reads its order");
        let (status, _, _) = send(&app, &tokens, "GET", &path, None, Token::Customer(stranger), None).await;
        assert_eq!(status, 404, "{stranger} does not learn of {owner}'s order");
    }
}
