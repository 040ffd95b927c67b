//! The events table's item, defined once. The event store writes it, the
//! publisher reads it back from the table's stream, and the benchmarks and
//! tests that write or fake items use it too. It is plain serde: each
//! caller maps it with `serde_dynamo` to its own SDK's attribute values, so
//! this crate links no AWS client.
//!
//! | attribute | type | |
//! |---|---|---|
//! | `orderId` | S | partition key |
//! | `version` | N | sort key; the conditional put on `attribute_not_exists(version)` is the optimistic lock |
//! | `kind` | S | `event`: other kinds of item may share the table, and the publisher skips them |
//! | `eventId`, `eventType`, `occurredAt` | S | copies from the envelope, for queries and the console |
//! | `envelope` | S | the envelope's JSON, byte for byte what is published |
//! | `lane` | S | `hot` or `standard`: the lane of the order, decided when it was placed and written with every event of it; the publisher sends it as the `lane` message attribute. Absent on items stored before lanes: `standard` |

use chrono::SecondsFormat;
use domain::{Envelope, Lane};
use serde::{Deserialize, Serialize};

/// The partition key's attribute name.
pub const ORDER_ID: &str = "orderId";
/// The sort key's attribute name.
pub const VERSION: &str = "version";
/// The attribute that tells events from other items.
pub const KIND: &str = "kind";
/// `kind` of an event item.
pub const EVENT_KIND: &str = "event";
/// The attribute holding the order's lane.
pub const LANE: &str = "lane";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventItem {
    pub order_id: String,
    pub version: u32,
    pub kind: String,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: String,
    pub envelope: String,
    /// Not part of the envelope (the published contract): the item's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<String>,
}

impl EventItem {
    pub fn new(event: &Envelope) -> Self {
        Self::with_envelope_json(event, event.to_json())
    }

    /// The item of `event` with `envelope_json` as its stored JSON: the
    /// benchmarks' bare-SDK baseline writes a payload of the same size.
    pub fn with_envelope_json(event: &Envelope, envelope_json: String) -> Self {
        EventItem {
            order_id: event.order_id.to_string(),
            version: event.version,
            kind: EVENT_KIND.to_owned(),
            event_id: event.event_id.to_string(),
            event_type: event.event_type().as_str().to_owned(),
            occurred_at: event.occurred_at.to_rfc3339_opts(SecondsFormat::Millis, true),
            envelope: envelope_json,
            lane: None,
        }
    }

    /// The item of `event`, travelling in `lane`.
    pub fn in_lane(event: &Envelope, lane: Lane) -> Self {
        EventItem { lane: Some(lane.as_str().to_owned()), ..Self::new(event) }
    }
}

/// What every item of the table can be read as, events or not: the
/// publisher looks at `kind` before it trusts the rest.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AnyItem {
    pub kind: Option<String>,
    pub envelope: Option<String>,
    pub lane: Option<String>,
}

impl AnyItem {
    pub fn is_event(&self) -> bool {
        self.kind.as_deref() == Some(EVENT_KIND)
    }

    /// The item's lane: `None` when it has none, an error when it is not a lane.
    pub fn lane(&self) -> Result<Option<Lane>, domain::lane::UnknownLane> {
        self.lane.as_deref().map(str::parse).transpose()
    }
}
