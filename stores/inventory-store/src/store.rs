//! The port: what the saga needs from a stock store. One primitive does all
//! the writing, [`InventoryStore::commit`]: several stock counters,
//! customers' shares and reservation records changed together, all or
//! nothing, each under its own condition. DynamoDB does that with
//! `TransactWriteItems`; the memory adapter with one lock. The saga's logic
//! (coalescing, chunking, fallback) lives above the port, so both adapters
//! run exactly the same logic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_error::AwsError;
use domain::event::{OverLimitLine, UnavailableLine};
use domain::{CustomerId, OrderId, Sku};
use serde::{Deserialize, Serialize};

/// DynamoDB's limit on the items of one transaction; both adapters refuse
/// bigger changes so the saga is held to it everywhere.
pub const MAX_CHANGE_ITEMS: usize = 100;

/// The stock of one SKU. `available + reserved + shipped` only changes when
/// the merchandiser sets `available`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    pub sku: Sku,
    /// Can be reserved by new orders.
    pub available: u64,
    /// Held for confirmed (or being confirmed) orders.
    pub reserved: u64,
    /// Left the warehouse with shipped orders.
    pub shipped: u64,
}

/// A quantity of one SKU, as an order asks for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLine {
    pub sku: Sku,
    pub quantity: u32,
}

/// Where an order stands with inventory. It makes every event apply at most
/// once, in any order: a state only moves forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReservationState {
    /// Some lines held: an order too big for one transaction is reserved in
    /// steps, and this is the state between them.
    Reserving,
    /// Every line held; the order is to be confirmed.
    Reserved,
    /// Not enough stock; nothing held; the order is to be rejected.
    Rejected,
    /// Cancelled after reserving: the stock went back to `available`.
    Released,
    /// Cancelled before inventory saw the order: a late OrderPlaced reserves nothing.
    Cancelled,
    /// The held stock moved from `reserved` to `shipped`.
    Shipped,
}

impl ReservationState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationState::Reserving => "reserving",
            ReservationState::Reserved => "reserved",
            ReservationState::Rejected => "rejected",
            ReservationState::Released => "released",
            ReservationState::Cancelled => "cancelled",
            ReservationState::Shipped => "shipped",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            ReservationState::Reserving,
            ReservationState::Reserved,
            ReservationState::Rejected,
            ReservationState::Released,
            ReservationState::Cancelled,
            ReservationState::Shipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// The per-order record, written in the same transaction as the stock and
/// the customer's shares it accounts for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub order_id: OrderId,
    pub state: ReservationState,
    /// The order's lines (empty for a record written before OrderPlaced was seen).
    pub lines: Vec<StockLine>,
    /// How many of `lines`, from the first, are held in `reserved` now.
    pub held: usize,
    /// Why the order was rejected, kept to re-issue the same RejectOrder.
    pub unavailable: Vec<UnavailableLine>,
    /// Whose shares the held lines of a limited SKU count in (none for a
    /// record written before OrderPlaced was seen).
    pub customer_id: Option<CustomerId>,
    /// The purchase limits of the order's SKUs that had one when it was
    /// first reserved: each held line of these SKUs counts in the
    /// customer's share, decided once for the order's every step.
    pub limits: BTreeMap<Sku, u32>,
    /// The lines over their limit, when that is why the order was
    /// rejected; kept to re-issue the same RejectOrder.
    pub exceeded: Vec<OverLimitLine>,
    /// Bumped by every write; a write names the revision it replaces.
    pub revision: u32,
}

impl Reservation {
    pub fn held_lines(&self) -> &[StockLine] {
        &self.lines[..self.held.min(self.lines.len())]
    }

    /// What the held lines count in the customer's shares: the share and
    /// the quantity of each held line of a limited SKU.
    pub fn held_shares(&self) -> Vec<(ShareKey, u32)> {
        let Some(customer_id) = &self.customer_id else { return vec![] };
        self.held_lines()
            .iter()
            .filter(|line| self.limits.contains_key(&line.sku))
            .map(|line| (ShareKey { customer_id: customer_id.clone(), sku: line.sku.clone() }, line.quantity))
            .collect()
    }
}

