//! The saga end to end: OrderPlaced/Cancelled/Shipped delivered as SQS
//! batches to the inventory consumer, orders confirmed or rejected through
//! the event store. Every scenario runs on the memory adapters and on
//! DynamoDB Local.

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use commands::OrderService;
use common::{place, sku, Fixture};
use domain::event::{OrderCancelled, Shortage, UnavailableLine};
use domain::ports::{EventStore, StoreError};
use domain::{Command, Envelope, HotList, Lane, OrderEvent, OrderId, OrderStatus, Reason, TrackingNumber};
use faults::drill::OutageDrill;
use faults::{Fault, HttpFaultProxy};
use inventory::{InventoryProjection, Reservation, ReservationState, ReservationStrategy, REJECT_REASON};
use inventory_store::InventoryService;
use testkit::delivery::{deliver_bodies, deliver_in_lane};
use testkit::known_state::KnownStateCounter;
use tracing::instrument::WithSubscriber;

async fn state(f: &Fixture, order_id: OrderId) -> Option<ReservationState> {
    f.inventory.reservations(&[order_id]).await.unwrap().remove(&order_id).map(|r| r.state)
}

async fn confirms_when_stock_covers_every_line(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    f.set("braided-line", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2), ("braided-line", 3)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Confirmed);
    assert_eq!(f.stock("muskie-casting-rod").await, (3, 2, 0));
    assert_eq!(f.stock("braided-line").await, (2, 3, 0));
    let confirmed = f.history(placed.order_id).await.pop().unwrap();
    assert_eq!(confirmed.causation_id, placed.event_id.to_string(), "the saga command is caused by OrderPlaced");
    assert_eq!(confirmed.correlation_id, placed.correlation_id);
}

