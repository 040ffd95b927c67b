//! The golden events: for every event type and every `schemaVersion` ever
//! written, example items exactly as the events table stores them
//! (DynamoDB JSON), committed under
//! `events/golden/<EventType>/v<N>/<history>.json` and never edited. Files of
//! one name are the events of one order, a whole history from its
//! OrderPlaced; `events/golden-states/<history>.json` is the order view that
//! history folds to. Every build's tests read them from disk (a new file is
//! picked up without code changes): the event store loads them, `evolve`
//! folds them, every consumer handles them, `orders` shows them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use contract::{EventItem, OutgoingMessage};
use domain::ports::EventStore;
use domain::{Envelope, EventType, Lane, Order, OrderId};

/// One golden event.
#[derive(Clone, Debug)]
pub struct GoldenEvent {
    /// The file, for messages.
    pub path: PathBuf,
    /// The type and version its folder names (and its envelope says).
    pub event_type: EventType,
    pub schema_version: u32,
    /// The item as stored.
    pub item: serde_dynamo::Item,
}

impl GoldenEvent {
    fn stored(&self) -> EventItem {
        serde_dynamo::from_item(self.item.clone())
            .unwrap_or_else(|e| panic!("{}: not an event item: {e}", self.path.display()))
    }

    /// The item's `envelope`: the stored JSON, what a publisher of its time sent.
    pub fn stored_json(&self) -> String {
        self.stored().envelope
    }

    /// The envelope as this build reads it.
    pub fn envelope(&self) -> Envelope {
        Envelope::from_json(&self.stored_json()).unwrap_or_else(|e| panic!("{}: {e}", self.path.display()))
    }

    /// The lane the item holds (`None`: stored before lanes).
    pub fn lane(&self) -> Option<Lane> {
        self.stored().lane.map(|lane| lane.parse().unwrap_or_else(|e| panic!("{}: {e}", self.path.display())))
    }

    /// The message bodies a consumer gets for it: the stored JSON, as the
    /// publisher of its time sent it, and the body this build's publisher
    /// sends (its type's current version).
    pub fn bodies(&self) -> [String; 2] {
        let envelope = self.envelope();
        let lane = self.lane().unwrap_or_default();
        let current = OutgoingMessage::from_stored(&envelope, self.stored_json(), self.schema_version, lane);
        [self.stored_json(), current.body]
    }

    fn sdk_item(&self) -> HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
        self.item.clone().into()
    }
}

/// The golden events of one order, by version, and what they fold to.
#[derive(Clone, Debug)]
pub struct GoldenHistory {
    pub name: String,
    pub order_id: OrderId,
    pub events: Vec<GoldenEvent>,
    /// `events/golden-states/<name>.json`.
    pub state: Order,
}

impl GoldenHistory {
    /// The order's lane, as its items hold it.
    pub fn lane(&self) -> Option<Lane> {
        self.events.iter().find_map(GoldenEvent::lane)
    }

    /// The events as this build reads them.
    pub fn envelopes(&self) -> Vec<Envelope> {
        self.events.iter().map(GoldenEvent::envelope).collect()
    }

    /// Appends the history to `store` through the port, in its lane: for
    /// stores that keep envelopes, not the stored JSON.
    pub async fn append_to(&self, store: &dyn EventStore) {
        let events = self.envelopes();
        let appended = match self.lane() {
            Some(lane) => store.append_in_lane(&events, lane).await,
            None => store.append(&events).await,
        };
        appended.unwrap_or_else(|e| panic!("{}: {e}", self.name));
    }

    /// Puts the items, as they are, in the events table `table`.
    pub async fn put_items(&self, dynamodb: &aws_sdk_dynamodb::Client, table: &str) {
        for event in &self.events {
            let put = dynamodb.put_item().table_name(table).set_item(Some(event.sdk_item())).send().await;
            put.unwrap_or_else(|e| panic!("{}: {e:?}", event.path.display()));
        }
    }
}

fn events_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .collect();
    paths.sort();
    paths
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The events table's stream records of `events`' INSERTs, in order, as
/// the publisher's event source mapping hands them over.
pub fn stream_event<'a>(
    events: impl IntoIterator<Item = &'a GoldenEvent>,
) -> aws_lambda_events::event::dynamodb::Event {
    let records: Vec<serde_json::Value> = events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let keys =
                serde_json::json!({"orderId": event.item.inner()["orderId"], "version": event.item.inner()["version"]});
            serde_json::json!({
                "eventID": format!("golden-{i}"),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": keys,
                    "NewImage": event.item,
                    "SequenceNumber": format!("{}", 100_000_000 + i),
                    "SizeBytes": 400,
                    "StreamViewType": "NEW_IMAGE",
                },
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("stream records")
}

/// Every golden event, checked to be where its type and version say.
pub fn events() -> Vec<GoldenEvent> {
    let mut events = Vec::new();
    for type_dir in entries(&events_dir().join("golden")) {
        let name = type_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let event_type: EventType =
            name.parse().unwrap_or_else(|e| panic!("{}: not an event type's folder: {e}", type_dir.display()));
        for version_dir in entries(&type_dir) {
            let name = version_dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let schema_version: u32 = name
                .strip_prefix('v')
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{}: not a v<N> folder", version_dir.display()));
            for path in entries(&version_dir) {
                assert_eq!(path.extension().and_then(|e| e.to_str()), Some("json"), "{}", path.display());
                let event = GoldenEvent { item: read_json(&path), path, event_type, schema_version };
                let stored: serde_json::Value = serde_json::from_str(&event.stored_json()).unwrap();
                assert_eq!(stored["eventType"], event_type.as_str(), "{}", event.path.display());
                assert_eq!(stored["schemaVersion"], schema_version, "{}", event.path.display());
                events.push(event);
            }
        }
    }
    assert!(!events.is_empty(), "no golden events under events/golden");
    events
}

/// The golden events by order: each a whole history, versions 1 to n.
pub fn histories() -> Vec<GoldenHistory> {
    let mut by_name: BTreeMap<String, Vec<GoldenEvent>> = BTreeMap::new();
    for event in events() {
        let name = event.path.file_stem().and_then(|s| s.to_str()).expect("a file name").to_owned();
        by_name.entry(name).or_default().push(event);
    }
    let states_dir = events_dir().join("golden-states");
    let stated: Vec<String> = entries(&states_dir)
        .iter()
        .map(|p| p.file_stem().and_then(|s| s.to_str()).expect("a file name").to_owned())
        .collect();
    assert_eq!(stated, by_name.keys().cloned().collect::<Vec<_>>(), "one state in events/golden-states per history");
    by_name
        .into_iter()
        .map(|(name, mut events)| {
            events.sort_by_key(|e| e.envelope().version);
            let versions: Vec<u32> = events.iter().map(|e| e.envelope().version).collect();
            assert_eq!(versions, (1..=events.len() as u32).collect::<Vec<_>>(), "{name}: versions 1 to n");
            let order_id = events[0].envelope().order_id;
            assert!(events.iter().all(|e| e.envelope().order_id == order_id), "{name}: one order");
            let state = read_json(&states_dir.join(format!("{name}.json")));
            GoldenHistory { name, order_id, events, state }
        })
        .collect()
}
