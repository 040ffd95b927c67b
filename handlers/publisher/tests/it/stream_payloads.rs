//! The handler on Lambda payloads: the sample files of `events/` (the same
//! ones `cargo lambda invoke` and `sam local invoke` take) and generated
//! batches, against a recording topic and a topic that fails on demand.

use crate::support;

use std::io;
use std::sync::{Arc, Mutex};

use contract::message::{DOWNCAST_FROM, EVENT_TYPE, LANE, ORDER_ID, SCHEMA_VERSION_ATTRIBUTE, SKUS, TRACEPARENT};
use contract::MessageAttribute;
use domain::event::OrderRejected;
use domain::{Envelope, OrderEvent, OrderId};
use publisher::handler::EVENTS_CHANGED;
use publisher::{handle_stream_event, publish_stream_batch, BatchReport, OrderCounts, PreviousVersionWindow};
use support::{
    envelope, sample_event, sequence_numbers, stored_envelopes, stream_batch, Delivered, Fault, FaultyTopic,
    RecordingTopic,
};
use tokio::sync::mpsc::UnboundedReceiver;

fn received(subscription: &mut UnboundedReceiver<Delivered>) -> Vec<Delivered> {
    let mut messages = Vec::new();
    while let Ok(message) = subscription.try_recv() {
        messages.push(message);
    }
    messages
}

fn bodies(messages: &[Delivered]) -> Vec<String> {
    messages.iter().map(|d| d.message.body.clone()).collect()
}

fn event_ids(messages: &[Delivered]) -> Vec<String> {
    messages.iter().map(|d| Envelope::from_json(&d.message.body).unwrap().event_id.to_string()).collect()
}

#[tokio::test]
async fn sample_batch_publishes_every_event_byte_for_byte_in_one_request() {
    let event = sample_event("dynamodb-stream-order-events.json");
    let stored = stored_envelopes(&event);
    assert_eq!(stored.len(), 5);
    let topic = FaultyTopic::default();
    let mut all = topic.topic.subscribe();

    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, event, None).await;

    assert_eq!(
        report,
        BatchReport {
            records: 5,
            published: 5,
            messages: 5,
            skipped: 0,
            events_changed: 0,
            requests: 1,
            first_failed: None,
            orders: OrderCounts { placed: 2, confirmed: 1, rejected: 0 },
        }
    );
    assert!(report.response().batch_item_failures.is_empty());
    assert_eq!(bodies(&received(&mut all)), stored, "exact stored bytes, in stream order");
}

#[tokio::test]
async fn sample_batch_sets_the_message_attributes_of_the_contract() {
    let event = sample_event("dynamodb-stream-order-events.json");
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();
    handle_stream_event(&topic, PreviousVersionWindow::CLOSED, event, None).await;

    let messages = received(&mut all);
    let placed = &messages[0].message.attributes;
    assert_eq!(placed[EVENT_TYPE], MessageAttribute::String("OrderPlaced".into()));
    assert_eq!(placed[SCHEMA_VERSION_ATTRIBUTE], MessageAttribute::Number("1".into()));
    assert_eq!(placed[ORDER_ID], MessageAttribute::String("8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01".into()));
    assert_eq!(
        placed[SKUS],
        MessageAttribute::StringArray(vec!["braided-line-30lb".into(), "muskie-casting-rod".into()])
    );
    let shipped = &messages[4].message.attributes;
    assert_eq!(shipped[EVENT_TYPE], MessageAttribute::String("OrderShipped".into()));
    assert!(!shipped.contains_key(SKUS), "skus is only on OrderPlaced");
}

/// Each message carries the `lane` its item holds: the mixed muskie order's
/// Placed, Confirmed and Shipped are all `hot`, the other order's Placed and
/// Cancelled `standard`.
#[tokio::test]
async fn every_message_carries_the_lane_stored_with_its_event() {
    let event = sample_event("dynamodb-stream-order-events.json");
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();
    handle_stream_event(&topic, PreviousVersionWindow::CLOSED, event, None).await;

    let lanes: Vec<(String, String)> = received(&mut all)
        .iter()
        .map(|d| {
            let envelope = Envelope::from_json(&d.message.body).unwrap();
            let MessageAttribute::String(lane) = &d.message.attributes[LANE] else { panic!("lane is a String") };
            (format!("{} {}", &envelope.order_id.to_string()[..8], envelope.event_type()), lane.clone())
        })
        .collect();
    let expected = [
        ("8c0e5a52 OrderPlaced", "hot"),
        ("5b1d7e0c OrderPlaced", "standard"),
        ("8c0e5a52 OrderConfirmed", "hot"),
        ("5b1d7e0c OrderCancelled", "standard"),
        ("8c0e5a52 OrderShipped", "hot"),
    ];
    assert_eq!(lanes, expected.map(|(e, l)| (e.to_owned(), l.to_owned())));
}

