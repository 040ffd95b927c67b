//! From a DynamoDB stream record to the event it announces, if it announces one.
//!
//! Only INSERTs of items with `kind = "event"` are events: the table's other
//! items, and their MODIFYs and REMOVEs (a TTL expiry, say), are not, and
//! are skipped. An event is never changed: a MODIFY or REMOVE of an event
//! item is tampering or a bug, and is reported ([`StreamItem::EventChanged`]).
//! An event item whose envelope cannot be read is an error: it is never
//! skipped silently.

use aws_lambda_events::event::dynamodb::EventRecord;
use contract::event_item::AnyItem;
use domain::upcast::SchemaVersions;
use domain::{Envelope, EnvelopeError, Lane, OrderId};
use serde::Deserialize;

#[derive(Debug)]
pub enum StreamItem {
    Event(Box<DecodedEvent>),
    /// Why the record is not an event, for the debug log.
    NotAnEvent(String),
    /// A stored event was modified or removed: what happened, for the error
    /// log and the alarm's metric.
    EventChanged(String),
}

#[derive(Debug)]
pub struct DecodedEvent {
    /// Read at its type's current version.
    pub envelope: Envelope,
    /// The item's envelope JSON, and the `schemaVersion` it was written at.
    pub stored_json: String,
    pub stored_version: u32,
    pub lane: Lane,
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

/// An event's key: the order's id and a version from 1 (the stream of a
/// REMOVE carries only the key; the table's other items use other keys).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Key {
    order_id: String,
    version: i64,
}

/// The record as a publisher of the build at `build` reads it
/// ([`SchemaVersions::current`]: this one).
pub fn decode_record(record: &EventRecord, build: SchemaVersions) -> Result<StreamItem, DecodeError> {
    if record.event_name != "INSERT" {
        let by_ttl = record.user_identity.as_ref().is_some_and(|u| u.type_ == "Service");
        let why = if by_ttl { " (TTL expiry)" } else { "" };
        let key: Option<Key> = serde_dynamo::from_item(record.change.keys.clone()).ok();
        let event_key = key.as_ref().filter(|k| k.version >= 1 && k.order_id.parse::<OrderId>().is_ok());
        let image_is_event =
            serde_dynamo::from_item::<_, AnyItem>(record.change.new_image.clone()).is_ok_and(|image| image.is_event());
        if event_key.is_some() || image_is_event {
            let (order, version) = key.map_or((String::new(), 0), |k| (k.order_id, k.version));
            let what = format!("{}{why} of the event item orderId {order:?} version {version}", record.event_name);
            return Ok(StreamItem::EventChanged(what));
        }
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
    let (envelope, stored_version) = Envelope::read_by(build, &stored_json)?;
    Ok(StreamItem::Event(Box::new(DecodedEvent { envelope, stored_json, stored_version, lane })))
}
