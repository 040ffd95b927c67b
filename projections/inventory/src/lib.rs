//! Inventory: stock per SKU, and the order saga. On OrderPlaced every line
//! is reserved all or nothing (a conditional write never takes a counter
//! below zero), then the order is confirmed or rejected through the event
//! store; OrderCancelled gives the stock back, OrderShipped moves it from
//! `reserved` to `shipped`. A per-order reservation record, written in the
//! same transaction as the stock, makes every event apply at most once in
//! any order.
//!
//! The stock, the records and their store are the `inventory-store`
//! crate's, shared with the HTTP API.
//!
//! - [`InventoryProjection`]: the SQS consumer ([`sqs_consumer::Projection`]).
//! - [`plan`]: coalescing a batch's reservations of one SKU into one write.

pub mod plan;
mod saga;

use order_domain::EventType;

/// The store the saga is built on, re-exported for its callers' convenience.
pub use inventory_store::{InventoryError, InventoryStore, Reservation, ReservationState};
pub use saga::{InventoryProjection, ReservationStrategy, SagaError, REJECT_REASON};

/// The events this consumer acts on; its SNS subscription lets only these through.
pub const SUBSCRIBED_EVENT_TYPES: [EventType; 3] =
    [EventType::OrderPlaced, EventType::OrderCancelled, EventType::OrderShipped];

/// The SNS filter policy of the inventory queue's subscription (the same
/// in `template.yaml`, the local stack's provisioning and the embedded runner).
pub const FILTER_POLICY: &str = r#"{"eventType":["OrderPlaced","OrderCancelled","OrderShipped"]}"#;

/// Whether the inventory subscription lets `event_type` through.
pub fn subscribed(event_type: EventType) -> bool {
    SUBSCRIBED_EVENT_TYPES.contains(&event_type)
}
