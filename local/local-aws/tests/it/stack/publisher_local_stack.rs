//! The publisher against the local stack (`scripts/local-stack up`):
//! commands through `OrderService` over the DynamoDB event store, the events
//! table's stream read from DynamoDB Local, the handler publishing to moto
//! SNS, and SQS queues subscribed with raw delivery and filter policies.

use crate::support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_sqs::types::Message;
use commands::{CommandContext, OrderService, RetryPolicy};
use contract::message::{EVENT_TYPE, ORDER_ID, SCHEMA_VERSION_ATTRIBUTE, SKUS};
use contract::{BatchEntry, EntryOutcome, EventPublisher, MessageAttribute, PublishError};
use domain::{
    Command, Currency, CustomerId, Envelope, EventType, OrderId, OrderLine, PlaceOrder, Reason, Sku, TrackingNumber,
};
use event_store::DynamoEventStore;
use local_aws::stream::{StreamOptions, StreamReader};
use local_aws::FilterPolicy;
use publisher::{handle_stream_event, PreviousVersionWindow, SnsPublisher};
use support::{as_published, LocalStack};

const ONLY_SHIPPED: &str = r#"{"eventType":["OrderShipped"]}"#;
const MUSKIE_ORDERS: &str = r#"{"skus":["muskie-casting-rod"]}"#;

fn line(sku: &str, quantity: u32, unit_price_cents: u64) -> OrderLine {
    OrderLine { sku: Sku::parse(sku).unwrap(), quantity, unit_price_cents }
}

fn place(lines: Vec<OrderLine>) -> Command {
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("cust-42").unwrap(),
        basket_id: None,
        currency: Currency::parse("EUR").unwrap(),
        lines,
    })
}

/// Runs `commands` on a new order each and returns the appended envelopes.
async fn run_orders(service: &OrderService, orders: Vec<Vec<Command>>) -> Vec<Envelope> {
    let mut appended = Vec::new();
    for commands in orders {
        let order_id = OrderId(uuid::Uuid::new_v4());
        let context = CommandContext::new(format!("corr-{order_id}"));
        for command in commands {
            let outcome = service.execute(order_id, &command, &context, RetryPolicy::NONE).await.unwrap();
            appended.extend(outcome.appended);
        }
    }
    appended
}

fn event_id_of(message: &Message) -> String {
    Envelope::from_json(message.body().unwrap()).unwrap().event_id.to_string()
}

#[tokio::test]
async fn commands_end_as_exact_envelopes_in_subscribed_queues_honouring_filter_policies() {
    let stack = LocalStack::connect().await;
    let (table, stream_arn) = stack.events_table().await;
    let topic_arn = stack.topic().await;
    let everything = stack.subscribed_queue(&topic_arn, None).await;
    let shipped_only = stack.subscribed_queue(&topic_arn, Some(ONLY_SHIPPED)).await;
    let muskie_only = stack.subscribed_queue(&topic_arn, Some(MUSKIE_ORDERS)).await;
    let service = OrderService::new(Arc::new(DynamoEventStore::new(stack.dynamodb.clone(), &table)));

    let appended = run_orders(
        &service,
        vec![
            vec![
                place(vec![line("muskie-casting-rod", 1, 24900), line("braided-line-30lb", 2, 1999)]),
                Command::Confirm,
                Command::Ship { tracking_number: Some(TrackingNumber::parse("1Z999AA10123456784").unwrap()) },
            ],
            vec![
                place(vec![line("spinnerbait-white", 3, 899)]),
                Command::Cancel { reason: Some(Reason::parse("changed mind").unwrap()) },
            ],
            vec![place(vec![line("muskie-casting-rod", 2, 24900)]), Command::Confirm],
        ],
    )
    .await;
    assert_eq!(appended.len(), 7);

    let sns = SnsPublisher::new(stack.sns.clone(), &topic_arn);
    let mut reader = StreamReader::new(stack.streams.clone(), &stream_arn, StreamOptions::default());
    let report = reader
        .drain_once(&|event| handle_stream_event(&sns, PreviousVersionWindow::CLOSED, event, None))
        .await
        .unwrap();
    assert_eq!((report.records, report.failed_batches), (7, 0));

    let stored = stack.stored_envelopes(&table).await;
    let all = stack.drain_queue(&everything).await;
    assert_eq!(all.len(), 7, "every event once");
    for message in &all {
        let body = message.body().unwrap();
        let envelope = Envelope::from_json(body).unwrap();
        assert_eq!(body, stored[&envelope.event_id.to_string()], "the exact bytes of the events table");
        let published = as_published(message);
        let attribute = |name: &str| published.attributes.get(name).cloned();
        assert_eq!(attribute(EVENT_TYPE), Some(MessageAttribute::String(envelope.event_type().as_str().into())));
        assert_eq!(attribute(SCHEMA_VERSION_ATTRIBUTE), Some(MessageAttribute::Number("1".into())));
        assert_eq!(attribute(ORDER_ID), Some(MessageAttribute::String(envelope.order_id.to_string())));
        assert_eq!(attribute(SKUS).is_some(), envelope.event_type() == EventType::OrderPlaced);
    }
    let appended_ids: HashSet<String> = appended.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(all.iter().map(event_id_of).collect::<HashSet<_>>(), appended_ids);

    let shipped = stack.drain_queue(&shipped_only).await;
    let shipped_types: Vec<EventType> =
        shipped.iter().map(|m| Envelope::from_json(m.body().unwrap()).unwrap().event_type()).collect();
    assert_eq!(shipped_types, [EventType::OrderShipped]);

    let muskie = stack.drain_queue(&muskie_only).await;
    let expected_muskie: HashSet<String> = appended
        .iter()
        .filter(|e| matches!(&e.event, domain::OrderEvent::Placed(p) if p.lines.iter().any(|l| l.sku.as_str() == "muskie-casting-rod")))
        .map(|e| e.event_id.to_string())
        .collect();
    assert_eq!(expected_muskie.len(), 2);
    assert_eq!(muskie.iter().map(event_id_of).collect::<HashSet<_>>(), expected_muskie);

    // The in-process evaluator the local runner uses agrees with moto's SNS.
    for (policy, queue) in [(ONLY_SHIPPED, &shipped), (MUSKIE_ORDERS, &muskie)] {
        let policy = FilterPolicy::from_json(policy).unwrap();
        let delivered: HashSet<String> = queue.iter().map(event_id_of).collect();
        for message in &all {
            assert_eq!(policy.matches(&as_published(message)), delivered.contains(&event_id_of(message)));
        }
    }
}

