//! The happy paths, driven by the payload files in `events/`.

use crate::common;

use commands::{CommandContext, RetryPolicy};
use common::{fixture, memory_app, send, to_request};
use domain::{Command, OrderId};

const ORDER_ID: &str = "f6ee19f2-6911-50a2-8e35-c7662388da85";

#[tokio::test]
async fn place_get_events_and_cancel() {
    let (app, _) = memory_app();
    let placed = send(&app, to_request(&fixture("place-order"))).await;
    assert_eq!(placed.status, 201, "{}", placed.json);
    assert_eq!(placed.json["orderId"], ORDER_ID, "the order id is derived from the Idempotency-Key");
    assert_eq!(placed.headers["location"], format!("/orders/{ORDER_ID}"));
    assert_eq!(placed.headers["etag"], "\"1\"");
    assert_eq!(placed.headers["x-correlation-id"], "checkout-req-0001");
    assert_eq!(placed.json["status"], "PLACED");
    assert_eq!(placed.json["totalCents"], 24_900 + 2 * 1_899);
    assert_eq!(placed.json["basketId"], "3f1c2b9e-8d7a-4e61-9b0c-5a4d3e2f1a0b");

    let retried = send(&app, to_request(&fixture("place-order"))).await;
    assert_eq!((retried.status, &retried.json), (201, &placed.json), "a retry answers the same 201");

    let got = send(&app, to_request(&fixture("get-order"))).await;
    assert_eq!((got.status, &got.json), (200, &placed.json));
    assert_eq!(got.headers["etag"], "\"1\"");

    let events = send(&app, to_request(&fixture("get-order-events"))).await;
    assert_eq!(events.status, 200);
    let events = events.json["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "the retry appended nothing");
    assert_eq!(events[0]["eventType"], "OrderPlaced");
    assert_eq!(events[0]["version"], 1);
    assert_eq!(events[0]["correlationId"], "checkout-req-0001");

    let cancelled = send(&app, to_request(&fixture("cancel-order"))).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.json);
    assert_eq!(cancelled.json["status"], "CANCELLED");
    assert_eq!(cancelled.headers["etag"], "\"2\"");
}

#[tokio::test]
async fn ship_a_confirmed_order() {
    let (app, _) = memory_app();
    assert_eq!(send(&app, to_request(&fixture("place-order"))).await.status, 201);
    let id: OrderId = ORDER_ID.parse().unwrap();
    // Confirmation is the inventory saga's internal command, not a route.
    app.orders.execute(id, &Command::Confirm, &CommandContext::new("saga"), RetryPolicy::INTERNAL).await.unwrap();
    let shipped = send(&app, to_request(&fixture("ship-order"))).await;
    assert_eq!(shipped.status, 200, "{}", shipped.json);
    assert_eq!(shipped.json["status"], "SHIPPED");
    assert_eq!(shipped.json["version"], 3);
    let again = send(&app, to_request(&fixture("ship-order"))).await;
    assert_eq!((again.status, again.json["version"].as_u64()), (200, Some(3)), "shipping twice changes nothing");
}

#[tokio::test]
async fn set_and_read_stock() {
    let (app, _) = memory_app();
    let set = send(&app, to_request(&fixture("put-inventory"))).await;
    assert_eq!(set.status, 200, "{}", set.json);
    assert_eq!(set.json, serde_json::json!({"sku": "muskie-casting-rod", "available": 100, "reserved": 0}));
    let got = send(&app, to_request(&fixture("get-inventory"))).await;
    assert_eq!((got.status, got.json), (200, set.json));
}
