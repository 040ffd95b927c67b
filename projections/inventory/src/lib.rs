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

use domain::{EventType, Lane};

pub use error::SagaError;
/// The store the saga is built on, re-exported for its callers' convenience.
pub use inventory_store::{InventoryError, InventoryStore, Reservation, ReservationState};
pub use projection::InventoryProjection;
pub use reactions::REJECT_REASON;
pub use reservation::ReservationStrategy;

/// The events this consumer acts on; its SNS subscription lets only these through.
pub const SUBSCRIBED_EVENT_TYPES: [EventType; 3] =
    [EventType::OrderPlaced, EventType::OrderCancelled, EventType::OrderShipped];

/// The SNS filter policy of the (standard lane's) `inventory` queue's
/// subscription (the same in `template.yaml`, the local stack's provisioning
/// and the embedded runner). SNS ANDs the keys: these event types, and only
/// orders of the standard lane — or messages with no `lane` at all, which an
/// older publisher sends during a deploy: a message no subscription matches
/// is dropped by SNS, so they go where every order went before lanes.
pub const FILTER_POLICY: &str =
    r#"{"eventType":["OrderPlaced","OrderCancelled","OrderShipped"],"lane":["standard",{"exists":false}]}"#;

/// The filter policy of the `inventory-hot` queue's subscription: the same
/// event types of the hot lane's orders. The same function code consumes
/// both queues; an order's events all travel in its lane, so its Cancelled
/// or Shipped never overtakes its Placed through the other queue.
pub const HOT_FILTER_POLICY: &str = r#"{"eventType":["OrderPlaced","OrderCancelled","OrderShipped"],"lane":["hot"]}"#;

/// Each lane's queue name and subscription filter policy.
pub const LANE_QUEUES: [(Lane, &str, &str); 2] =
    [(Lane::Hot, "inventory-hot", HOT_FILTER_POLICY), (Lane::Standard, "inventory", FILTER_POLICY)];

/// Whether the inventory subscription lets `event_type` through.
pub fn subscribed(event_type: EventType) -> bool {
    SUBSCRIBED_EVENT_TYPES.contains(&event_type)
}
