//! What the parts of the platform agree on, one floor above `domain`: the
//! names and shapes that cross a table, the topic or a Lambda's
//! environment. `domain` knows orders; this crate knows how they travel.
//!
//! - [`event_item`]: the events table's item and its key attributes.
//! - [`message`]: an event on the `order-events` topic, body and message
//!   attributes; [`publish`]: the port a batch of them is published through.
//! - [`subscription`]: each queue's subscription filter policy.
//! - [`tables`]: the tables' keys and streams, as `template.yaml` declares
//!   them, and (feature `create`) the code that creates them locally.
//! - [`config`]: the environment variables the functions read.
//!
//! `local/testkit`'s template tests hold `template.yaml` to these.

pub mod config;
pub mod event_item;
pub mod message;
pub mod publish;
pub mod subscription;
pub mod tables;

pub use event_item::{AnyItem, EventItem};
pub use message::{MessageAttribute, OutgoingMessage};
pub use publish::{
    BatchEntry, EntryFailure, EntryOutcome, EventPublisher, PublishError, MAX_BATCH_BYTES, MAX_BATCH_ENTRIES,
};