/// An item stored before lanes (no `lane` attribute) is published `standard`.
#[tokio::test]
async fn an_item_without_a_lane_is_published_standard() {
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();
    handle_stream_event(
        &topic,
        PreviousVersionWindow::CLOSED,
        stream_batch(&[envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod")]),
        None,
    )
    .await;
    let messages = received(&mut all);
    assert_eq!(messages[0].message.attributes[LANE], MessageAttribute::String("standard".into()));
}

/// Log lines written while the test's current-thread runtime runs.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn lines(&self) -> Vec<serde_json::Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

#[tokio::test]
async fn records_that_are_not_events_are_skipped_with_a_debug_log() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let event = sample_event("dynamodb-stream-mixed.json");
    let stored = stored_envelopes(&event);
    let sequence_numbers = sequence_numbers(&event);
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, event, None).await;

    assert_eq!((report.records, report.published, report.skipped, report.first_failed), (6, 2, 4, None));
    assert_eq!(bodies(&received(&mut all)), stored);
    let skips: Vec<_> = logs
        .lines()
        .into_iter()
        .filter(|l| l["fields"]["message"] == "skipped stream record: not an order event")
        .collect();
    assert_eq!(skips.len(), 4);
    assert!(skips.iter().all(|l| l["level"] == "DEBUG"));
    let skipped: Vec<_> = skips.iter().map(|l| l["fields"]["sequence_number"].as_str().unwrap().to_owned()).collect();
    assert_eq!(skipped, [0, 2, 3, 4].map(|i| sequence_numbers[i].clone()));
    let whys: Vec<_> = skips.iter().map(|l| l["fields"]["why"].as_str().unwrap().to_owned()).collect();
    assert_eq!(
        whys,
        [
            "REMOVE (TTL expiry): events are only inserted",
            "MODIFY: events are only inserted",
            "item kind \"idempotency\"",
            "item without a kind",
        ]
    );
}

/// An event is never changed: each MODIFY or REMOVE of an event item (by
/// hand or by a TTL) is an error log and a count of the alarmed metric; the
/// stream goes on.
#[tokio::test]
async fn a_modified_or_removed_event_item_is_reported_as_an_error_and_counted() {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let event = sample_event("dynamodb-stream-event-changed.json");
    let sequence_numbers = sequence_numbers(&event);
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, event, None).await;

    assert_eq!((report.records, report.published, report.skipped, report.events_changed), (4, 1, 0, 3));
    assert!(report.first_failed.is_none(), "the insert before them stays published, the shard goes on");
    assert_eq!(received(&mut all).len(), 1, "a modified event is not published again");
    let errors: Vec<_> = logs.lines().into_iter().filter(|l| l["level"] == "ERROR").collect();
    let logged: Vec<_> = errors.iter().map(|l| l["fields"]["sequence_number"].as_str().unwrap().to_owned()).collect();
    assert_eq!(logged, sequence_numbers[1..]);
    let whats: Vec<_> = errors.iter().map(|l| l["fields"]["what"].as_str().unwrap().to_owned()).collect();
    let order = "\"8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01\"";
    assert_eq!(
        whats,
        [
            format!("MODIFY of the event item orderId {order} version 1"),
            format!("REMOVE of the event item orderId {order} version 1"),
            format!("REMOVE (TTL expiry) of the event item orderId {order} version 2"),
        ]
    );
}

