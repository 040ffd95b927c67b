//! Who may do what, as one table: every route with each kind of bad token,
//! then each kind of caller, with the status the API must answer. The API's
//! tests run it in-process behind the local authorizer; the runner's tests
//! run it over HTTP, with the runner's own tokens and with the local
//! stack's OIDC server's.

use domain::OrderId;

pub const SKU: &str = "muskie-casting-rod";
/// The customer who owns the order the table reads and cancels.
pub const OWNER: &str = "customer-1";
/// A customer placing an order for itself (`customerId` left out).
pub const PLACE_OWN: &str =
    r#"{"currency":"USD","lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900}]}"#;
pub const PLACE_FOR_OTHER: &str = r#"{"customerId":"customer-2","currency":"USD","lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900}]}"#;
pub const STOCK: &str = r#"{"available":7}"#;
/// The catalog item of [`SKU`] as the demo has it.
pub const CATALOG_ITEM: &str =
    r#"{"title":"Muskie casting rod","priceCents":24900,"currency":"USD","active":true,"maxPerCustomer":2}"#;
/// A customer's own order naming a legacy basket: only a service may.
pub const PLACE_OWN_IN_BASKET: &str = r#"{"basketId":"6f1c2b1e-8d4a-4c3e-9b7a-2e5d8f0a1b3c","currency":"USD","lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900}]}"#;
/// The service client every harness lists in `SERVICE_CLIENT_IDS`.
pub const SERVICE_CLIENT: &str = "checkout-backend";
/// A client that is not listed: its client-credentials tokens are a
/// customer's, this customer id.
pub const UNLISTED_CLIENT: &str = "rogue-app";

