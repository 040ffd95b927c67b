//! The publisher: order events from the events table's DynamoDB stream to
//! the `order-events` SNS topic.
//!
//! Read it in this order: [`decode`] (which stream records are events),
//! [`message`] (body and attributes of an SNS message), [`handler`] (one
//! stream batch: chunks of `PublishBatch`, first failed record reported),
//! [`publish`] (the port to the topic) and its adapters [`sns`] and
//! [`memory`], then [`stream`] (reading a stream like an event source
//! mapping, for the local runner) and [`filter`] (subscription filter
//! policies, for the embedded topic).

pub mod decode;
pub mod filter;
pub mod handler;
pub mod memory;
pub mod message;
pub mod publish;
pub mod sns;
pub mod stream;

pub use filter::{FilterPolicy, FilterPolicyError};
pub use handler::{handle_stream_event, publish_stream_batch, BatchReport};
pub use memory::{Delivered, InMemoryTopic};
pub use message::{MessageAttribute, OutgoingMessage};
pub use publish::{
    BatchEntry, EntryFailure, EntryOutcome, EventPublisher, PublishError, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES,
};
pub use sns::SnsPublisher;
