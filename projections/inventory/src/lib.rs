//! Inventory: the order saga. On OrderPlaced every line is reserved all or
//! nothing (a conditional write never takes a counter below zero) and,
//! for a SKU with a purchase limit (`maxPerCustomer`, read from the
//! catalog), counted in the customer's share of it (a conditional write
//! never takes a share over the limit); then the order is confirmed or
//! rejected through the event store. OrderCancelled gives the stock and
//! the share back, OrderShipped moves the stock from `reserved` to
//! `shipped`. A per-order reservation record, written in the same
//! transaction as the stock and the shares, makes every event apply at
//! most once in any order. The stock, the shares, the records and their
//! store are the `inventory-store` crate's, shared with the HTTP API.
//!
//! Read it in this order: [`intake`] (a batch grouped by order, and into
//! groups that share no stock write; no I/O), [`plan`] (coalescing a
//! batch's reservations of one SKU into one write; no I/O), [`reservation`]
//! (the engine: every write to stock and records, and its retries),
//! [`reactions`] (what each event of an order does), then [`projection`]
//! (the SQS consumer that runs them: [`InventoryProjection`]) and
//! [`error`].

pub mod error;
pub mod intake;
pub mod plan;
pub mod projection;
pub mod reactions;
pub mod reservation;

use std::time::Duration;

use contract::subscription;
use domain::{EventType, Lane};

pub use error::SagaError;
/// The store the saga is built on, re-exported for its callers' convenience.
pub use inventory_store::{InventoryError, InventoryStore, Reservation, ReservationState};
pub use projection::InventoryProjection;
pub use reactions::REJECT_REASON;
pub use reservation::ReservationStrategy;

/// How long an instance keeps the catalog items it reads the purchase
/// limits from (`catalog_store::CachedCatalog`): a new limit holds for
/// reservations at most this much later, and a warm instance reads a SKU's
/// item once per this time, not once per batch.
pub const LIMITS_CACHE_TTL: Duration = Duration::from_secs(30);

/// The events this consumer acts on; its SNS subscriptions
/// ([`contract::subscription::INVENTORY`] and `INVENTORY_HOT`) let only these through.
pub const SUBSCRIBED_EVENT_TYPES: [EventType; 3] =
    [EventType::OrderPlaced, EventType::OrderCancelled, EventType::OrderShipped];

/// Each lane's queue name and subscription filter policy.
pub const LANE_QUEUES: [(Lane, &str, &str); 2] =
    [(Lane::Hot, "inventory-hot", subscription::INVENTORY_HOT), (Lane::Standard, "inventory", subscription::INVENTORY)];

/// Whether the inventory subscription lets `event_type` through.
pub fn subscribed(event_type: EventType) -> bool {
    SUBSCRIBED_EVENT_TYPES.contains(&event_type)
}
