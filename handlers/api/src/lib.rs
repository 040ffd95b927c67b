//! The HTTP API of DESIGN.md as one axum [`Router`](axum::Router)
//! ([`routes::router`]): served by `lambda_http` in the `api` Lambda and by
//! `axum::serve` in the local runner. Errors become
//! `application/problem+json` in one place ([`problem`]).
//!
//! Read it in this order: [`routes`] (every route, once), [`layers`]
//! (correlation id, body size, media type), [`orders`] and [`stock`] (the
//! handlers), [`input`] (request bodies into commands), [`problem`].

mod auth;
mod body;
mod headers;
pub mod input;
pub mod layers;
mod orders;
pub mod problem;
pub mod routes;
mod stock;

use std::sync::Arc;

use commands::OrderService;
use domain::access::ServiceRule;
use inventory_store::InventoryService;

pub use body::MAX_BODY_BYTES;
pub use routes::router;

/// Configuration: the service clients, comma-separated.
pub const SERVICE_CLIENT_IDS_VAR: &str = "SERVICE_CLIENT_IDS";
/// Configuration: the resource server's scope prefix (empty: bare scopes).
pub const SCOPE_PREFIX_VAR: &str = "SCOPE_PREFIX";

/// What the API needs: the order service, the stock service, and which
/// callers are services.
#[derive(Clone)]
pub struct App {
    pub orders: OrderService,
    pub inventory: InventoryService,
    pub services: Arc<ServiceRule>,
}

impl App {
    /// An API whose every caller is a customer until
    /// [`with_services`](App::with_services) names the service clients.
    pub fn new(orders: OrderService, inventory: InventoryService) -> Self {
        App { orders, inventory, services: Arc::default() }
    }

    pub fn with_services(self, services: ServiceRule) -> Self {
        App { services: Arc::new(services), ..self }
    }

    /// The production wiring: tables from `EVENTS_TABLE` and
    /// `INVENTORY_TABLE`, the hot lane's SKUs from `HOT_SKUS`, the service
    /// rule from `SERVICE_CLIENT_IDS` and `SCOPE_PREFIX` (both must be set,
    /// either may be empty: a deployment that forgot them fails at start
    /// rather than taking its services for customers), endpoint and
    /// credentials from the SDK's own environment variables.
    pub async fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let (events_table, inventory_table) = (var("EVENTS_TABLE")?, var("INVENTORY_TABLE")?);
        let services = ServiceRule::parse(&var(SERVICE_CLIENT_IDS_VAR)?, &var(SCOPE_PREFIX_VAR)?);
        let hot_skus = std::env::var(domain::HOT_SKUS_VAR).ok();
        let hot_list = domain::HotList::configured(hot_skus.as_deref()).map_err(|e| e.to_string())?;
        let config = sdk_config::load().await.map_err(|e| e.to_string())?;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let events = event_store::DynamoEventStore::new(dynamodb.clone(), events_table);
        let stock = inventory_store::DynamoInventoryStore::new(dynamodb, inventory_table);
        let orders = OrderService::new(Arc::new(events)).with_hot_list(hot_list);
        Ok(App::new(orders, InventoryService::new(Arc::new(stock))).with_services(services))
    }
}
