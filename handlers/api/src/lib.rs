//! The HTTP API of DESIGN.md, as one function from a `lambda_http` request
//! to a response. The `api` Lambda and the local runner both call
//! [`handle`]; errors become `application/problem+json` in one place
//! ([`problem`]).

mod headers;
mod orders;
pub mod problem;
mod request;
pub mod routes;

use std::sync::Arc;

use lambda_http::{Body, Request, RequestExt, Response};
use order_commands::OrderService;
use tracing::Instrument;

pub use request::MAX_BODY_BYTES;

/// What the API needs: the order service (and, with the inventory issue,
/// the stock service).
#[derive(Clone)]
pub struct App {
    pub orders: OrderService,
}

impl App {
    pub fn new(orders: OrderService) -> Self {
        App { orders }
    }

    /// The production wiring: DynamoDB table from `EVENTS_TABLE`, endpoint
    /// and credentials from the SDK's own environment variables.
    pub async fn from_env() -> Result<Self, String> {
        let table = std::env::var("EVENTS_TABLE").map_err(|_| "EVENTS_TABLE is not set".to_owned())?;
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let store = event_store::DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&config), table);
        Ok(App::new(OrderService::new(Arc::new(store))))
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
