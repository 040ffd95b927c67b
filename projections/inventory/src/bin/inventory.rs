//! The inventory Lambda: SQS batch of raw-delivered envelopes in, partial
//! batch failures out, each failed message's visibility set by its backoff.
//! Tables from `INVENTORY_TABLE`, `EVENTS_TABLE` and `CATALOG_TABLE` (the
//! purchase limits, through this instance's cache).

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use catalog_store::{CachedCatalog, DynamoCatalog};
use commands::OrderService;
use event_store::DynamoEventStore;
use inventory::{InventoryProjection, LIMITS_CACHE_TTL};
use inventory_store::DynamoInventoryStore;
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, TracingLayer};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use sqs_consumer::{handle_with_backoff, Backoff, VisibilityClient};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let inventory_table = contract::config::required(contract::config::INVENTORY_TABLE)?;
    let events_table = contract::config::required(contract::config::EVENTS_TABLE)?;
    let catalog_table = contract::config::required(contract::config::CATALOG_TABLE)?;
    let config = sdk_config::load().await?;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let orders = OrderService::new(Arc::new(DynamoEventStore::new(dynamodb.clone(), events_table)));
    let catalog = CachedCatalog::new(Arc::new(DynamoCatalog::new(dynamodb.clone(), catalog_table)), LIMITS_CACHE_TTL);
    let stock = DynamoInventoryStore::new(dynamodb, inventory_table);
    let projection = InventoryProjection::new(Arc::new(stock), Arc::new(catalog), orders);
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
