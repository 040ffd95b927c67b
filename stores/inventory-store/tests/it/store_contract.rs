//! The `InventoryStore` contract, held against both adapters: the memory
//! one and DynamoDB Local (`scripts/local-stack up`).

use crate::common;

use std::sync::Arc;

use common::sku;
use domain::OrderId;
use inventory_store::store::{
    Change, CommitError, InventoryStore, Reservation, ReservationState, StockDelta, StockLine,
};
use inventory_store::MemoryInventoryStore;

fn record(order: u128, state: ReservationState, lines: &[(&str, u32)]) -> Reservation {
    let lines: Vec<StockLine> = lines.iter().map(|(s, q)| StockLine { sku: sku(s), quantity: *q }).collect();
    Reservation {
        order_id: OrderId(uuid::Uuid::from_u128(order)),
        state,
        held: if state == ReservationState::Reserved { lines.len() } else { 0 },
        lines,
        unavailable: vec![],
        revision: 0,
    }
}

async fn available(store: &dyn InventoryStore, name: &str) -> Option<(u64, u64, u64)> {
    store.stock(&[sku(name)]).await.unwrap().remove(&sku(name)).map(|s| (s.available, s.reserved, s.shipped))
}

async fn stock_is_absent_until_set_and_set_keeps_reserved(store: Arc<dyn InventoryStore>) {
    assert_eq!(available(&*store, "spinner").await, None);
    let stock = store.set_available(&sku("spinner"), 7).await.unwrap();
    assert_eq!((stock.sku.as_str(), stock.available, stock.reserved, stock.shipped), ("spinner", 7, 0, 0));
    let mut reserve = Change::new();
    reserve.stock(&sku("spinner"), StockDelta::reserve(3));
    store.commit(&reserve).await.unwrap();
    store.set_available(&sku("spinner"), 10).await.unwrap();
    assert_eq!(available(&*store, "spinner").await, Some((10, 3, 0)), "setting available leaves reserved alone");
}

async fn commit_writes_stock_and_records_together(store: Arc<dyn InventoryStore>) {
    store.set_available(&sku("rod"), 5).await.unwrap();
    store.set_available(&sku("reel"), 5).await.unwrap();
    let mut change = Change::new();
    change.stock(&sku("rod"), StockDelta::reserve(2)).stock(&sku("reel"), StockDelta::reserve(1));
    change.stock(&sku("rod"), StockDelta::reserve(1));
    change.record(None, record(1, ReservationState::Reserved, &[("rod", 3), ("reel", 1)]));
    assert_eq!(change.items(), 3, "deltas to one SKU merge into one item");
    store.commit(&change).await.unwrap();
    assert_eq!(available(&*store, "rod").await, Some((2, 3, 0)));
    assert_eq!(available(&*store, "reel").await, Some((4, 1, 0)));
    let id = OrderId(uuid::Uuid::from_u128(1));
    let saved = store.reservations(&[id]).await.unwrap().remove(&id).expect("record written");
    assert_eq!(saved.state, ReservationState::Reserved);
    assert_eq!(saved.revision, 1);
    assert_eq!(saved.held, 2);
    assert_eq!(saved.lines[0], StockLine { sku: sku("rod"), quantity: 3 });

    let mut ship = Change::new();
    ship.stock(&sku("rod"), StockDelta::ship(3));
    ship.record(Some(1), Reservation { state: ReservationState::Shipped, held: 0, ..saved });
    store.commit(&ship).await.unwrap();
    assert_eq!(available(&*store, "rod").await, Some((2, 0, 3)));
    assert_eq!(store.reservations(&[id]).await.unwrap()[&id].revision, 2);
}

