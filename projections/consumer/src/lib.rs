//! The shape every projection consumer shares. An SQS batch of raw-delivered
//! envelopes comes in; the projection applies the good ones; the answer names
//! every message to retry. A message that is not a readable envelope
//! (poison) fails alone, is logged, and reaches the DLQ after the queue's
//! `maxReceiveCount` retries; the rest of the batch goes on.

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use order_domain::Envelope;

/// One readable message of a batch.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: String,
    pub envelope: Envelope,
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
        match Envelope::from_json(&body) {
            Ok(envelope) => batch.push(Delivery { message_id, envelope }),
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

/// Runs `projection` on `bodies` as one SQS batch whose message ids are the
/// bodies' indices ("0", "1", …) and returns the ids to retry: in-process
/// delivery for tests and benchmarks.
pub async fn deliver_bodies(projection: &dyn Projection, bodies: &[String]) -> Vec<String> {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut message = SqsMessage::default();
            message.message_id = Some(i.to_string());
            message.body = Some(body.clone());
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
