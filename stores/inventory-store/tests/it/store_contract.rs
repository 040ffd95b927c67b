//! The `InventoryStore` contract, held against both adapters: the memory
//! one and DynamoDB Local (`scripts/local-stack up`): stock, customers'
//! shares and reservation records, each change all or nothing.

use crate::common;

use std::sync::Arc;

use common::sku;
use domain::event::OverLimitLine;
use domain::{CustomerId, OrderId};
use inventory_store::store::{
    Change, CommitError, InventoryStore, Reservation, ReservationState, ShareDelta, ShareKey, StockDelta, StockLine,
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
        customer_id: None,
        limits: Default::default(),
        exceeded: vec![],
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
        Err(CommitError::Refused { short, stale, over }) => {
            assert_eq!(short, vec![sku("reel")]);
            assert!(stale.is_empty() && over.is_empty());
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

/// Commits all of `changes` at once, each retried while contended: how
/// many went through (the others were refused).
async fn commit_at_once(store: &Arc<dyn InventoryStore>, changes: Vec<Change>) -> usize {
    let tasks = changes.into_iter().map(|change| {
        let store = store.clone();
        tokio::spawn(async move {
            loop {
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
    won
}

async fn concurrent_reservations_never_oversell(store: Arc<dyn InventoryStore>) {
    store.set_available(&sku("muskie-casting-rod"), 10).await.unwrap();
    let changes = (0..40).map(|_| Change::new().stock(&sku("muskie-casting-rod"), StockDelta::reserve(1)).clone());
    assert_eq!(commit_at_once(&store, changes.collect()).await, 10);
    assert_eq!(available(&*store, "muskie-casting-rod").await, Some((0, 10, 0)));
}

fn share(customer: &str, name: &str) -> ShareKey {
    ShareKey { customer_id: CustomerId::parse(customer).unwrap(), sku: sku(name) }
}

async fn held(store: &dyn InventoryStore, share: &ShareKey) -> Option<u64> {
    store.shares(std::slice::from_ref(share)).await.unwrap().remove(share)
}

async fn shares_are_taken_within_their_limit_and_given_back(store: Arc<dyn InventoryStore>) {
    let (mine, theirs) = (share("angler #1", "muskie-casting-rod"), share("angler #2", "muskie-casting-rod"));
    assert_eq!(held(&*store, &mine).await, None, "a share never taken is absent");
    store.set_available(&sku("muskie-casting-rod"), 10).await.unwrap();
    let take = |quantity: u64, order: u128| {
        let mut change = Change::new();
        change.stock(&sku("muskie-casting-rod"), StockDelta::reserve(quantity));
        change.share(&mine, ShareDelta::take(quantity, 2));
        change.record(None, record(order, ReservationState::Reserved, &[("muskie-casting-rod", quantity as u32)]));
        change
    };
    assert_eq!(take(2, 10).items(), 3);
    store.commit(&take(2, 10)).await.unwrap();
    assert_eq!(held(&*store, &mine).await, Some(2));
    match store.commit(&take(1, 11)).await {
        Err(CommitError::Refused { short, stale, over }) => {
            assert_eq!(over, vec![mine.clone()]);
            assert!(short.is_empty() && stale.is_empty());
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(available(&*store, "muskie-casting-rod").await, Some((8, 2, 0)), "nothing of the change was written");
    assert!(store.reservations(&[OrderId(uuid::Uuid::from_u128(11))]).await.unwrap().is_empty());

    let mut other = Change::new();
    other.share(&theirs, ShareDelta::take(2, 2));
    store.commit(&other).await.unwrap();
    assert_eq!(store.shares(&[mine.clone(), theirs.clone()]).await.unwrap(), [(mine.clone(), 2), (theirs, 2)].into());

    let mut give_back = Change::new();
    give_back.share(&mine, ShareDelta::give_back(1));
    store.commit(&give_back).await.unwrap();
    assert_eq!(held(&*store, &mine).await, Some(1));
    let mut too_much = Change::new();
    too_much.share(&mine, ShareDelta::give_back(2));
    assert!(
        matches!(store.commit(&too_much).await, Err(CommitError::Refused { over, .. }) if over == vec![mine.clone()])
    );
    assert_eq!(held(&*store, &mine).await, Some(1), "a share never goes below zero");
}

async fn a_take_over_the_limit_itself_is_refused_even_from_nothing(store: Arc<dyn InventoryStore>) {
    let fresh = share("angler-3", "muskie-casting-rod");
    let mut merged = Change::new();
    merged.share(&fresh, ShareDelta::take(1, 2)).share(&fresh, ShareDelta::take(2, 2));
    assert_eq!(merged.items(), 1, "takes of one share merge into one item");
    assert!(
        matches!(store.commit(&merged).await, Err(CommitError::Refused { over, .. }) if over == vec![fresh.clone()])
    );
    assert_eq!(held(&*store, &fresh).await, None);
}

async fn a_record_keeps_its_customer_limits_and_the_lines_over_them(store: Arc<dyn InventoryStore>) {
    let id = OrderId(uuid::Uuid::from_u128(12));
    let rejected = Reservation {
        customer_id: Some(CustomerId::parse("angler #1").unwrap()),
        limits: [(sku("muskie-casting-rod"), 2)].into(),
        exceeded: vec![OverLimitLine { sku: sku("muskie-casting-rod"), requested: 3, allowed: 2 }],
        ..record(12, ReservationState::Rejected, &[("muskie-casting-rod", 3)])
    };
    store.commit(Change::new().record(None, rejected.clone())).await.unwrap();
    assert_eq!(store.reservations(&[id]).await.unwrap()[&id], Reservation { revision: 1, ..rejected });
}

async fn concurrent_takes_of_one_share_never_pass_its_limit(store: Arc<dyn InventoryStore>) {
    let mine = share("angler-4", "muskie-casting-rod");
    let changes = (0..16).map(|i| {
        let mut change = Change::new();
        change.share(&mine, ShareDelta::take(1, 2));
        change.record(None, record(100 + i, ReservationState::Reserved, &[]));
        change
    });
    assert_eq!(commit_at_once(&store, changes.collect()).await, 2);
    assert_eq!(held(&*store, &mine).await, Some(2));
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
    shares_are_taken_within_their_limit_and_given_back,
    a_take_over_the_limit_itself_is_refused_even_from_nothing,
    a_record_keeps_its_customer_limits_and_the_lines_over_them,
    concurrent_takes_of_one_share_never_pass_its_limit,
);
