//! The publisher Lambda: DynamoDB stream batch in, `ReportBatchItemFailures`
//! answer out. Configuration: `ORDER_EVENTS_TOPIC_ARN`,
//! `PUBLISH_PREVIOUS_VERSION_UNTIL`.

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, TracingLayer};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use publisher::{handle_stream_event, PreviousVersionWindow, SnsPublisher};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let topic_arn = contract::config::required(contract::config::ORDER_EVENTS_TOPIC_ARN)?;
    let window = PreviousVersionWindow::from_env()?;
    let config = sdk_config::load().await?;
    let sns = SnsPublisher::new(aws_sdk_sns::Client::new(&config), topic_arn);
    lambda_runtime::Runtime::new(service_fn(|event: LambdaEvent<Event>| {
        let sns = &sns;
        async move {
            let response: DynamoDbEventResponse =
                handle_stream_event(sns, window, event.payload, event.context.xray_trace_id.as_deref()).await;
            Ok::<_, Error>(response)
        }
    }))
    .layer(TracingLayer::new())
    .layer(telemetry.lambda_layer(OpenTelemetryFaasTrigger::Datasource))
    .run()
    .await
}