async fn rejects_naming_the_short_lines_and_holds_nothing(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    f.set("braided-line", 1).await;
    let placed = f.place(&[("muskie-casting-rod", 2), ("braided-line", 3), ("ghost-lure", 1)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let rejected = f.history(placed.order_id).await.pop().unwrap();
    match rejected.event {
        OrderEvent::Rejected(r) => {
            assert_eq!(r.reason, REJECT_REASON);
            assert_eq!(
                r.shortages,
                vec![
                    Shortage::from(UnavailableLine { sku: sku("braided-line"), requested: 3, available: 1 }),
                    Shortage::from(UnavailableLine { sku: sku("ghost-lure"), requested: 1, available: 0 }),
                ]
            );
        }
        other => panic!("expected OrderRejected, got {other:?}"),
    }
    assert_eq!(f.stock("muskie-casting-rod").await, (5, 0, 0), "all or nothing: the covered line is not held");
    assert_eq!(f.stock("braided-line").await, (1, 0, 0));
}

async fn duplicates_change_nothing_twice(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    assert!(f.deliver(&[&placed, &placed]).await.is_empty());
    assert!(f.deliver(&[&placed]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (3, 2, 0));
    assert_eq!(f.history(placed.order_id).await.len(), 2, "OrderPlaced and one OrderConfirmed");
}

async fn cancel_after_confirm_releases_stock(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let cancelled =
        f.command(placed.order_id, Command::Cancel { reason: Some(Reason::parse("changed mind").unwrap()) }).await;
    assert!(f.deliver(&[&cancelled[0], &cancelled[0]]).await.is_empty());
    assert!(f.deliver(&[&cancelled[0], &placed]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (5, 0, 0));
    assert_eq!(state(&f, placed.order_id).await, Some(ReservationState::Released));
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Cancelled);
}

async fn cancel_of_a_rejected_order_releases_nothing(f: Fixture) {
    f.set("muskie-casting-rod", 1).await;
    let first = f.place(&[("muskie-casting-rod", 1)]).await;
    let second = f.place(&[("muskie-casting-rod", 1)]).await;
    assert!(f.deliver(&[&first, &second]).await.is_empty());
    assert_eq!(f.status(second.order_id).await, OrderStatus::Rejected);
    // The order service refuses to cancel a rejected order; a stray
    // OrderCancelled for it must still release nothing.
    let stray = Envelope {
        event_id: uuid::Uuid::new_v4(),
        version: 3,
        event: OrderEvent::Cancelled(OrderCancelled { reason: None }),
        ..second.clone()
    };
    assert!(f.deliver(&[&stray]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (0, 1, 0), "the first order still holds the only rod");
    assert_eq!(state(&f, second.order_id).await, Some(ReservationState::Rejected));
}

async fn cancelled_seen_before_placed_reserves_nothing(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    let cancelled = f.command(placed.order_id, Command::Cancel { reason: None }).await;
    assert!(f.deliver(&[&cancelled[0]]).await.is_empty());
    assert!(f.deliver(&[&placed]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (5, 0, 0));
    assert_eq!(state(&f, placed.order_id).await, Some(ReservationState::Cancelled));
    assert_eq!(f.history(placed.order_id).await.len(), 2, "no confirm or reject after the cancel");
}

async fn order_cancelled_before_it_could_be_confirmed_gets_its_stock_back(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    let cancelled = f.command(placed.order_id, Command::Cancel { reason: None }).await;
    // OrderPlaced arrives, OrderCancelled is still on its way.
    assert!(f.deliver(&[&placed]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (5, 0, 0), "ConfirmOrder was refused, so the stock went back");
    assert_eq!(state(&f, placed.order_id).await, Some(ReservationState::Released));
    assert!(f.deliver(&[&cancelled[0]]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (5, 0, 0), "and the cancel releases nothing twice");
}

/// What the saga's commands decided on known state while `run` runs:
/// `(requests_saved, stale_conflicts, rechecks)`.
async fn known_state_counts(run: impl std::future::Future<Output = ()>) -> (u64, u64, u64) {
    let counter = KnownStateCounter::default();
    run.with_subscriber(counter.dispatch().clone()).await;
    let during = counter.snapshot();
    (during.requests_saved, during.stale_conflicts, during.rechecks)
}

async fn confirm_is_decided_on_the_placed_state_without_a_read(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    let counts = known_state_counts(async { assert!(f.deliver(&[&placed]).await.is_empty()) }).await;
    assert_eq!(counts, (1, 0, 0), "appended on the OrderPlaced state: no read");
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Confirmed);
    assert_eq!(f.lanes(placed.order_id).await, [Lane::Standard, Lane::Standard]);
}

/// An order for 2 rods, `rods` in stock, cancelled before its OrderPlaced
/// reaches the saga: the saga's command, decided on the OrderPlaced state,
/// loses its append, reads, and records nothing after the cancel.
async fn settle_after_a_cancel_got_in_first(f: &Fixture, rods: u64) -> OrderId {
    f.set("muskie-casting-rod", rods).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    f.command(placed.order_id, Command::Cancel { reason: None }).await;
    let counts = known_state_counts(async { assert!(f.deliver(&[&placed]).await.is_empty()) }).await;
    assert_eq!(counts, (0, 1, 0), "the append on version 1 lost, then the order was read");
    let history: Vec<_> = f.history(placed.order_id).await.into_iter().map(|e| e.event_type()).collect();
    assert_eq!(history, [domain::EventType::OrderPlaced, domain::EventType::OrderCancelled]);
    assert_eq!(f.stock("muskie-casting-rod").await, (rods, 0, 0), "no stock held");
    placed.order_id
}

async fn a_confirm_after_a_cancel_got_in_first_loses_its_append_and_decides_on_a_read(f: Fixture) {
    let order_id = settle_after_a_cancel_got_in_first(&f, 5).await;
    assert_eq!(state(&f, order_id).await, Some(ReservationState::Released), "the refused confirm gave the stock back");
}

async fn a_reject_after_a_cancel_got_in_first_loses_its_append_and_decides_on_a_read(f: Fixture) {
    let order_id = settle_after_a_cancel_got_in_first(&f, 1).await;
    assert_eq!(state(&f, order_id).await, Some(ReservationState::Rejected));
}

async fn a_message_without_a_lane_is_settled_on_a_read(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    let run = async { assert!(deliver_bodies(&f.projection, &[placed.to_json()]).await.is_empty()) };
    assert_eq!(known_state_counts(run).await, (0, 0, 0), "decided on a read, as before lanes");
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Confirmed);
    assert_eq!(f.lanes(placed.order_id).await, [Lane::Standard, Lane::Standard]);
}

async fn a_hot_order_is_settled_in_the_lane_its_message_names(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let api = OrderService::new(f.events.clone()).with_hot_list(HotList::parse("muskie-casting-rod").unwrap());
    let placed = place(&api, &[("muskie-casting-rod", 1)]).await;
    let cancelled_first = place(&api, &[("muskie-casting-rod", 1)]).await;
    api.execute(
        cancelled_first.order_id,
        &Command::Cancel { reason: None },
        &commands::CommandContext::new("test"),
        commands::RetryPolicy::NONE,
    )
    .await
    .unwrap();
    let bodies = [placed.to_json(), cancelled_first.to_json()];
    let run = async { assert!(deliver_in_lane(&f.projection, &bodies, Lane::Hot).await.is_empty()) };
    assert_eq!(known_state_counts(run).await, (1, 1, 0));
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Confirmed);
    assert_eq!(f.lanes(placed.order_id).await, [Lane::Hot, Lane::Hot], "confirmed in the order's lane");
    assert_eq!(f.lanes(cancelled_first.order_id).await, [Lane::Hot, Lane::Hot]);
    assert_eq!(f.stock("muskie-casting-rod").await, (4, 1, 0));
}

async fn ship_turns_reserved_into_shipped(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let shipped = f
        .command(placed.order_id, Command::Ship { tracking_number: Some(TrackingNumber::parse("1Z999").unwrap()) })
        .await;
    assert!(f.deliver(&[&shipped[0], &placed, &shipped[0]]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (3, 0, 2));
    assert_eq!(state(&f, placed.order_id).await, Some(ReservationState::Shipped));
}

/// Appends fail while `down` is set: a Lambda that crashed (or timed out)
/// after reserving and before confirming.
struct FlakyAppends {
    inner: Arc<dyn EventStore>,
    down: AtomicBool,
}

#[async_trait]
impl EventStore for FlakyAppends {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.inner.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("connection reset".into()));
        }
        self.inner.append(events).await
    }
}

async fn redelivery_after_a_crash_between_reserve_and_confirm_confirms_once(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    let flaky = Arc::new(FlakyAppends { inner: f.events.clone(), down: AtomicBool::new(true) });
    let crashing = InventoryProjection::new(f.inventory.clone(), f.catalog.clone(), OrderService::new(flaky.clone()));
    let failed = deliver_bodies(&crashing, &[placed.to_json()]).await;
    assert_eq!(failed, vec!["0".to_owned()], "the message is left for redelivery");
    assert_eq!(f.stock("muskie-casting-rod").await, (3, 2, 0));
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Placed);
    flaky.down.store(false, Ordering::SeqCst);
    assert!(deliver_bodies(&crashing, &[placed.to_json()]).await.is_empty());
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Confirmed);
    assert_eq!(f.stock("muskie-casting-rod").await, (3, 2, 0), "reserved once");
}

