//! A batch as the saga works on it, decided without I/O.
//!
//! The deliveries are grouped by order ([`sqs_consumer::group_by_order`]):
//! each order's events oldest first, one step per eventId however often it
//! was delivered. The orders are then split into [`Group`]s that share no
//! stock write, so that an order for a quiet SKU never waits on the hot
//! one: with [`ReservationStrategy::Coalesced`], the orders seen for the
//! first time fall into groups by the SKUs they share
//! ([`plan::independent_groups`]) and every other order is a group of its
//! own.

use std::collections::{BTreeMap, HashMap};

use domain::event::OrderPlaced;
use domain::{OrderEvent, OrderId};
use inventory_store::store::{Reservation, StockLine};
use sqs_consumer::{Delivery, OrderSteps};

use crate::plan::{self, NewOrder};
use crate::reservation::ReservationStrategy;
use crate::SUBSCRIBED_EVENT_TYPES;

/// The order's OrderPlaced, if the batch holds it.
pub fn placed(order: &OrderSteps) -> Option<&OrderPlaced> {
    order.steps.iter().find_map(|s| match &s.envelope.event {
        OrderEvent::Placed(placed) => Some(placed),
        _ => None,
    })
}

/// The order as a reservation asks for it, if the batch holds its OrderPlaced.
pub fn new_order(order: &OrderSteps) -> Option<NewOrder> {
    placed(order).map(|placed| from_placed(order.order_id, placed))
}

/// What `placed` asks of inventory; its purchase limits are read later
/// ([`crate::reservation::Engine::with_limits`]).
pub fn from_placed(order_id: OrderId, placed: &OrderPlaced) -> NewOrder {
    NewOrder { order_id, customer_id: placed.customer_id.clone(), lines: stock_lines(placed), limits: BTreeMap::new() }
}

/// Orders that share no stock write, with the reservation records read
/// for them before the batch ran.
pub struct Group {
    pub orders: Vec<OrderSteps>,
    pub records: HashMap<OrderId, Reservation>,
}

impl Group {
    /// The orders of the group inventory sees for the first time: no record
    /// yet, and their OrderPlaced in the batch.
    pub fn new_orders(&self) -> Vec<NewOrder> {
        self.orders.iter().filter(|o| !self.records.contains_key(&o.order_id)).filter_map(new_order).collect()
    }
}

/// The batch by order ([`sqs_consumer::group_by_order`]) with the events
/// this consumer acts on.
pub fn group_by_order(batch: Vec<Delivery>) -> Vec<OrderSteps> {
    sqs_consumer::group_by_order(batch, &SUBSCRIBED_EVENT_TYPES)
}

/// Splits the batch's orders into groups that commit independently, each
/// with its orders' records (taken from `records`).
pub fn groups(
    orders: Vec<OrderSteps>,
    mut records: HashMap<OrderId, Reservation>,
    strategy: ReservationStrategy,
) -> Vec<Group> {
    let groups: Vec<Vec<OrderSteps>> = match strategy {
        // Orders for unrelated SKUs commit (and confirm) independently.
        ReservationStrategy::Coalesced => {
            let (new, seen): (Vec<_>, Vec<_>) =
                orders.into_iter().partition(|o| placed(o).is_some() && !records.contains_key(&o.order_id));
            let plans = plan::independent_groups(new.iter().filter_map(new_order).collect());
            let mut new: HashMap<OrderId, OrderSteps> = new.into_iter().map(|o| (o.order_id, o)).collect();
            plans
                .into_iter()
                .map(|group| group.iter().filter_map(|o| new.remove(&o.order_id)).collect())
                .chain(seen.into_iter().map(|o| vec![o]))
                .collect()
        }
        ReservationStrategy::PerOrder => vec![orders],
    };
    groups
        .into_iter()
        .map(|orders| {
            let records = orders.iter().filter_map(|o| records.remove(&o.order_id).map(|r| (o.order_id, r))).collect();
            Group { orders, records }
        })
        .collect()
}

pub fn stock_lines(placed: &OrderPlaced) -> Vec<StockLine> {
    placed.lines.iter().map(|l| StockLine { sku: l.sku.clone(), quantity: l.quantity }).collect()
}
