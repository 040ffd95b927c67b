//! The `api` Lambda: API Gateway HTTP API (payload v2) in, the order API's
//! router out.

use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let app = api::App::from_env().await?;
    run(api::router(app)).await
}