async fn a_hundred_line_order_is_reserved_all_or_nothing(f: Fixture) {
    let names: Vec<String> = (0..100).map(|i| format!("fly-{i:03}")).collect();
    for name in &names {
        f.set(name, 1).await;
    }
    let lines: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    let whole = f.place(&lines).await;
    assert!(f.deliver(&[&whole]).await.is_empty());
    assert_eq!(f.status(whole.order_id).await, OrderStatus::Confirmed);
    assert_eq!(f.stock("fly-000").await, (0, 1, 0));
    assert_eq!(f.stock("fly-099").await, (0, 1, 0));

    // The same again, with only the last SKU short: the first 99 lines get
    // reserved in a first step and given back when the last one fails.
    for name in &names[..99] {
        f.set(name, 1).await;
    }
    let short = f.place(&lines).await;
    assert!(f.deliver(&[&short]).await.is_empty());
    assert_eq!(f.status(short.order_id).await, OrderStatus::Rejected);
    assert_eq!(f.stock("fly-000").await, (1, 1, 0), "the first step was released");
    assert_eq!(f.stock("fly-098").await, (1, 1, 0));
    assert_eq!(state(&f, short.order_id).await, Some(ReservationState::Rejected));
}

async fn poison_messages_fail_alone(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 1)]).await;
    let good = placed.to_json();
    let mut unknown_type: serde_json::Value = serde_json::from_str(&good).unwrap();
    unknown_type["eventType"] = "OrderTeleported".into();
    let mut future_version: serde_json::Value = serde_json::from_str(&good).unwrap();
    future_version["schemaVersion"] = 2.into();
    let bodies = vec![
        "not an envelope".to_owned(),
        good,
        unknown_type.to_string(),
        future_version.to_string(),
        r#"{"eventId":"nope"}"#.to_owned(),
    ];
    let mut failed = deliver_bodies(&f.projection, &bodies).await;
    failed.sort();
    assert_eq!(failed, vec!["0", "2", "3", "4"]);
    assert_eq!(f.status(placed.order_id).await, OrderStatus::Confirmed, "the good message went through");
}

