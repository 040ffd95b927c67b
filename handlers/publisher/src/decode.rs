//! From a DynamoDB stream record to the event it announces, if it announces one.
//!
//! Only INSERTs of items with `kind = "event"` are events: the table's other
//! items and every MODIFY or REMOVE (a TTL expiry, say) are not, and are
//! skipped. An event item whose envelope cannot be read is an error: it is
//! never skipped silently.

use aws_lambda_events::event::dynamodb::EventRecord;
use contract::event_item::AnyItem;
use domain::{Envelope, EnvelopeError};

use contract::message::OutgoingMessage;

#[derive(Debug)]
pub enum StreamItem {
    Event(Box<DecodedEvent>),
    /// Why the record is not an event, for the debug log.
    NotAnEvent(String),
}

#[derive(Debug)]
pub struct DecodedEvent {
    pub envelope: Envelope,
    pub message: OutgoingMessage,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unreadable item image: {0}")]
    Image(#[from] serde_dynamo::Error),
    #[error("event item without an `envelope` attribute")]
    MissingEnvelope,
    #[error("event item with an unreadable envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("event item with an unreadable lane: {0}")]
    Lane(#[from] domain::lane::UnknownLane),
}

pub fn decode_record(record: &EventRecord) -> Result<StreamItem, DecodeError> {
    if record.event_name != "INSERT" {
        let by_ttl = record.user_identity.as_ref().is_some_and(|u| u.type_ == "Service");
        let why = if by_ttl { " (TTL expiry)" } else { "" };
        return Ok(StreamItem::NotAnEvent(format!("{}{why}: events are only inserted", record.event_name)));
    }
    let image: AnyItem = serde_dynamo::from_item(record.change.new_image.clone())?;
    match image.kind.as_deref() {
        _ if image.is_event() => {}
        Some(other) => return Ok(StreamItem::NotAnEvent(format!("item kind {other:?}"))),
        None => return Ok(StreamItem::NotAnEvent("item without a kind".to_owned())),
    }
    // The lane is the item's, written with every event of the order (items
    // stored before lanes have none: standard). No extra read.
    let lane = image.lane()?.unwrap_or_default();
    let stored_json = image.envelope.ok_or(DecodeError::MissingEnvelope)?;
    let envelope = Envelope::from_json(&stored_json)?;
    let message = OutgoingMessage::from_stored(&envelope, stored_json, lane);
    Ok(StreamItem::Event(Box::new(DecodedEvent { envelope, message })))
}