/// Refuses one entry of its first request by making it too large for SNS
/// (moto answers that entry as failed, the others as published); passes
/// every later request through unchanged.
struct OversizeOnce {
    sns: SnsPublisher,
    position: usize,
    done: Mutex<bool>,
}

#[async_trait]
impl EventPublisher for OversizeOnce {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        let first = !std::mem::replace(&mut *self.done.lock().unwrap(), true);
        if !first {
            return self.sns.publish_batch(entries).await;
        }
        let mut entries = entries.to_vec();
        entries[self.position].message.body = "x".repeat(contract::MAX_BATCH_BYTES + 1);
        self.sns.publish_batch(&entries).await
    }
}

/// Appends `orders` OrderPlaced events and returns them in stream order.
async fn placed_orders(stack: &LocalStack, table: &str, orders: usize) -> Vec<Envelope> {
    let service = OrderService::new(Arc::new(DynamoEventStore::new(stack.dynamodb.clone(), table)));
    let commands = (0..orders).map(|_| vec![place(vec![line("muskie-casting-rod", 1, 24900)])]).collect();
    run_orders(&service, commands).await
}

#[tokio::test]
async fn refused_entries_are_retried_from_the_first_failed_record_and_none_is_skipped() {
    let stack = LocalStack::connect().await;
    let (table, stream_arn) = stack.events_table().await;
    let topic_arn = stack.topic().await;
    let everything = stack.subscribed_queue(&topic_arn, None).await;
    let appended = placed_orders(&stack, &table, 12).await;

    let sns =
        OversizeOnce { sns: SnsPublisher::new(stack.sns.clone(), &topic_arn), position: 3, done: Mutex::new(false) };
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let handler = |event| {
        let failures = failures.clone();
        let sns = &sns;
        async move {
            let response = handle_stream_event(sns, PreviousVersionWindow::CLOSED, event, None).await;
            failures
                .lock()
                .unwrap()
                .extend(response.batch_item_failures.iter().filter_map(|f| f.item_identifier.clone()));
            response
        }
    };
    let mut reader = StreamReader::new(stack.streams.clone(), &stream_arn, StreamOptions::default());

    let first = reader.drain_once(&handler).await.unwrap();
    assert_eq!((first.records, first.failed_batches), (12, 1));
    let first_pass = stack.drain_queue(&everything).await;
    // moto refused entry 3 alone; the other nine of that request went out.
    assert_eq!(first_pass.len(), 9);

    let retry = reader.drain_once(&handler).await.unwrap();
    assert_eq!((retry.records, retry.failed_batches), (9, 0), "the retry starts at the 4th record");
    let second_pass = stack.drain_queue(&everything).await;

    let expected: Vec<String> = appended.iter().map(|e| e.event_id.to_string()).collect();
    let failed_event = &expected[3];
    assert_eq!(failures.lock().unwrap().len(), 1);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for message in first_pass.iter().chain(&second_pass) {
        *counts.entry(event_id_of(message)).or_default() += 1;
    }
    for (index, event_id) in expected.iter().enumerate() {
        let times = counts.get(event_id).copied().unwrap_or(0);
        match index {
            0..3 => assert_eq!(times, 1, "before the failed record: published once"),
            3 => assert_eq!(times, 1, "the failed record: published by the retry"),
            4..10 => assert_eq!(times, 2, "after it in the failed request: published, then again by the retry"),
            _ => assert_eq!(times, 1, "never attempted before the retry"),
        }
    }
    assert!(!first_pass.iter().any(|m| &event_id_of(m) == failed_event));
}

