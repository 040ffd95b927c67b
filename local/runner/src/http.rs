//! Serves the API Lambda's router over plain HTTP: the same routes, layers
//! and handlers API Gateway reaches through `lambda_http`.

use std::net::SocketAddr;

use order_api::App;

pub async fn serve(addr: SocketAddr, app: App) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, order_api::router(app)).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
