//! `schemas/asyncapi.yaml`, the contract downstream teams read, says what
//! the publisher does: one message per event type and version it publishes
//! (the current one, and the previous one of a bumped type during the
//! previous-version window), the attribute names and types it sets, payload
//! schemas that exist, examples that are real envelopes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use contract::message::{DOWNCAST_FROM, EVENT_TYPE, LANE, ORDER_ID, SCHEMA_VERSION_ATTRIBUTE, SKUS, TRACEPARENT};
use contract::{MessageAttribute, OutgoingMessage};
use domain::{Envelope, EventType, HotList, Lane, OrderEvent};
use serde_json::Value;

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

fn asyncapi() -> Value {
    let path = schemas_dir().join("asyncapi.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap()
}

/// Every (message name, event type, schemaVersion) the publisher sends: the
/// current version of each type under the type's name, and each earlier
/// version it writes as `<type>V<n>`.
fn published_messages() -> Vec<(String, EventType, u32)> {
    EventType::ALL
        .into_iter()
        .flat_map(|event_type| {
            domain::upcast::written_versions(event_type).into_iter().map(move |version| {
                let name = if version == event_type.schema_version() {
                    event_type.as_str().to_owned()
                } else {
                    format!("{event_type}V{version}")
                };
                (name, event_type, version)
            })
        })
        .collect()
}

fn resolve<'a>(document: &'a Value, reference: &Value) -> &'a Value {
    let pointer = reference["$ref"].as_str().unwrap().strip_prefix('#').unwrap();
    document.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {pointer}"))
}

fn assert_schema_file(reference: &Value, expected: &str) {
    let path = reference["$ref"].as_str().unwrap();
    assert_eq!(path, expected);
    let file = schemas_dir().join(path);
    assert!(
        Path::new(&file).is_file(),
        "{} does not exist (UPDATE_SCHEMAS=1 cargo test -p domain --test it schemas)",
        file.display()
    );
}

