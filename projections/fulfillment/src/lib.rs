//! Fulfillment: a pick request per confirmed order, cancelled on
//! OrderCancelled, closed on OrderShipped. Every write is conditioned on the
//! event being newer than the last one applied to the request, so
//! duplicates and reordering change nothing (an OrderConfirmed arriving after
//! the OrderCancelled that followed it is ignored).
//!
//! - [`store`]: the port ([`FulfillmentStore`]) and its types.
//! - [`DynamoFulfillmentStore`] / [`MemoryFulfillmentStore`]: the adapters.
//! - [`FulfillmentProjection`]: the SQS consumer ([`sqs_consumer::Projection`]).

mod dynamo;
mod memory;
mod projection;
pub mod store;

use domain::EventType;

pub use dynamo::DynamoFulfillmentStore;
pub use memory::MemoryFulfillmentStore;
pub use projection::FulfillmentProjection;
pub use store::{FulfillmentError, FulfillmentStore, PickLine, PickRequest, PickStatus};

/// The events this consumer acts on; its SNS subscription
/// ([`contract::subscription::FULFILLMENT`]) lets only these through.
pub const SUBSCRIBED_EVENT_TYPES: [EventType; 3] =
    [EventType::OrderConfirmed, EventType::OrderCancelled, EventType::OrderShipped];

/// Whether the fulfillment subscription lets `event_type` through.
pub fn subscribed(event_type: EventType) -> bool {
    SUBSCRIBED_EVENT_TYPES.contains(&event_type)
}
