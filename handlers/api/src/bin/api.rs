//! The `api` Lambda: API Gateway HTTP API (payload v2) in, the order API's
//! router out.

use lambda_http::lambda_runtime::layers::{OpenTelemetryFaasTrigger, TracingLayer};
use lambda_http::lambda_runtime::Runtime;
use lambda_http::{Adapter, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let app = api::App::from_env().await?;
    // What `lambda_http::run` does, with the invocation's OpenTelemetry span.
    Runtime::new(Adapter::from(api::router(app)))
        .layer(TracingLayer::new())
        .layer(telemetry.lambda_layer(OpenTelemetryFaasTrigger::Http))
        .run()
        .await
}
