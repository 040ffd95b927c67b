//! In-process delivery of SQS batches to a projection, as Lambda hands
//! them over, for tests and benchmarks: no queue, no poller.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use domain::Lane;
use sqs_consumer::{handle_sqs_event, Projection};

/// Runs `projection` on `bodies` as one SQS batch whose message ids are the
/// bodies' indices ("0", "1", …) and returns the ids to retry, whatever
/// their failure. The messages carry no attributes.
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

/// The message attributes of a message the topic sent with `lane`, as
/// Lambda hands them over (only `lane`: the one a consumer reads).
fn lane_attributes(lane: Lane) -> HashMap<String, SqsMessageAttribute> {
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = Some(lane.as_str().to_owned());
    attribute.data_type = Some("String".to_owned());
    HashMap::from([(contract::message::LANE.to_owned(), attribute)])
}
