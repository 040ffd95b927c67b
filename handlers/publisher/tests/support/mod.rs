//! Shared by the publisher's tests: the sample stream payloads of `events/`
//! and a topic double that fails on demand.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use order_domain::event::{OrderConfirmed, OrderPlaced};
use order_domain::{Currency, CustomerId, Envelope, OrderEvent, OrderId, OrderLine, Sku};
use publisher::{BatchEntry, EntryFailure, EntryOutcome, EventPublisher, InMemoryTopic, PublishError};

/// A Lambda payload from the repository's `events/` directory.
pub fn sample_event(file: &str) -> Event {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(file);
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `envelope` attribute of each INSERTed event item, in stream order.
pub fn stored_envelopes(event: &Event) -> Vec<String> {
    event
        .records
        .iter()
        .filter(|r| r.event_name == "INSERT")
        .filter(|r| matches!(r.change.new_image.get("kind"), Some(serde_dynamo::AttributeValue::S(k)) if k == "event"))
        .map(|r| match r.change.new_image.get("envelope") {
            Some(serde_dynamo::AttributeValue::S(envelope)) => envelope.clone(),
            other => panic!("event item without a string envelope: {other:?}"),
        })
        .collect()
}

/// The stream record of the event store's INSERT of `envelope`.
pub fn insert_record(envelope: &Envelope, sequence_number: &str) -> EventRecord {
    let record = serde_json::json!({
        "eventID": format!("evt-{sequence_number}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795770000,
            "Keys": {"orderId": {"S": envelope.order_id.to_string()}, "version": {"N": envelope.version.to_string()}},
            "NewImage": {
                "orderId": {"S": envelope.order_id.to_string()},
                "version": {"N": envelope.version.to_string()},
                "kind": {"S": "event"},
                "eventId": {"S": envelope.event_id.to_string()},
                "eventType": {"S": envelope.event_type().as_str()},
                "envelope": {"S": envelope.to_json()},
            },
            "SequenceNumber": sequence_number,
            "SizeBytes": 400,
            "StreamViewType": "NEW_IMAGE",
        },
    });
    serde_json::from_value(record).expect("a valid stream record")
}

/// A stream batch of INSERTs, sequence numbers 1001, 1002, …
pub fn stream_batch(envelopes: &[Envelope]) -> Event {
    let mut event = Event::default();
    event.records = envelopes.iter().enumerate().map(|(i, e)| insert_record(e, &(1001 + i).to_string())).collect();
    event
}

/// Version `version` of an order: OrderPlaced (with `sku`) first, then confirmations.
pub fn envelope(order_id: OrderId, version: u32, sku: &str) -> Envelope {
    let event = if version == 1 {
        let line = OrderLine { sku: Sku::parse(sku).unwrap(), quantity: 1, unit_price_cents: 1000 };
        OrderEvent::Placed(OrderPlaced {
            customer_id: CustomerId::parse("cust-1").unwrap(),
            basket_id: None,
            currency: Currency::parse("EUR").unwrap(),
            lines: vec![line],
            total_cents: 1000,
        })
    } else {
        OrderEvent::Confirmed(OrderConfirmed {})
    };
    Envelope {
        event_id: uuid::Uuid::new_v4(),
        order_id,
        version,
        occurred_at: chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 3),
        correlation_id: format!("corr-{order_id}"),
        causation_id: "cmd".into(),
        event,
    }
}

pub fn sequence_numbers(event: &Event) -> Vec<String> {
    event.records.iter().map(|r| r.change.sequence_number.clone().unwrap()).collect()
}

/// What one `publish_batch` call does.
#[derive(Clone, Debug)]
pub enum Fault {
    /// The call fails as a whole.
    FailCall,
    /// These positions of the request are refused; the rest are published.
    RejectEntries(Vec<usize>),
}

