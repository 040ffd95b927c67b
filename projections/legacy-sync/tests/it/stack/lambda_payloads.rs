//! The sample Lambda payloads in `events/` (for `sam local invoke` and
//! `cargo lambda invoke`) through the Lambda's handler body, against a real
//! PostgreSQL.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;

use aws_lambda_events::event::sqs::SqsEvent;
use domain::ports::EventStore;
use domain::Envelope;
use event_store::MemoryEventStore;
use support::*;

fn payload(name: &str) -> SqsEvent {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample payload exists")).expect("an SQS event")
}

fn envelopes(event: &SqsEvent) -> Vec<Envelope> {
    event.records.iter().filter_map(|r| Envelope::from_json(r.body.as_deref()?).ok()).collect()
}

#[tokio::test]
async fn the_sample_batch_applies_in_full() {
    let db = TestDb::create().await;
    let client = db.client().await;
    let basket = uuid::Uuid::parse_str("5d0c1f2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5").unwrap();
    client.execute("INSERT INTO shop_basket (id) VALUES ($1)", &[&basket]).await.unwrap();
    let event = payload("sqs-legacy-sync-batch.json");
    let store = Arc::new(MemoryEventStore::new());
    let mut by_version = envelopes(&event);
    by_version.sort_by_key(|e| e.version);
    for envelope in &by_version {
        store.append(std::slice::from_ref(envelope)).await.unwrap();
    }

    let response = sqs_consumer::handle_sqs_event(&db.sync(store.clone()), event).await;
    assert!(response.batch_item_failures.is_empty());
    let ids: Vec<_> =
        by_version.iter().map(|e| e.order_id.0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    assert_eq!(read_rows(&client, None).await, expected_rows(store.as_ref(), &ids, &HashMap::new()).await);
    assert_eq!(basket_links(&client, &[basket]).await[&basket], "3f1c5a8e-6b2d-4c1e-9a7f-2d8e4b6c1a90");
}

#[tokio::test]
async fn the_out_of_order_sample_folds_from_the_store_and_fails_only_its_poison_message() {
    let db = TestDb::create().await;
    let store = Arc::new(MemoryEventStore::new());
    let placed = envelopes(&payload("sqs-legacy-sync-batch.json"))
        .into_iter()
        .find(|e| e.order_id.to_string().starts_with("9b2e"));
    let event = payload("sqs-legacy-sync-out-of-order.json");
    let mut history: Vec<Envelope> = placed.into_iter().chain(envelopes(&event)).collect();
    history.sort_by_key(|e| e.version);
    history.dedup_by_key(|e| e.version);
    for envelope in &history {
        store.append(std::slice::from_ref(envelope)).await.unwrap();
    }

    let response = sqs_consumer::handle_sqs_event(&db.sync(store.clone()), event).await;
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["6b1f0c2a-0000-4000-8000-000000000004"], "only the unreadable envelope fails");
    let client = db.client().await;
    let rows = read_rows(&client, None).await;
    assert_eq!(rows, expected_rows(store.as_ref(), &[history[0].order_id.0], &HashMap::new()).await);
    assert_eq!(rows[&history[0].order_id.0].status, "shipped");
}
