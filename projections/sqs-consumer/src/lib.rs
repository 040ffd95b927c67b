//! The shape every projection consumer shares. An SQS batch of raw-delivered
//! envelopes comes in; the projection applies the good ones; the answer names
//! every message to retry. A message that is not a readable envelope
//! (poison) fails alone, is logged, and reaches the DLQ after the queue's
//! `maxReceiveCount` retries; the rest of the batch goes on.

pub mod by_order;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use domain::{Envelope, Lane};

pub use by_order::{group_by_order, OrderSteps, Step};

/// One readable message of a batch.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: String,
    pub envelope: Envelope,
    /// The lane the event is stored in, from the message's `lane`
    /// attribute; `None` when the message has none (sent by a publisher
    /// older than lanes, or not through the topic).
    pub lane: Option<Lane>,
}

#[async_trait]
pub trait Projection: Send + Sync {
    /// Applies `batch` (in delivery order, possibly with duplicates and out
    /// of order) and returns the message ids that must be retried.
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<String>;
}

/// The whole Lambda handler body of a projection consumer.
pub async fn handle_sqs_event(projection: &dyn Projection, event: SqsEvent) -> SqsBatchResponse {
    let mut failed = Vec::new();
    let mut batch = Vec::with_capacity(event.records.len());
    for record in event.records {
        let message_id = record.message_id.unwrap_or_default();
        let body = record.body.unwrap_or_default();
        let lane = lane_of(&message_id, &record.message_attributes);
        match Envelope::from_json(&body) {
            Ok(envelope) => batch.push(Delivery { message_id, envelope, lane }),
            Err(error) => {
                tracing::error!(%message_id, %error, "poison message: not a readable order event envelope");
                failed.push(message_id);
            }
        }
    }
    if !batch.is_empty() {
        failed.extend(projection.apply(batch).await);
    }
    batch_response(failed)
}

/// The `lane` message attribute; an unreadable one counts as none (the
/// consumer then reads what it needs rather than trust it).
fn lane_of(message_id: &str, attributes: &HashMap<String, SqsMessageAttribute>) -> Option<Lane> {
    let value = attributes.get(contract::message::LANE)?.string_value.as_deref()?;
    value.parse().inspect_err(|error| tracing::warn!(%message_id, %error, "unreadable lane attribute; ignored")).ok()
}

/// The message attributes of a message the topic sent with `lane`, as
/// Lambda hands them over (only `lane`: the one a consumer reads).
fn lane_attributes(lane: Lane) -> HashMap<String, SqsMessageAttribute> {
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some(lane.as_str().to_owned());
    attribute.data_type = Some("String".to_owned());
    HashMap::from([(contract::message::LANE.to_owned(), attribute)])
}

/// Runs `projection` on `bodies` as one SQS batch whose message ids are the
/// bodies' indices ("0", "1", …) and returns the ids to retry: in-process
/// delivery for tests and benchmarks. The messages carry no attributes.
pub async fn deliver_bodies(projection: &dyn Projection, bodies: &[String]) -> Vec<String> {
    deliver(projection, bodies, None).await
}

/// [`deliver_bodies`] from one lane's queue: every message carries the
/// `lane` attribute, as the topic sends it.
pub async fn deliver_in_lane(projection: &dyn Projection, bodies: &[String], lane: Lane) -> Vec<String> {
    deliver(projection, bodies, Some(lane)).await
}

async fn deliver(projection: &dyn Projection, bodies: &[String], lane: Option<Lane>) -> Vec<String> {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut message = SqsMessage::default();
            message.message_id = Some(i.to_string());
            message.body = Some(body.clone());
            message.message_attributes = lane.map(lane_attributes).unwrap_or_default();
            message
        })
        .collect();
    let response = handle_sqs_event(projection, event).await;
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

pub fn batch_response(failed_message_ids: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed_message_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, Option<Lane>)>>);

    #[async_trait]
    impl Projection for Recorder {
        async fn apply(&self, batch: Vec<Delivery>) -> Vec<String> {
            self.0.lock().unwrap().extend(batch.into_iter().map(|d| (d.message_id, d.lane)));
            Vec::new()
        }
    }

    /// The `lane` attribute as Lambda's SQS event holds it after SNS raw
    /// delivery; missing or unknown, the lane is not known.
    #[tokio::test]
    async fn the_lane_comes_from_the_lambda_message_attributes() {
        let path = format!("{}/../../events/sqs-inventory-order-placed.json", env!("CARGO_MANIFEST_DIR"));
        let sample: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body = &sample["Records"][0]["body"];
        let record = |id: &str, attributes: serde_json::Value| serde_json::json!({"messageId": id, "body": body, "messageAttributes": attributes});
        let lane = |value: &str| serde_json::json!({"lane": {"stringValue": value, "dataType": "String"}});
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            record("hot", lane("hot")),
            record("standard", lane("standard")),
            record("none", serde_json::json!({})),
            record("unknown", lane("warm")),
        ]}))
        .unwrap();
        let recorder = Recorder::default();
        assert!(handle_sqs_event(&recorder, event).await.batch_item_failures.is_empty());
        assert_eq!(
            recorder.0.into_inner().unwrap(),
            [
                ("hot".to_owned(), Some(Lane::Hot)),
                ("standard".to_owned(), Some(Lane::Standard)),
                ("none".to_owned(), None),
                ("unknown".to_owned(), None),
            ]
        );
    }
}
