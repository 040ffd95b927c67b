//! The `api` Lambda: API Gateway HTTP API (payload v2) in, order API out.

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = order_api::App::from_env().await?;
    run(service_fn(|request: Request| {
        let app = &app;
        async move { Ok::<_, Error>(order_api::handle(app, request).await) }
    }))
    .await
}