/// What a request carries in `Authorization`.
#[derive(Clone, Copy, Debug)]
pub enum Token {
    None,
    /// The issuer's key id and claims, another key's signature.
    BadSignature,
    Expired,
    WrongAudience,
    Customer(&'static str),
    /// A service: [`SERVICE_CLIENT`]'s client credentials, with these scopes.
    Service(&'static [&'static str]),
    /// A user's token from [`SERVICE_CLIENT`]'s app client (`sub` is the
    /// customer, not the client) that carries these scopes: a customer.
    UserWithScopes(&'static str, &'static [&'static str]),
    /// [`UNLISTED_CLIENT`]'s client credentials with these scopes: a customer.
    UnlistedClient(&'static [&'static str]),
}

pub struct Case {
    pub name: &'static str,
    pub method: &'static str,
    pub path: String,
    pub body: Option<&'static str>,
    pub token: Token,
    pub status: u16,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &str,
    body: Option<&'static str>,
    token: Token,
    status: u16,
) -> Case {
    Case { name, method, path: path.to_owned(), body, token, status }
}

/// The table, for an order `own` placed by [`OWNER`] and an order
/// `confirmed` of another customer that the saga confirmed (so it can be
/// shipped). No case changes anything: each is refused, or a read.
pub fn cases(own: OrderId, confirmed: OrderId) -> Vec<Case> {
    let order = format!("/orders/{own}");
    let events = format!("/orders/{own}/events");
    let cancel = format!("/orders/{own}/cancel");
    let ship = format!("/orders/{confirmed}/ship");
    let stock = format!("/inventory/{SKU}");
    let item = format!("/catalog/{SKU}");
    let routes = [
        ("POST", "/orders", Some(PLACE_FOR_OTHER)),
        ("GET", order.as_str(), None),
        ("GET", events.as_str(), None),
        ("POST", cancel.as_str(), Some("{}")),
        ("POST", ship.as_str(), Some("{}")),
        ("GET", stock.as_str(), None),
        ("PUT", stock.as_str(), Some(STOCK)),
        ("PUT", item.as_str(), Some(CATALOG_ITEM)),
    ];
    let mut cases = Vec::new();
    for (method, path, body) in routes {
        for (name, token) in [
            ("no token", Token::None),
            ("bad signature", Token::BadSignature),
            ("expired", Token::Expired),
            ("wrong audience", Token::WrongAudience),
        ] {
            cases.push(case(name, method, path, body, token, 401));
        }
    }
    let customer = Token::Customer;
    let service = Token::Service;
    cases.extend([
        case("customer places for another", "POST", "/orders", Some(PLACE_FOR_OTHER), customer(OWNER), 403),
        case(
            "service without orders:write places",
            "POST",
            "/orders",
            Some(PLACE_FOR_OTHER),
            service(&["orders:read"]),
            403,
        ),
        case("another customer reads", "GET", &order, None, customer("customer-2"), 404),
        case("service without orders:read reads", "GET", &order, None, service(&["orders:write", "orders:ship"]), 403),
        case("another customer lists events", "GET", &events, None, customer("customer-2"), 404),
        case("service without orders:read lists events", "GET", &events, None, service(&["inventory:read"]), 403),
        case("another customer cancels", "POST", &cancel, Some("{}"), customer("customer-2"), 404),
        case("service without orders:write cancels", "POST", &cancel, Some("{}"), service(&["orders:read"]), 403),
        case("a customer ships", "POST", &ship, Some("{}"), customer(OWNER), 403),
        case("service without orders:ship ships", "POST", &ship, Some("{}"), service(&["orders:write"]), 403),
        case("service without inventory:read reads stock", "GET", &stock, None, service(&["inventory:write"]), 403),
        case("a customer sets stock", "PUT", &stock, Some(STOCK), customer(OWNER), 403),
        case(
            "service without inventory:write sets stock",
            "PUT",
            &stock,
            Some(STOCK),
            service(&["inventory:read"]),
            403,
        ),
        case("a customer sets a catalog item", "PUT", &item, Some(CATALOG_ITEM), customer(OWNER), 403),
        case(
            "service without catalog:write sets a catalog item",
            "PUT",
            &item,
            Some(CATALOG_ITEM),
            service(&["inventory:write"]),
            403,
        ),
        case("anyone reads the catalog without a token", "GET", &item, None, Token::None, 200),
        case("the catalog ignores an expired token", "GET", &item, None, Token::Expired, 200),
        case("a customer reads the catalog", "GET", &item, None, customer("customer-9"), 200),
        case("the customer reads its own order", "GET", &order, None, customer(OWNER), 200),
        case("the customer lists its own events", "GET", &events, None, customer(OWNER), 200),
        case("a customer reads stock", "GET", &stock, None, customer("customer-9"), 200),
        case("service with inventory:read reads stock", "GET", &stock, None, service(&["inventory:read"]), 200),
        case("service with orders:read reads any order", "GET", &order, None, service(&["orders:read"]), 200),
        case("a customer names a basket", "POST", "/orders", Some(PLACE_OWN_IN_BASKET), customer(OWNER), 403),
    ]);
    // Scopes count only in a listed client's client-credentials token.
    let user = |scopes| Token::UserWithScopes("customer-2", scopes);
    let unlisted = Token::UnlistedClient;
    cases.extend([
        case("a user token with orders:read reads another's order", "GET", &order, None, user(&["orders:read"]), 404),
        case("a user token with orders:read lists another's events", "GET", &events, None, user(&["orders:read"]), 404),
        case(
            "a user token with orders:write cancels another's order",
            "POST",
            &cancel,
            Some("{}"),
            user(&["orders:write"]),
            404,
        ),
        case(
            "a user token with orders:write places for another",
            "POST",
            "/orders",
            Some(PLACE_FOR_OTHER),
            Token::UserWithScopes("customer-9", &["orders:write"]),
            403,
        ),
        case(
            "a user token with orders:write names a basket",
            "POST",
            "/orders",
            Some(PLACE_OWN_IN_BASKET),
            user(&["orders:write"]),
            403,
        ),
        case("a user token with orders:ship ships", "POST", &ship, Some("{}"), user(&["orders:ship"]), 403),
        case(
            "a user token with inventory:write sets stock",
            "PUT",
            &stock,
            Some(STOCK),
            user(&["inventory:write"]),
            403,
        ),
        case("a user token reads stock as a customer", "GET", &stock, None, user(&["orders:read"]), 200),
        case(
            "an unlisted client with orders:read reads an order",
            "GET",
            &order,
            None,
            unlisted(&["orders:read"]),
            404,
        ),
        case("an unlisted client with orders:ship ships", "POST", &ship, Some("{}"), unlisted(&["orders:ship"]), 403),
        case(
            "an unlisted client with inventory:write sets stock",
            "PUT",
            &stock,
            Some(STOCK),
            unlisted(&["inventory:write"]),
            403,
        ),
    ]);
    cases
}

/// `token` with its signature replaced by `other`'s: the claims and key id
/// of a real token, a signature that does not verify.
pub fn with_signature_of(token: &str, other: &str) -> String {
    let (signed, _) = token.rsplit_once('.').expect("a JWS");
    let (_, signature) = other.rsplit_once('.').expect("a JWS");
    format!("{signed}.{signature}")
}
