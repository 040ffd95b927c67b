//! The HTTP API of DESIGN.md, as one function from a `lambda_http` request
//! to a response. The `api` Lambda and the local runner both call
//! [`handle`]; errors become `application/problem+json` in one place
//! ([`problem`]).

mod headers;
mod orders;
pub mod problem;
mod request;
pub mod routes;
mod stock;

use std::sync::Arc;

use inventory_store::InventoryService;
use lambda_http::{Body, Request, RequestExt, Response};
use order_commands::OrderService;
use tracing::Instrument;

pub use request::MAX_BODY_BYTES;

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
        let (events_table, inventory_table) = (var("EVENTS_TABLE")?, var("INVENTORY_TABLE")?);
        let hot_skus = std::env::var(order_domain::HOT_SKUS_VAR).ok();
        let hot_list = order_domain::HotList::configured(hot_skus.as_deref()).map_err(|e| e.to_string())?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&config);
        let events = event_store::DynamoEventStore::new(dynamodb.clone(), events_table);
        let stock = inventory_store::DynamoInventoryStore::new(dynamodb, inventory_table);
        let orders = OrderService::new(Arc::new(events)).with_hot_list(hot_list);
        Ok(App::new(orders, InventoryService::new(Arc::new(stock))))
    }
}

/// Serves one request. Never fails: every error is a problem response.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    let correlation_id = match headers::correlation_id(&request) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(&uuid::Uuid::new_v4().to_string()),
    };
    let xray_trace_id = request
        .lambda_context_ref()
        .and_then(|c| c.xray_trace_id.clone())
        .or_else(telemetry::xray_trace_id)
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        %correlation_id,
        %xray_trace_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    async {
        let response = match routes::route(app, request, &correlation_id).await {
            Ok(response) => response,
            Err(problem) => problem.into_response(&correlation_id),
        };
        tracing::info!(status = response.status().as_u16(), "served");
        response
    }
    .instrument(span)
    .await
}
