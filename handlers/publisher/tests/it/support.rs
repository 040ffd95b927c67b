//! Shared by the publisher's tests: the sample stream payloads of `events/`,
//! a topic double that records what it is sent, and one that fails on demand.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use contract::event_item::{AnyItem, EventItem};
use contract::{BatchEntry, EntryFailure, EntryOutcome, EventPublisher, OutgoingMessage, PublishError};
use domain::event::{OrderConfirmed, OrderPlaced};
use domain::{Currency, CustomerId, Envelope, OrderEvent, OrderId, OrderLine, Sku};
use tokio::sync::mpsc;

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
        .map(|r| serde_dynamo::from_item::<_, AnyItem>(r.change.new_image.clone()).expect("a readable image"))
        .filter(AnyItem::is_event)
        .map(|item| item.envelope.expect("event items have an envelope"))
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
            "NewImage": serde_dynamo::to_item::<_, serde_dynamo::Item>(EventItem::new(envelope)).expect("an item"),
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
        traceparent: None,
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

/// A topic that publishes into a [`RecordingTopic`] except where a queued
/// [`Fault`] says otherwise, and records every request it gets.
#[derive(Default)]
pub struct FaultyTopic {
    pub topic: RecordingTopic,
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

/// A message as the [`RecordingTopic`] received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub message_id: String,
    pub message: OutgoingMessage,
}

/// A topic that accepts every entry and hands it to its subscribers, in
/// publish order.
#[derive(Default)]
pub struct RecordingTopic {
    subscribers: Mutex<Vec<mpsc::UnboundedSender<Delivered>>>,
    published: Mutex<usize>,
}

impl RecordingTopic {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Delivered> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscribers.lock().unwrap().push(sender);
        receiver
    }
}

#[async_trait]
impl EventPublisher for RecordingTopic {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        let mut published = self.published.lock().unwrap();
        let subscribers = self.subscribers.lock().unwrap();
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            *published += 1;
            let delivered = Delivered { message_id: format!("recorded-{published}"), message: entry.message.clone() };
            for subscriber in subscribers.iter() {
                let _ = subscriber.send(delivered.clone());
            }
            outcomes.push(Ok(delivered.message_id));
        }
        Ok(outcomes)
    }
}
