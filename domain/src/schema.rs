//! The JSON Schemas committed under `schemas/`, generated from the types so
//! they cannot drift (the `schemas` test compares them).

use schemars::{schema_for, JsonSchema, Schema};

use crate::envelope::EnvelopeJson;
use crate::event::{EventType, OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected, OrderShipped};
use crate::order::Order;

/// (path under `schemas/`, schema) for every generated file.
pub fn all() -> Vec<(String, Schema)> {
    let mut files = vec![
        ("envelope.json".to_owned(), schema_for!(EnvelopeJson)),
        ("order-view.json".to_owned(), schema_for!(Order)),
    ];
    for event_type in EventType::ALL {
        files.push((format!("events/{event_type}.json"), data_schema(event_type)));
    }
    files
}

fn data_schema(event_type: EventType) -> Schema {
    fn of<T: JsonSchema>() -> Schema {
        schema_for!(T)
    }
    let mut schema = match event_type {
        EventType::OrderPlaced => of::<OrderPlaced>(),
        EventType::OrderConfirmed => of::<OrderConfirmed>(),
        EventType::OrderRejected => of::<OrderRejected>(),
        EventType::OrderCancelled => of::<OrderCancelled>(),
        EventType::OrderShipped => of::<OrderShipped>(),
    };
    schema.insert("$id".into(), format!("https://schemas.order-platform.example/events/{event_type}.json").into());
    schema.insert(
        "description".into(),
        format!("`data` of an {event_type} envelope, schemaVersion {}", event_type.schema_version()).into(),
    );
    schema
}