async fn events_of_other_consumers_are_acknowledged_untouched(f: Fixture) {
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 1)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let confirmed = f.history(placed.order_id).await.pop().unwrap();
    assert!(f.deliver(&[&confirmed]).await.is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (4, 1, 0));
}

async fn both_strategies_decide_alike(f: Fixture) {
    let per_order = InventoryProjection::new(f.inventory.clone(), f.catalog.clone(), f.orders.clone())
        .with_strategy(ReservationStrategy::PerOrder);
    f.set("muskie-casting-rod", 3).await;
    f.set("tourney-casting-rod", 3).await;
    let mut placed = Vec::new();
    for sku in ["muskie-casting-rod", "tourney-casting-rod"] {
        for _ in 0..5 {
            placed.push(f.place(&[(sku, 1)]).await);
        }
    }
    let bodies: Vec<String> = placed.iter().map(Envelope::to_json).collect();
    // Muskie orders through the per-order baseline, tourney coalesced.
    assert!(deliver_bodies(&per_order, &bodies[..5]).await.is_empty());
    assert!(deliver_bodies(&f.projection, &bodies[5..]).await.is_empty());
    for sku in ["muskie-casting-rod", "tourney-casting-rod"] {
        assert_eq!(f.stock(sku).await, (0, 3, 0), "{sku}");
    }
    let mut statuses = Vec::new();
    for p in &placed {
        statuses.push(f.status(p.order_id).await);
    }
    let first_come = [
        OrderStatus::Confirmed,
        OrderStatus::Confirmed,
        OrderStatus::Confirmed,
        OrderStatus::Rejected,
        OrderStatus::Rejected,
    ];
    assert_eq!(statuses[..5], first_come);
    assert_eq!(statuses[5..], first_come);
}

/// A record that says it holds more lines than it has (an item edited by
/// hand) is read as holding all of them, like the store's `held_lines`:
/// the saga goes on rather than panicking on the slice.
async fn a_reserving_record_holding_more_than_its_lines_is_bounded(f: Fixture) {
    use inventory_store::store::{Change, StockLine};
    f.set("muskie-casting-rod", 5).await;
    let placed = f.place(&[("muskie-casting-rod", 2)]).await;
    let lines = vec![StockLine { sku: sku("muskie-casting-rod"), quantity: 2 }];
    let record = Reservation {
        order_id: placed.order_id,
        state: ReservationState::Reserving,
        lines,
        held: 3,
        unavailable: vec![],
        customer_id: None,
        limits: Default::default(),
        exceeded: vec![],
        revision: 0,
    };
    f.inventory.commit(Change::new().record(None, record)).await.unwrap();
    assert!(f.deliver(&[&placed]).await.is_empty());
    assert_eq!(state(&f, placed.order_id).await, Some(ReservationState::Reserved));
}

