//! The port to the topic: one `PublishBatch` request of at most
//! [`MAX_BATCH_ENTRIES`] messages and [`MAX_BATCH_BYTES`], answered per entry.

use async_trait::async_trait;

use crate::message::OutgoingMessage;

/// SNS `PublishBatch` limits.
pub const MAX_BATCH_ENTRIES: usize = 10;
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    /// Unique within the request; names the entry in the answer.
    pub id: String,
    pub message: OutgoingMessage,
    /// The X-Ray trace header of the invocation, sent on the `PublishBatch`
    /// request as the `X-Amzn-Trace-Id` header (SNS has no per-entry one).
    pub trace_header: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryFailure {
    pub code: String,
    pub message: String,
    /// SNS's verdict: the entry itself is wrong, retrying it unchanged fails again.
    pub sender_fault: bool,
}

/// The SNS message id, or why this entry was not published.
pub type EntryOutcome = Result<String, EntryFailure>;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The whole request failed: no entry of it was published.
    #[error("PublishBatch request failed: {0}")]
    Request(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes `entries` in one request and answers one outcome per entry,
    /// in the order of `entries`.
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError>;
}
