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
use inventory_store::InventoryService;

pub use body::MAX_BODY_BYTES;
pub use routes::router;

/// What the API needs: the order service and the stock service.
#[derive(Clone)]
pub struct App {
    pub orders: OrderService,
    pub inventory: InventoryService,
}

impl App {
    pub fn new(orders: OrderService, inventory: InventoryService) -> Self {
        App { orders, inventory }
    }

    /// The production wiring: tables from `EVENTS_TABLE` and
    /// `INVENTORY_TABLE`, the hot lane's SKUs from `HOT_SKUS`, endpoint and
    /// credentials from the SDK's own environment variables.
    pub async fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let (events_table, inventory_table) =
            (var(contract::config::EVENTS_TABLE)?, var(contract::config::INVENTORY_TABLE)?);
        let hot_skus = std::env::var(contract::config::HOT_SKUS).ok();
        let hot_list = domain::HotList::configured(hot_skus.as_deref()).map_err(|e| e.to_string())?;
        let config = sdk_config::load().await.map_err(|e| e.to_string())?;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let events = event_store::DynamoEventStore::new(dynamodb.clone(), events_table);
        let stock = inventory_store::DynamoInventoryStore::new(dynamodb, inventory_table);
        let orders = OrderService::new(Arc::new(events)).with_hot_list(hot_list);
        Ok(App::new(orders, InventoryService::new(Arc::new(stock))))
    }
}