/// One customer's share of one SKU with a purchase limit: what it holds of
/// it over its orders that are neither cancelled nor rejected.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareKey {
    pub customer_id: CustomerId,
    pub sku: Sku,
}

/// A change to one share. Taking is conditioned on the share staying
/// within `max` (the SKU's limit); giving back on the share covering it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareDelta {
    pub quantity: i64,
    /// The limit a positive `quantity` must keep the share within.
    pub max: Option<u32>,
}

impl ShareDelta {
    pub fn take(quantity: u64, max: u32) -> Self {
        ShareDelta { quantity: quantity as i64, max: Some(max) }
    }

    pub fn give_back(quantity: u64) -> Self {
        ShareDelta { quantity: -(quantity as i64), max: None }
    }

    /// Two orders' takes of one share merge into one take within the
    /// smaller limit.
    fn add(&mut self, other: ShareDelta) {
        self.quantity += other.quantity;
        self.max = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// A take bigger than the limit itself, which no share can allow.
    pub fn exceeds_its_limit(&self) -> bool {
        self.max.is_some_and(|max| self.quantity > i64::from(max))
    }
}

/// Signed changes to one SKU's counters. The store refuses the whole change
/// if any counter would go below zero, so stock never goes negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StockDelta {
    pub available: i64,
    pub reserved: i64,
    pub shipped: i64,
}

impl StockDelta {
    pub fn reserve(quantity: u64) -> Self {
        StockDelta { available: -(quantity as i64), reserved: quantity as i64, shipped: 0 }
    }

    pub fn release(quantity: u64) -> Self {
        StockDelta { available: quantity as i64, reserved: -(quantity as i64), shipped: 0 }
    }

    pub fn ship(quantity: u64) -> Self {
        StockDelta { available: 0, reserved: -(quantity as i64), shipped: quantity as i64 }
    }

    fn add(&mut self, other: StockDelta) {
        self.available += other.available;
        self.reserved += other.reserved;
        self.shipped += other.shipped;
    }

    pub fn is_zero(&self) -> bool {
        *self == StockDelta::default()
    }
}

/// A reservation record to write, replacing `expected_revision` (`None`:
/// the record must not exist yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordWrite {
    pub expected_revision: Option<u32>,
    pub record: Reservation,
}

/// What one [`InventoryStore::commit`] writes: at most one change per SKU
/// and per share (deltas to the same item are merged) and one write per
/// order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    stock: BTreeMap<Sku, StockDelta>,
    shares: BTreeMap<ShareKey, ShareDelta>,
    records: BTreeMap<OrderId, RecordWrite>,
}

impl Change {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `delta` to whatever this change already does to `sku`.
    pub fn stock(&mut self, sku: &Sku, delta: StockDelta) -> &mut Self {
        self.stock.entry(sku.clone()).or_default().add(delta);
        self
    }

    /// Adds `delta` to whatever this change already does to `share`.
    pub fn share(&mut self, share: &ShareKey, delta: ShareDelta) -> &mut Self {
        self.shares.entry(share.clone()).and_modify(|d| d.add(delta)).or_insert(delta);
        self
    }

    /// Writes `record` as the next revision after `expected_revision`.
    pub fn record(&mut self, expected_revision: Option<u32>, mut record: Reservation) -> &mut Self {
        record.revision = expected_revision.map_or(1, |r| r + 1);
        self.records.insert(record.order_id, RecordWrite { expected_revision, record });
        self
    }

    /// Stock changes that change something, by SKU.
    pub fn stock_changes(&self) -> impl Iterator<Item = (&Sku, &StockDelta)> {
        self.stock.iter().filter(|(_, d)| !d.is_zero())
    }

