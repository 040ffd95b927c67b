//! What a batch means for each order, decided without I/O.
//!
//! A batch is grouped by order. Given the version the sync has already
//! applied to the legacy rows of an order, its events say one of four
//! things: nothing new (duplicates, stale events), a whole row (the batch
//! holds the history from `OrderPlaced` on), a status change on top of the
//! applied row (the batch continues the applied version without a gap), or
//! "a predecessor is missing": then the order is folded from the event store
//! (see [`crate::sync`]) and planned again with the store's events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use domain::{fold, Envelope, OrderEvent, OrderId, OrderStatus};
use sqs_consumer::Delivery;

use crate::rows::{LegacyOrder, RowError};

/// The events of one order in a batch, each version once.
#[derive(Clone, Debug)]
pub struct OrderEvents {
    pub order_id: OrderId,
    pub events: BTreeMap<u32, Envelope>,
    /// Every message that carried one of these events, duplicates included:
    /// they all succeed or fail together.
    pub message_ids: Vec<String>,
    /// The trace the order's write continues: its latest event's message's
    /// ([`Delivery::traceparent`]).
    pub traceparent: Option<String>,
}

impl OrderEvents {
    /// Adds events read elsewhere (the event store) to those of the batch.
    pub fn merge(&mut self, events: impl IntoIterator<Item = Envelope>) {
        for event in events {
            self.events.entry(event.version).or_insert(event);
        }
    }
}

/// Groups a batch by order, sorted by order id so that concurrent
/// consumers lock the bookkeeping rows in one order (no deadlocks).
pub fn group(batch: Vec<Delivery>) -> Vec<OrderEvents> {
    let mut orders: BTreeMap<OrderId, OrderEvents> = BTreeMap::new();
    let mut latest: BTreeMap<OrderId, u32> = BTreeMap::new();
    for Delivery { message_id, envelope, traceparent, .. } in batch {
        let order = orders.entry(envelope.order_id).or_insert_with(|| OrderEvents {
            order_id: envelope.order_id,
            events: BTreeMap::new(),
            message_ids: Vec::new(),
            traceparent: None,
        });
        order.message_ids.push(message_id);
        let newest = latest.entry(envelope.order_id).or_insert(0);
        if traceparent.is_some() && envelope.version >= *newest {
            *newest = envelope.version;
            order.traceparent = traceparent;
        }
        order.events.entry(envelope.version).or_insert(envelope);
    }
    orders.into_values().collect()
}

/// A status change applied on top of the row at the applied version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advance {
    pub order_id: OrderId,
    /// `None` when the new events leave the status alone.
    pub status: Option<OrderStatus>,
    pub updated_at: DateTime<Utc>,
    pub version: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// Every event is at or below the applied version: nothing to write.
    UpToDate,
    /// The whole row, folded from events `1..=version`.
    Write(LegacyOrder),
    Advance(Advance),
    /// A predecessor of the new events is neither applied nor known.
    Fold,
    /// The events cannot be turned into legacy rows (a store never holds
    /// such events; the messages fail and reach the DLQ).
    Invalid(RowError),
}

/// Decides what to write for `events` of one order whose legacy rows are
/// at `applied` (0: none yet).
pub fn plan(applied: u32, events: &BTreeMap<u32, Envelope>) -> Plan {
    const MAX_VERSION: u32 = i32::MAX as u32;
    if let Some(&version) = events.keys().next_back().filter(|v| **v > MAX_VERSION) {
        return Plan::Invalid(RowError::OutOfRange { column: "order_sync.applied.version", value: version.into() });
    }
    let new: Vec<&Envelope> = events.range(applied + 1..).map(|(_, event)| event).collect();
    let Some(last) = new.last() else { return Plan::UpToDate };
    let gap_free = new.iter().zip(applied + 1..).all(|(event, expected)| event.version == expected);
    if !gap_free {
        return Plan::Fold;
    }
    if applied > 0 {
        return Plan::Advance(Advance {
            order_id: last.order_id,
            status: new.iter().rev().find_map(|event| status_after(&event.event)),
            updated_at: last.occurred_at,
            version: last.version,
        });
    }
    match fold(new.iter().copied()) {
        Some(order) => match LegacyOrder::try_from(&order) {
            Ok(row) => Plan::Write(row),
            Err(error) => Plan::Invalid(error),
        },
        None => Plan::Invalid(RowError::NotPlacedFirst),
    }
}

