use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::{OrderId, Sku};

use crate::store::{
    Change, CommitError, InventoryError, InventoryStore, Reservation, ShareDelta, ShareKey, Stock, StockDelta,
    MAX_CHANGE_ITEMS,
};

/// Stock in a process, for the local runner's embedded default and fast
/// tests. One lock makes every commit atomic, as a transaction would.
#[derive(Default)]
pub struct MemoryInventoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    stock: HashMap<Sku, Stock>,
    shares: HashMap<ShareKey, u64>,
    reservations: HashMap<OrderId, Reservation>,
}

impl MemoryInventoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn apply(value: u64, delta: i64) -> Option<u64> {
    value.checked_add_signed(delta)
}

fn changed(stock: &Stock, delta: &StockDelta) -> Option<Stock> {
    Some(Stock {
        sku: stock.sku.clone(),
        available: apply(stock.available, delta.available)?,
        reserved: apply(stock.reserved, delta.reserved)?,
        shipped: apply(stock.shipped, delta.shipped)?,
    })
}

/// The share after `delta`, if it stays within its limit and above zero.
fn shared(held: u64, delta: &ShareDelta) -> Option<u64> {
    let after = held.checked_add_signed(delta.quantity)?;
    match delta.max {
        Some(max) if delta.quantity > 0 && after > u64::from(max) => None,
        _ => Some(after),
    }
}

#[async_trait]
impl InventoryStore for MemoryInventoryStore {
    async fn stock(&self, skus: &[Sku]) -> Result<HashMap<Sku, Stock>, InventoryError> {
        let inner = self.inner.lock().expect("inventory lock");
        Ok(skus.iter().filter_map(|sku| inner.stock.get(sku).map(|s| (sku.clone(), s.clone()))).collect())
    }

    async fn set_available(&self, sku: &Sku, available: u64) -> Result<Stock, InventoryError> {
        let mut inner = self.inner.lock().expect("inventory lock");
        let stock = inner.stock.entry(sku.clone()).or_insert_with(|| Stock {
            sku: sku.clone(),
            available: 0,
            reserved: 0,
            shipped: 0,
        });
        stock.available = available;
        Ok(stock.clone())
    }

    async fn reservations(&self, orders: &[OrderId]) -> Result<HashMap<OrderId, Reservation>, InventoryError> {
        let inner = self.inner.lock().expect("inventory lock");
        Ok(orders.iter().filter_map(|id| inner.reservations.get(id).map(|r| (*id, r.clone()))).collect())
    }

    async fn shares(&self, shares: &[ShareKey]) -> Result<HashMap<ShareKey, u64>, InventoryError> {
        let inner = self.inner.lock().expect("inventory lock");
        Ok(shares.iter().filter_map(|key| inner.shares.get(key).map(|held| (key.clone(), *held))).collect())
    }

    async fn commit(&self, change: &Change) -> Result<(), CommitError> {
        if change.items() > MAX_CHANGE_ITEMS {
            return Err(CommitError::TooLarge(change.items()));
        }
        let mut inner = self.inner.lock().expect("inventory lock");
        let mut short = Vec::new();
        let mut new_stock = Vec::new();
        for (sku, delta) in change.stock_changes() {
            let current = inner.stock.get(sku).cloned().unwrap_or(Stock {
                sku: sku.clone(),
                available: 0,
                reserved: 0,
                shipped: 0,
            });
            match changed(&current, delta) {
                Some(stock) => new_stock.push(stock),
                None => short.push(sku.clone()),
            }
        }
        let mut over = Vec::new();
        let mut new_shares = Vec::new();
        for (share, delta) in change.share_changes() {
            match shared(inner.shares.get(share).copied().unwrap_or(0), delta) {
                Some(held) => new_shares.push((share.clone(), held)),
                None => over.push(share.clone()),
            }
        }
        let stale: Vec<OrderId> = change
            .record_writes()
            .filter(|w| inner.reservations.get(&w.record.order_id).map(|r| r.revision) != w.expected_revision)
            .map(|w| w.record.order_id)
            .collect();
        if !short.is_empty() || !stale.is_empty() || !over.is_empty() {
            return Err(CommitError::Refused { short, stale, over });
        }
        for stock in new_stock {
            inner.stock.insert(stock.sku.clone(), stock);
        }
        inner.shares.extend(new_shares);
        for write in change.record_writes() {
            inner.reservations.insert(write.record.order_id, write.record.clone());
        }
        Ok(())
    }
}
