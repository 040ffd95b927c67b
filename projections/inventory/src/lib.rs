//! Inventory: the order saga. On OrderPlaced every line is reserved all or
//! nothing (a conditional write never takes a counter below zero), then the
//! order is confirmed or rejected through the event store; OrderCancelled
//! gives the stock back, OrderShipped moves it from `reserved` to
//! `shipped`. A per-order reservation record, written in the same
//! transaction as the stock, makes every event apply at most once in any
//! order. The stock, the records and their store are the `inventory-store`
//! crate's, shared with the HTTP API.
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

use contract::subscription;
use domain::{EventType, Lane};

pub use error::SagaError;
/// The store the saga is built on, re-exported for its callers' convenience.
pub use inventory_store::{InventoryError, InventoryStore, Reservation, ReservationState};
pub use projection::InventoryProjection;
pub use reactions::REJECT_REASON;
pub use reservation::ReservationStrategy;

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
