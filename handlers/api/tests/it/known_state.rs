//! What the API answers when PlaceOrder's "assume new" or an instance's
//! cached order is wrong: exactly what a fresh read answers. Each `App` is
//! one Lambda instance with its own cache; several share one event store.
//! Every scenario runs on the memory store and on DynamoDB Local.

use crate::common;

use std::sync::Arc;

use api::App;
use commands::{CommandContext, Known, OrderService, RetryPolicy};
use common::{payload, send, to_request, Answer};
use contract::tables::create_events_table;
use domain::ports::EventStore;
use domain::{Command, Lane, OrderId};
use event_store::{DynamoEventStore, MemoryEventStore};
use inventory_store::{InventoryService, MemoryInventoryStore};

const JSON: (&str, &str) = ("content-type", "application/json");
const BODY: &str = r#"{"customerId":"customer-1842","currency":"USD",
    "lines":[{"sku":"muskie-casting-rod","quantity":1,"unitPriceCents":24900}]}"#;
const OTHER_BODY: &str = r#"{"customerId":"customer-1842","currency":"USD",
    "lines":[{"sku":"muskie-casting-rod","quantity":2,"unitPriceCents":24900}]}"#;

/// One Lambda instance of the API over `store`.
fn instance(store: &Arc<dyn EventStore>) -> App {
    let stock = InventoryService::new(Arc::new(MemoryInventoryStore::new()));
    App::new(OrderService::new(store.clone()), stock, common::test_catalog()).with_services(common::test_services())
}

async fn place(app: &App, key: &str, body: &str) -> Answer {
    send(app, to_request(&payload("POST", "/orders", &[JSON, ("idempotency-key", key)], Some(body)))).await
}

async fn post(app: &App, path: &str, if_match: Option<&str>) -> Answer {
    let mut headers = vec![JSON];
    headers.extend(if_match.map(|v| ("if-match", v)));
    send(app, to_request(&payload("POST", path, &headers, Some("{}")))).await
}

/// What the inventory saga does once stock is reserved.
async fn saga_confirms(store: &Arc<dyn EventStore>, order_id: OrderId) {
    let saga = OrderService::new(store.clone());
    let placed = store.load(order_id).await.unwrap().remove(0);
    let context = CommandContext::new("saga");
    saga.execute_from(
        order_id,
        &Command::Confirm,
        &context,
        RetryPolicy::INTERNAL,
        Known::from_placed(&placed, Lane::Standard),
    )
    .await
    .unwrap();
}

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The answer without what differs between any two requests.
fn comparable(answer: &Answer) -> (u16, serde_json::Value) {
    (answer.status, answer.json.clone())
}

async fn eight_concurrent_retries_of_one_key_answer_the_same_201(store: Arc<dyn EventStore>) {
    let key = key();
    let barrier = Arc::new(tokio::sync::Barrier::new(8));
    let shared = instance(&store);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            // Half on one instance, half on their own.
            let app = if i % 2 == 0 { shared.clone() } else { instance(&store) };
            let (barrier, key) = (barrier.clone(), key.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                comparable(&place(&app, &key, BODY).await)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    assert_eq!(answers[0].0, 201, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| *a == answers[0]), "every retry answers the same 201: {answers:?}");
    let order_id = OrderId::from_idempotency_key(&format!("service:{}", common::OPERATOR), &key);
    assert_eq!(store.load(order_id).await.unwrap().len(), 1, "one order, placed once");
}

async fn a_key_reused_with_another_body_is_a_422_and_writes_nothing(store: Arc<dyn EventStore>) {
    let (first, second) = (instance(&store), instance(&store));
    let key = key();
    let created = place(&first, &key, BODY).await;
    assert_eq!(created.status, 201);
    let same = place(&second, &key, BODY).await;
    assert_eq!(comparable(&same), comparable(&created), "a retry answers the same 201");
    assert_eq!(same.headers["location"], created.headers["location"]);
    assert_eq!(place(&second, &key, OTHER_BODY).await.status, 422);
    assert_eq!(place(&first, &key, OTHER_BODY).await.status, 422);
    assert_eq!(
        store.load(OrderId::from_idempotency_key(&format!("service:{}", common::OPERATOR), &key)).await.unwrap().len(),
        1
    );
}

