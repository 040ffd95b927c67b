//! The Lambda handler body: a DynamoDB stream batch in, its events on the
//! topic, and the first record that did not make it named in the answer.
//!
//! The answer follows the `ReportBatchItemFailures` contract of stream event
//! source mappings: the mapping checkpoints everything before the named
//! record and retries from it. So the publisher reports the *first* record
//! (in stream order) that is not on the topic; records after it that did get
//! published are published again on the retry, which is why publishing is
//! at-least-once and consumers drop duplicates by `eventId`.

use std::collections::HashMap;
use std::ops::Range;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use chrono::Utc;
use domain::{Envelope, EventType, OrderId};
use tracing::Instrument;

use crate::decode::{decode_record, StreamItem};
use crate::window::PreviousVersionWindow;
use contract::message::{MessageAttribute, OutgoingMessage, TRACEPARENT};
use contract::publish::{BatchEntry, EventPublisher, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES};

/// What one stream batch came to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    pub records: usize,
    /// Events the topic accepted (each with all its messages).
    pub published: usize,
    /// Messages the topic accepted: one per event, and a second one for an
    /// event of a bumped type during the previous-version window.
    pub messages: usize,
    /// Records that are not events.
    pub skipped: usize,
    /// Event items modified or removed (never allowed: reported as
    /// [`EVENTS_CHANGED`], which is alarmed).
    pub events_changed: u64,
    /// `PublishBatch` requests made.
    pub requests: usize,
    /// The sequence number of the first record (in stream order) whose event
    /// is not on the topic: the stream is retried from there.
    pub first_failed: Option<String>,
    /// The business counts of this batch (see [`OrderCounts`]).
    pub orders: OrderCounts,
}

/// The metric of event items modified or removed, which `template.yaml`'s
/// `EventsChangedAlarm` watches.
pub const EVENTS_CHANGED: &str = "EventItemsChanged";

/// Orders placed, confirmed and rejected, counted from the events this batch
/// published *before* its first failed record: the stream is retried from
/// that record, so an event after it is counted when it is published again,
/// and each stored event is counted once (barring a crash of the whole
/// invocation). The publisher is the one place that sees every stored event
/// exactly in this way — the API and the saga see only their own commands,
/// and would count a command retried after a lost answer twice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderCounts {
    pub placed: u64,
    pub confirmed: u64,
    pub rejected: u64,
}

impl OrderCounts {
    /// The metric names `template.yaml`'s dashboard reads.
    pub const PLACED: &'static str = "OrdersPlaced";
    pub const CONFIRMED: &'static str = "OrdersConfirmed";
    pub const REJECTED: &'static str = "OrdersRejected";

    fn add(&mut self, event_type: EventType) {
        match event_type {
            EventType::OrderPlaced => self.placed += 1,
            EventType::OrderConfirmed => self.confirmed += 1,
            EventType::OrderRejected => self.rejected += 1,
            EventType::OrderCancelled | EventType::OrderShipped => {}
        }
    }

    /// One Embedded Metric Format line per non-zero count, on stdout.
    pub fn emit(&self) {
        telemetry::metrics::emit_count(Self::PLACED, self.placed);
        telemetry::metrics::emit_count(Self::CONFIRMED, self.confirmed);
        telemetry::metrics::emit_count(Self::REJECTED, self.rejected);
    }
}

impl BatchReport {
    /// The `ReportBatchItemFailures` answer: empty, or the first failed record.
    pub fn response(&self) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        if let Some(sequence_number) = &self.first_failed {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number.clone());
            response.batch_item_failures.push(failure);
        }
        response
    }
}

/// The whole Lambda handler: `trace_header` is the invocation's X-Ray trace
/// header (`Context::xray_trace_id`), passed on to SNS; `window` says whether
/// the previous version of a bumped type goes too. Emits the batch's order
/// counts as metrics.
pub async fn handle_stream_event(
    publisher: &dyn EventPublisher,
    window: PreviousVersionWindow,
    event: Event,
    trace_header: Option<&str>,
) -> DynamoDbEventResponse {
    let report = publish_stream_batch(publisher, window, event, trace_header).await;
    report.orders.emit();
    telemetry::metrics::emit_count(EVENTS_CHANGED, report.events_changed);
    report.response()
}