async fn stock_service_reads_and_sets(f: Fixture) {
    let service = InventoryService::new(f.inventory.clone());
    assert_eq!(service.get(&sku("muskie-casting-rod")).await.unwrap(), None);
    service.set_available(&sku("muskie-casting-rod"), 4).await.unwrap();
    let placed = f.place(&[("muskie-casting-rod", 3)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let stock = service.get(&sku("muskie-casting-rod")).await.unwrap().unwrap();
    assert_eq!((stock.available, stock.reserved), (1, 3));
    assert!(matches!(
        service.set_available(&sku("muskie-casting-rod"), inventory_store::MAX_AVAILABLE + 1).await,
        Err(inventory_store::SetAvailableError::OutOfRange)
    ));
}

testkit::against_both_adapters!(
    memory: super::Fixture::memory(),
    dynamodb: super::Fixture::dynamodb().await;
    confirms_when_stock_covers_every_line,
    rejects_naming_the_short_lines_and_holds_nothing,
    duplicates_change_nothing_twice,
    cancel_after_confirm_releases_stock,
    cancel_of_a_rejected_order_releases_nothing,
    cancelled_seen_before_placed_reserves_nothing,
    order_cancelled_before_it_could_be_confirmed_gets_its_stock_back,
    confirm_is_decided_on_the_placed_state_without_a_read,
    a_confirm_after_a_cancel_got_in_first_loses_its_append_and_decides_on_a_read,
    a_reject_after_a_cancel_got_in_first_loses_its_append_and_decides_on_a_read,
    a_message_without_a_lane_is_settled_on_a_read,
    a_hot_order_is_settled_in_the_lane_its_message_names,
    ship_turns_reserved_into_shipped,
    redelivery_after_a_crash_between_reserve_and_confirm_confirms_once,
    a_hundred_line_order_is_reserved_all_or_nothing,
    poison_messages_fail_alone,
    events_of_other_consumers_are_acknowledged_untouched,
    both_strategies_decide_alike,
    stock_service_reads_and_sets,
    a_reserving_record_holding_more_than_its_lines_is_bounded,
);

/// DynamoDB throttles every request for 24 s (longer than the old 5 ×
/// visibility): no message reaches the DLQ, every order is decided once
/// DynamoDB is back, each order's events in their order (an OrderCancelled
/// sent ahead of its OrderPlaced still leaves nothing reserved), the
/// receive counts show the backoff; a poison message in the same queue
/// reaches the DLQ meanwhile.
#[tokio::test]
async fn dynamodb_outage_dead_letters_nothing_but_poison() {
    let proxy = HttpFaultProxy::start(testkit::dynamodb_host()).await.unwrap();
    let f = Fixture::dynamodb_via(proxy.url()).await;
    f.set("muskie-casting-rod", 10).await;
    let mut placed = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..6 {
        let order = f.place(&[("muskie-casting-rod", 1)]).await;
        if i % 2 == 1 {
            let cancelled = f.command(order.order_id, Command::Cancel { reason: None }).await;
            bodies.push(cancelled[0].to_json());
        }
        bodies.push(order.to_json());
        placed.push(order);
    }
    let drill = OutageDrill::prepare("inventory-outage", &bodies).await;

    proxy.set(Fault::dynamodb_throttling(1.0));
    let during = drill.through_outage(&f.projection).await;
    proxy.clear();
    let after = drill.until_drained(&f.projection).await;

    drill.assert_only_poison_dead_lettered(&during, &after).await;
    for (i, order) in placed.iter().enumerate() {
        let expected = if i % 2 == 1 { OrderStatus::Cancelled } else { OrderStatus::Confirmed };
        assert_eq!(f.status(order.order_id).await, expected, "order {i}");
    }
    assert_eq!(f.stock("muskie-casting-rod").await, (7, 3, 0), "the three confirmed orders hold one each");
}
