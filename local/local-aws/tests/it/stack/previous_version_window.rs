//! Subscribers migrate at their own pace (issue 23, part 5), on moto: the
//! publisher, with the previous-version window open, sends an event of a
//! bumped type (OrderRejected, at 2) twice: at 2, and down-cast to 1 with
//! `downcastFrom`. A foreign subscriber filtering `schemaVersion: [1]` gets
//! version 1 of every event while the window is open and no OrderRejected
//! after it; one filtering `[2]` gets OrderRejected at 2 throughout; the
//! platform's own subscription gets each event once, at its current
//! version. Events stored at 1 by an older build (the golden items) go out
//! upcast, and their version 1 is the stored bytes.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_sqs::types::Message;
use chrono::{Duration, Utc};
use commands::{CommandContext, OrderService, RetryPolicy};
use contract::message::{DOWNCAST_FROM, SCHEMA_VERSION_ATTRIBUTE};
use contract::subscription::LEGACY_SYNC;
use domain::event::{OverLimitLine, UnavailableLine};
use domain::{Command, Currency, CustomerId, Envelope, EventType, OrderId, OrderLine, PlaceOrder, Reason, Sku};
use event_store::DynamoEventStore;
use local_aws::stream::{StreamOptions, StreamReader};
use local_aws::FilterPolicy;
use publisher::{handle_stream_event, PreviousVersionWindow, SnsPublisher};
use serde_json::Value;
use support::LocalStack;
use testkit::golden::histories;

const VERSION_1: &str = r#"{"schemaVersion":[1]}"#;
const VERSION_2: &str = r#"{"schemaVersion":[2]}"#;

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

/// One order placed and then rejected (short of stock and over a limit),
/// one placed, confirmed and cancelled; their events.
async fn orders(service: &OrderService) -> Vec<Envelope> {
    let place = |sku_name: &str| {
        Command::Place(PlaceOrder {
            customer_id: CustomerId::parse("cust-42").unwrap(),
            basket_id: None,
            currency: Currency::parse("USD").unwrap(),
            lines: vec![OrderLine { sku: sku(sku_name), quantity: 3, unit_price_cents: 24_900 }],
        })
    };
    let stock = UnavailableLine { sku: sku("braided-line-30lb"), requested: 3, available: 1 };
    let limit = OverLimitLine { sku: sku("muskie-casting-rod"), requested: 3, allowed: 2 };
    let reject = Command::Reject {
        reason: Reason::parse("limit-exceeded").unwrap(),
        shortages: vec![stock.into(), limit.into()],
    };
    let mut appended = Vec::new();
    for commands in [
        vec![place("muskie-casting-rod"), reject],
        vec![place("tourney-casting-rod"), Command::Confirm, Command::Cancel { reason: None }],
    ] {
        let order_id = OrderId(uuid::Uuid::new_v4());
        for command in commands {
            let context = CommandContext::new(format!("corr-{order_id}"));
            appended.extend(service.execute(order_id, &command, &context, RetryPolicy::NONE).await.unwrap().appended);
        }
    }
    appended
}

/// Per message: (eventId, eventType, schemaVersion of the body, of the
/// attribute, `downcastFrom`).
fn summary(messages: &[Message]) -> BTreeSet<(String, String, u64, String, Option<String>)> {
    messages
        .iter()
        .map(|m| {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let attribute = |name: &str| {
                m.message_attributes().and_then(|a| a.get(name)).and_then(|v| v.string_value()).map(str::to_owned)
            };
            (
                body["eventId"].as_str().unwrap().to_owned(),
                body["eventType"].as_str().unwrap().to_owned(),
                body["schemaVersion"].as_u64().unwrap(),
                attribute(SCHEMA_VERSION_ATTRIBUTE).unwrap(),
                attribute(DOWNCAST_FROM),
            )
        })
        .collect()
}

/// What a subscriber of version `version` expects of `events`.
fn expected(events: &[Envelope], version: u32) -> BTreeSet<(String, String, u64, String, Option<String>)> {
    events
        .iter()
        .filter(|e| domain::upcast::written_versions(e.event_type()).contains(&version))
        .map(|e| {
            let current = e.event_type().schema_version();
            let downcast = (version < current).then(|| current.to_string());
            (e.event_id.to_string(), e.event_type().to_string(), u64::from(version), version.to_string(), downcast)
        })
        .collect()
}

/// The platform's subscription: every event once, at its current version.
fn current(events: &[Envelope]) -> BTreeSet<(String, String, u64, String, Option<String>)> {
    events
        .iter()
        .map(|e| {
            let v = e.event_type().schema_version();
            (e.event_id.to_string(), e.event_type().to_string(), u64::from(v), v.to_string(), None)
        })
        .collect()
}