struct Pending {
    /// Position of the record in the stream batch.
    record_index: usize,
    envelope: Envelope,
    /// The record's span: in its order's trace, linked to the batch's.
    span: tracing::Span,
    /// The event at its type's current version, then (in the window) at the
    /// previous one: published when all of them are.
    messages: Vec<OutgoingMessage>,
}

pub async fn publish_stream_batch(
    publisher: &dyn EventPublisher,
    window: PreviousVersionWindow,
    event: Event,
    trace_header: Option<&str>,
) -> BatchReport {
    let span = tracing::info_span!("publish_stream_batch", records = event.records.len(), xray_trace_id = trace_header);
    publish_records(publisher, window, event.records, trace_header).instrument(span).await
}

async fn publish_records(
    publisher: &dyn EventPublisher,
    window: PreviousVersionWindow,
    records: Vec<EventRecord>,
    trace_header: Option<&str>,
) -> BatchReport {
    let now = Utc::now();
    let mut report = BatchReport { records: records.len(), ..BatchReport::default() };
    let sequence_number = |index: usize| records[index].change.sequence_number.clone().unwrap_or_default();

    let batch_traceparent = telemetry::current_traceparent();
    let mut pending = Vec::new();
    let mut undecodable = None;
    for (record_index, record) in records.iter().enumerate() {
        match decode_record(record, window.build()) {
            Ok(StreamItem::Event(decoded)) => {
                let span = record_span(&decoded.envelope, batch_traceparent.as_deref());
                let mut messages = window.messages(&decoded, now);
                if let Some(traceparent) = telemetry::traceparent_of(&span) {
                    for message in &mut messages {
                        message
                            .attributes
                            .insert(TRACEPARENT.to_owned(), MessageAttribute::String(traceparent.clone()));
                    }
                }
                pending.push(Pending { record_index, envelope: decoded.envelope, span, messages })
            }
            Ok(StreamItem::NotAnEvent(why)) => {
                report.skipped += 1;
                tracing::debug!(
                    sequence_number = %sequence_number(record_index),
                    event_name = %record.event_name,
                    why,
                    "skipped stream record: not an order event"
                );
            }
            Ok(StreamItem::EventChanged(what)) => {
                // Published when it was inserted; what changed it is for an
                // operator to find (the alarm), not a reason to stop the shard.
                report.events_changed += 1;
                tracing::error!(
                    sequence_number = %sequence_number(record_index),
                    what,
                    "a stored event was modified or removed: events are append-only"
                );
            }
            Err(error) => {
                // Nothing after it is published now: the mapping retries from
                // it without a limit, so the shard waits for an operator
                // (the iterator-age alarm) rather than skipping an event.
                tracing::error!(
                    sequence_number = %sequence_number(record_index),
                    %error,
                    "stream record holds an event that cannot be read"
                );
                undecodable = Some(record_index);
                break;
            }
        }
    }

    let pending = in_version_order_per_order(pending);
    // One entry per message; `owners[i]` is the pending event of entry `i`.
    let mut entries = Vec::new();
    let mut owners = Vec::new();
    for (index, p) in pending.iter().enumerate() {
        for (nth, message) in p.messages.iter().enumerate() {
            let id = if nth == 0 { p.record_index.to_string() } else { format!("{}-{nth}", p.record_index) };
            entries.push(BatchEntry { id, message: message.clone(), trace_header: trace_header.map(str::to_owned) });
            owners.push(index);
        }
    }
    let mut accepted = vec![false; entries.len()];
    for range in chunk_ranges(entries.iter().map(|e| e.message.size_bytes())) {
        report.requests += 1;
        let all_published = match publisher.publish_batch(&entries[range.clone()]).await {
            Ok(outcomes) => {
                let mut all = outcomes.len() == range.len();
                for (entry, outcome) in range.zip(outcomes) {
                    let _record_span = pending[owners[entry]].span.enter();
                    match outcome {
                        Ok(message_id) => {
                            accepted[entry] = true;
                            tracing::debug!(%message_id, entry = %entries[entry].id, "published");
                        }
                        Err(failure) => {
                            all = false;
                            tracing::warn!(
                                code = %failure.code,
                                message = %failure.message,
                                sender_fault = failure.sender_fault,
                                "SNS refused the event"
                            );
                        }
                    }
                }
                all
            }
            Err(error) => {
                tracing::error!(%error, entries = range.len(), "publishing failed");
                false
            }
        };
        // Later chunks would be published again on the retry anyway.
        if !all_published {
            break;
        }
    }

    let mut published = vec![true; pending.len()];
    for (entry, accepted) in accepted.iter().enumerate() {
        published[owners[entry]] &= *accepted;
    }
    report.messages = accepted.iter().filter(|a| **a).count();
    report.published = published.iter().filter(|p| **p).count();
    let first_failed = pending
        .iter()
        .zip(&published)
        .filter(|(_, published)| !**published)
        .map(|(p, _)| p.record_index)
        .chain(undecodable)
        .min();
    for (p, _) in pending
        .iter()
        .zip(&published)
        .filter(|(p, published)| **published && first_failed.is_none_or(|first_failed| p.record_index < first_failed))
    {
        report.orders.add(p.envelope.event_type());
    }
    report.first_failed = first_failed.map(sequence_number);
    tracing::info!(
        records = report.records,
        published = report.published,
        messages = report.messages,
        skipped = report.skipped,
        requests = report.requests,
        first_failed = report.first_failed,
        "stream batch done"
    );
    report
}

