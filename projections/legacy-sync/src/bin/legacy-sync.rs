//! The legacy-sync Lambda: an SQS batch of raw-delivered order events in,
//! the legacy PostgreSQL rows updated in one transaction, the messages to
//! retry out (`ReportBatchItemFailures`), each hidden for its backoff
//! (`ChangeMessageVisibility`) while the database is down. The connection, opened on the
//! first batch, is kept for the next ones.

use std::sync::Arc;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use event_store::DynamoEventStore;
use lambda_runtime::layers::{OpenTelemetryFaasTrigger, TracingLayer};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use legacy_sync::LegacySync;
use sqs_consumer::{handle_with_backoff, Backoff, VisibilityClient};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let telemetry = telemetry::init();
    let aws = sdk_config::load().await?;
    let table = contract::config::required(contract::config::EVENTS_TABLE)?;
    let store = Arc::new(DynamoEventStore::new(aws_sdk_dynamodb::Client::new(&aws), table));
    let sync = Arc::new(
        // Shown as its message (a refused URL says what to write instead).
        LegacySync::from_env(store)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("set LEGACY_DB_SECRET_ARN (or LEGACY_DATABASE_URL) to the legacy database")?,
    );
    let visibility = VisibilityClient::new(aws_sdk_sqs::Client::new(&aws));
    lambda_runtime::Runtime::new(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let (sync, visibility) = (sync.clone(), visibility.clone());
        async move {
            let response = handle_with_backoff(&*sync, event.payload, &Backoff::default(), &visibility).await;
            Ok::<SqsBatchResponse, Error>(response)
        }
    }))
    .layer(TracingLayer::new())
    .layer(telemetry.lambda_layer(OpenTelemetryFaasTrigger::PubSub))
    .run()
    .await
}