/// A topic that publishes into an [`InMemoryTopic`] except where a queued
/// [`Fault`] says otherwise, and records every request it gets.
#[derive(Default)]
pub struct FaultyTopic {
    pub topic: InMemoryTopic,
    faults: Mutex<VecDeque<Option<Fault>>>,
    requests: Mutex<Vec<Vec<BatchEntry>>>,
}

impl FaultyTopic {
    /// The next calls behave as listed (`None`: no fault); later calls have none.
    pub fn with_faults(faults: impl IntoIterator<Item = Option<Fault>>) -> Self {
        FaultyTopic { faults: Mutex::new(faults.into_iter().collect()), ..Default::default() }
    }

    pub fn requests(&self) -> Vec<Vec<BatchEntry>> {
        self.requests.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for FaultyTopic {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        self.requests.lock().unwrap().push(entries.to_vec());
        let fault = self.faults.lock().unwrap().pop_front().flatten();
        match fault {
            Some(Fault::FailCall) => Err(PublishError::Request("injected: service unavailable".into())),
            Some(Fault::RejectEntries(rejected)) => {
                let mut outcomes = Vec::new();
                for (position, entry) in entries.iter().enumerate() {
                    if rejected.contains(&position) {
                        outcomes.push(Err(EntryFailure {
                            code: "InternalError".into(),
                            message: "injected".into(),
                            sender_fault: false,
                        }));
                    } else {
                        outcomes.extend(self.topic.publish_batch(std::slice::from_ref(entry)).await?);
                    }
                }
                Ok(outcomes)
            }
            None => self.topic.publish_batch(entries).await,
        }
    }
}

/// Clients for the local stack, failing with instructions when it is not up.
pub struct LocalStack {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl LocalStack {
    pub async fn connect() -> Self {
        testkit::local_stack_config("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await;
        testkit::local_stack_config("AWS_ENDPOINT_URL_SNS").await;
        let sqs = testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
        let config = testkit::dynamodb_config().await;
        LocalStack {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            streams: aws_sdk_dynamodbstreams::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&sqs),
        }
    }

    /// A new events table (stream NEW_IMAGE) and its stream ARN.
    pub async fn events_table(&self) -> (String, String) {
        let table = testkit::unique_name("publisher-events");
        event_store::create_events_table(&self.dynamodb, &table).await.unwrap();
        let stream_arn = publisher::stream::latest_stream_arn(&self.streams, &table).await.unwrap();
        (table, stream_arn)
    }

    pub async fn topic(&self) -> String {
        let name = testkit::unique_name("order-events");
        self.sns.create_topic().name(name).send().await.unwrap().topic_arn.unwrap()
    }

    /// A queue subscribed to `topic_arn` with raw message delivery and,
    /// if given, a filter policy; returns the queue URL.
    pub async fn subscribed_queue(&self, topic_arn: &str, filter_policy: Option<&str>) -> String {
        let name = testkit::unique_name("subscriber");
        let queue_url = self.sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        let mut subscribe = self
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true");
        if let Some(policy) = filter_policy {
            subscribe = subscribe.attributes("FilterPolicy", policy);
        }
        subscribe.send().await.unwrap();
        queue_url
    }

    /// Everything the queue holds now (received and deleted), waiting up
    /// to a second for late arrivals.
    pub async fn drain_queue(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut messages = Vec::new();
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let batch = output.messages.unwrap_or_default();
            if batch.is_empty() {
                return messages;
            }
            for message in &batch {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            messages.extend(batch);
        }
    }

    /// The `envelope` attribute of every event item of the table, by eventId.
    pub async fn stored_envelopes(&self, table: &str) -> HashMap<String, String> {
        let output = self.dynamodb.scan().table_name(table).consistent_read(true).send().await.unwrap();
        assert!(output.last_evaluated_key.is_none(), "test tables fit one scan page");
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let text = |name: &str| item[name].as_s().unwrap().clone();
                (text("eventId"), text("envelope"))
            })
            .collect()
    }
}
