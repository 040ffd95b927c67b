//! A batch as the saga works on it, decided without I/O.
//!
//! The deliveries are grouped by order: each order's events oldest first,
//! one [`Step`] per eventId however often it was delivered. The orders are
//! then split into [`Group`]s that share no stock write, so that an order
//! for a quiet SKU never waits on the hot one: with
//! [`ReservationStrategy::Coalesced`], the orders seen for the first time
//! fall into groups by the SKUs they share ([`plan::independent_groups`]) and
//! every other order is a group of its own.

use std::collections::HashMap;

use inventory_store::store::{Reservation, StockLine};
use order_domain::event::OrderPlaced;
use order_domain::{Envelope, Lane, OrderEvent, OrderId};
use sqs_consumer::Delivery;

use crate::plan::{self, NewOrder};
use crate::reservation::ReservationStrategy;
use crate::SUBSCRIBED_EVENT_TYPES;

/// One event of one order, with every message that delivered it.
pub struct Step {
    pub envelope: Envelope,
    pub message_ids: Vec<String>,
    /// The lane the event is stored in, if a message of it said.
    pub lane: Option<Lane>,
}

/// The steps of one order in a batch, oldest first.
pub struct OrderSteps {
    pub order_id: OrderId,
    pub steps: Vec<Step>,
}

impl OrderSteps {
    pub fn placed(&self) -> Option<&OrderPlaced> {
        self.steps.iter().find_map(|s| match &s.envelope.event {
            OrderEvent::Placed(placed) => Some(placed),
            _ => None,
        })
    }

    /// The order as a reservation asks for it, if the batch holds its OrderPlaced.
    pub fn new_order(&self) -> Option<NewOrder> {
        self.placed().map(|placed| NewOrder { order_id: self.order_id, lines: stock_lines(placed) })
    }

    /// The messages of the steps from the `from`-th on: what is retried
    /// when that step fails (later events of the order wait for it).
    pub fn message_ids_from(&self, from: usize) -> Vec<String> {
        self.steps[from..].iter().flat_map(|s| s.message_ids.clone()).collect()
    }
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
        self.orders
            .iter()
            .filter(|o| !self.records.contains_key(&o.order_id))
            .filter_map(OrderSteps::new_order)
            .collect()
    }
}

/// The batch by order, in order of first delivery; each order's events
/// oldest first, duplicates (same eventId) folded into one step. Events this
/// consumer is not subscribed to are acknowledged and ignored.
pub fn group_by_order(batch: Vec<Delivery>) -> Vec<OrderSteps> {
    let mut orders: Vec<OrderSteps> = Vec::new();
    let mut index: HashMap<OrderId, usize> = HashMap::new();
    for Delivery { message_id, envelope, lane } in batch {
        if !SUBSCRIBED_EVENT_TYPES.contains(&envelope.event_type()) {
            tracing::debug!(%message_id, event_type = envelope.event_type().as_str(), "not an inventory event; ignored");
            continue;
        }
        let i = *index.entry(envelope.order_id).or_insert_with(|| {
            orders.push(OrderSteps { order_id: envelope.order_id, steps: Vec::new() });
            orders.len() - 1
        });
        let steps = &mut orders[i].steps;
        match steps.iter_mut().find(|s| s.envelope.event_id == envelope.event_id) {
            Some(step) => {
                step.message_ids.push(message_id);
                step.lane = step.lane.or(lane);
            }
            None => steps.push(Step { envelope, message_ids: vec![message_id], lane }),
        }
    }
    for order in &mut orders {
        order.steps.sort_by_key(|s| s.envelope.version);
    }
    orders
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
                orders.into_iter().partition(|o| o.placed().is_some() && !records.contains_key(&o.order_id));
            let plans = plan::independent_groups(new.iter().filter_map(OrderSteps::new_order).collect());
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
