//! Purchase limits in the saga (DESIGN.md "Catalog"): `maxPerCustomer`
//! caps what one customer holds of a SKU over its orders that are neither
//! cancelled nor rejected, counted in the same transaction as the
//! reservation. Every scenario runs on the memory adapters and on DynamoDB
//! Local, on several threads, so concurrent batches really contend.

use crate::common;

use std::sync::Arc;

use commands::{CommandContext, RetryPolicy};
use common::{place_command, sku, Fixture};
use domain::event::{OrderRejected, OverLimitLine, ShortageKind};
use domain::limit::LIMIT_EXCEEDED;
use domain::{Command, Envelope, OrderEvent, OrderId, OrderStatus};
use inventory::{InventoryProjection, ReservationState, ReservationStrategy, REJECT_REASON};

const ROD: &str = "muskie-casting-rod";

/// The order's OrderRejected, if it was rejected.
async fn rejection(f: &Fixture, order_id: OrderId) -> Option<OrderRejected> {
    f.history(order_id).await.into_iter().find_map(|e| match e.event {
        OrderEvent::Rejected(r) => Some(r),
        _ => None,
    })
}

fn over_limit(requested: u32, allowed: u32) -> OrderRejected {
    OrderRejected {
        reason: LIMIT_EXCEEDED.into(),
        shortages: vec![OverLimitLine { sku: sku(ROD), requested, allowed }.into()],
    }
}

/// `available` rods in stock, at most 2 per customer.
async fn rods_limited_to_two(f: &Fixture, available: u64) {
    f.set(ROD, available).await;
    f.limit(ROD, 2).await;
}

