//! The state of one order, folded from its events. It is also the order
//! view the API returns.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::envelope::Envelope;
use crate::event::OrderEvent;
use crate::values::{Currency, CustomerId, OrderId, OrderLine};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Placed,
    Confirmed,
    Rejected,
    Cancelled,
    Shipped,
}

impl OrderStatus {
    /// Where `event` takes an order in this status: `None` when the event
    /// does not fit it (DESIGN.md's transitions; `decide` only ever records
    /// events that fit).
    pub fn after(self, event: &OrderEvent) -> Option<OrderStatus> {
        use OrderStatus::*;
        match (self, event) {
            (Placed, OrderEvent::Confirmed(_)) => Some(Confirmed),
            (Placed, OrderEvent::Rejected(_)) => Some(Rejected),
            (Placed | Confirmed, OrderEvent::Cancelled(_)) => Some(Cancelled),
            (Confirmed, OrderEvent::Shipped(_)) => Some(Shipped),
            _ => None,
        }
    }

    /// The legacy `shop_order.status` spelling.
    pub fn as_lowercase(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Shipped => "shipped",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub customer_id: CustomerId,
    pub basket_id: Option<Uuid>,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    pub total_cents: u64,
    pub version: u32,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Applies one event. Total: an event that does not fit the state (which a
/// correct store never holds) leaves the status alone but still counts as
/// seen, so `version` always equals the last applied event's.
pub fn evolve(state: Option<Order>, envelope: &Envelope) -> Option<Order> {
    let mut order = match (state, &envelope.event) {
        (None, OrderEvent::Placed(placed)) => Order {
            order_id: envelope.order_id,
            status: OrderStatus::Placed,
            customer_id: placed.customer_id.clone(),
            basket_id: placed.basket_id,
            currency: placed.currency.clone(),
            lines: placed.lines.clone(),
            total_cents: placed.total_cents,
            version: envelope.version,
            placed_at: envelope.occurred_at,
            updated_at: envelope.occurred_at,
        },
        (None, _) => return None,
        (Some(mut order), event) => {
            order.status = order.status.after(event).unwrap_or(order.status);
            order
        }
    };
    order.version = envelope.version;
    order.updated_at = envelope.occurred_at;
    Some(order)
}

/// The state after all `events`, oldest first.
pub fn fold<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Option<Order> {
    events.into_iter().fold(None, evolve)
}