async fn one_short_sku_refuses_the_whole_change(store: Arc<dyn InventoryStore>) {
    store.set_available(&sku("rod"), 5).await.unwrap();
    store.set_available(&sku("reel"), 1).await.unwrap();
    let mut change = Change::new();
    change.stock(&sku("rod"), StockDelta::reserve(2)).stock(&sku("reel"), StockDelta::reserve(2));
    change.record(None, record(2, ReservationState::Reserved, &[("rod", 2), ("reel", 2)]));
    match store.commit(&change).await {
        Err(CommitError::Refused { short, stale }) => {
            assert_eq!(short, vec![sku("reel")]);
            assert!(stale.is_empty());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(available(&*store, "rod").await, Some((5, 0, 0)), "nothing of the change was written");
    assert_eq!(available(&*store, "reel").await, Some((1, 0, 0)));
    assert!(store.reservations(&[OrderId(uuid::Uuid::from_u128(2))]).await.unwrap().is_empty());
}

async fn a_sku_never_stocked_cannot_be_reserved(store: Arc<dyn InventoryStore>) {
    let mut change = Change::new();
    change.stock(&sku("ghost-lure"), StockDelta::reserve(1));
    assert!(
        matches!(store.commit(&change).await, Err(CommitError::Refused { short, .. }) if short == vec![sku("ghost-lure")])
    );
    assert_eq!(available(&*store, "ghost-lure").await, None);
}

async fn records_are_written_once_per_revision(store: Arc<dyn InventoryStore>) {
    let id = OrderId(uuid::Uuid::from_u128(3));
    let mut first = Change::new();
    first.record(None, record(3, ReservationState::Cancelled, &[]));
    store.commit(&first).await.unwrap();
    assert!(
        matches!(store.commit(&first).await, Err(CommitError::Refused { stale, .. }) if stale == vec![id]),
        "a record that must be new already exists"
    );
    let mut stale_update = Change::new();
    stale_update.record(Some(7), record(3, ReservationState::Released, &[]));
    assert!(matches!(store.commit(&stale_update).await, Err(CommitError::Refused { stale, .. }) if stale == vec![id]));
    assert_eq!(store.reservations(&[id]).await.unwrap()[&id].state, ReservationState::Cancelled);
}

async fn changes_over_the_transaction_limit_are_refused(store: Arc<dyn InventoryStore>) {
    let mut change = Change::new();
    for i in 0..100 {
        change.stock(&sku(&format!("lure-{i}")), StockDelta::release(1));
    }
    change.record(None, record(4, ReservationState::Cancelled, &[]));
    assert!(matches!(store.commit(&change).await, Err(CommitError::TooLarge(101))));
}

async fn a_change_of_exactly_the_limit_commits(store: Arc<dyn InventoryStore>) {
    let mut change = Change::new();
    for i in 0..99 {
        let name = format!("hook-{i}");
        store.set_available(&sku(&name), 1).await.unwrap();
        change.stock(&sku(&name), StockDelta::reserve(1));
    }
    change.record(None, record(5, ReservationState::Reserving, &[]));
    assert_eq!(change.items(), 100);
    store.commit(&change).await.unwrap();
    assert_eq!(available(&*store, "hook-98").await, Some((0, 1, 0)));
}

async fn many_records_read_back_at_once(store: Arc<dyn InventoryStore>) {
    let ids: Vec<OrderId> = (1000..1150).map(|i| OrderId(uuid::Uuid::from_u128(i))).collect();
    for chunk in ids.chunks(50) {
        let mut change = Change::new();
        for id in chunk {
            change.record(None, record(id.0.as_u128(), ReservationState::Cancelled, &[]));
        }
        store.commit(&change).await.unwrap();
    }
    let mut asked = ids.clone();
    asked.push(OrderId(uuid::Uuid::from_u128(99_999)));
    let found = store.reservations(&asked).await.unwrap();
    assert_eq!(found.len(), 150, "every existing record, and nothing for the unknown order");
}

async fn concurrent_reservations_never_oversell(store: Arc<dyn InventoryStore>) {
    store.set_available(&sku("muskie-casting-rod"), 10).await.unwrap();
    let tasks = (0..40).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
                let mut change = Change::new();
                change.stock(&sku("muskie-casting-rod"), StockDelta::reserve(1));
                match store.commit(&change).await {
                    Ok(()) => return true,
                    Err(CommitError::Refused { .. }) => return false,
                    Err(CommitError::Contended) => tokio::task::yield_now().await,
                    Err(e) => panic!("{e}"),
                }
            }
        })
    });
    let mut won = 0;
    for task in tasks {
        won += usize::from(task.await.unwrap());
    }
    assert_eq!(won, 10);
    assert_eq!(available(&*store, "muskie-casting-rod").await, Some((0, 10, 0)));
}

testkit::against_both_adapters!(
    memory: std::sync::Arc::new(super::MemoryInventoryStore::new()),
    dynamodb: std::sync::Arc::new(super::common::dynamodb_store().await);
    stock_is_absent_until_set_and_set_keeps_reserved,
    commit_writes_stock_and_records_together,
    one_short_sku_refuses_the_whole_change,
    a_sku_never_stocked_cannot_be_reserved,
    records_are_written_once_per_revision,
    changes_over_the_transaction_limit_are_refused,
    a_change_of_exactly_the_limit_commits,
    many_records_read_back_at_once,
    concurrent_reservations_never_oversell,
);
