//! Who may do what, route by route: the API behind the local stand-in for
//! API Gateway's JWT authorizer, driven by the `events/` request fixtures
//! with tokens of a local issuer. Every refused request leaves the event
//! store and the stock as they were.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::middleware::from_fn_with_state;
use common::{memory_app, payload, to_request};
use local_aws::authorizer::{authorize, Authorizer, JwtAuthorizer};
use local_aws::issuer::{LocalIssuer, TokenRequest};
use order_api::App;
use order_commands::{CommandContext, RetryPolicy};
use order_domain::ports::EventScan;
use order_domain::{Command, OrderId, Sku};
use serde_json::{json, Value};
use tower::ServiceExt;

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "order-platform";
const JSON: (&str, &str) = ("content-type", "application/json");
const SKU: &str = "muskie-casting-rod";

/// What a request carries in `Authorization`.
#[derive(Clone, Copy, Debug)]
enum Token {
    None,
    BadSignature,
    Expired,
    WrongAudience,
    Customer(&'static str),
    Service(&'static [&'static str]),
}

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

    fn mint(&self, subject: &str, scopes: &[&str]) -> String {
        mint(&self.issuer, subject, scopes)
    }

    fn header(&self, token: Token) -> Option<String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let bearer = match token {
            Token::None => return None,
            Token::Customer(id) => self.mint(id, &[]),
            Token::Service(scopes) => self.mint("checkout-backend", scopes),
            Token::Expired => self.issuer.sign(&json!({
                "iss": ISSUER, "aud": AUDIENCE, "sub": "customer-1", "iat": now - 600, "exp": now - 60,
            })),
            Token::WrongAudience => self.issuer.sign(&json!({
                "iss": ISSUER, "aud": "another-api", "sub": "customer-1", "iat": now, "exp": now + 300,
            })),
            Token::BadSignature => {
                // Our key id and claims, another key's signature.
                let ours = self.mint("customer-1", &[]);
                let theirs = mint(&self.other, "customer-1", &[]);
                let (body, _) = ours.rsplit_once('.').unwrap();
                format!("{body}.{}", theirs.rsplit_once('.').unwrap().1)
            }
        };
        Some(format!("Bearer {bearer}"))
    }
}

fn mint(issuer: &LocalIssuer, subject: &str, scopes: &[&str]) -> String {
    let scopes = scopes.iter().map(|s| s.to_string()).collect();
    issuer.mint(&TokenRequest { subject: subject.into(), scopes, lifetime: Duration::from_secs(300) })
}

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<&'static str>,
    token: Token,
    status: u16,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: String,
    body: Option<&'static str>,
    token: Token,
    status: u16,
) -> Case {
    Case { name, method, path, body, token, status }
}

const PLACE_OWN: &str =
    r#"{"currency":"USD","lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900}]}"#;
const PLACE_FOR_OTHER: &str = r#"{"customerId":"customer-2","currency":"USD","lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900}]}"#;
const STOCK: &str = r#"{"available":7}"#;

/// Every route with each kind of bad token, then each kind of caller.
fn cases(own: OrderId, confirmed: OrderId) -> Vec<Case> {
    let routes: Vec<(&str, String, Option<&str>)> = vec![
        ("POST", "/orders".into(), Some(PLACE_FOR_OTHER)),
        ("GET", format!("/orders/{own}"), None),
        ("GET", format!("/orders/{own}/events"), None),
        ("POST", format!("/orders/{own}/cancel"), Some("{}")),
        ("POST", format!("/orders/{confirmed}/ship"), Some("{}")),
        ("GET", format!("/inventory/{SKU}"), None),
        ("PUT", format!("/inventory/{SKU}"), Some(STOCK)),
    ];
    let mut cases = Vec::new();
    for (method, path, body) in &routes {
        for (name, token) in [
            ("no token", Token::None),
            ("bad signature", Token::BadSignature),
            ("expired", Token::Expired),
            ("wrong audience", Token::WrongAudience),
        ] {
            cases.push(case(name, method, path.clone(), *body, token, 401));
        }
    }
    let order = format!("/orders/{own}");
    let events = format!("/orders/{own}/events");
    let cancel = format!("/orders/{own}/cancel");
    let ship = format!("/orders/{confirmed}/ship");
    let stock = format!("/inventory/{SKU}");
    cases.extend([
        case(
            "customer places for another",
            "POST",
            "/orders".into(),
            Some(PLACE_FOR_OTHER),
            Token::Customer("customer-1"),
            403,
        ),
        case(
            "service without orders:write places",
            "POST",
            "/orders".into(),
            Some(PLACE_FOR_OTHER),
            Token::Service(&["orders:read"]),
            403,
        ),
        case("another customer reads", "GET", order.clone(), None, Token::Customer("customer-2"), 404),
        case(
            "service without orders:read reads",
            "GET",
            order.clone(),
            None,
            Token::Service(&["orders:write", "orders:ship"]),
            403,
        ),
        case("another customer lists events", "GET", events.clone(), None, Token::Customer("customer-2"), 404),
        case(
            "service without orders:read lists events",
            "GET",
            events.clone(),
            None,
            Token::Service(&["inventory:read"]),
            403,
        ),
        case("another customer cancels", "POST", cancel.clone(), Some("{}"), Token::Customer("customer-2"), 404),
        case(
            "service without orders:write cancels",
            "POST",
            cancel.clone(),
            Some("{}"),
            Token::Service(&["orders:read"]),
            403,
        ),
        case("a customer ships", "POST", ship.clone(), Some("{}"), Token::Customer("customer-1"), 403),
        case(
            "service without orders:ship ships",
            "POST",
            ship.clone(),
            Some("{}"),
            Token::Service(&["orders:write"]),
            403,
        ),
        case(
            "service without inventory:read reads stock",
            "GET",
            stock.clone(),
            None,
            Token::Service(&["inventory:write"]),
            403,
        ),
        case("a customer sets stock", "PUT", stock.clone(), Some(STOCK), Token::Customer("customer-1"), 403),
        case(
            "service without inventory:write sets stock",
            "PUT",
            stock.clone(),
            Some(STOCK),
            Token::Service(&["inventory:read"]),
            403,
        ),
        // Allowed: these change nothing (reads) or are checked after the table.
        case("the customer reads its own order", "GET", order, None, Token::Customer("customer-1"), 200),
        case("the customer lists its own events", "GET", events, None, Token::Customer("customer-1"), 200),
        case("a customer reads stock", "GET", stock.clone(), None, Token::Customer("customer-9"), 200),
        case("service with inventory:read reads stock", "GET", stock, None, Token::Service(&["inventory:read"]), 200),
        case(
            "service with orders:read reads any order",
            "GET",
            format!("/orders/{own}"),
            None,
            Token::Service(&["orders:read"]),
            200,
        ),
    ]);
    cases
}

fn router(app: &App, tokens: &Tokens) -> axum::Router {
    let keys = tokens.issuer.jwks().clone();
    let authorizer = Arc::new(Authorizer::Jwt(JwtAuthorizer::new(ISSUER, AUDIENCE, keys)));
    order_api::router(app.clone()).layer(from_fn_with_state(authorizer, authorize))
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
async fn two_customers_with_one_idempotency_key_get_two_orders_each_their_own() {
    let (app, _) = memory_app();
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