/// Each envelope delivered as its own SQS batch, all at once, as that many
/// Lambda instances would take them.
async fn deliver_at_once(f: &Arc<Fixture>, envelopes: &[Envelope]) {
    let tasks: Vec<_> = envelopes
        .iter()
        .cloned()
        .map(|envelope| {
            let f = f.clone();
            tokio::spawn(async move { f.deliver(&[&envelope]).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_empty(), "every delivery applied");
    }
}

/// The Must-show of issue 22: a limit of 2 rods; one customer sends 16
/// requests at once for 5 orders of 1 rod (retries of the same order
/// included), each delivered as its own batch at once → exactly 2
/// confirmed, 3 rejected `limit-exceeded`; another customer is unaffected;
/// cancelling one frees one. Redelivering everything changes nothing.
async fn one_customer_gets_its_limit_of_five_orders_sent_at_once(f: Fixture) {
    let f = Arc::new(f);
    rods_limited_to_two(&f, 100).await;
    let ids: Vec<OrderId> = (0..5).map(|_| OrderId(uuid::Uuid::new_v4())).collect();
    let requests: Vec<_> = (0..16)
        .map(|i| {
            let (orders, order_id) = (f.orders.clone(), ids[i % 5]);
            tokio::spawn(async move {
                let command = place_command("greedy-angler", &[(ROD, 1)]);
                orders.execute(order_id, &command, &CommandContext::new("test"), RetryPolicy::INTERNAL).await.unwrap()
            })
        })
        .collect();
    for request in requests {
        request.await.unwrap();
    }
    let mut deliveries = Vec::new();
    for i in 0..16 {
        deliveries.push(f.history(ids[i % 5]).await.remove(0));
    }
    deliver_at_once(&f, &deliveries).await;

    let mut confirmed = Vec::new();
    for id in &ids {
        match f.status(*id).await {
            OrderStatus::Confirmed => confirmed.push(*id),
            OrderStatus::Rejected => assert_eq!(rejection(&f, *id).await, Some(over_limit(1, 0))),
            other => panic!("order {id} is {other:?}"),
        }
    }
    assert_eq!(confirmed.len(), 2, "exactly the limit confirmed, the 3 others rejected");
    assert_eq!(f.stock(ROD).await, (98, 2, 0), "a rejected order holds no stock");
    assert_eq!(f.share("greedy-angler", ROD).await, 2);

    let other = f.place_as("other-angler", &[(ROD, 2)]).await;
    assert!(f.deliver(&[&other]).await.is_empty());
    assert_eq!(f.status(other.order_id).await, OrderStatus::Confirmed, "another customer is unaffected");
    assert_eq!(f.share("other-angler", ROD).await, 2);

    let cancelled = f.command(confirmed[0], Command::Cancel { reason: None }).await;
    deliver_at_once(&f, &[cancelled[0].clone(), cancelled[0].clone()]).await;
    assert_eq!(f.share("greedy-angler", ROD).await, 1, "cancelling frees one, once");
    let next = f.place_as("greedy-angler", &[(ROD, 1)]).await;
    let one_more = f.place_as("greedy-angler", &[(ROD, 1)]).await;
    assert!(f.deliver(&[&next, &one_more]).await.is_empty());
    assert_eq!(f.status(next.order_id).await, OrderStatus::Confirmed, "the freed rod can be bought again");
    assert_eq!(rejection(&f, one_more.order_id).await, Some(over_limit(1, 0)));

    deliver_at_once(&f, &deliveries).await;
    assert!(f.deliver(&[&cancelled[0], &next, &one_more]).await.is_empty());
    assert_eq!(f.share("greedy-angler", ROD).await, 2, "redelivery counts nothing twice");
    assert_eq!(f.stock(ROD).await, (96, 4, 0));
}

async fn an_order_over_the_limit_by_itself_names_what_is_allowed(f: Fixture) {
    rods_limited_to_two(&f, 10).await;
    f.set("braided-line", 10).await;
    let first = f.place(&[(ROD, 1)]).await;
    let second = f.place(&[(ROD, 2), ("braided-line", 1)]).await;
    assert!(f.deliver(&[&first, &second]).await.is_empty());
    assert_eq!(rejection(&f, second.order_id).await, Some(over_limit(2, 1)));
    assert_eq!(f.stock("braided-line").await, (10, 0, 0), "all or nothing: the unlimited line is not held either");
    assert_eq!(f.share(common::CUSTOMER, ROD).await, 1);
}

async fn short_stock_is_rejected_as_before_and_takes_no_share(f: Fixture) {
    rods_limited_to_two(&f, 1).await;
    let placed = f.place(&[(ROD, 2)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let rejected = rejection(&f, placed.order_id).await.unwrap();
    let kinds: Vec<ShortageKind> = rejected.shortages.iter().map(|s| s.kind).collect();
    assert_eq!((rejected.reason.as_str(), kinds), (REJECT_REASON, vec![ShortageKind::Stock]));
    assert_eq!(f.share(common::CUSTOMER, ROD).await, 0);
}

async fn a_shipped_order_still_counts(f: Fixture) {
    rods_limited_to_two(&f, 10).await;
    let placed = f.place(&[(ROD, 2)]).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    let shipped = f.command(placed.order_id, Command::Ship { tracking_number: None }).await;
    assert!(f.deliver(&[&shipped[0]]).await.is_empty());
    let again = f.place(&[(ROD, 1)]).await;
    assert!(f.deliver(&[&again]).await.is_empty());
    assert_eq!(rejection(&f, again.order_id).await, Some(over_limit(1, 0)));
    assert_eq!(f.stock(ROD).await, (8, 0, 2));
}

async fn an_order_cancelled_before_it_was_confirmed_gives_its_share_back(f: Fixture) {
    rods_limited_to_two(&f, 10).await;
    let placed = f.place(&[(ROD, 2)]).await;
    f.command(placed.order_id, Command::Cancel { reason: None }).await;
    assert!(f.deliver(&[&placed]).await.is_empty());
    assert_eq!(f.stock(ROD).await, (10, 0, 0));
    assert_eq!(f.share(common::CUSTOMER, ROD).await, 0, "ConfirmOrder was refused, so the share went back too");
    let next = f.place(&[(ROD, 2)]).await;
    assert!(f.deliver(&[&next]).await.is_empty());
    assert_eq!(f.status(next.order_id).await, OrderStatus::Confirmed);
}

/// A limit set after an order was reserved leaves that order uncounted:
/// its record says what it counts, and its cancel gives back nothing.
async fn a_limit_counts_the_orders_reserved_under_it(f: Fixture) {
    f.set(ROD, 10).await;
    let before = f.place(&[(ROD, 2)]).await;
    assert!(f.deliver(&[&before]).await.is_empty());
    f.limit(ROD, 2).await;
    let under = f.place(&[(ROD, 2)]).await;
    assert!(f.deliver(&[&under]).await.is_empty());
    assert_eq!(f.status(under.order_id).await, OrderStatus::Confirmed);
    let cancelled = f.command(before.order_id, Command::Cancel { reason: None }).await;
    assert!(f.deliver(&[&cancelled[0]]).await.is_empty());
    assert_eq!(f.share(common::CUSTOMER, ROD).await, 2, "the earlier order never counted, so gave back nothing");
}

/// Sixty lines of limited SKUs take two transactions (a stock item and a
/// share each); the last line is over its limit: the first step is
/// released, stock and shares, and the order rejected naming that line.
async fn an_order_reserved_in_steps_is_released_whole_when_a_line_is_over_its_limit(f: Fixture) {
    let names: Vec<String> = (0..60).map(|i| format!("fly-{i:03}")).collect();
    for name in &names {
        f.set(name, 5).await;
        f.limit(name, 1).await;
    }
    let earlier = f.place(&[("fly-059", 1)]).await;
    assert!(f.deliver(&[&earlier]).await.is_empty());
    let lines: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    let whole = f.place(&lines).await;
    assert!(f.deliver(&[&whole]).await.is_empty());
    let expected = OverLimitLine { sku: sku("fly-059"), requested: 1, allowed: 0 };
    assert_eq!(rejection(&f, whole.order_id).await.map(|r| r.shortages), Some(vec![expected.into()]));
    assert_eq!(f.stock("fly-000").await, (5, 0, 0), "the first step was released");
    assert_eq!(f.share(common::CUSTOMER, "fly-000").await, 0, "and its shares given back");
    assert_eq!(f.share(common::CUSTOMER, "fly-059").await, 1, "the earlier order still counts");
    let record = f.inventory.reservations(&[whole.order_id]).await.unwrap().remove(&whole.order_id).unwrap();
    assert_eq!((record.state, record.held), (ReservationState::Rejected, 0));
}

async fn the_per_order_strategy_holds_the_limit_too(f: Fixture) {
    let per_order = InventoryProjection::new(f.inventory.clone(), f.catalog.clone(), f.orders.clone())
        .with_strategy(ReservationStrategy::PerOrder);
    rods_limited_to_two(&f, 10).await;
    let mut placed = Vec::new();
    for _ in 0..3 {
        placed.push(f.place(&[(ROD, 1)]).await);
    }
    let bodies: Vec<String> = placed.iter().map(Envelope::to_json).collect();
    assert!(testkit::delivery::deliver_bodies(&per_order, &bodies).await.is_empty());
    let mut statuses = Vec::new();
    for p in &placed {
        statuses.push(f.status(p.order_id).await);
    }
    assert_eq!(statuses, [OrderStatus::Confirmed, OrderStatus::Confirmed, OrderStatus::Rejected]);
    assert_eq!(rejection(&f, placed[2].order_id).await, Some(over_limit(1, 0)));
}

testkit::against_both_adapters!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    memory: super::Fixture::memory(),
    dynamodb: super::Fixture::dynamodb().await;
    one_customer_gets_its_limit_of_five_orders_sent_at_once,
    an_order_over_the_limit_by_itself_names_what_is_allowed,
    short_stock_is_rejected_as_before_and_takes_no_share,
    a_shipped_order_still_counts,
    an_order_cancelled_before_it_was_confirmed_gives_its_share_back,
    a_limit_counts_the_orders_reserved_under_it,
    an_order_reserved_in_steps_is_released_whole_when_a_line_is_over_its_limit,
    the_per_order_strategy_holds_the_limit_too,
);
