//! The fulfillment consumer end to end: order events delivered as SQS
//! batches, pick requests read back. Memory adapters and DynamoDB Local.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::Fixture;
use contract::tables::{create_events_table, create_fulfillment_table};
use domain::ports::{EventStore, StoreError};
use domain::{Command, Envelope, OrderId, Sku};
use faults::drill::OutageDrill;
use faults::{Fault, HttpFaultProxy};
use fulfillment::{FulfillmentProjection, PickLine, PickStatus};
use testkit::delivery::deliver_bodies;

/// The event store as the projection reads it, slowed down (so that events
/// of one order applied side by side would finish out of order) or down for
/// one order.
struct Reads {
    inner: Arc<dyn EventStore>,
    delay: Duration,
    down_for: Mutex<Option<OrderId>>,
}

#[async_trait]
impl EventStore for Reads {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        tokio::time::sleep(self.delay).await;
        if *self.down_for.lock().unwrap() == Some(order_id) {
            return Err(StoreError::Unavailable("connection reset".into()));
        }
        self.inner.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.inner.append(events).await
    }
}

impl Fixture {
    /// This fixture's projection, reading the event store through [`Reads`].
    fn reading(&self, delay: Duration, down_for: Option<OrderId>) -> (Arc<Reads>, FulfillmentProjection) {
        let reads = Arc::new(Reads { inner: self.events.clone(), delay, down_for: Mutex::new(down_for) });
        (reads.clone(), FulfillmentProjection::new(self.store.clone(), reads))
    }
}

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

    // Shipped overtakes Confirmed across batches (a redelivery after a
    // visibility timeout): the request is the one in-order delivery gives.
    let late = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Ship { tracking_number: None }]).await;
    assert!(f.deliver(&[&late[2]]).await.is_empty());
    assert!(f.deliver(&[&late[1]]).await.is_empty());
    let in_order = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Ship { tracking_number: None }]).await;
    assert!(f.deliver(&[&in_order[1]]).await.is_empty());
    assert!(f.deliver(&[&in_order[2]]).await.is_empty());
    let (late_request, in_order_request) = (
        f.store.get(late[0].order_id).await.unwrap().unwrap(),
        f.store.get(in_order[0].order_id).await.unwrap().unwrap(),
    );
    assert_eq!(late_request.lines, in_order_request.lines, "the lines, though the ship came first");
    assert_eq!(late_request.created_at, late[1].occurred_at, "created when the order was confirmed");

    let cancelled = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Cancel { reason: None }]).await;
    assert!(f.deliver(&[&cancelled[2]]).await.is_empty());
    assert!(f.deliver(&[&cancelled[1]]).await.is_empty());
    let request = f.store.get(cancelled[0].order_id).await.unwrap().unwrap();
    assert_eq!(request.status, PickStatus::Cancelled, "a late OrderConfirmed does not reopen a cancelled request");
    assert_eq!(request.lines, late_request.lines, "a cancel after the confirm keeps the lines");
    assert_eq!(request.created_at, cancelled[1].occurred_at);
}

/// Applied side by side, an order's OrderConfirmed and OrderShipped of one
/// batch would race to write; in one batch an order's events go in version
/// order.
async fn confirmed_and_shipped_in_one_batch_keep_the_lines(f: Fixture) {
    let events = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Ship { tracking_number: None }]).await;
    let (_, projection) = f.reading(Duration::from_millis(50), None);
    let bodies = [events[2].to_json(), events[1].to_json()];
    assert!(deliver_bodies(&projection, &bodies).await.is_empty());
    let request = f.store.get(events[0].order_id).await.unwrap().unwrap();
    assert_eq!((request.status, request.version), (PickStatus::Closed, 3));
    assert_eq!(request.lines, vec![PickLine { sku: Sku::parse("jig-head").unwrap(), quantity: 2 }]);
}