#[test]
fn changed_events_are_a_metric_an_alarm_watches() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&template).unwrap();
    let alarms: Vec<_> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm" && r["Properties"]["MetricName"] == EVENTS_CHANGED)
        .collect();
    assert_eq!(alarms.len(), 1, "one alarm on {EVENTS_CHANGED}");
    let alarm = &alarms[0]["Properties"];
    assert_eq!(alarm["Namespace"], telemetry::metrics::NAMESPACE);
    assert_eq!((alarm["Statistic"].as_str(), alarm["Threshold"].as_u64()), (Some("Sum"), Some(1)));
    assert_eq!(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold");
    assert_eq!(alarm["TreatMissingData"], "notBreaching");
}

#[tokio::test]
async fn an_unreadable_event_item_is_reported_and_nothing_after_it_is_published() {
    let event = sample_event("dynamodb-stream-unreadable-envelope.json");
    let sequence_numbers = sequence_numbers(&event);
    let stored = stored_envelopes(&event);
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();

    let response = handle_stream_event(&topic, PreviousVersionWindow::CLOSED, event, None).await;

    assert_eq!(response.batch_item_failures.len(), 1);
    assert_eq!(response.batch_item_failures[0].item_identifier.as_ref(), Some(&sequence_numbers[1]));
    assert_eq!(bodies(&received(&mut all)), [stored[0].clone()]);
}

#[tokio::test]
async fn batches_go_out_in_requests_of_at_most_ten() {
    let envelopes: Vec<Envelope> =
        (0..25).map(|_| envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod")).collect();
    let topic = FaultyTopic::default();
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, stream_batch(&envelopes), None).await;

    assert_eq!((report.published, report.requests, report.first_failed), (25, 3, None));
    let sizes: Vec<usize> = topic.requests().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 10, 5]);
}

#[tokio::test]
async fn versions_of_one_order_are_published_in_version_order() {
    let a = OrderId(uuid::Uuid::new_v4());
    let b = OrderId(uuid::Uuid::new_v4());
    let (a1, a2, a3) = (envelope(a, 1, "rod"), envelope(a, 2, "rod"), envelope(a, 3, "rod"));
    let (b1, b2) = (envelope(b, 1, "reel"), envelope(b, 2, "reel"));
    // An order's versions are different items, so a stream may deliver them in any order.
    let batch = stream_batch(&[a2.clone(), b1.clone(), a3.clone(), b2.clone(), a1.clone()]);
    let topic = RecordingTopic::new();
    let mut all = topic.subscribe();
    handle_stream_event(&topic, PreviousVersionWindow::CLOSED, batch, None).await;

    let published: Vec<String> = received(&mut all).iter().map(|d| d.message.body.clone()).collect();
    // a's versions fill a's positions (0, 2, 4) in order; b's stay where they were.
    assert_eq!(published, [a1.to_json(), b1.to_json(), a2.to_json(), b2.to_json(), a3.to_json()]);
}

#[tokio::test]
async fn the_trace_header_goes_with_every_entry() {
    let topic = FaultyTopic::default();
    let trace = "Root=1-67891233-abcdef012345678912345678;Parent=463ac35c9f6413ad;Sampled=1";
    handle_stream_event(
        &topic,
        PreviousVersionWindow::CLOSED,
        sample_event("dynamodb-stream-order-events.json"),
        Some(trace),
    )
    .await;

    let requests = topic.requests();
    assert!(requests.iter().flatten().all(|entry| entry.trace_header.as_deref() == Some(trace)));
}

#[tokio::test]
async fn refused_entries_name_the_first_failed_record_and_redelivery_publishes_the_rest() {
    let order_ids: Vec<OrderId> = (0..25).map(|_| OrderId(uuid::Uuid::new_v4())).collect();
    let envelopes: Vec<Envelope> = order_ids.iter().map(|id| envelope(*id, 1, "muskie-casting-rod")).collect();
    let batch = stream_batch(&envelopes);
    let sequence_numbers = sequence_numbers(&batch);
    // Second request: its entries 3 and 6 (records 13 and 16) are refused.
    let topic = FaultyTopic::with_faults([None, Some(Fault::RejectEntries(vec![3, 6]))]);
    let mut all = topic.topic.subscribe();

    let response = handle_stream_event(&topic, PreviousVersionWindow::CLOSED, batch.clone(), None).await;
    assert_eq!(response.batch_item_failures.len(), 1, "only the first failed record is named");
    assert_eq!(response.batch_item_failures[0].item_identifier.as_ref(), Some(&sequence_numbers[13]));
    assert_eq!(topic.requests().len(), 2, "no request after the failed one");

    // The event source mapping retries from the named record.
    let mut redelivery = batch.clone();
    redelivery.records.drain(..13);
    let response = handle_stream_event(&topic, PreviousVersionWindow::CLOSED, redelivery, None).await;
    assert!(response.batch_item_failures.is_empty());

    let delivered = event_ids(&received(&mut all));
    for envelope in &envelopes {
        assert!(delivered.contains(&envelope.event_id.to_string()), "{} was skipped", envelope.event_id);
    }
    let duplicates = delivered.len() - envelopes.len();
    assert_eq!(duplicates, 5, "records 14, 15, 17, 18, 19 were published before the retry and again on it");
}

