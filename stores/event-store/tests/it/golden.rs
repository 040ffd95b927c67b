//! The golden events (`events/golden/`), every version ever written, as the
//! events table holds them: both stores load each history as this build
//! reads it (upcast, never rewritten) and `fold` takes it to the state
//! recorded in `events/golden-states/`.

use std::sync::Arc;

use contract::tables::create_events_table;
use contract::EventItem;
use domain::fold;
use domain::ports::EventStore;
use event_store::{DynamoEventStore, MemoryEventStore};
use testkit::golden::{histories, GoldenHistory};

/// A store to put the golden items in, as they are.
#[async_trait::async_trait]
trait Seeded: Send + Sync {
    fn store(&self) -> &dyn EventStore;
    async fn seed(&self, history: &GoldenHistory);
}

struct Memory(MemoryEventStore);

#[async_trait::async_trait]
impl Seeded for Memory {
    fn store(&self) -> &dyn EventStore {
        &self.0
    }

    /// The memory store keeps envelopes, not JSON: the golden items go in
    /// as the DynamoDB store reads them.
    async fn seed(&self, history: &GoldenHistory) {
        history.append_to(&self.0).await;
    }
}

struct Dynamo {
    client: aws_sdk_dynamodb::Client,
    table: String,
    store: DynamoEventStore,
}

#[async_trait::async_trait]
impl Seeded for Dynamo {
    fn store(&self) -> &dyn EventStore {
        &self.store
    }

    /// The items byte for byte: the store reads what older builds wrote.
    async fn seed(&self, history: &GoldenHistory) {
        history.put_items(&self.client, &self.table).await;
    }
}

async fn every_golden_history_loads_and_folds_to_its_recorded_state(seeded: Arc<dyn Seeded>) {
    for history in histories() {
        seeded.seed(&history).await;
        let (loaded, lane) = seeded.store().load_with_lane(history.order_id).await.unwrap();
        assert_eq!(loaded, history.envelopes(), "{}", history.name);
        for (event, golden) in loaded.iter().zip(&history.events) {
            assert_eq!(event.event_type(), golden.event_type, "{}", golden.path.display());
            let served: serde_json::Value = serde_json::from_str(&event.to_json()).unwrap();
            assert_eq!(served["schemaVersion"], event.event_type().schema_version(), "served at the current version");
        }
        assert_eq!(lane, history.lane(), "{}", history.name);
        assert_eq!(fold(&loaded), Some(history.state.clone()), "{} folds to its recorded state", history.name);
    }
}

async fn memory() -> Arc<dyn Seeded> {
    Arc::new(Memory(MemoryEventStore::new()))
}

async fn dynamo() -> Dynamo {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("golden-events");
    create_events_table(&client, &table).await.unwrap();
    Dynamo { store: DynamoEventStore::new(client.clone(), &table), client, table }
}

async fn dynamodb() -> Arc<dyn Seeded> {
    Arc::new(dynamo().await)
}

testkit::against_both_adapters!(
    memory: super::memory().await,
    dynamodb: super::dynamodb().await;
    every_golden_history_loads_and_folds_to_its_recorded_state,
);

/// What `orders republish` and `orders events` read: each item's JSON as
/// stored, and the version it was written at.
#[tokio::test]
async fn dynamodb_stored_golden_events_keep_their_bytes_and_written_version() {
    let seeded = dynamo().await;
    for history in histories() {
        seeded.seed(&history).await;
        let stored = seeded.store.load_stored(history.order_id).await.unwrap();
        assert_eq!(stored.len(), history.events.len(), "{}", history.name);
        for (stored, golden) in stored.iter().zip(&history.events) {
            assert_eq!(stored.json, golden.stored_json(), "{}", golden.path.display());
            assert_eq!(stored.schema_version, golden.schema_version, "{}", golden.path.display());
            assert_eq!(stored.envelope, golden.envelope());
        }
    }
}

/// The golden items are what the builds of their versions wrote: this
/// build's item, with the envelope written at the golden event's version.
#[test]
fn golden_items_are_what_a_build_of_their_version_writes() {
    for event in testkit::golden::events() {
        let envelope = event.envelope();
        let written = envelope.to_json_at(event.schema_version).unwrap();
        assert_eq!(written, event.stored_json(), "{}", event.path.display());
        let item = match event.lane() {
            Some(lane) => EventItem::in_lane(&envelope, lane),
            None => EventItem::new(&envelope),
        };
        let item = EventItem { envelope: written, ..item };
        let item: serde_dynamo::Item = serde_dynamo::to_item(item).unwrap();
        assert_eq!(item, event.item, "{}", event.path.display());
    }
}