/// A failed event fails its order's later events of the batch with it (and
/// every message of each): none is applied before the one it follows. Other
/// orders go on.
async fn a_failed_event_fails_the_orders_later_events(f: Fixture) {
    let events = f.order(&[("jig-head", 2)], &[Command::Confirm, Command::Ship { tracking_number: None }]).await;
    let other = f.order(&[("jig-head", 1)], &[Command::Confirm, Command::Cancel { reason: None }]).await;
    let (reads, projection) = f.reading(Duration::ZERO, Some(events[0].order_id));
    let bodies = [events[2].to_json(), other[2].to_json(), events[1].to_json(), events[2].to_json()];
    let mut failed = deliver_bodies(&projection, &bodies).await;
    failed.sort();
    assert_eq!(failed, ["0", "2", "3"], "the Confirmed that could not read, and both deliveries of the Shipped");
    assert_eq!(f.store.get(events[0].order_id).await.unwrap(), None, "the Shipped was not applied first");
    assert_eq!(f.store.get(other[0].order_id).await.unwrap().unwrap().status, PickStatus::Cancelled);

    *reads.down_for.lock().unwrap() = None;
    let retried: Vec<String> = failed.iter().map(|id| bodies[id.parse::<usize>().unwrap()].clone()).collect();
    assert!(deliver_bodies(&projection, &retried).await.is_empty());
    let request = f.store.get(events[0].order_id).await.unwrap().unwrap();
    assert_eq!((request.status, request.lines.len()), (PickStatus::Closed, 1));
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
    confirmed_and_shipped_in_one_batch_keep_the_lines,
    a_failed_event_fails_the_orders_later_events,
    other_events_are_acknowledged_untouched,
    poison_messages_fail_alone,
);

/// DynamoDB throttles every request for 24 s (longer than the old 5 ×
/// visibility): no message reaches the DLQ, every order's pick request ends
/// as its events say once DynamoDB is back, the receive counts show the
/// backoff; a poison message in the same queue reaches the DLQ meanwhile.
#[tokio::test]
async fn dynamodb_outage_dead_letters_nothing_but_poison() {
    let direct = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let (fulfillment_table, events_table) = (testkit::unique_name("fulfillment"), testkit::unique_name("events"));
    create_fulfillment_table(&direct, &fulfillment_table).await.unwrap();
    create_events_table(&direct, &events_table).await.unwrap();
    let proxy = HttpFaultProxy::start(testkit::dynamodb_host()).await.unwrap();
    let config = aws_sdk_dynamodb::config::Builder::from(&testkit::dynamodb_config().await).endpoint_url(proxy.url());
    let proxied = aws_sdk_dynamodb::Client::from_conf(config.build());
    let f = Fixture::new(
        Arc::new(fulfillment::DynamoFulfillmentStore::new(proxied.clone(), fulfillment_table)),
        Arc::new(event_store::DynamoEventStore::new(proxied, events_table)),
    );
    let mut orders = Vec::new();
    for i in 0..4 {
        let then = if i % 2 == 0 { Command::Ship { tracking_number: None } } else { Command::Cancel { reason: None } };
        orders.push(f.order(&[("jig-head", i + 1)], &[Command::Confirm, then]).await);
    }
    let bodies: Vec<String> = orders.iter().flat_map(|events| events[1..].iter().rev().map(|e| e.to_json())).collect();
    let drill = OutageDrill::prepare("fulfillment-outage", &bodies).await;

    proxy.set(Fault::dynamodb_throttling(1.0));
    let during = drill.through_outage(&f.projection).await;
    proxy.clear();
    let after = drill.until_drained(&f.projection).await;

    drill.assert_only_poison_dead_lettered(&during, &after).await;
    for events in &orders {
        let request = f.store.get(events[0].order_id).await.unwrap().unwrap();
        let shipped = matches!(events[2].event, domain::OrderEvent::Shipped(_));
        assert_eq!(request.status, if shipped { PickStatus::Closed } else { PickStatus::Cancelled });
        assert_eq!(request.version, 3, "the order's last event applied");
        assert_eq!(request.lines.len(), 1, "the lines of the OrderConfirmed it overtook");
    }
}