#[tokio::test]
async fn each_order_is_counted_once_across_a_partial_failure_and_its_retry() {
    let envelopes: Vec<Envelope> =
        (0..25).map(|_| envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod")).collect();
    let batch = stream_batch(&envelopes);
    let topic = FaultyTopic::with_faults([None, Some(Fault::RejectEntries(vec![3, 6]))]);

    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, batch.clone(), None).await;
    assert_eq!(report.published, 18, "records 14, 15, 17, 18, 19 are on the topic too");
    assert_eq!(report.orders.placed, 13, "only records 0..13: the retry starts at 13");

    let mut redelivery = batch;
    redelivery.records.drain(..13);
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, redelivery, None).await;
    assert_eq!(report.orders.placed, 12);
}

#[test]
fn the_counts_are_the_metrics_the_dashboard_reads() {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
    for metric in [OrderCounts::PLACED, OrderCounts::CONFIRMED, OrderCounts::REJECTED] {
        let series = format!(r#"["{}", "{metric}""#, telemetry::metrics::NAMESPACE);
        assert!(template.contains(&series), "PipelineDashboard has no series {series}, ...]");
    }
}

#[tokio::test]
async fn a_failed_request_names_its_first_record() {
    let envelopes: Vec<Envelope> =
        (0..15).map(|_| envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod")).collect();
    let batch = stream_batch(&envelopes);
    let sequence_numbers = sequence_numbers(&batch);
    let topic = FaultyTopic::with_faults([None, Some(Fault::FailCall)]);
    let mut all = topic.topic.subscribe();

    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, batch.clone(), None).await;
    assert_eq!((report.published, report.requests), (10, 2));
    assert_eq!(report.first_failed.as_ref(), Some(&sequence_numbers[10]));

    let mut redelivery = batch;
    redelivery.records.drain(..10);
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, redelivery, None).await;
    assert_eq!((report.published, report.first_failed), (5, None));
    let delivered = event_ids(&received(&mut all));
    let expected: Vec<String> = envelopes.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(delivered, expected, "each exactly once: the failed request published nothing");
}

#[tokio::test]
async fn a_failed_record_before_a_reordered_later_version_is_the_one_named() {
    let a = OrderId(uuid::Uuid::new_v4());
    let (a1, a2) = (envelope(a, 1, "rod"), envelope(a, 2, "rod"));
    // Stream order a2, a1: a1 is published first (in record 0's position).
    let batch = stream_batch(&[a2, a1]);
    let sequence_numbers = sequence_numbers(&batch);
    let topic = FaultyTopic::with_faults([Some(Fault::RejectEntries(vec![1]))]);
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, batch, None).await;
    // a2 (record 0) was refused: the retry starts at record 0 and covers both.
    assert_eq!(report.first_failed.as_ref(), Some(&sequence_numbers[0]));
}

