//! The stream reader's checkpoint against DynamoDB Local: a reader started
//! again resumes after the last batch it handed on; without the file it
//! replays the stream from the trim horizon.

use crate::support;

use std::sync::{Arc, Mutex};

use aws_lambda_events::event::streams::DynamoDbEventResponse;
use commands::{CommandContext, OrderService, RetryPolicy};
use domain::{Command, Currency, CustomerId, OrderId, OrderLine, PlaceOrder, Sku};
use event_store::DynamoEventStore;
use local_aws::stream::{Checkpoint, StreamOptions, StreamReader};
use support::LocalStack;

async fn place_orders(service: &OrderService, n: usize) {
    for _ in 0..n {
        let command = Command::Place(PlaceOrder {
            customer_id: CustomerId::parse("cust-1").unwrap(),
            basket_id: None,
            currency: Currency::parse("EUR").unwrap(),
            lines: vec![OrderLine {
                sku: Sku::parse("muskie-casting-rod").unwrap(),
                quantity: 1,
                unit_price_cents: 100,
            }],
        });
        let id = OrderId(uuid::Uuid::new_v4());
        service.execute(id, &command, &CommandContext::new("checkpoint"), RetryPolicy::NONE).await.unwrap();
    }
}

/// Drains the stream once with a fresh reader; answers the sequence numbers handed on.
async fn read_all(stack: &LocalStack, stream_arn: &str, checkpoint: &std::path::Path) -> Vec<String> {
    let options = StreamOptions { batch_size: 7, checkpoint: Some(checkpoint.to_owned()), ..StreamOptions::default() };
    let mut reader = StreamReader::new(stack.streams.clone(), stream_arn, options);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handler = |event: aws_lambda_events::event::dynamodb::Event| {
        let seen = seen.clone();
        async move {
            let mut seen = seen.lock().unwrap();
            seen.extend(event.records.iter().map(|r| r.change.sequence_number.clone().unwrap_or_default()));
            DynamoDbEventResponse::default()
        }
    };
    reader.drain_once(&handler).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    seen
}

#[tokio::test]
async fn a_restarted_reader_resumes_after_its_checkpoint_and_replays_without_it() {
    let stack = LocalStack::connect().await;
    let (table, stream_arn) = stack.events_table().await;
    let service = OrderService::new(Arc::new(DynamoEventStore::new(stack.dynamodb.clone(), &table)));
    let checkpoint = std::env::temp_dir().join(format!("{}.json", testkit::unique_name("stream-checkpoint")));

    place_orders(&service, 20).await;
    let first = read_all(&stack, &stream_arn, &checkpoint).await;
    assert_eq!(first.len(), 20);
    let saved = Checkpoint::load(&checkpoint, &stream_arn);
    assert_eq!(saved.shards.values().max(), first.iter().max(), "the last record handed on is remembered");

    // A restart reads nothing again; new records only.
    assert!(read_all(&stack, &stream_arn, &checkpoint).await.is_empty());
    place_orders(&service, 5).await;
    let after = read_all(&stack, &stream_arn, &checkpoint).await;
    assert_eq!(after.len(), 5);
    assert!(after.iter().all(|s| !first.contains(s)));

    // No checkpoint: the whole stream again, from the trim horizon.
    std::fs::remove_file(&checkpoint).unwrap();
    assert_eq!(read_all(&stack, &stream_arn, &checkpoint).await.len(), 25);
    std::fs::remove_file(&checkpoint).unwrap();
}
