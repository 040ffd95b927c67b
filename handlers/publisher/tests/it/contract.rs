//! `schemas/asyncapi.yaml`, the contract downstream teams read, says what
//! the publisher does: one message per event type, the attribute names and
//! types it sets, payload schemas that exist, examples that are real envelopes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use contract::message::{EVENT_TYPE, LANE, ORDER_ID, SCHEMA_VERSION_ATTRIBUTE, SKUS};
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
fn the_channel_carries_one_message_per_event_type() {
    let document = asyncapi();
    assert_eq!(document["asyncapi"], "3.0.0");
    let channel = &document["channels"]["orderEvents"];
    assert_eq!(channel["address"], "order-events");
    let messages: BTreeSet<&str> = channel["messages"].as_object().unwrap().keys().map(String::as_str).collect();
    let event_types: BTreeSet<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    assert_eq!(messages, event_types);
}

#[test]
fn each_message_is_the_envelope_with_its_data_schema() {
    let document = asyncapi();
    for event_type in EventType::ALL {
        let message = resolve(&document, &document["channels"]["orderEvents"]["messages"][event_type.as_str()]);
        assert_eq!(message["name"], event_type.as_str());
        let parts = &message["payload"]["allOf"];
        assert_schema_file(&parts[0], "./envelope.json");
        let properties = &parts[1]["properties"];
        assert_eq!(properties["eventType"]["const"], event_type.as_str());
        assert_eq!(properties["schemaVersion"]["const"], event_type.schema_version());
        assert_schema_file(&properties["data"], &format!("./events/{event_type}.json"));
    }
}

#[test]
fn headers_are_the_message_attributes_the_publisher_sets() {
    let document = asyncapi();
    let common = &document["components"]["schemas"]["EventAttributes"];
    let names: BTreeSet<&str> = common["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, BTreeSet::from([EVENT_TYPE, SCHEMA_VERSION_ATTRIBUTE, ORDER_ID, LANE]));
    assert_eq!(common["properties"][SCHEMA_VERSION_ATTRIBUTE]["type"], "integer", "an SNS Number");
    let lanes: Vec<&str> =
        common["properties"][LANE]["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(lanes, Lane::ALL.map(Lane::as_str), "the lane's values");
    let required: BTreeSet<&str> = common["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required, names, "every event carries every common attribute");
    for event_type in EventType::ALL {
        let message = resolve(&document, &document["components"]["messages"][event_type.as_str()]["headers"]);
        let parts = &message["allOf"];
        assert_eq!(resolve(&document, &parts[0]), common);
        assert_eq!(parts[1]["properties"][EVENT_TYPE]["const"], event_type.as_str());
        let has_skus = parts[1]["properties"].get(SKUS).is_some();
        assert_eq!(has_skus, event_type == EventType::OrderPlaced, "skus only on OrderPlaced");
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
            let envelope = Envelope::from_json(&example["payload"].to_string())
                .unwrap_or_else(|e| panic!("{name} example is not an envelope: {e}"));
            assert_eq!(envelope.event_type().as_str(), name);
            let lane: Lane = example["headers"][LANE].as_str().expect("examples name their lane").parse().unwrap();
            if let OrderEvent::Placed(placed) = &envelope.event {
                let default_list = HotList::configured(None).unwrap();
                assert_eq!(
                    lane,
                    default_list.lane_of(&placed.lines),
                    "{name} example's lane under the default hot list"
                );
            }
            let published = OutgoingMessage::from_envelope(&envelope, lane);
            let attributes: Vec<_> = published.attributes.into_iter().collect();
            let mut expected = example_attributes(&example["headers"]);
            expected.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(attributes, expected, "{name} example headers");
            checked += 1;
        }
    }
    assert!(checked >= 2);
}