#[tokio::test]
async fn a_failed_publish_call_names_the_first_record_and_the_redelivery_publishes_all() {
    let stack = LocalStack::connect().await;
    let (table, stream_arn) = stack.events_table().await;
    let topic_arn = stack.topic().await;
    let everything = stack.subscribed_queue(&topic_arn, None).await;
    let appended = placed_orders(&stack, &table, 5).await;

    let missing_topic = SnsPublisher::new(stack.sns.clone(), format!("{topic_arn}-that-does-not-exist"));
    let mut reader = StreamReader::new(stack.streams.clone(), &stream_arn, StreamOptions::default());
    let named = Arc::new(Mutex::new(None));
    let failing = |event: aws_lambda_events::event::dynamodb::Event| {
        let first = event.records[0].change.sequence_number.clone();
        let named = named.clone();
        let missing_topic = &missing_topic;
        async move {
            let response = handle_stream_event(missing_topic, PreviousVersionWindow::CLOSED, event, None).await;
            *named.lock().unwrap() = Some((first, response.batch_item_failures[0].item_identifier.clone()));
            response
        }
    };
    let report = reader.drain_once(&failing).await.unwrap();
    assert_eq!(report.failed_batches, 1);
    let (first_record, named_record) = named.lock().unwrap().clone().unwrap();
    assert_eq!(named_record, first_record, "the first record of the batch is named");
    assert!(stack.drain_queue(&everything).await.is_empty());

    let sns = SnsPublisher::new(stack.sns.clone(), &topic_arn);
    let report = reader
        .drain_once(&|event| handle_stream_event(&sns, PreviousVersionWindow::CLOSED, event, None))
        .await
        .unwrap();
    assert_eq!((report.records, report.failed_batches), (5, 0));
    let delivered: Vec<String> = stack.drain_queue(&everything).await.iter().map(event_id_of).collect();
    let mut expected: Vec<String> = appended.iter().map(|e| e.event_id.to_string()).collect();
    let mut sorted = delivered.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "each event exactly once");
}

/// Records the X-Ray header of every request the SNS client sends.
#[derive(Debug, Default, Clone)]
struct TraceHeaders(Arc<Mutex<Vec<Option<String>>>>);

impl aws_sdk_sns::config::Intercept for TraceHeaders {
    fn name(&self) -> &'static str {
        "TraceHeaders"
    }

    fn read_before_transmit(
        &self,
        context: &aws_sdk_sns::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &aws_sdk_sns::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sns::config::ConfigBag,
    ) -> Result<(), aws_sdk_sns::error::BoxError> {
        let header = context.request().headers().get("x-amzn-trace-id").map(str::to_owned);
        self.0.lock().unwrap().push(header);
        Ok(())
    }
}

#[tokio::test]
async fn the_invocation_trace_header_is_sent_with_every_publish_request() {
    let stack = LocalStack::connect().await;
    let topic_arn = stack.topic().await;
    let everything = stack.subscribed_queue(&topic_arn, None).await;
    let headers = TraceHeaders::default();
    let config = aws_sdk_sns::config::Builder::from(&testkit::local_stack_config("AWS_ENDPOINT_URL_SNS").await)
        .interceptor(headers.clone())
        .build();
    let sns = SnsPublisher::new(aws_sdk_sns::Client::from_conf(config), &topic_arn);
    let trace = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1";

    let response = handle_stream_event(
        &sns,
        PreviousVersionWindow::CLOSED,
        support::sample_event("dynamodb-stream-order-events.json"),
        Some(trace),
    )
    .await;

    assert!(response.batch_item_failures.is_empty());
    assert_eq!(*headers.0.lock().unwrap(), [Some(trace.to_owned())]);
    assert_eq!(stack.drain_queue(&everything).await.len(), 5);
}