#[tokio::test]
async fn a_version_1_subscriber_gets_version_1_of_every_event_until_the_window_closes() {
    let stack = LocalStack::connect().await;
    let (table, stream_arn) = stack.events_table().await;
    let topic_arn = stack.topic().await;
    let v1 = stack.subscribed_queue(&topic_arn, Some(VERSION_1)).await;
    let v2 = stack.subscribed_queue(&topic_arn, Some(VERSION_2)).await;
    let platform = stack.subscribed_queue(&topic_arn, Some(LEGACY_SYNC)).await;
    let sns = SnsPublisher::new(stack.sns.clone(), &topic_arn);
    let mut reader = StreamReader::new(stack.streams.clone(), &stream_arn, StreamOptions::default());
    let service = OrderService::new(Arc::new(DynamoEventStore::new(stack.dynamodb.clone(), &table)));

    // The window open: events stored at version 1 by an older build (the
    // golden items), then this build's.
    let open = PreviousVersionWindow::until(Utc::now() + Duration::days(1));
    let mut during = Vec::new();
    for history in histories() {
        history.put_items(&stack.dynamodb, &table).await;
        during.extend(history.envelopes());
    }
    during.extend(orders(&service).await);
    let report = reader.drain_once(&|event| handle_stream_event(&sns, open, event, None)).await.unwrap();
    assert_eq!(report.failed_batches, 0);

    let (v1_during, v2_during, platform_during) =
        (stack.drain_queue(&v1).await, stack.drain_queue(&v2).await, stack.drain_queue(&platform).await);
    assert_eq!(summary(&v1_during), expected(&during, 1), "version 1 of every event, once");
    assert_eq!(v1_during.len(), during.len());
    assert_eq!(summary(&v2_during), expected(&during, 2), "OrderRejected at 2");
    assert!(v2_during.iter().all(|m| m.body().unwrap().contains(r#""eventType":"OrderRejected""#)));
    assert_eq!(summary(&platform_during), current(&during), "the platform: each event once, at its current version");
    assert_eq!(platform_during.len(), during.len());

    // Version 1 of an OrderRejected stored at 1 is its stored bytes; of one
    // stored at 2, version 1 as it always read.
    let stored = stack.stored_envelopes(&table).await;
    let by_id: BTreeMap<String, &Message> =
        v1_during.iter().map(|m| (Envelope::from_json(m.body().unwrap()).unwrap().event_id.to_string(), m)).collect();
    for history in histories() {
        for golden in history.events.iter().filter(|g| g.schema_version == 1) {
            let id = golden.envelope().event_id.to_string();
            assert_eq!(by_id[&id].body().unwrap(), stored[&id], "{}", golden.path.display());
        }
    }
    for message in &v1_during {
        let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        if body["eventType"] == EventType::OrderRejected.as_str() {
            assert!(body["data"]["unavailable"].is_array() && body["data"].get("shortages").is_none(), "{body}");
        }
    }

    // The in-process evaluator the local runner uses agrees with moto.
    for (policy, delivered) in [(VERSION_1, &v1_during), (VERSION_2, &v2_during), (LEGACY_SYNC, &platform_during)] {
        let policy = FilterPolicy::from_json(policy).unwrap();
        for message in v1_during.iter().chain(&v2_during).chain(&platform_during) {
            let published = support::as_published(message);
            let got = delivered.iter().any(|d| support::as_published(d) == published);
            assert_eq!(policy.matches(&published), got, "{:?}", published.attributes);
        }
    }

    // The window closed: no more version 1 of OrderRejected; the rest as before.
    let closed = PreviousVersionWindow::until(Utc::now() - Duration::seconds(1));
    let after = orders(&service).await;
    let report = reader.drain_once(&|event| handle_stream_event(&sns, closed, event, None)).await.unwrap();
    assert_eq!(report.failed_batches, 0);
    let (v1_after, v2_after, platform_after) =
        (stack.drain_queue(&v1).await, stack.drain_queue(&v2).await, stack.drain_queue(&platform).await);
    let no_rejected: BTreeSet<_> = expected(&after, 1).into_iter().filter(|e| e.1 != "OrderRejected").collect();
    assert_eq!(summary(&v1_after), no_rejected);
    assert!(v1_after.iter().all(|m| !m.body().unwrap().contains(r#""eventType":"OrderRejected""#)));
    assert_eq!(summary(&v2_after), expected(&after, 2), "OrderRejected at 2, window or not");
    assert_eq!(summary(&platform_after), current(&after));
}
