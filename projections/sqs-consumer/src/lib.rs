//! The shape every projection consumer shares. An SQS batch of raw-delivered
//! envelopes comes in; the projection applies the good ones; the answer names
//! every message to retry, each failed as [`Failure::Transient`] or
//! [`Failure::Poison`]. A transient failure's message is hidden for a
//! [`Backoff`] that grows with its receive count, so a long outage uses few
//! of the queue's receives; poison (a message that is not a readable
//! envelope, or that the projection refuses for good) is made visible at
//! once, to spend its receives and reach the DLQ after the queue's
//! `maxReceiveCount` in seconds. The rest of the batch goes on.

pub mod backoff;
pub mod by_order;
pub mod visibility;

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage, SqsMessageAttribute};
use domain::upcast::SchemaVersions;
use domain::{Envelope, Lane};

pub use backoff::{failed_all, Backoff, Failed, Failure};
pub use by_order::{group_by_order, OrderSteps, Step};
pub use visibility::{queue_url_of, VisibilityClient};

/// One readable message of a batch.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub message_id: String,
    pub envelope: Envelope,
    /// The lane the event is stored in, from the message's `lane`
    /// attribute; `None` when the message has none (sent by a publisher
    /// older than lanes, or not through the topic).
    pub lane: Option<Lane>,
    /// The trace this message's handling continues: the publisher's span
    /// for it (the `traceparent` attribute), else the command that appended
    /// the event (the envelope's).
    pub traceparent: Option<String>,
}

#[async_trait]
pub trait Projection: Send + Sync {
    /// Applies `batch` (in delivery order, possibly with duplicates and out
    /// of order) and returns the messages that must be retried, and why.
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed>;

    /// The versions of each event type the consumer reads messages up to:
    /// this build's, unless a test runs an earlier build's ([`InBuild`]).
    fn build(&self) -> SchemaVersions {
        SchemaVersions::current()
    }
}

/// `projection` as the build at `build` runs it: a message of a version
/// above `build`'s is poison, as it is to that build. For tests that run a
/// consumer of the build before a bump beside this one (its stores at the
/// same versions).
pub struct InBuild<P> {
    pub projection: P,
    pub build: SchemaVersions,
}

#[async_trait]
impl<P: Projection> Projection for InBuild<P> {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        self.projection.apply(batch).await
    }

    fn build(&self) -> SchemaVersions {
        self.build
    }
}

/// One failed message of a batch, and when the queue is to deliver it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    pub message_id: String,
    pub receipt_handle: Option<String>,
    /// The record's `eventSourceARN`: the queue it came from.
    pub queue_arn: Option<String>,
    /// `ApproximateReceiveCount`, this receive included (1 when absent).
    pub receive_count: u32,
    pub failure: Failure,
    /// Hidden this long: the [`Backoff`] for a transient failure, zero for poison.
    pub visibility: Duration,
}

/// The Lambda handler body of a projection consumer: the batch through
/// `projection`, each failed message's visibility set through `visibility`
/// (the retries' schedule, `backoff`), the partial batch failures out.
pub async fn handle_with_backoff(
    projection: &dyn Projection,
    event: SqsEvent,
    backoff: &Backoff,
    visibility: &VisibilityClient,
) -> SqsBatchResponse {
    let retries = retries(projection, event, backoff).await;
    visibility.set(&retries).await;
    batch_response(retries.into_iter().map(|r| r.message_id).collect())
}

/// The partial batch failures alone, every failed message left to the
/// queue's own visibility timeout: for tests and benchmarks that deliver
/// in process.
pub async fn handle_sqs_event(projection: &dyn Projection, event: SqsEvent) -> SqsBatchResponse {
    let retries = retries(projection, event, &Backoff::default()).await;
    batch_response(retries.into_iter().map(|r| r.message_id).collect())
}

