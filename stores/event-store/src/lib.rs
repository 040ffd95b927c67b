//! Event store adapters for [`domain::ports::EventStore`].
//!
//! - [`DynamoEventStore`]: one DynamoDB item per event, keyed
//!   (`orderId`, `version`); a conditional write makes each version exist at
//!   most once. See docs/design.md, "Event store", for the layout.
//! - [`MemoryEventStore`]: the same contract in a process, for the local
//!   runner's embedded default and fast tests.
//! - [`scan`]: a resumable parallel scan of the events table, for the jobs
//!   that replay the store.

mod dynamo;
mod memory;
pub mod scan;

pub use dynamo::{DynamoEventStore, StoredEvent, StoredPage};
pub use memory::MemoryEventStore;