async fn a_cancel_on_a_stale_cache_answers_as_a_fresh_instance(store: Arc<dyn EventStore>) {
    let (stale, other) = (instance(&store), instance(&store));
    let created = place(&stale, &key(), BODY).await; // `stale` caches PLACED
    let id = created.json["orderId"].as_str().unwrap().to_owned();
    saga_confirms(&store, id.parse().unwrap()).await;
    assert_eq!(post(&other, &format!("/orders/{id}/ship"), None).await.status, 200);
    let cancelled = post(&stale, &format!("/orders/{id}/cancel"), None).await;
    let fresh = post(&instance(&store), &format!("/orders/{id}/cancel"), None).await;
    assert_eq!(cancelled.status, 409, "{}", cancelled.json);
    assert_eq!(comparable(&cancelled), comparable(&fresh));
    assert_eq!(store.load(id.parse().unwrap()).await.unwrap().len(), 3, "nothing more written");
}

async fn a_ship_on_a_stale_cache_ships(store: Arc<dyn EventStore>) {
    let stale = instance(&store);
    let created = place(&stale, &key(), BODY).await; // `stale` caches PLACED
    let id = created.json["orderId"].as_str().unwrap().to_owned();
    saga_confirms(&store, id.parse().unwrap()).await;
    let shipped = post(&stale, &format!("/orders/{id}/ship"), Some("\"2\"")).await;
    assert_eq!((shipped.status, &shipped.json["status"]), (200, &"SHIPPED".into()), "{}", shipped.json);
    assert_eq!(shipped.headers["etag"], "\"3\"");
    let again = post(&stale, &format!("/orders/{id}/ship"), None).await;
    let fresh = post(&instance(&store), &format!("/orders/{id}/ship"), None).await;
    assert_eq!(comparable(&again), comparable(&shipped), "shipping twice changes nothing");
    assert_eq!(comparable(&again), comparable(&fresh));
}

async fn if_match_on_a_stale_cache_is_judged_on_the_true_version(store: Arc<dyn EventStore>) {
    let stale = instance(&store);
    let created = place(&stale, &key(), BODY).await; // `stale` caches version 1
    let id = created.json["orderId"].as_str().unwrap().to_owned();
    saga_confirms(&store, id.parse().unwrap()).await; // version 2
    let path = format!("/orders/{id}/cancel");
    let mismatch = post(&stale, &path, Some("\"1\"")).await;
    assert_eq!(mismatch.status, 412, "{}", mismatch.json);
    assert_eq!(comparable(&mismatch), comparable(&post(&instance(&store), &path, Some("\"1\"")).await));
    let cancelled = post(&stale, &path, Some("\"2\"")).await;
    assert_eq!((cancelled.status, &cancelled.json["version"]), (200, &3.into()), "{}", cancelled.json);
}

async fn memory() -> Arc<dyn EventStore> {
    Arc::new(MemoryEventStore::new())
}

async fn dynamodb() -> Arc<dyn EventStore> {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("events");
    create_events_table(&client, &table).await.unwrap();
    Arc::new(DynamoEventStore::new(client, table))
}

testkit::against_both_adapters!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    memory: super::memory().await,
    dynamodb: super::dynamodb().await;
    eight_concurrent_retries_of_one_key_answer_the_same_201,
    a_key_reused_with_another_body_is_a_422_and_writes_nothing,
    a_cancel_on_a_stale_cache_answers_as_a_fresh_instance,
    a_ship_on_a_stale_cache_ships,
    if_match_on_a_stale_cache_is_judged_on_the_true_version,
);