/// Runs the batch through `projection` and answers each failed message
/// with when it is to come back.
pub async fn retries(projection: &dyn Projection, event: SqsEvent, backoff: &Backoff) -> Vec<Retry> {
    let mut failed = Vec::new();
    let mut batch = Vec::with_capacity(event.records.len());
    let mut received: HashMap<String, SqsMessage> = HashMap::with_capacity(event.records.len());
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let lane = lane_of(&message_id, &record.message_attributes);
        match Envelope::read_by(projection.build(), body) {
            Ok((envelope, _)) => {
                let traceparent = record
                    .message_attributes
                    .get(contract::message::TRACEPARENT)
                    .and_then(|attribute| attribute.string_value.clone())
                    .or_else(|| envelope.traceparent.clone());
                batch.push(Delivery { message_id: message_id.clone(), envelope, lane, traceparent })
            }
            Err(error) => {
                tracing::error!(%message_id, %error, "poison message: not a readable order event envelope");
                failed.push(Failed::poison(message_id.clone()));
            }
        }
        received.insert(message_id, record);
    }
    if !batch.is_empty() {
        failed.extend(projection.apply(batch).await);
    }
    failed
        .into_iter()
        .map(|Failed { message_id, failure }| {
            let record = received.get(&message_id);
            let receive_count = record
                .and_then(|r| r.attributes.get("ApproximateReceiveCount"))
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            let visibility = match failure {
                Failure::Transient => backoff.visibility(receive_count),
                Failure::Poison => Duration::ZERO,
            };
            Retry {
                receipt_handle: record.and_then(|r| r.receipt_handle.clone()),
                queue_arn: record.and_then(|r| r.event_source_arn.clone()),
                message_id,
                receive_count,
                failure,
                visibility,
            }
        })
        .collect()
}

