//! The HTTP API of DESIGN.md as one axum [`Router`](axum::Router)
//! ([`routes::router`]): served by `lambda_http` in the `api` Lambda and by
//! `axum::serve` in the local runner. Errors become
//! `application/problem+json` in one place ([`problem`]).
//!
//! Read it in this order: [`routes`] (every route, once), [`layers`]
//! (correlation id, caching, body size, media type), [`origin`] (only
//! through CloudFront, when the API is behind it), [`orders`], [`stock`] and
//! [`catalog`] (the handlers), [`input`] (request bodies into commands),
//! [`problem`].

mod auth;
mod body;
mod catalog;
mod headers;
pub mod input;
pub mod layers;
mod orders;
pub mod origin;
pub mod problem;
pub mod routes;
mod stock;

use std::sync::Arc;
use std::time::Duration;

use catalog_store::CachedCatalog;
use commands::OrderService;
use domain::access::ServiceRule;
use domain::Catalog;
use inventory_store::InventoryService;
use origin::{OriginCheck, SecretsManagerOriginSecret};

pub use body::MAX_BODY_BYTES;
pub use routes::router;

/// How long an instance keeps a catalog item: a new price applies to orders
/// at most this much later (DESIGN.md allows 60 s), and a warm instance
/// reads a SKU's item once per this time, not once per order.
pub const CATALOG_CACHE_TTL: Duration = Duration::from_secs(30);

/// What the API needs: the order service, the stock service, the catalog
/// (through this instance's cache), which callers are services, and,
/// behind CloudFront, the check that a request came through it.
#[derive(Clone)]
pub struct App {
    pub orders: OrderService,
    pub inventory: InventoryService,
    pub catalog: Arc<CachedCatalog>,
    pub services: Arc<ServiceRule>,
    pub origin: Option<Arc<OriginCheck>>,
}

impl App {
    /// Items of `catalog` are kept [`CATALOG_CACHE_TTL`]; every caller is a
    /// customer until [`with_services`](App::with_services) names the
    /// service clients; every request is served until
    /// [`with_origin_check`](App::with_origin_check) asks for CloudFront's header.
    pub fn new(orders: OrderService, inventory: InventoryService, catalog: Arc<dyn Catalog>) -> Self {
        App::with_catalog_cache(orders, inventory, catalog, CATALOG_CACHE_TTL)
    }

    /// [`App::new`] keeping catalog items `ttl` (at most 60 s): tests of a
    /// price change use a short one.
    pub fn with_catalog_cache(
        orders: OrderService,
        inventory: InventoryService,
        catalog: Arc<dyn Catalog>,
        ttl: Duration,
    ) -> Self {
        App {
            orders,
            inventory,
            catalog: Arc::new(CachedCatalog::new(catalog, ttl)),
            services: Arc::default(),
            origin: None,
        }
    }

    pub fn with_services(self, services: ServiceRule) -> Self {
        App { services: Arc::new(services), ..self }
    }

    pub fn with_origin_check(self, check: OriginCheck) -> Self {
        App { origin: Some(Arc::new(check)), ..self }
    }

    /// The production wiring: tables from `EVENTS_TABLE`, `INVENTORY_TABLE`
    /// and `CATALOG_TABLE`, the hot lane's SKUs from `HOT_SKUS`, the service
    /// rule from `SERVICE_CLIENT_IDS` and `SCOPE_PREFIX` (both must be set,
    /// either may be empty: a deployment that forgot them fails at start
    /// rather than taking its services for customers), the origin check
    /// from `ORIGIN_VERIFY_SECRET_ARN` when set (behind CloudFront; its
    /// values are read now, so an unreadable secret fails the start),
    /// endpoint and credentials from the SDK's own environment variables.
    pub async fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let (events_table, inventory_table) =
            (var(contract::config::EVENTS_TABLE)?, var(contract::config::INVENTORY_TABLE)?);
        let catalog_table = var(contract::config::CATALOG_TABLE)?;
        let services =
            ServiceRule::parse(&var(contract::config::SERVICE_CLIENT_IDS)?, &var(contract::config::SCOPE_PREFIX)?);
        let hot_skus = std::env::var(contract::config::HOT_SKUS).ok();
        let hot_list = domain::HotList::configured(hot_skus.as_deref()).map_err(|e| e.to_string())?;
        let config = sdk_config::load().await.map_err(|e| e.to_string())?;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let events = event_store::DynamoEventStore::new(dynamodb.clone(), events_table);
        let stock = inventory_store::DynamoInventoryStore::new(dynamodb.clone(), inventory_table);
        let catalog = catalog_store::DynamoCatalog::new(dynamodb, catalog_table);
        let orders = OrderService::new(Arc::new(events)).with_hot_list(hot_list);
        let app = App::new(orders, InventoryService::new(Arc::new(stock)), Arc::new(catalog)).with_services(services);
        let Ok(arn) = std::env::var(contract::config::ORIGIN_VERIFY_SECRET_ARN) else { return Ok(app) };
        let secret = SecretsManagerOriginSecret::new(aws_sdk_secretsmanager::Client::new(&config), arn);
        let check = OriginCheck::new(Arc::new(secret), origin::REFRESH_EVERY).await.map_err(|e| e.to_string())?;
        Ok(app.with_origin_check(check))
    }
}
