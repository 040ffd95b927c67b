//! The publisher: order events from the events table's DynamoDB stream to
//! the `order-events` SNS topic.
//!
//! Read it in this order: [`decode`] (which stream records are events),
//! [`message`] (body and attributes of an SNS message), [`handler`] (one
//! stream batch: chunks of `PublishBatch`, first failed record reported),
//! [`publish`] (the port to the topic) and its adapter [`sns`]. The local
//! stand-ins (stream reader, in-memory topic, filter policies) are in
//! `local/local-aws`: none of them is deployed.

pub mod decode;
pub mod handler;
pub mod message;
pub mod publish;
pub mod sns;

pub use handler::{handle_stream_event, publish_stream_batch, BatchReport, OrderCounts};
pub use message::{MessageAttribute, OutgoingMessage};
pub use publish::{
    BatchEntry, EntryFailure, EntryOutcome, EventPublisher, PublishError, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES,
};
pub use sns::SnsPublisher;
