//! What goes on the `order-events` topic for one event: the envelope JSON as
//! the body and the message attributes of DESIGN.md, which subscription
//! filter policies match on.

use std::collections::BTreeMap;

use domain::upcast::{SchemaVersions, UpcastError};
use domain::{Envelope, Lane, OrderEvent};

/// Message attribute names: part of the contract with downstream teams.
pub const EVENT_TYPE: &str = "eventType";
/// The body's `schemaVersion`.
pub const SCHEMA_VERSION_ATTRIBUTE: &str = "schemaVersion";
pub const ORDER_ID: &str = "orderId";
/// Only on OrderPlaced: the distinct SKUs of the order's lines.
pub const SKUS: &str = "skus";
/// On every event: `hot` or `standard` ([`Lane::as_str`]), the lane its
/// order was placed in, as stored with the event.
pub const LANE: &str = "lane";
/// Only on a message at an earlier version than its type's current one
/// (the publisher's previous-version window, `orders republish
/// --schema-version`): the current version it was down-cast from. The same
/// event is on the topic at that version too, so a subscriber that reads the
/// current version of every type filters out the messages that carry it.
pub const DOWNCAST_FROM: &str = "downcastFrom";

/// On a message whose event was traced: the W3C trace context of the
/// publisher's span for it, which each consumer's span for the message
/// continues, so that one order is one trace across the topic and queues.
pub const TRACEPARENT: &str = "traceparent";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageAttribute {
    String(String),
    /// SNS carries numbers as decimal strings.
    Number(String),
    StringArray(Vec<String>),
}

impl MessageAttribute {
    pub fn data_type(&self) -> &'static str {
        match self {
            MessageAttribute::String(_) => "String",
            MessageAttribute::Number(_) => "Number",
            MessageAttribute::StringArray(_) => "String.Array",
        }
    }

    /// The `StringValue` on the wire; a `String.Array` is a JSON array.
    pub fn string_value(&self) -> String {
        match self {
            MessageAttribute::String(s) | MessageAttribute::Number(s) => s.clone(),
            MessageAttribute::StringArray(values) => {
                serde_json::to_string(values).expect("a list of strings always serializes")
            }
        }
    }
}

/// One message for the topic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// The envelope JSON, byte for byte as stored in the events table.
    pub body: String,
    pub attributes: BTreeMap<String, MessageAttribute>,
}

impl OutgoingMessage {
    /// The message of a stored event, at its type's current version.
    /// `stored_json` is what the events table holds and `stored_version`
    /// the `schemaVersion` it was written at: when that is the current one
    /// (every event this build writes), the body is `stored_json` as it is,
    /// never re-serialized, so consumers get the exact bytes the event store
    /// holds; an event stored before its type's last bump goes as this build
    /// writes it, upcast.
    pub fn from_stored(envelope: &Envelope, stored_json: String, stored_version: u32, lane: Lane) -> Self {
        let current = envelope.event_type().schema_version();
        Self::at_version(envelope, stored_json, stored_version, lane, current)
            .expect("an envelope always writes its type's current version")
    }

    /// The message for an envelope that is not stored as JSON yet (the local
    /// runner's in-memory store): `to_json` is what the DynamoDB store writes.
    pub fn from_envelope(envelope: &Envelope, lane: Lane) -> Self {
        let current = envelope.event_type().schema_version();
        Self::from_stored(envelope, envelope.to_json(), current, lane)
    }

    /// The message of a stored event at `schema_version` of its type: the
    /// current one, or an earlier one the down-casts reach, which then
    /// carries [`DOWNCAST_FROM`]. The body is `stored_json` when it was
    /// written at that version, else the envelope written at it.
    pub fn at_version(
        envelope: &Envelope,
        stored_json: String,
        stored_version: u32,
        lane: Lane,
        schema_version: u32,
    ) -> Result<Self, UpcastError> {
        Self::at_version_by(SchemaVersions::current(), envelope, stored_json, stored_version, lane, schema_version)
    }

    /// [`at_version`](Self::at_version) as a build at `build` sends it:
    /// [`DOWNCAST_FROM`] only below `build`'s version of the type, so that
    /// an earlier build's message of its own version carries none, as that
    /// build sent it.
    pub fn at_version_by(
        build: SchemaVersions,
        envelope: &Envelope,
        stored_json: String,
        stored_version: u32,
        lane: Lane,
        schema_version: u32,
    ) -> Result<Self, UpcastError> {
        let body = if stored_version == schema_version { stored_json } else { envelope.to_json_at(schema_version)? };
        Ok(OutgoingMessage { body, attributes: attributes_of(build, envelope, lane, schema_version) })
    }

    /// The `lane` attribute's value (`standard` if there is none).
    pub fn lane(&self) -> Lane {
        match self.attributes.get(LANE) {
            Some(MessageAttribute::String(lane)) => lane.parse().unwrap_or_default(),
            _ => Lane::Standard,
        }
    }

    /// The size SNS counts against its 256 KiB limit: the body plus every
    /// attribute's name, data type and value.
    pub fn size_bytes(&self) -> usize {
        self.body.len()
            + self
                .attributes
                .iter()
                .map(|(name, value)| name.len() + value.data_type().len() + value.string_value().len())
                .sum::<usize>()
    }
}

