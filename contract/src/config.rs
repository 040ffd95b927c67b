//! The environment variables the functions read (DESIGN.md
//! "Configuration"): the same names in Lambda, the local runner and the
//! local stack. `template.yaml` sets them; the wiring test checks that it
//! sets no others.

/// A variable a function cannot start without is unset.
#[derive(Debug, thiserror::Error)]
#[error("{0} is not set")]
pub struct NotSet(pub &'static str);

/// The value of the variable `name`, which the function needs to start.
pub fn required(name: &'static str) -> Result<String, NotSet> {
    std::env::var(name).map_err(|_| NotSet(name))
}

/// The events table's name.
pub const EVENTS_TABLE: &str = "EVENTS_TABLE";
/// The inventory table's name (stock and reservations).
pub const INVENTORY_TABLE: &str = "INVENTORY_TABLE";
/// The catalog table's name (title, price and purchase limit per SKU).
pub const CATALOG_TABLE: &str = "CATALOG_TABLE";
/// The fulfillment table's name (pick requests).
pub const FULFILLMENT_TABLE: &str = "FULFILLMENT_TABLE";
/// The `order-events` topic the publisher publishes to.
pub const ORDER_EVENTS_TOPIC_ARN: &str = "ORDER_EVENTS_TOPIC_ARN";
/// The hot SKUs, comma-separated (template parameter `HotSkus`); unset:
/// [`domain::DEFAULT_HOT_SKUS`].
pub const HOT_SKUS: &str = "HOT_SKUS";
/// The clients whose client-credentials tokens are services,
/// comma-separated (DESIGN.md "Who may do what").
pub const SERVICE_CLIENT_IDS: &str = "SERVICE_CLIENT_IDS";
/// The resource server's scope prefix (`orders-api`; empty: bare scopes).
pub const SCOPE_PREFIX: &str = "SCOPE_PREFIX";
/// The currency of the legacy shop's prices (ISO 4217; unset: `USD`),
/// which the catalog import gives the items it writes.
pub const SHOP_CURRENCY: &str = "SHOP_CURRENCY";
/// The legacy database as a `postgres://` URL (locally).
pub const LEGACY_DATABASE_URL: &str = "LEGACY_DATABASE_URL";
/// The legacy database's Secrets Manager secret (in AWS).
pub const LEGACY_DB_SECRET_ARN: &str = "LEGACY_DB_SECRET_ARN";
/// A PEM CA bundle for a direct RDS endpoint.
pub const LEGACY_DB_SSLROOTCERT: &str = "LEGACY_DB_SSLROOTCERT";
/// The Secrets Manager secret whose current (and, during a rotation,
/// previous) value CloudFront sends in `X-Origin-Verify` (in AWS, with the
/// storefront's distribution); unset: the API serves every request.
pub const ORIGIN_VERIFY_SECRET_ARN: &str = "ORIGIN_VERIFY_SECRET_ARN";
/// Until when (an RFC 3339 date, closing at its midnight UTC, or
/// date-time) the publisher also publishes the previous version of an event
/// type whose `schemaVersion` was bumped; unset or past: only the current.
pub const PUBLISH_PREVIOUS_VERSION_UNTIL: &str = "PUBLISH_PREVIOUS_VERSION_UNTIL";

/// Every name above.
pub const ALL: [&str; 14] = [
    EVENTS_TABLE,
    INVENTORY_TABLE,
    CATALOG_TABLE,
    FULFILLMENT_TABLE,
    ORDER_EVENTS_TOPIC_ARN,
    HOT_SKUS,
    SERVICE_CLIENT_IDS,
    SCOPE_PREFIX,
    SHOP_CURRENCY,
    LEGACY_DATABASE_URL,
    LEGACY_DB_SECRET_ARN,
    LEGACY_DB_SSLROOTCERT,
    ORIGIN_VERIFY_SECRET_ARN,
    PUBLISH_PREVIOUS_VERSION_UNTIL,
];
