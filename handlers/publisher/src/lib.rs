//! The publisher: order events from the events table's DynamoDB stream to
//! the `order-events` SNS topic.
//!
//! Read it in this order: [`decode`] (which stream records are events),
//! [`window`] (which versions of an event go to the topic), [`handler`]
//! (one stream batch: chunks of `PublishBatch`, first failed record
//! reported) and [`sns`], the adapter of the port to the topic. The
//! message (body and attributes) and that port are the `contract` crate's
//! `message` and `publish`. The local stand-ins (stream reader, in-memory
//! topic, filter policies) are in `local/local-aws`: none of them is deployed.

pub mod decode;
pub mod handler;
pub mod sns;
pub mod window;

pub use handler::{handle_stream_event, publish_stream_batch, BatchReport, OrderCounts};
pub use sns::SnsPublisher;
pub use window::PreviousVersionWindow;