/// The status an event leaves an existing order in, as `order::evolve`
/// does it: `OrderPlaced` on an existing order changes nothing.
fn status_after(event: &OrderEvent) -> Option<OrderStatus> {
    match event {
        OrderEvent::Placed(_) => None,
        OrderEvent::Confirmed(_) => Some(OrderStatus::Confirmed),
        OrderEvent::Rejected(_) => Some(OrderStatus::Rejected),
        OrderEvent::Cancelled(_) => Some(OrderStatus::Cancelled),
        OrderEvent::Shipped(_) => Some(OrderStatus::Shipped),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::event::{OrderCancelled, OrderConfirmed, OrderPlaced, OrderShipped};
    use domain::{Currency, CustomerId, OrderLine, Sku};
    use uuid::Uuid;

    use super::*;

    fn envelope(order_id: OrderId, version: u32, event: OrderEvent) -> Envelope {
        Envelope {
            event_id: Uuid::new_v4(),
            order_id,
            version,
            occurred_at: Utc.timestamp_millis_opt(1_700_000_000_000 + i64::from(version) * 1000).unwrap(),
            correlation_id: "c".into(),
            causation_id: "c".into(),
            traceparent: None,
            event,
        }
    }

    fn placed() -> OrderEvent {
        OrderEvent::Placed(OrderPlaced {
            customer_id: CustomerId::parse("angler").unwrap(),
            basket_id: None,
            currency: Currency::parse("EUR").unwrap(),
            lines: vec![OrderLine {
                sku: Sku::parse("muskie-casting-rod").unwrap(),
                quantity: 2,
                unit_price_cents: 19_900,
            }],
            total_cents: 39_800,
        })
    }

    fn history(order_id: OrderId) -> Vec<Envelope> {
        vec![
            envelope(order_id, 1, placed()),
            envelope(order_id, 2, OrderEvent::Confirmed(OrderConfirmed {})),
            envelope(order_id, 3, OrderEvent::Shipped(OrderShipped { tracking_number: None })),
        ]
    }

    fn events(of: &[&Envelope]) -> BTreeMap<u32, Envelope> {
        of.iter().map(|e| (e.version, (*e).clone())).collect()
    }

    #[test]
    fn group_sorts_orders_and_keeps_each_version_once_but_every_message() {
        let (a, b) = (OrderId(Uuid::from_u128(2)), OrderId(Uuid::from_u128(1)));
        let (ha, hb) = (history(a), history(b));
        let batch = [(&ha[1], "m1"), (&hb[0], "m2"), (&ha[1], "m3"), (&ha[0], "m4")]
            .into_iter()
            .map(|(e, id)| Delivery { message_id: id.into(), envelope: e.clone(), lane: None, traceparent: None })
            .collect();
        let grouped = group(batch);
        assert_eq!(grouped.iter().map(|g| g.order_id).collect::<Vec<_>>(), vec![b, a]);
        assert_eq!(grouped[1].events.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(grouped[1].message_ids, vec!["m1", "m3", "m4"]);
    }

    #[test]
    fn a_history_from_placed_is_a_whole_row_at_its_last_version() {
        let id = OrderId(Uuid::new_v4());
        let h = history(id);
        let Plan::Write(row) = plan(0, &events(&[&h[0], &h[1]])) else { panic!("expected a whole row") };
        assert_eq!((row.version, row.status, row.updated_at), (2, OrderStatus::Confirmed, h[1].occurred_at));
        assert_eq!(row.placed_at, h[0].occurred_at);
    }

    #[test]
    fn events_continuing_the_applied_version_advance_the_status() {
        let id = OrderId(Uuid::new_v4());
        let h = history(id);
        let expected =
            Advance { order_id: id, status: Some(OrderStatus::Shipped), updated_at: h[2].occurred_at, version: 3 };
        assert_eq!(plan(1, &events(&[&h[1], &h[2]])), Plan::Advance(expected.clone()));
        assert_eq!(plan(1, &events(&[&h[0], &h[1], &h[2]])), Plan::Advance(expected));
    }

    #[test]
    fn stale_and_duplicate_events_change_nothing() {
        let id = OrderId(Uuid::new_v4());
        let h = history(id);
        assert_eq!(plan(3, &events(&[&h[0], &h[2]])), Plan::UpToDate);
        assert_eq!(plan(2, &events(&[])), Plan::UpToDate);
    }

    #[test]
    fn a_missing_predecessor_asks_for_a_fold() {
        let id = OrderId(Uuid::new_v4());
        let h = history(id);
        assert_eq!(plan(0, &events(&[&h[1]])), Plan::Fold);
        assert_eq!(plan(1, &events(&[&h[2]])), Plan::Fold);
        assert_eq!(plan(0, &events(&[&h[0], &h[2]])), Plan::Fold);
    }

    #[test]
    fn a_history_not_starting_with_placed_is_invalid() {
        let id = OrderId(Uuid::new_v4());
        let cancelled = envelope(id, 1, OrderEvent::Cancelled(OrderCancelled { reason: None }));
        assert_eq!(plan(0, &events(&[&cancelled])), Plan::Invalid(RowError::NotPlacedFirst));
    }
}