/// The `lane` message attribute; an unreadable one counts as none (the
/// consumer then reads what it needs rather than trust it).
fn lane_of(message_id: &str, attributes: &HashMap<String, SqsMessageAttribute>) -> Option<Lane> {
    let value = attributes.get(contract::message::LANE)?.string_value.as_deref()?;
    value.parse().inspect_err(|error| tracing::warn!(%message_id, %error, "unreadable lane attribute; ignored")).ok()
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
        async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
            self.0.lock().unwrap().extend(batch.into_iter().map(|d| (d.message_id, d.lane)));
            Vec::new()
        }
    }

    /// Fails the messages it is told to, each for its reason.
    struct Failing(Vec<Failed>);

    #[async_trait]
    impl Projection for Failing {
        async fn apply(&self, _: Vec<Delivery>) -> Vec<Failed> {
            self.0.clone()
        }
    }

    /// A transient failure is hidden for the backoff of its receive count,
    /// poison (unreadable here, or refused by the projection) for nothing;
    /// each retry keeps its receipt handle and queue.
    #[tokio::test]
    async fn a_transient_failure_backs_off_by_its_receive_count_and_poison_comes_back_at_once() {
        let path = format!("{}/../../events/sqs-inventory-order-placed.json", env!("CARGO_MANIFEST_DIR"));
        let sample: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body = sample["Records"][0]["body"].as_str().unwrap();
        let record = |id: &str, body: &str, receives: Option<&str>| {
            let mut message = SqsMessage::default();
            message.message_id = Some(id.to_owned());
            message.receipt_handle = Some(format!("receipt-{id}"));
            message.body = Some(body.to_owned());
            message.event_source_arn = Some("arn:aws:sqs:eu-west-1:123456789012:inventory".to_owned());
            if let Some(receives) = receives {
                message.attributes.insert("ApproximateReceiveCount".to_owned(), receives.to_owned());
            }
            message
        };
        let mut event = SqsEvent::default();
        event.records = vec![
            record("first", body, None),
            record("fourth", body, Some("4")),
            record("refused", body, Some("2")),
            record("unreadable", "{}", Some("3")),
            record("applied", body, Some("1")),
        ];
        let projection =
            Failing(vec![Failed::transient("first"), Failed::transient("fourth"), Failed::poison("refused")]);
        let backoff = Backoff { base: Duration::from_secs(10), cap: Duration::from_secs(60) };

        let mut retries = retries(&projection, event, &backoff).await;

        retries.sort_by(|a, b| a.message_id.cmp(&b.message_id));
        let summary: Vec<_> = retries.iter().map(|r| (r.message_id.as_str(), r.receive_count, r.failure)).collect();
        assert_eq!(
            summary,
            [
                ("first", 1, Failure::Transient),
                ("fourth", 4, Failure::Transient),
                ("refused", 2, Failure::Poison),
                ("unreadable", 3, Failure::Poison),
            ]
        );
        let visibility = |id: &str| retries.iter().find(|r| r.message_id == id).unwrap().visibility.as_secs();
        assert!((5..=10).contains(&visibility("first")), "{}", visibility("first"));
        assert!((30..=60).contains(&visibility("fourth")), "80 s capped at 60: {}", visibility("fourth"));
        assert_eq!((visibility("refused"), visibility("unreadable")), (0, 0));
        assert!(retries.iter().all(|r| r.receipt_handle.as_deref() == Some(&*format!("receipt-{}", r.message_id))));
        assert!(retries.iter().all(|r| r.queue_arn.as_deref() == Some("arn:aws:sqs:eu-west-1:123456789012:inventory")));
    }

    /// Logs written while `run` runs, one JSON object a line.
    async fn logged<F: std::future::Future>(run: F) -> (F::Output, String) {
        #[derive(Clone, Default)]
        struct Captured(std::sync::Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
        let output = {
            let _default = tracing::subscriber::set_default(subscriber);
            run.await
        };
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (output, text)
    }

    /// An event of a `schemaVersion` newer than this build (a publisher
    /// deployed before its consumers) is poison: back at once, to reach the
    /// DLQ in seconds, its log line saying why; `orders dlq redrive` after
    /// the consumer's upgrade delivers it. An older version is read, upcast.
    #[tokio::test]
    async fn a_version_newer_than_the_build_is_poison_and_its_log_says_so() {
        let path = format!("{}/../../events/sqs-inventory-order-placed.json", env!("CARGO_MANIFEST_DIR"));
        let sample: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let body = sample["Records"][0]["body"].as_str().unwrap();
        let current = domain::EventType::OrderPlaced.schema_version();
        let newer =
            body.replace(&format!(r#""schemaVersion":{current}"#), &format!(r#""schemaVersion":{}"#, current + 1));
        assert_ne!(newer, body);
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "newer", "body": newer},
            {"messageId": "current", "body": body},
        ]}))
        .unwrap();
        let recorder = Recorder::default();

        let (retries, logs) = logged(retries(&recorder, event, &Backoff::default())).await;

        let summary: Vec<_> = retries.iter().map(|r| (r.message_id.as_str(), r.failure, r.visibility)).collect();
        assert_eq!(summary, [("newer", Failure::Poison, Duration::ZERO)]);
        assert_eq!(recorder.0.into_inner().unwrap(), [("current".to_owned(), None)]);
        let line = logs.lines().find(|l| l.contains("poison message")).expect("a log line for the poison message");
        let reason =
            format!("schemaVersion {} of OrderPlaced is newer than this build (reads up to {current})", current + 1);
        assert!(line.contains(&reason) && line.contains(r#""message_id":"newer""#), "{line}");
    }

    /// A consumer of the build before OrderRejected's bump meets this
    /// build's version 2 as that build did: poison, its log line naming the
    /// version it reads up to; version 1 it reads.
    #[tokio::test]
    async fn a_consumer_of_the_previous_build_dead_letters_a_bumped_types_new_version() {
        let rejected = |version: u32, data: &str| {
            format!(
                r#"{{"eventId":"0193b0a4-7c1e-7a11-9a43-2a1d3c4e5f60","eventType":"OrderRejected","schemaVersion":{version},"orderId":"8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01","version":2,"occurredAt":"2026-11-27T09:00:00.123Z","correlationId":"c-1","causationId":"e-1","data":{data}}}"#
            )
        };
        let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"messageId": "v2", "body": rejected(2, r#"{"reason":"insufficient stock","shortages":[]}"#)},
            {"messageId": "v1", "body": rejected(1, r#"{"reason":"insufficient stock","unavailable":[]}"#)},
        ]}))
        .unwrap();
        let previous = InBuild { projection: Recorder::default(), build: SchemaVersions::previous() };

        let (retries, logs) = logged(retries(&previous, event, &Backoff::default())).await;

        let summary: Vec<_> = retries.iter().map(|r| (r.message_id.as_str(), r.failure)).collect();
        assert_eq!(summary, [("v2", Failure::Poison)]);
        assert_eq!(previous.projection.0.into_inner().unwrap(), [("v1".to_owned(), None)]);
        let line = logs.lines().find(|l| l.contains("poison message")).expect("a log line for the poison message");
        assert!(line.contains("schemaVersion 2 of OrderRejected is newer than this build (reads up to 1)"), "{line}");
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