    /// Share changes that change something, by share.
    pub fn share_changes(&self) -> impl Iterator<Item = (&ShareKey, &ShareDelta)> {
        self.shares.iter().filter(|(_, d)| d.quantity != 0)
    }

    pub fn record_writes(&self) -> impl Iterator<Item = &RecordWrite> {
        self.records.values()
    }

    /// The items this change writes, as a transaction counts them.
    pub fn items(&self) -> usize {
        self.stock_changes().count() + self.share_changes().count() + self.records.len()
    }

    /// How many items the change would have with `other` merged in (an
    /// item both write counts once).
    pub fn items_with(&self, other: &Change) -> usize {
        let new_stock = other.stock.keys().filter(|sku| !self.stock.contains_key(*sku)).count();
        let new_shares = other.shares.keys().filter(|share| !self.shares.contains_key(*share)).count();
        let new_records = other.records.keys().filter(|id| !self.records.contains_key(*id)).count();
        self.stock.len() + self.shares.len() + self.records.len() + new_stock + new_shares + new_records
    }

    /// Merges `other` into this change.
    pub fn merge(&mut self, other: Change) {
        for (sku, delta) in other.stock {
            self.stock(&sku, delta);
        }
        for (share, delta) in other.shares {
            self.share(&share, delta);
        }
        self.records.extend(other.records);
    }

    /// Shares this change would take more of than their limit allows even
    /// from nothing: refused by both adapters before anything is written.
    pub fn impossible_shares(&self) -> Vec<ShareKey> {
        self.share_changes().filter(|(_, d)| d.exceeds_its_limit()).map(|(share, _)| share.clone()).collect()
    }
}

/// `Clone` because the saga hands one failed read to every order that
/// waited on it; the AWS error is shared, not flattened, so its source
/// chain reaches the logs.
#[derive(Clone, Debug, thiserror::Error)]
pub enum InventoryError {
    /// The store did not answer; the SDK error is kept as the source.
    #[error("inventory store unavailable: {0}")]
    Unavailable(#[source] Arc<AwsError>),
    #[error("corrupt inventory item: {0}")]
    Corrupt(String),
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum CommitError {
    /// A condition failed; nothing was written. `short`: SKUs whose counters
    /// would have gone below zero; `stale`: orders whose record is not at
    /// the expected revision (or exists when it must not); `over`: shares
    /// that would have gone over their limit (or below zero).
    #[error("change refused: short of {short:?}, stale records {stale:?}, shares over their limit {over:?}")]
    Refused { short: Vec<Sku>, stale: Vec<OrderId>, over: Vec<ShareKey> },
    /// Another transaction held one of the items, or DynamoDB still
    /// throttled after the SDK's own retries: nothing was written; try
    /// again after a pause.
    #[error("change contended with another writer")]
    Contended,
    #[error("change of {0} items is over the limit of {MAX_CHANGE_ITEMS}")]
    TooLarge(usize),
    #[error(transparent)]
    Store(#[from] InventoryError),
}

#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// The stock of those `skus` that were ever set, read strongly consistently.
    async fn stock(&self, skus: &[Sku]) -> Result<HashMap<Sku, Stock>, InventoryError>;

    /// Sets the stock the merchandiser counted as available; `reserved` and
    /// `shipped` stay as they are.
    async fn set_available(&self, sku: &Sku, available: u64) -> Result<Stock, InventoryError>;

    /// The reservation records of those `orders` that have one, read
    /// strongly consistently.
    async fn reservations(&self, orders: &[OrderId]) -> Result<HashMap<OrderId, Reservation>, InventoryError>;

    /// What each of those `shares` that was ever taken holds, read strongly
    /// consistently (a share never taken holds nothing).
    async fn shares(&self, shares: &[ShareKey]) -> Result<HashMap<ShareKey, u64>, InventoryError>;

    /// Applies `change` all or nothing.
    async fn commit(&self, change: &Change) -> Result<(), CommitError>;
}
