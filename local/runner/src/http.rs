//! Serves the API Lambda's handler over plain HTTP, the way API Gateway
//! would call it: the same `order_api::handle`, the same request type.

use std::net::SocketAddr;

use axum::body::{to_bytes, Body as AxumBody};
use axum::extract::{Request, State};
use axum::response::Response;
use lambda_http::Body;
use order_api::problem::Problem;
use order_api::App;

/// Well above the API's own 64 KiB limit, so the API answers the 413.
const READ_LIMIT: usize = 1024 * 1024;

pub async fn serve(addr: SocketAddr, app: App) -> Result<(), Box<dyn std::error::Error>> {
    let router = axum::Router::new().fallback(forward).with_state(app);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, router).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn forward(State(app): State<App>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let response = match to_bytes(body, READ_LIMIT).await {
        Ok(bytes) => {
            let body = if bytes.is_empty() { Body::Empty } else { Body::Binary(bytes.to_vec()) };
            order_api::handle(&app, lambda_http::Request::from_parts(parts, body)).await
        }
        Err(error) => {
            // The API never saw this request: answer as it would.
            let correlation_id = parts.headers.get("x-correlation-id").and_then(|v| v.to_str().ok());
            let correlation_id = correlation_id.map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
            let over_limit = error.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
            let problem = if over_limit {
                Problem::too_large(order_api::MAX_BODY_BYTES)
            } else {
                Problem::malformed_json("the request body could not be read")
            };
            problem.into_response(&correlation_id)
        }
    };
    let (parts, body) = response.into_parts();
    let body = match body {
        Body::Text(text) => AxumBody::from(text),
        Body::Binary(bytes) => AxumBody::from(bytes),
        _ => AxumBody::empty(),
    };
    Response::from_parts(parts, body)
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