/// In the previous-version window an event of a bumped type goes twice, in
/// one request: at its current version, and down-cast, with `downcastFrom`.
/// Its record is published only when both are: a refused copy names it for
/// the retry, which sends both again.
#[tokio::test]
async fn in_the_window_a_bumped_type_goes_at_both_versions_and_its_record_waits_for_both() {
    let placed = envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod");
    let rejected = Envelope {
        event_id: uuid::Uuid::new_v4(),
        version: 2,
        event: OrderEvent::Rejected(OrderRejected { reason: "insufficient stock".into(), shortages: vec![] }),
        ..placed.clone()
    };
    let batch = stream_batch(&[placed, rejected.clone()]);
    let open = PreviousVersionWindow::until(chrono::Utc::now() + chrono::Duration::days(1));
    // Entries: OrderPlaced, OrderRejected at 2, OrderRejected at 1 (refused).
    let topic = FaultyTopic::with_faults([Some(Fault::RejectEntries(vec![2]))]);

    let report = publish_stream_batch(&topic, open, batch.clone(), None).await;

    assert_eq!((report.published, report.messages), (1, 2));
    assert_eq!(report.first_failed.as_ref(), Some(&sequence_numbers(&batch)[1]));
    let request = &topic.requests()[0];
    let ids: Vec<&str> = request.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["0", "1", "1-1"]);
    let version = |entry: usize| {
        let attributes = &request[entry].message.attributes;
        (attributes[SCHEMA_VERSION_ATTRIBUTE].clone(), attributes.get(DOWNCAST_FROM).cloned())
    };
    assert_eq!(version(1), (MessageAttribute::Number("2".into()), None));
    assert_eq!(version(2), (MessageAttribute::Number("1".into()), Some(MessageAttribute::Number("2".into()))));
    assert_eq!(request[1].message.body, rejected.to_json());
    assert_eq!(request[2].message.body, rejected.to_json_at(1).unwrap());

    let mut redelivery = batch;
    redelivery.records.drain(..1);
    let report = publish_stream_batch(&topic, open, redelivery.clone(), None).await;
    assert_eq!((report.published, report.messages, report.first_failed), (1, 2, None));

    // Closed, the same record goes once, at its current version.
    let report = publish_stream_batch(&topic, PreviousVersionWindow::CLOSED, redelivery, None).await;
    assert_eq!((report.published, report.messages), (1, 1));
}

/// One order, one trace: a traced command's event (the envelope's
/// `traceparent`) goes out with the publisher's span for its record as the
/// message's `traceparent`, a child of the command's span; an untraced
/// event's message stays in the batch's trace; with tracing off (no
/// OpenTelemetry layer) a message has no `traceparent`.
#[tokio::test]
async fn a_traced_events_message_carries_the_publishers_record_span_in_the_commands_trace() {
    use tracing::instrument::WithSubscriber;
    let command = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = Envelope {
        traceparent: Some(command.to_owned()),
        ..envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod")
    };
    let untraced = envelope(OrderId(uuid::Uuid::new_v4()), 1, "muskie-casting-rod");
    let sent = |topic: &FaultyTopic, event: &Envelope| {
        let entries = topic.requests().concat();
        let entry = entries.iter().find(|e| e.message.body.contains(&event.event_id.to_string())).unwrap();
        match entry.message.attributes.get(TRACEPARENT) {
            Some(MessageAttribute::String(traceparent)) => Some(traceparent.clone()),
            None => None,
            other => panic!("{other:?}"),
        }
    };

    let recent = telemetry::RecentTraces::new(100);
    let (subscriber, _) = telemetry::traced(&telemetry::Exports::default().with_recent(recent.clone()));
    let topic = FaultyTopic::default();
    publish_stream_batch(
        &topic,
        PreviousVersionWindow::CLOSED,
        stream_batch(&[traced.clone(), untraced.clone()]),
        None,
    )
    .with_subscriber(subscriber)
    .await;
    let record = recent.of_order(&traced.order_id.to_string()).into_iter().find(|s| s.name == "order_event").unwrap();
    assert_eq!(record.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(record.parent_span_id.as_deref(), Some("00f067aa0ba902b7"), "a child of the command's span");
    assert_eq!(sent(&topic, &traced), Some(format!("00-{}-{}-01", record.trace_id, record.span_id)));
    let batch = recent.of_order(&traced.order_id.to_string()).into_iter().find(|s| s.name == "publish_stream_batch");
    let batch = batch.expect("the record links to its batch");
    let untraced_sent = sent(&topic, &untraced).expect("in the batch's trace");
    assert!(untraced_sent.starts_with(&format!("00-{}-", batch.trace_id)), "{untraced_sent}");

    let off = FaultyTopic::default();
    publish_stream_batch(&off, PreviousVersionWindow::CLOSED, stream_batch(std::slice::from_ref(&traced)), None).await;
    assert_eq!(sent(&off, &traced), None);
}
