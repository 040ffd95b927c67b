//! The `FulfillmentStore` contract, held against the memory adapter and
//! DynamoDB Local (`scripts/local-stack up`).

use crate::common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use domain::{OrderId, Sku};
use fulfillment::store::PickUpdate;
use fulfillment::{FulfillmentStore, MemoryFulfillmentStore, PickLine, PickStatus};

fn update(
    order_id: OrderId,
    version: u32,
    status: PickStatus,
    lines: Option<&[(&str, u32)]>,
    second: u32,
) -> PickUpdate {
    PickUpdate {
        order_id,
        version,
        status,
        lines: lines.map(|l| l.iter().map(|(s, q)| PickLine { sku: Sku::parse(s).unwrap(), quantity: *q }).collect()),
        created_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, second).unwrap(),
        at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, second).unwrap(),
    }
}

async fn a_request_is_created_then_moved_on_by_newer_events(store: Arc<dyn FulfillmentStore>) {
    let id = OrderId(uuid::Uuid::new_v4());
    assert_eq!(store.get(id).await.unwrap(), None);
    assert!(store.apply(&update(id, 2, PickStatus::Open, Some(&[("jig-head", 3)]), 1)).await.unwrap());
    let open = store.get(id).await.unwrap().unwrap();
    assert_eq!((open.status, open.version), (PickStatus::Open, 2));
    assert_eq!(open.lines, vec![PickLine { sku: Sku::parse("jig-head").unwrap(), quantity: 3 }]);
    assert!(store.apply(&update(id, 3, PickStatus::Closed, None, 5)).await.unwrap());
    let closed = store.get(id).await.unwrap().unwrap();
    assert_eq!(closed.status, PickStatus::Closed);
    assert_eq!(closed.lines, open.lines, "closing keeps the lines");
    assert_eq!(closed.created_at, open.created_at);
    assert_eq!(closed.updated_at, Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 5).unwrap());
}

async fn the_same_or_an_older_version_changes_nothing(store: Arc<dyn FulfillmentStore>) {
    let id = OrderId(uuid::Uuid::new_v4());
    assert!(store.apply(&update(id, 3, PickStatus::Cancelled, None, 2)).await.unwrap());
    assert!(!store.apply(&update(id, 3, PickStatus::Cancelled, None, 2)).await.unwrap(), "duplicate");
    assert!(!store.apply(&update(id, 2, PickStatus::Open, Some(&[("jig-head", 1)]), 1)).await.unwrap(), "late");
    let request = store.get(id).await.unwrap().unwrap();
    assert_eq!((request.status, request.version), (PickStatus::Cancelled, 3));
    assert!(request.lines.is_empty(), "never confirmed as far as the warehouse knows");
}

testkit::against_both_adapters!(
    memory: std::sync::Arc::new(super::MemoryFulfillmentStore::new()),
    dynamodb: std::sync::Arc::new(super::common::dynamodb_stores().await.0);
    a_request_is_created_then_moved_on_by_newer_events, the_same_or_an_older_version_changes_nothing);
