//! `orders republish`: backfill one subscriber's queue from the event store.
//!
//! Each event goes to the queue as the topic would have delivered it to a
//! raw-delivery subscription: the body is the stored envelope JSON byte for
//! byte (upcast when it was stored before its type's last bump), and the
//! message attributes are the publisher's own
//! ([`contract::message::OutgoingMessage::at_version`]). With a
//! `schemaVersion`, what a subscription filtering on it gets: each event
//! whose type is written at that version (its current one, or the previous
//! one of a bumped type, down-cast), and none of the others. Only that
//! queue gets them: no other subscriber sees a duplicate. Per order, events are
//! sent in version order (a scan segment holds an order's events together,
//! by version; `--order` reads each order with one query). Progress is
//! recorded after every page, so an interrupted run resumes where it was
//! (a page in flight is sent again: at least once, never a gap).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use chrono::{DateTime, Utc};
use contract::message::OutgoingMessage;
use domain::{EventType, OrderId};
use event_store::{DynamoEventStore, StoredEvent};

use crate::scan::{self, PageHandler, ScanJob, ScanOutcome, Segments};
use crate::stack::Error;
use crate::state;

/// SQS's limits on one SendMessageBatch.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub event_types: Vec<EventType>,
    pub orders: Vec<OrderId>,
    /// Each event at this `schemaVersion`; `None`: at its type's current one.
    pub schema_version: Option<u32>,
}

impl Filter {
    pub fn matches(&self, event: &StoredEvent) -> bool {
        let event_type = event.envelope.event_type();
        self.since.is_none_or(|since| event.envelope.occurred_at >= since)
            && (self.event_types.is_empty() || self.event_types.contains(&event_type))
            && (self.orders.is_empty() || self.orders.contains(&event.envelope.order_id))
            && self.schema_version.is_none_or(|v| domain::upcast::written_versions(event_type).contains(&v))
    }

    /// The version `event` goes out at.
    fn version_of(&self, event: &StoredEvent) -> u32 {
        self.schema_version.unwrap_or_else(|| event.envelope.event_type().schema_version())
    }

    fn describe(&self) -> serde_json::Value {
        let mut described = serde_json::json!({
            "since": self.since.map(|s| s.to_rfc3339()),
            "eventTypes": self.event_types.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "orders": self.orders.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
        });
        // Only when given: the progress of a run without it keeps its key.
        if let Some(version) = self.schema_version {
            described["schemaVersion"] = version.into();
        }
        described
    }
}

pub struct Options {
    pub queue_url: String,
    pub filter: Filter,
    pub segments: u32,
    pub page_size: Option<i32>,
    pub state_dir: PathBuf,
    pub restart: bool,
    pub stop_after_pages: Option<u64>,
}

/// The queue's entry for one event at `schema_version` (one its type
/// writes: [`Filter::matches`]): the publisher's message, as SQS attributes.
pub fn entry(id: usize, event: &StoredEvent, schema_version: u32) -> (SendMessageBatchRequestEntry, usize) {
    let message = OutgoingMessage::at_version(
        &event.envelope,
        event.json.clone(),
        event.schema_version,
        event.lane,
        schema_version,
    )
    .expect("the filter chose a version the event's type writes");
    let size = message.size_bytes();
    let attributes = message
        .attributes
        .iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type(value.data_type())
                .string_value(value.string_value())
                .build()
                .expect("data type is set");
            (name.clone(), value)
        })
        .collect();
    let entry = SendMessageBatchRequestEntry::builder()
        .id(id.to_string())
        .message_body(message.body)
        .set_message_attributes(Some(attributes))
        .build()
        .expect("id and body are set");
    (entry, size)
}

pub struct Sender {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub filter: Filter,
}