#[test]
fn the_channel_carries_one_message_per_event_type_and_published_version() {
    let document = asyncapi();
    assert_eq!(document["asyncapi"], "3.0.0");
    let channel = &document["channels"]["orderEvents"];
    assert_eq!(channel["address"], "order-events");
    let messages: BTreeSet<&str> = channel["messages"].as_object().unwrap().keys().map(String::as_str).collect();
    let published = published_messages();
    assert_eq!(messages, published.iter().map(|(name, _, _)| name.as_str()).collect());
    for operation in ["publishOrderEvents", "receiveOrderEvents"] {
        let listed: BTreeSet<String> = document["operations"][operation]["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["$ref"].as_str().unwrap().rsplit('/').next().unwrap().to_owned())
            .collect();
        assert_eq!(listed, published.iter().map(|(name, _, _)| name.clone()).collect(), "{operation}");
    }
}

/// The current version's data schema is the generated one; an earlier
/// version's is its latest frozen revision (`schemas/released/`).
#[test]
fn each_message_is_the_envelope_with_its_data_schema() {
    let document = asyncapi();
    for (name, event_type, version) in published_messages() {
        let message = resolve(&document, &document["channels"]["orderEvents"]["messages"][name.as_str()]);
        assert_eq!(message["name"], event_type.as_str());
        let parts = &message["payload"]["allOf"];
        assert_schema_file(&parts[0], "./envelope.json");
        let properties = &parts[1]["properties"];
        assert_eq!(properties["eventType"]["const"], event_type.as_str());
        assert_eq!(properties["schemaVersion"]["const"], version);
        let data = if version == event_type.schema_version() {
            format!("./events/{event_type}.json")
        } else {
            latest_revision(event_type, version)
        };
        assert_schema_file(&properties["data"], &data);
    }
}

/// `./released/<type>/v<version>[.<revision>].json` of the highest revision.
fn latest_revision(event_type: EventType, version: u32) -> String {
    let dir = schemas_dir().join("released").join(event_type.as_str());
    let files = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let revision = |name: &str| -> Option<u32> {
        let rest = name.strip_suffix(".json")?.strip_prefix(&format!("v{version}"))?;
        if rest.is_empty() {
            Some(0)
        } else {
            rest.strip_prefix('.')?.parse().ok()
        }
    };
    let latest = files
        .filter_map(|f| f.unwrap().file_name().into_string().ok())
        .filter_map(|name| revision(&name).map(|r| (r, name)))
        .max()
        .unwrap_or_else(|| panic!("no frozen schema of {event_type} v{version}"));
    format!("./released/{event_type}/{}", latest.1)
}

#[test]
fn headers_are_the_message_attributes_the_publisher_sets() {
    let document = asyncapi();
    let common = &document["components"]["schemas"]["EventAttributes"];
    let names: BTreeSet<&str> = common["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from([EVENT_TYPE, SCHEMA_VERSION_ATTRIBUTE, ORDER_ID, LANE, TRACEPARENT]));
    assert_eq!(common["properties"][SCHEMA_VERSION_ATTRIBUTE]["type"], "integer", "an SNS Number");
    let lanes: Vec<&str> =
        common["properties"][LANE]["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(lanes, Lane::ALL.map(Lane::as_str), "the lane's values");
    let required: BTreeSet<&str> = common["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(
        required,
        &names - &BTreeSet::from([TRACEPARENT]),
        "every event carries every common attribute; traceparent only a traced one"
    );
    for (name, event_type, version) in published_messages() {
        let message = resolve(&document, &document["components"]["messages"][name.as_str()]["headers"]);
        let parts = &message["allOf"];
        assert_eq!(resolve(&document, &parts[0]), common);
        assert_eq!(parts[1]["properties"][EVENT_TYPE]["const"], event_type.as_str());
        let has_skus = parts[1]["properties"].get(SKUS).is_some();
        assert_eq!(has_skus, event_type == EventType::OrderPlaced, "skus only on OrderPlaced");
        let downcast_from = &parts[1]["properties"][DOWNCAST_FROM];
        if version == event_type.schema_version() {
            assert!(downcast_from.is_null(), "{name}: no {DOWNCAST_FROM} at the current version");
        } else {
            assert_eq!(parts[1]["properties"][SCHEMA_VERSION_ATTRIBUTE]["const"], version, "{name}");
            assert_eq!(downcast_from["const"], event_type.schema_version(), "{name}");
            assert_eq!(parts[1]["required"], serde_json::json!([DOWNCAST_FROM]), "{name}");
        }
    }
}

/// The example's headers in the shape of message attributes.
fn example_attributes(headers: &Value) -> Vec<(String, MessageAttribute)> {
    headers
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, value)| {
            let attribute = match value {
                Value::String(s) => MessageAttribute::String(s.clone()),
                Value::Number(n) => MessageAttribute::Number(n.to_string()),
                Value::Array(items) => {
                    MessageAttribute::StringArray(items.iter().map(|i| i.as_str().unwrap().to_owned()).collect())
                }
                other => panic!("unexpected header value {other}"),
            };
            (name.clone(), attribute)
        })
        .collect()
}

#[test]
fn examples_are_envelopes_with_the_attributes_the_publisher_would_set() {
    let document = asyncapi();
    let mut checked = 0;
    for (name, message) in document["components"]["messages"].as_object().unwrap() {
        for example in message["examples"].as_array().into_iter().flatten() {
            let payload = example["payload"].to_string();
            let (envelope, version) =
                Envelope::read(&payload).unwrap_or_else(|e| panic!("{name} example is not an envelope: {e}"));
            assert_eq!(envelope.event_type().as_str(), message["name"], "{name}");
            let written: Value = serde_json::from_str(&envelope.to_json_at(version).unwrap()).unwrap();
            assert_eq!(written, example["payload"], "{name} example is what the publisher writes at {version}");
            let lane: Lane = example["headers"][LANE].as_str().expect("examples name their lane").parse().unwrap();
            if let OrderEvent::Placed(placed) = &envelope.event {
                let default_list = HotList::configured(None).unwrap();
                assert_eq!(
                    lane,
                    default_list.lane_of(&placed.lines),
                    "{name} example's lane under the default hot list"
                );
            }
            let published = OutgoingMessage::at_version(&envelope, payload, version, lane, version).unwrap();
            let attributes: Vec<_> = published.attributes.into_iter().collect();
            let mut expected = example_attributes(&example["headers"]);
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(attributes, expected, "{name} example headers");
            checked += 1;
        }
    }
    assert!(checked >= 2);
}
