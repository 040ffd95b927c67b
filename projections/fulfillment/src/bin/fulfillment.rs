//! The fulfillment Lambda: SQS batch of raw-delivered envelopes in, partial
//! batch failures out, each failed message's visibility set by its backoff. Tables from `FULFILLMENT_TABLE` and `EVENTS_TABLE`
//! (read only: the order's lines).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use event_store::DynamoEventStore;
use fulfillment::{DynamoFulfillmentStore, FulfillmentProjection};
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, TracingLayer};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use sqs_consumer::{handle_with_backoff, Backoff, VisibilityClient};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let fulfillment_table = contract::config::required(contract::config::FULFILLMENT_TABLE)?;
    let events_table = contract::config::required(contract::config::EVENTS_TABLE)?;
    let config = sdk_config::load().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let events = Arc::new(DynamoEventStore::new(dynamodb.clone(), events_table));
    let store = Arc::new(DynamoFulfillmentStore::new(dynamodb, fulfillment_table));
    let projection = FulfillmentProjection::new(store, events);
    let visibility = &VisibilityClient::new(aws_sdk_sqs::Client::new(&config));
    let projection = &projection;
    lambda_runtime::Runtime::new(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let response = handle_with_backoff(projection, event.payload, &Backoff::default(), visibility).await;
        Ok::<SqsBatchResponse, Error>(response)
    }))
    .layer(TracingLayer::new())
    .layer(telemetry.lambda_layer(OpenTelemetryFaasTrigger::PubSub))
    .run()
    .await
}
