//! `GET /orders/{id}/events` of orders the store holds at older
//! `schemaVersion`s (the golden events, `events/golden/`): served upcast,
//! each event at its type's current version and saying so in
//! `schemaVersion`; the order view is the recorded state. Against the memory
//! store and the golden items as they are on DynamoDB Local.

use std::sync::Arc;

use api::App;
use commands::OrderService;
use domain::ports::EventStore;
use domain::upcast::SchemaVersions;
use event_store::{DynamoEventStore, MemoryEventStore};
use inventory_store::{InventoryService, MemoryInventoryStore};
use testkit::golden::histories;

use crate::common::{payload, send, test_catalog, test_services, to_request};

fn app(store: Arc<dyn EventStore>) -> App {
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    App::new(OrderService::new(store), stock, test_catalog()).with_services(test_services())
}

async fn golden_histories_are_served_upcast_at_each_types_current_version(app: App) {
    for history in histories() {
        let events =
            send(&app, to_request(&payload("GET", &format!("/orders/{}/events", history.order_id), &[], None))).await;
        assert_eq!(events.status, 200, "{}: {}", history.name, events.json);
        let served = events.json["events"].as_array().unwrap().clone();
        assert_eq!(served, serde_json::to_value(history.envelopes()).unwrap().as_array().unwrap().clone());
        for (event, golden) in served.iter().zip(&history.events) {
            assert_eq!(event["eventType"], golden.event_type.as_str());
            assert_eq!(event["schemaVersion"], golden.event_type.schema_version(), "{}", golden.path.display());
            assert_eq!(event["eventId"], golden.envelope().event_id.to_string());
        }
        let order = send(&app, to_request(&payload("GET", &format!("/orders/{}", history.order_id), &[], None))).await;
        assert_eq!(order.json, serde_json::to_value(&history.state).unwrap(), "{}", history.name);
    }
}

async fn memory() -> App {
    let store = Arc::new(MemoryEventStore::new());
    for history in histories() {
        history.append_to(store.as_ref()).await;
    }
    app(store)
}

async fn dynamodb() -> App {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("golden-events");
    contract::tables::create_events_table(&client, &table).await.unwrap();
    for history in histories() {
        history.put_items(&client, &table).await;
    }
    app(Arc::new(DynamoEventStore::new(client, table)))
}

testkit::against_both_adapters!(
    memory: super::memory().await,
    dynamodb: super::dynamodb().await;
    golden_histories_are_served_upcast_at_each_types_current_version,
);

/// An instance of the build before OrderRejected's bump, on a table where
/// this build wrote OrderRejected at 2 (a rolling deployment): 503
/// `deployment-in-progress` with `Retry-After` on reads and commands of
/// those orders, not 500; every other order it serves as before.
#[tokio::test]
async fn dynamodb_an_instance_of_the_previous_build_answers_503_to_a_newer_event() {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("golden-events");
    contract::tables::create_events_table(&client, &table).await.unwrap();
    for history in histories() {
        history.put_items(&client, &table).await;
    }
    let previous = SchemaVersions::previous();
    let app = app(Arc::new(DynamoEventStore::new(client, table).in_build(previous)));
    let (mut newer, mut readable) = (0, 0);
    for history in histories() {
        let id = history.order_id;
        let reads = [format!("/orders/{id}"), format!("/orders/{id}/events")];
        if history.events.iter().all(|e| e.schema_version <= previous.of(e.event_type)) {
            readable += 1;
            for path in reads {
                let answer = send(&app, to_request(&payload("GET", &path, &[], None))).await;
                assert_eq!(answer.status, 200, "{}: {}", history.name, answer.json);
            }
            continue;
        }
        newer += 1;
        let json = [("content-type", "application/json")];
        let cancel = payload("POST", &format!("/orders/{id}/cancel"), &json, Some("{}"));
        for request in reads.map(|path| payload("GET", &path, &[], None)).into_iter().chain([cancel]) {
            let (method, path) = (&request["requestContext"]["http"]["method"], &request["rawPath"]);
            let answer = send(&app, to_request(&request)).await;
            assert_eq!(answer.status, 503, "{method} {path} of {}: {}", history.name, answer.json);
            assert_eq!(answer.json["type"], "/problems/deployment-in-progress");
            assert_eq!(answer.headers["retry-after"], "30");
            let detail = answer.json["detail"].as_str().unwrap();
            assert!(
                detail.contains("schemaVersion 2 of OrderRejected is newer than this build (reads up to 1)"),
                "{detail}"
            );
        }
    }
    assert!(newer > 0 && readable > 0, "golden histories of both kinds: {newer} newer, {readable} readable");
}
