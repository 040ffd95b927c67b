//! The sample Lambda payloads in `events/` (for `sam local invoke` and
//! `cargo lambda invoke`) through the Lambda's handler body, on the memory
//! adapters. The orders are those of `sqs-inventory-order-placed.json`.

use crate::common;

use aws_lambda_events::event::sqs::SqsEvent;
use common::Fixture;
use domain::Envelope;
use fulfillment::PickStatus;

fn payload(name: &str) -> SqsEvent {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample payload exists")).expect("an SQS event")
}

fn envelopes(event: &SqsEvent) -> Vec<Envelope> {
    event.records.iter().filter_map(|r| Envelope::from_json(r.body.as_deref()?).ok()).collect()
}

async fn with_sample_orders() -> (Fixture, Vec<Envelope>) {
    let f = Fixture::memory();
    let placed = envelopes(&payload("sqs-inventory-order-placed.json"));
    for envelope in &placed {
        f.orders.store().append(std::slice::from_ref(envelope)).await.unwrap();
    }
    (f, placed)
}

#[tokio::test]
async fn the_sample_confirmations_open_pick_requests() {
    let (f, placed) = with_sample_orders().await;
    let response = sqs_consumer::handle_sqs_event(&f.projection, payload("sqs-fulfillment-order-confirmed.json")).await;
    assert!(response.batch_item_failures.is_empty());
    let muskie = f.store.get(placed[0].order_id).await.unwrap().unwrap();
    assert_eq!((muskie.status, muskie.lines.len(), muskie.lines[0].quantity), (PickStatus::Open, 1, 1));
    let tourney = f.store.get(placed[2].order_id).await.unwrap().unwrap();
    assert_eq!((tourney.status, tourney.lines[0].sku.as_str()), (PickStatus::Open, "tourney-casting-rod"));
}

#[tokio::test]
async fn the_sample_out_of_order_batch_ends_cancelled_and_closed() {
    let (f, placed) = with_sample_orders().await;
    let response = sqs_consumer::handle_sqs_event(&f.projection, payload("sqs-fulfillment-out-of-order.json")).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(f.store.get(placed[0].order_id).await.unwrap().unwrap().status, PickStatus::Cancelled);
    let shipped = f.store.get(placed[2].order_id).await.unwrap().unwrap();
    assert_eq!((shipped.status, shipped.version), (PickStatus::Closed, 3));
}
