//! The sample Lambda payloads in `events/` (for `sam local invoke` and
//! `cargo lambda invoke`) through the Lambda's handler body, on the memory
//! adapters.

use crate::common;

use aws_lambda_events::event::sqs::SqsEvent;
use common::{sku, Fixture};
use domain::event::{Shortage, UnavailableLine};
use domain::{Envelope, OrderEvent, OrderId, OrderStatus};

fn payload(name: &str) -> SqsEvent {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample payload exists")).expect("an SQS event")
}

fn envelopes(event: &SqsEvent) -> Vec<Envelope> {
    event.records.iter().filter_map(|r| Envelope::from_json(r.body.as_deref()?).ok()).collect()
}

fn failures(response: aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
}

#[tokio::test]
async fn the_sample_sale_confirms_one_rod_rejects_the_other_then_the_cancel_releases_it() {
    let f = Fixture::memory();
    let placed_event = payload("sqs-inventory-order-placed.json");
    let placed = envelopes(&placed_event);
    for envelope in &placed {
        f.events.append(std::slice::from_ref(envelope)).await.unwrap();
    }
    f.set("muskie-casting-rod", 1).await;
    f.set("tourney-casting-rod", 5).await;

    assert!(failures(sqs_consumer::handle_sqs_event(&f.projection, placed_event).await).is_empty());
    let [first, second, tourney] = [0, 1, 2].map(|i| placed[i].order_id);
    assert_eq!(f.status(first).await, OrderStatus::Confirmed);
    assert_eq!(f.status(tourney).await, OrderStatus::Confirmed);
    match f.history(second).await.pop().unwrap().event {
        OrderEvent::Rejected(r) => assert_eq!(
            r.shortages,
            vec![Shortage::from(UnavailableLine { sku: sku("muskie-casting-rod"), requested: 1, available: 0 })]
        ),
        other => panic!("expected OrderRejected, got {other:?}"),
    }
    assert_eq!(f.stock("muskie-casting-rod").await, (0, 1, 0));
    assert_eq!(f.stock("tourney-casting-rod").await, (3, 2, 0));

    let cancelled = payload("sqs-inventory-order-cancelled.json");
    assert_eq!(envelopes(&cancelled)[0].order_id, first);
    assert!(failures(sqs_consumer::handle_sqs_event(&f.projection, cancelled).await).is_empty());
    assert_eq!(f.stock("muskie-casting-rod").await, (1, 0, 0));
}

#[tokio::test]
async fn the_sample_poison_batch_fails_only_its_poison() {
    let f = Fixture::memory();
    let poison = payload("sqs-inventory-poison.json");
    let good = envelopes(&poison);
    assert_eq!(good.len(), 1, "one readable envelope among the poison");
    f.events.append(&good).await.unwrap();
    f.set("muskie-casting-rod", 1).await;
    let ids: Vec<String> = poison.records.iter().map(|r| r.message_id.clone().unwrap()).collect();
    let mut failed = failures(sqs_consumer::handle_sqs_event(&f.projection, poison).await);
    failed.sort();
    assert_eq!(failed, vec![ids[0].clone(), ids[2].clone(), ids[3].clone()]);
    let order: OrderId = good[0].order_id;
    assert_eq!(f.status(order).await, OrderStatus::Confirmed);
}
