//! Keeps the legacy Django shop's `shop_order` / `shop_orderitem` rows equal
//! to the event store's view of every order.
//!
//! Read it in this order: [`plan`] (what a batch means for each order, no
//! I/O), [`rows`] (an order as legacy rows), [`writer`] (the SQL: two round
//! trips per batch), [`sync`] (the projection, its convergence and failure
//! rules), [`rebuild`] (replaying the event store), then the plumbing:
//! [`settings`], [`connection`], [`tls`], [`migrations`].

pub mod connection;
pub mod migrations;
pub mod plan;
pub mod rebuild;
pub mod rows;
pub mod settings;
pub mod sync;
pub mod tls;
pub mod writer;

use domain::EventType;

pub use connection::{connect, ConnectError, DatabaseSource};
pub use migrations::migrate;
pub use rebuild::{rebuild, RebuildError, RebuildOptions};
pub use settings::ConnectionSettings;
pub use sync::LegacySync;
pub use writer::SyncStats;

/// The event types the legacy-sync queue subscribes to
/// ([`contract::subscription::LEGACY_SYNC`]): every status change shows in
/// the legacy rows.
pub const SUBSCRIBED_EVENT_TYPES: [EventType; 5] = EventType::ALL;

/// Whether the legacy-sync subscription lets `event_type` through.
pub fn subscribed(event_type: EventType) -> bool {
    SUBSCRIBED_EVENT_TYPES.contains(&event_type)
}
