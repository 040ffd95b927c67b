//! Serves the API Lambda's router over plain HTTP: the same routes, layers
//! and handlers API Gateway reaches through `lambda_http`, behind the local
//! stand-in for API Gateway's JWT authorizer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::middleware::from_fn_with_state;
use local_aws::authorizer::{authorize, Authorizer};
use order_api::App;

pub fn router(app: App, authorizer: Arc<Authorizer>) -> axum::Router {
    order_api::router(app).layer(from_fn_with_state(authorizer, authorize))
}

pub async fn serve(addr: SocketAddr, app: App, authorizer: Arc<Authorizer>) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, router(app, authorizer)).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