fn attributes_of(
    build: SchemaVersions,
    envelope: &Envelope,
    lane: Lane,
    schema_version: u32,
) -> BTreeMap<String, MessageAttribute> {
    let current = build.of(envelope.event_type());
    let mut attributes = BTreeMap::from([
        (EVENT_TYPE.to_owned(), MessageAttribute::String(envelope.event_type().as_str().to_owned())),
        (SCHEMA_VERSION_ATTRIBUTE.to_owned(), MessageAttribute::Number(schema_version.to_string())),
        (ORDER_ID.to_owned(), MessageAttribute::String(envelope.order_id.to_string())),
        (LANE.to_owned(), MessageAttribute::String(lane.as_str().to_owned())),
    ]);
    if let OrderEvent::Placed(placed) = &envelope.event {
        let mut skus: Vec<String> = placed.lines.iter().map(|line| line.sku.as_str().to_owned()).collect();
        skus.sort();
        skus.dedup();
        attributes.insert(SKUS.to_owned(), MessageAttribute::StringArray(skus));
    }
    if schema_version < current {
        attributes.insert(DOWNCAST_FROM.to_owned(), MessageAttribute::Number(current.to_string()));
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLACED: &str = r#"{"eventId":"0193b0a4-7c1e-7a11-9a43-2a1d3c4e5f60","eventType":"OrderPlaced","schemaVersion":1,"orderId":"8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01","version":1,"occurredAt":"2026-11-27T09:00:00.123Z","correlationId":"c-1","causationId":"cmd-1","data":{"customerId":"cust-42","currency":"EUR","lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900},{"sku":"braided-line-30lb","quantity":2,"unitPriceCents":1999}],"totalCents":28898}}"#;

    #[test]
    fn order_placed_carries_every_attribute_of_the_contract() {
        let envelope = Envelope::from_json(PLACED).unwrap();
        let message = OutgoingMessage::from_stored(&envelope, PLACED.to_owned(), 1, Lane::Hot);
        assert_eq!(message.body, PLACED);
        let attribute = |name: &str| message.attributes.get(name).cloned();
        assert_eq!(attribute(EVENT_TYPE), Some(MessageAttribute::String("OrderPlaced".into())));
        assert_eq!(attribute(SCHEMA_VERSION_ATTRIBUTE), Some(MessageAttribute::Number("1".into())));
        assert_eq!(attribute(ORDER_ID), Some(MessageAttribute::String("8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01".into())));
        assert_eq!(attribute(LANE), Some(MessageAttribute::String("hot".into())));
        let skus = attribute(SKUS).unwrap();
        assert_eq!(skus.data_type(), "String.Array");
        assert_eq!(skus.string_value(), r#"["braided-line-30lb","muskie-casting-rod"]"#);
    }

    #[test]
    fn other_events_have_no_skus_attribute() {
        let shipped = PLACED
            .replace(r#""eventType":"OrderPlaced""#, r#""eventType":"OrderShipped""#)
            .replace(r#""version":1"#, r#""version":3"#);
        let data_start = shipped.find(r#""data":"#).unwrap();
        let shipped = format!(r#"{}"data":{{"trackingNumber":"1Z999"}}}}"#, &shipped[..data_start]);
        let envelope = Envelope::from_json(&shipped).unwrap();
        let message = OutgoingMessage::from_envelope(&envelope, Lane::Standard);
        assert_eq!(message.body, shipped, "to_json reproduces the canonical stored form");
        assert_eq!(
            message.attributes.keys().collect::<Vec<_>>(),
            [EVENT_TYPE, LANE, ORDER_ID, SCHEMA_VERSION_ATTRIBUTE]
        );
    }

    /// One envelope of each event type, in each lane: `lane` is on every one.
    #[test]
    fn every_event_type_carries_its_lane() {
        use domain::EventType;
        let data = |event_type: EventType| match event_type {
            EventType::OrderPlaced => None,
            EventType::OrderConfirmed => Some("{}"),
            EventType::OrderRejected => Some(r#"{"reason":"out of stock","unavailable":[]}"#),
            EventType::OrderCancelled => Some(r#"{"reason":"changed my mind"}"#),
            EventType::OrderShipped => Some(r#"{"trackingNumber":"1Z999"}"#),
        };
        for event_type in EventType::ALL {
            let json = match data(event_type) {
                None => PLACED.to_owned(),
                Some(data) => {
                    let head =
                        PLACED.replace(r#""eventType":"OrderPlaced""#, &format!(r#""eventType":"{event_type}""#));
                    format!(r#"{}"data":{data}}}"#, &head[..head.find(r#""data":"#).unwrap()])
                }
            };
            let envelope = Envelope::from_json(&json).unwrap_or_else(|e| panic!("{event_type}: {e}"));
            for lane in Lane::ALL {
                let message = OutgoingMessage::from_stored(&envelope, json.clone(), 1, lane);
                assert_eq!(message.attributes.get(LANE), Some(&MessageAttribute::String(lane.as_str().into())));
                assert_eq!(message.lane(), lane, "{event_type} in {lane}");
            }
        }
    }

    #[test]
    fn size_counts_body_and_attributes() {
        let envelope = Envelope::from_json(PLACED).unwrap();
        let message = OutgoingMessage::from_stored(&envelope, PLACED.to_owned(), 1, Lane::Standard);
        let attributes = "eventType".len()
            + "String".len()
            + "OrderPlaced".len()
            + "schemaVersion".len()
            + "Number".len()
            + 1
            + "orderId".len()
            + "String".len()
            + 36
            + "lane".len()
            + "String".len()
            + "standard".len()
            + "skus".len()
            + "String.Array".len()
            + r#"["braided-line-30lb","muskie-casting-rod"]"#.len();
        assert_eq!(message.size_bytes(), PLACED.len() + attributes);
    }
}
