//! The topic in a process, for the local runner's embedded mode and tests:
//! every subscriber gets the messages its filter policy accepts, in publish
//! order, like an SNS subscription with raw message delivery.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::SqsMessageAttribute;
use domain::{Envelope, Lane};
use tokio::sync::mpsc;

use crate::filter::FilterPolicy;
use contract::message::OutgoingMessage;
use contract::publish::{BatchEntry, EntryOutcome, EventPublisher, PublishError};

/// A message as a subscriber receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub message_id: String,
    pub message: OutgoingMessage,
}

impl Delivered {
    /// The message attributes as Lambda's SQS event carries them after a
    /// raw delivery.
    pub fn lambda_attributes(&self) -> HashMap<String, SqsMessageAttribute> {
        self.message
            .attributes
            .iter()
            .map(|(name, value)| {
                let mut attribute = SqsMessageAttribute::default();
                attribute.string_value = Some(value.string_value());
                attribute.data_type = Some(value.data_type().to_owned());
                (name.clone(), attribute)
            })
            .collect()
    }
}

#[derive(Default)]
pub struct InMemoryTopic {
    subscriptions: Mutex<Vec<Subscription>>,
    next_message_id: AtomicU64,
}

struct Subscription {
    filter: Option<FilterPolicy>,
    sender: mpsc::UnboundedSender<Delivered>,
}

impl InMemoryTopic {
    pub fn new() -> Self {
        Self::default()
    }

    /// A subscription; `None` receives everything.
    pub fn subscribe(&self, filter: Option<FilterPolicy>) -> mpsc::UnboundedReceiver<Delivered> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.subscriptions.lock().expect("topic lock").push(Subscription { filter, sender });
        receiver
    }

    /// Publishes envelopes straight from the in-memory event store (no
    /// stream records in embedded mode), one message each, in order, each
    /// with the lane the store keeps for its order.
    pub fn publish_envelopes(&self, envelopes: &[(Envelope, Lane)]) {
        for (envelope, lane) in envelopes {
            self.deliver(OutgoingMessage::from_envelope(envelope, *lane));
        }
    }

    fn deliver(&self, message: OutgoingMessage) -> String {
        let message_id = format!("local-{}", self.next_message_id.fetch_add(1, Ordering::Relaxed));
        let mut subscriptions = self.subscriptions.lock().expect("topic lock");
        // A dropped receiver is a subscription that went away.
        subscriptions.retain(|s| {
            if s.filter.as_ref().is_some_and(|f| !f.matches(&message)) {
                return !s.sender.is_closed();
            }
            s.sender.send(Delivered { message_id: message_id.clone(), message: message.clone() }).is_ok()
        });
        message_id
    }
}

#[async_trait]
impl EventPublisher for InMemoryTopic {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        Ok(entries.iter().map(|entry| Ok(self.deliver(entry.message.clone()))).collect())
    }
}