/// A record's span: a child of the command that appended its event (the
/// envelope's `traceparent`), linked to the batch's span, whose SNS call
/// publishes it; a record of an untraced command stays in the batch's trace.
fn record_span(event: &Envelope, batch_traceparent: Option<&str>) -> tracing::Span {
    let span = tracing::info_span!(
        "order_event",
        function = "publisher",
        correlation_id = %event.correlation_id,
        event_id = %event.event_id,
        order_id = %event.order_id,
        version = event.version,
        event_type = %event.event_type(),
    );
    telemetry::continue_in_batch(&span, event.traceparent.as_deref(), batch_traceparent);
    span
}

/// Stream order, except that the events of one order take the positions that
/// order's records hold in version order: a stream keeps the order of each
/// item, and an order's versions are different items.
fn in_version_order_per_order(pending: Vec<Pending>) -> Vec<Pending> {
    let mut positions: HashMap<OrderId, Vec<usize>> = HashMap::new();
    for (position, p) in pending.iter().enumerate() {
        positions.entry(p.envelope.order_id).or_default().push(position);
    }
    let mut taken: Vec<Option<Pending>> = pending.into_iter().map(Some).collect();
    let mut placed: Vec<Option<Pending>> = taken.iter().map(|_| None).collect();
    for order_positions in positions.values() {
        let mut events: Vec<Pending> =
            order_positions.iter().map(|&p| taken[p].take().expect("each position once")).collect();
        events.sort_by_key(|p| p.envelope.version);
        for (&position, event) in order_positions.iter().zip(events) {
            placed[position] = Some(event);
        }
    }
    placed.into_iter().map(|p| p.expect("every position refilled")).collect()
}

/// Consecutive runs of at most [`MAX_BATCH_ENTRIES`] messages and
/// [`MAX_BATCH_BYTES`]. A message over the byte limit goes alone, for SNS to
/// refuse it.
fn chunk_ranges(sizes: impl IntoIterator<Item = usize>) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    let mut end = 0;
    for size in sizes {
        if end > start && (end - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
            ranges.push(start..end);
            start = end;
            bytes = 0;
        }
        bytes += size;
        end += 1;
    }
    if end > start {
        ranges.push(start..end);
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_at_most_ten_entries() {
        let ranges = chunk_ranges(std::iter::repeat_n(500, 25));
        assert_eq!(ranges, vec![0..10, 10..20, 20..25]);
    }

    #[test]
    fn chunks_hold_at_most_256_kib() {
        let ranges = chunk_ranges([100_000, 100_000, 62_144, 1, 262_144]);
        assert_eq!(ranges, vec![0..3, 3..4, 4..5], "262,144 bytes fit exactly; one more byte does not");
    }

    #[test]
    fn a_message_over_the_limit_goes_alone() {
        let ranges = chunk_ranges([10, 300_000, 10]);
        assert_eq!(ranges, vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn no_messages_no_chunks() {
        assert!(chunk_ranges([]).is_empty());
    }
}