impl Sender {
    /// Sends `events` in order, in batches; retries entries SQS refused.
    pub async fn send(&self, events: &[StoredEvent]) -> Result<u64, Error> {
        let chosen: Vec<&StoredEvent> = events.iter().filter(|e| self.filter.matches(e)).collect();
        let mut start = 0;
        while start < chosen.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < chosen.len() && end - start < MAX_ENTRIES {
                let size = entry(0, chosen[end], self.filter.version_of(chosen[end])).1;
                if end > start && bytes + size > MAX_BATCH_BYTES {
                    break;
                }
                bytes += size;
                end += 1;
            }
            self.send_batch(&chosen[start..end]).await?;
            start = end;
        }
        Ok(chosen.len() as u64)
    }

    async fn send_batch(&self, events: &[&StoredEvent]) -> Result<(), Error> {
        let mut pending: Vec<usize> = (0..events.len()).collect();
        for attempt in 0..8u32 {
            let entries = pending.iter().map(|&i| entry(i, events[i], self.filter.version_of(events[i])).0).collect();
            match self.sqs.send_message_batch().queue_url(&self.queue_url).set_entries(Some(entries)).send().await {
                Ok(out) => {
                    let failed: Vec<usize> = out.failed().iter().filter_map(|f| f.id().parse().ok()).collect();
                    if let Some(f) = out.failed().iter().find(|f| f.sender_fault()) {
                        return Err(format!(
                            "SendMessageBatch refused {}: {} {}",
                            f.id(),
                            f.code(),
                            f.message().unwrap_or("")
                        )
                        .into());
                    }
                    pending = failed;
                }
                Err(e) if attempt < 7 => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "SendMessageBatch failed; retrying");
                }
                Err(e) => {
                    return Err(format!("SendMessageBatch: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)).into())
                }
            }
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(5))).await;
        }
        Err(format!("SendMessageBatch: {} entries still failing after retries", pending.len()).into())
    }
}

#[async_trait]
impl PageHandler for Sender {
    async fn page(&self, _segment: u32, events: Vec<StoredEvent>) -> Result<u64, Error> {
        self.send(&events).await
    }
}

pub async fn run(
    store: DynamoEventStore,
    events_table: &str,
    sqs: aws_sdk_sqs::Client,
    options: Options,
    bar: &indicatif::ProgressBar,
) -> Result<ScanOutcome, Error> {
    let request = serde_json::json!({
        "eventsTable": events_table,
        "queueUrl": options.queue_url,
        "filter": options.filter.describe(),
    });
    let path = state::job_path(&options.state_dir, "republish", &request.to_string());
    let sender = Arc::new(Sender { sqs, queue_url: options.queue_url.clone(), filter: options.filter.clone() });
    if !options.filter.orders.is_empty() {
        return by_order(&store, sender, &options, path, request, bar).await;
    }
    let job = ScanJob {
        store,
        segments: options.segments,
        page_size: options.page_size,
        restart: options.restart,
        stop_after_pages: options.stop_after_pages,
    };
    scan::run(job, state::StateFile { path, request }, sender, bar).await
}

/// `--order`: one query per order, in the order given; progress is the
/// number of orders done.
async fn by_order(
    store: &DynamoEventStore,
    sender: Arc<Sender>,
    options: &Options,
    path: PathBuf,
    request: serde_json::Value,
    bar: &indicatif::ProgressBar,
) -> Result<ScanOutcome, Error> {
    if options.restart {
        state::remove(&path);
    }
    let recorded: Option<Segments> = state::load(&path, &request)?;
    let resumed = recorded.is_some();
    // One "segment" whose cursor is the index of the next order.
    let mut progress = recorded.unwrap_or_else(|| Segments::new(1));
    if resumed && progress.finished() {
        return Ok(ScanOutcome { progress, resumed, already_finished: true, interrupted: false, this_run: 0 });
    }
    let before = progress.events;
    let mut next: usize = progress.cursors[0].as_deref().and_then(|c| c.parse().ok()).unwrap_or(0);
    bar.set_length(options.filter.orders.len() as u64);
    bar.set_position(next as u64);
    let mut pages = 0;
    while next < options.filter.orders.len() {
        if options.stop_after_pages.is_some_and(|limit| pages >= limit) {
            return Ok(ScanOutcome { progress, resumed, already_finished: false, interrupted: true, this_run: 0 });
        }
        let events = store.load_stored(options.filter.orders[next]).await?;
        let sent = sender.send(&events).await?;
        next += 1;
        pages += 1;
        progress.events += events.len() as u64;
        progress.handled += sent;
        progress.cursors[0] = Some(next.to_string());
        progress.done[0] = next == options.filter.orders.len();
        state::save(&path, &request, &progress)?;
        bar.inc(1);
    }
    let this_run = progress.events - before;
    Ok(ScanOutcome { progress, resumed, already_finished: false, interrupted: false, this_run })
}
