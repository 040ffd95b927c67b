//! The event envelope: the one JSON document stored in DynamoDB and
//! published on SNS, byte for byte. Read at any `schemaVersion` its type
//! ever had ([`crate::upcast`]), it is always written at the current one.

use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::event::{EventType, OrderEvent};
use crate::upcast::{self, SchemaVersions, UpcastError};
use crate::values::OrderId;

/// Who asked, and why: carried from the command into every event it causes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventMeta {
    pub correlation_id: String,
    /// The command id, or the upstream `eventId` for saga commands.
    pub causation_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "EnvelopeJson", into = "EnvelopeJson")]
pub struct Envelope {
    pub event_id: Uuid,
    pub order_id: OrderId,
    /// 1-based and gap-free per order.
    pub version: u32,
    /// Millisecond precision, as serialized.
    pub occurred_at: DateTime<Utc>,
    pub correlation_id: String,
    pub causation_id: String,
    /// The W3C trace context of the command that appended it, so that the
    /// hops after the events table (stream, topic, queues) continue that
    /// trace. `None` when the command was not traced.
    pub traceparent: Option<String>,
    pub event: OrderEvent,
}

#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not an event envelope: {0}")]
    Malformed(String),
    #[error("unknown eventType {0:?}")]
    UnknownEventType(String),
    #[error(transparent)]
    SchemaVersion(#[from] UpcastError),
    #[error("invalid data for {event_type}: {message}")]
    InvalidData { event_type: EventType, message: String },
}

impl Envelope {
    pub fn event_type(&self) -> EventType {
        self.event.event_type()
    }

    /// At its type's current `schemaVersion`.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("envelopes always serialize")
    }

    /// At `schema_version` of its type: the current one, or an earlier one
    /// the steps back reach (what a subscriber still on it reads).
    pub fn to_json_at(&self, schema_version: u32) -> Result<String, UpcastError> {
        let mut wire = EnvelopeJson::from(self.clone());
        wire.data = upcast::downcast(self.event_type(), schema_version, wire.data)?;
        wire.schema_version = schema_version;
        Ok(serde_json::to_string(&wire).expect("envelopes always serialize"))
    }

    /// At `build`'s version of its type: what a build at `build` writes.
    pub fn to_json_by(&self, build: SchemaVersions) -> String {
        self.to_json_at(build.of(self.event_type())).expect("a build's versions are ones this build writes")
    }

    /// Reads an envelope of any `schemaVersion` this build knows, as the
    /// current one.
    pub fn from_json(json: &str) -> Result<Self, EnvelopeError> {
        Self::read(json).map(|(envelope, _)| envelope)
    }

    /// [`from_json`](Self::from_json), and the `schemaVersion` the JSON was
    /// written at.
    pub fn read(json: &str) -> Result<(Self, u32), EnvelopeError> {
        Self::read_by(SchemaVersions::current(), json)
    }

    /// [`read`](Self::read) as a build at `build` reads it: a version above
    /// `build`'s is [`UpcastError::NewerThanBuild`].
    pub fn read_by(build: SchemaVersions, json: &str) -> Result<(Self, u32), EnvelopeError> {
        let wire: EnvelopeJson = serde_json::from_str(json).map_err(|e| EnvelopeError::Malformed(e.to_string()))?;
        let written = wire.schema_version;
        Envelope::from_wire(wire, build).map(|envelope| (envelope, written))
    }
}

/// The wire form, field order as in DESIGN.md. `eventType` stays a string
/// here so that an unknown type is reported as such, not as bad JSON.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "Order event envelope")]
pub struct EnvelopeJson {
    pub event_id: Uuid,
    pub event_type: String,
    pub schema_version: u32,
    pub order_id: Uuid,
    #[schemars(range(min = 1))]
    pub version: u32,
    /// RFC 3339, UTC, milliseconds: `2026-11-27T09:00:00.123Z`.
    pub occurred_at: String,
    pub correlation_id: String,
    pub causation_id: String,
    /// W3C trace context (`00-<trace id>-<span id>-<flags>`) of the command
    /// that appended the event; absent when it was not traced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// Per `eventType`, see `schemas/events/`.
    pub data: serde_json::Map<String, serde_json::Value>,
}

impl From<Envelope> for EnvelopeJson {
    fn from(e: Envelope) -> Self {
        let data = match e.event.data() {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("event data are structs"),
        };
        EnvelopeJson {
            event_id: e.event_id,
            event_type: e.event.event_type().as_str().to_owned(),
            schema_version: e.event.event_type().schema_version(),
            order_id: e.order_id.0,
            version: e.version,
            occurred_at: e.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            correlation_id: e.correlation_id,
            causation_id: e.causation_id,
            traceparent: e.traceparent,
            data,
        }
    }
}

impl TryFrom<EnvelopeJson> for Envelope {
    type Error = EnvelopeError;

    fn try_from(w: EnvelopeJson) -> Result<Self, Self::Error> {
        Envelope::from_wire(w, SchemaVersions::current())
    }
}

impl Envelope {
    fn from_wire(w: EnvelopeJson, build: SchemaVersions) -> Result<Self, EnvelopeError> {
        let event_type: EventType = w.event_type.parse().map_err(|_| EnvelopeError::UnknownEventType(w.event_type))?;
        if w.version == 0 {
            return Err(EnvelopeError::Malformed("version must be 1 or more".into()));
        }
        let occurred_at = DateTime::parse_from_rfc3339(&w.occurred_at)
            .map_err(|e| EnvelopeError::Malformed(format!("occurredAt: {e}")))?
            .with_timezone(&Utc);
        let data = upcast::upcast_by(build, event_type, w.schema_version, w.data)?;
        let event = OrderEvent::from_data(event_type, serde_json::Value::Object(data))
            .map_err(|e| EnvelopeError::InvalidData { event_type, message: e.to_string() })?;
        Ok(Envelope {
            event_id: w.event_id,
            order_id: OrderId(w.order_id),
            version: w.version,
            occurred_at,
            correlation_id: w.correlation_id,
            causation_id: w.causation_id,
            traceparent: w.traceparent,
            event,
        })
    }
}
