//! What the domain needs from the outside world. Adapters live in
//! `stores/` (DynamoDB, memory) and are held to one contract test suite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::envelope::Envelope;
use crate::lane::Lane;
use crate::upcast::UpcastError;
use crate::values::OrderId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer took one of these versions first: reload and decide again.
    #[error("version {version} of order {order_id} already exists")]
    Conflict { order_id: OrderId, version: u32 },
    /// The store did not answer; the cause is kept for the logs.
    #[error("event store unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("corrupt event in store: {0}")]
    Corrupt(String),
    /// An event written by a build newer than this one, during a rolling
    /// deployment: not corrupt, and readable once this build is upgraded.
    #[error("event in store written by a newer build: {0}")]
    NewerThanBuild(#[source] UpcastError),
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Every event of one order, oldest first, read strongly consistently.
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError>;

    /// Appends the events of one command, all or none. They belong to one
    /// order and carry consecutive versions; if any version already exists
    /// nothing is written and the answer is [`StoreError::Conflict`].
    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError>;

    /// [`load`](Self::load), with the lane the order's events are stored in:
    /// `None` for an unknown order, events stored without a lane, or a store
    /// that keeps no lanes (the default).
    async fn load_with_lane(&self, order_id: OrderId) -> Result<(Vec<Envelope>, Option<Lane>), StoreError> {
        Ok((self.load(order_id).await?, None))
    }

    /// [`append`](Self::append), keeping `lane` beside every event (the
    /// publisher sends it as the `lane` message attribute). The default
    /// keeps no lane: such events travel `standard`.
    async fn append_in_lane(&self, events: &[Envelope], lane: Lane) -> Result<(), StoreError> {
        let _ = lane;
        self.append(events).await
    }
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// A page of a full scan of the store, for rebuilding projections.
#[derive(Clone, Debug, Default)]
pub struct ScanPage {
    /// Events in no particular order across orders.
    pub events: Vec<Envelope>,
    /// Where the next page starts; `None` when this segment is done.
    pub cursor: Option<String>,
}

#[async_trait]
pub trait EventScan: Send + Sync {
    /// One page of segment `segment` of `segments` disjoint segments, which
    /// together hold every event once. `cursor` is a previous page's cursor,
    /// opaque and safe to persist for resuming.
    async fn scan_page(&self, segment: u32, segments: u32, cursor: Option<String>) -> Result<ScanPage, StoreError>;
}
