//! The `api` Lambda: API Gateway HTTP API (payload v2) in, the order API's
//! router out.

use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = order_api::App::from_env().await?;
    run(order_api::router(app)).await
}
