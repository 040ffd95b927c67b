//! What happened to an order. These types are the `data` of the envelope;
//! their JSON Schemas are generated into `schemas/events/`.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::values::{Currency, CustomerId, OrderLine, Sku};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    pub customer_id: CustomerId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basket_id: Option<Uuid>,
    pub currency: Currency,
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<OrderLine>,
    pub total_cents: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OrderConfirmed {}

/// schemaVersion 2: `unavailable` and `limits` of version 1 are one list,
/// `shortages`, each line saying what it is short of (`kind`). Version 1 is
/// read through [`crate::upcast`], and published beside version 2 during
/// the previous-version window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRejected {
    pub reason: String,
    /// Every line the order could not have, stock shortages first: short of
    /// stock (`reason` `insufficient stock`) or over the customer's purchase
    /// limit (`reason` `limit-exceeded`).
    pub shortages: Vec<Shortage>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shortage {
    pub kind: ShortageKind,
    pub sku: Sku,
    /// What the order asked for.
    pub requested: u32,
    /// `stock`: what the SKU had available when the order was decided.
    /// `limit`: what the customer could still take under the SKU's
    /// `maxPerCustomer` (the limit less what its other orders hold).
    pub available: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShortageKind {
    /// Not enough stock.
    Stock,
    /// Over the customer's purchase limit.
    Limit,
}

/// A line short of stock, as the saga's plan and reservation record keep
/// it; an OrderRejected names it as a [`Shortage`] of kind `stock`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnavailableLine {
    pub sku: Sku,
    pub requested: u32,
    pub available: u64,
}

/// A line that would take its customer over the SKU's `maxPerCustomer`:
/// what the order asked, and what the customer could still take when the
/// order was decided (the limit less what its other orders hold). The
/// saga's record keeps it; an OrderRejected names it as a [`Shortage`] of
/// kind `limit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OverLimitLine {
    pub sku: Sku,
    pub requested: u32,
    pub allowed: u32,
}

impl From<UnavailableLine> for Shortage {
    fn from(line: UnavailableLine) -> Self {
        Shortage { kind: ShortageKind::Stock, sku: line.sku, requested: line.requested, available: line.available }
    }
}

impl From<OverLimitLine> for Shortage {
    fn from(line: OverLimitLine) -> Self {
        Shortage {
            kind: ShortageKind::Limit,
            sku: line.sku,
            requested: line.requested,
            available: u64::from(line.allowed),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelled {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderShipped {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderEvent {
    Placed(OrderPlaced),
    Confirmed(OrderConfirmed),
    Rejected(OrderRejected),
    Cancelled(OrderCancelled),
    Shipped(OrderShipped),
}

impl OrderEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            OrderEvent::Placed(_) => EventType::OrderPlaced,
            OrderEvent::Confirmed(_) => EventType::OrderConfirmed,
            OrderEvent::Rejected(_) => EventType::OrderRejected,
            OrderEvent::Cancelled(_) => EventType::OrderCancelled,
            OrderEvent::Shipped(_) => EventType::OrderShipped,
        }
    }

    pub fn data(&self) -> serde_json::Value {
        let data = match self {
            OrderEvent::Placed(d) => serde_json::to_value(d),
            OrderEvent::Confirmed(d) => serde_json::to_value(d),
            OrderEvent::Rejected(d) => serde_json::to_value(d),
            OrderEvent::Cancelled(d) => serde_json::to_value(d),
            OrderEvent::Shipped(d) => serde_json::to_value(d),
        };
        data.expect("event data always serializes")
    }

    pub fn from_data(event_type: EventType, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        Ok(match event_type {
            EventType::OrderPlaced => OrderEvent::Placed(serde_json::from_value(data)?),
            EventType::OrderConfirmed => OrderEvent::Confirmed(serde_json::from_value(data)?),
            EventType::OrderRejected => OrderEvent::Rejected(serde_json::from_value(data)?),
            EventType::OrderCancelled => OrderEvent::Cancelled(serde_json::from_value(data)?),
            EventType::OrderShipped => OrderEvent::Shipped(serde_json::from_value(data)?),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum EventType {
    OrderPlaced,
    OrderConfirmed,
    OrderRejected,
    OrderCancelled,
    OrderShipped,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::OrderPlaced,
        EventType::OrderConfirmed,
        EventType::OrderRejected,
        EventType::OrderCancelled,
        EventType::OrderShipped,
    ];

    /// The `schemaVersion` this build writes for this type. Each type has
    /// its own, bumped only by a breaking change to its `data` (additive
    /// changes keep it); older versions are read through [`crate::upcast`].
    pub const fn schema_version(self) -> u32 {
        match self {
            EventType::OrderRejected => 2,
            EventType::OrderPlaced
            | EventType::OrderConfirmed
            | EventType::OrderCancelled
            | EventType::OrderShipped => 1,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::OrderPlaced => "OrderPlaced",
            EventType::OrderConfirmed => "OrderConfirmed",
            EventType::OrderRejected => "OrderRejected",
            EventType::OrderCancelled => "OrderCancelled",
            EventType::OrderShipped => "OrderShipped",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| format!("unknown event type {s:?}"))
    }
}
