//! The fulfillment consumer end to end: order events delivered as SQS
//! batches, pick requests read back. Memory adapters and DynamoDB Local.

mod common;

use common::Fixture;
use fulfillment::{PickLine, PickStatus};
use order_domain::{Command, Sku};
use sqs_consumer::deliver_bodies;

async fn a_confirmed_order_gets_an_open_pick_request(f: Fixture) {
    let events = f.order(&[("jig-head", 3), ("soft-bait", 12)], &[Command::Confirm]).await;
    assert!(f.deliver(&[&events[1]]).await.is_empty());
    let request = f.store.get(events[0].order_id).await.unwrap().unwrap();
    assert_eq!(request.status, PickStatus::Open);
    assert_eq!(
        request.lines,
        vec![
            PickLine { sku: Sku::parse("jig-head").unwrap(), quantity: 3 },
            PickLine { sku: Sku::parse("soft-bait").unwrap(), quantity: 12 },
        ]
    );
    assert_eq!(request.created_at, events[1].occurred_at);
}

async fn cancel_cancels_and_ship_closes(f: Fixture) {
    let cancelled = f.order(&[("jig-head", 1)], &[Command::Confirm, Command::Cancel { reason: None }]).await;
    let shipped = f.order(&[("jig-head", 1)], &[Command::Confirm, Command::Ship { tracking_number: None }]).await;
    assert!(f.deliver(&[&cancelled[1], &shipped[1]]).await.is_empty());
    assert!(f.deliver(&[&cancelled[2], &shipped[2]]).await.is_empty());
    assert_eq!(f.store.get(cancelled[0].order_id).await.unwrap().unwrap().status, PickStatus::Cancelled);
    let closed = f.store.get(shipped[0].order_id).await.unwrap().unwrap();
    assert_eq!(closed.status, PickStatus::Closed);
    assert_eq!(closed.lines.len(), 1, "the closed request still says what was picked");
}

async fn duplicates_and_reordering_change_nothing(f: Fixture) {
    let events = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Ship { tracking_number: None }]).await;
    // Shipped overtakes Confirmed, and both come twice.
    assert!(f.deliver(&[&events[2], &events[1], &events[2]]).await.is_empty());
    assert!(f.deliver(&[&events[1]]).await.is_empty());
    let request = f.store.get(events[0].order_id).await.unwrap().unwrap();
    assert_eq!((request.status, request.version), (PickStatus::Closed, 3));

    let cancelled = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Cancel { reason: None }]).await;
    assert!(f.deliver(&[&cancelled[2]]).await.is_empty());
    assert!(f.deliver(&[&cancelled[1]]).await.is_empty());
    let request = f.store.get(cancelled[0].order_id).await.unwrap().unwrap();
    assert_eq!(request.status, PickStatus::Cancelled, "a late OrderConfirmed does not reopen a cancelled request");
}

async fn other_events_are_acknowledged_untouched(f: Fixture) {
    let events = f.order(&[("jig-head", 2)], &[]).await;
    assert!(f.deliver(&[&events[0]]).await.is_empty());
    assert_eq!(f.store.get(events[0].order_id).await.unwrap(), None);
}

async fn poison_messages_fail_alone(f: Fixture) {
    let events = f.order(&[("jig-head", 2)], &[Command::Confirm]).await;
    let good = events[1].to_json();
    let mut unknown_type: serde_json::Value = serde_json::from_str(&good).unwrap();
    unknown_type["eventType"] = "OrderTeleported".into();
    let mut future_version: serde_json::Value = serde_json::from_str(&good).unwrap();
    future_version["schemaVersion"] = 2.into();
    let bodies = vec![unknown_type.to_string(), "{".to_owned(), good, future_version.to_string()];
    let mut failed = deliver_bodies(&f.projection, &bodies).await;
    failed.sort();
    assert_eq!(failed, vec!["0", "1", "3"]);
    assert_eq!(f.store.get(events[0].order_id).await.unwrap().unwrap().status, PickStatus::Open);
}

testkit::against_both_adapters!(
    memory: super::Fixture::memory(),
    dynamodb: super::Fixture::dynamodb().await;
    a_confirmed_order_gets_an_open_pick_request,
    cancel_cancels_and_ship_closes,
    duplicates_and_reordering_change_nothing,
    other_events_are_acknowledged_untouched,
    poison_messages_fail_alone,
);
