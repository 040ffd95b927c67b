//! A batch by order: SQS gives no order, so each consumer that must apply
//! an order's events oldest first (a pick request needs its OrderConfirmed
//! before its OrderShipped, the saga its OrderPlaced before its
//! OrderCancelled) works on each order's events sorted by version. Orders
//! are independent of each other and may run side by side.

use std::collections::HashMap;

use domain::{Envelope, EventType, Lane, OrderId};

use crate::{failed_all, Delivery, Failed, Failure};

/// One event of one order, with every message that delivered it.
pub struct Step {
    pub envelope: Envelope,
    pub message_ids: Vec<String>,
    /// The lane the event is stored in, if a message of it said.
    pub lane: Option<Lane>,
    /// The trace its handling continues ([`Delivery::traceparent`]; of the
    /// first message that carried one).
    pub traceparent: Option<String>,
}

/// The steps of one order in a batch, oldest first.
pub struct OrderSteps {
    pub order_id: OrderId,
    pub steps: Vec<Step>,
}

impl OrderSteps {
    /// The messages of the steps from the `from`-th on, failed for
    /// `failure`: what is retried when that step fails (later events of the
    /// order wait for it, and come back with it).
    pub fn failed_from(&self, from: usize, failure: Failure) -> Vec<Failed> {
        failed_all(self.steps[from..].iter().flat_map(|s| s.message_ids.clone()), failure)
    }
}

/// The batch by order, in order of first delivery; each order's events
/// oldest first, duplicates (same eventId) folded into one step. Events of
/// a type not in `subscribed` are acknowledged and ignored.
pub fn group_by_order(batch: Vec<Delivery>, subscribed: &[EventType]) -> Vec<OrderSteps> {
    let mut orders: Vec<OrderSteps> = Vec::new();
    let mut index: HashMap<OrderId, usize> = HashMap::new();
    for Delivery { message_id, envelope, lane, traceparent } in batch {
        if !subscribed.contains(&envelope.event_type()) {
            tracing::debug!(%message_id, event_type = envelope.event_type().as_str(), "not an event this consumer acts on; ignored");
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
                step.traceparent = step.traceparent.take().or(traceparent);
            }
            None => steps.push(Step { envelope, message_ids: vec![message_id], lane, traceparent }),
        }
    }
    for order in &mut orders {
        order.steps.sort_by_key(|s| s.envelope.version);
    }
    orders
}
