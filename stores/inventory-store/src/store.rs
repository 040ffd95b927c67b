//! The port: what the saga needs from a stock store. One primitive does all
//! the writing, [`InventoryStore::commit`]: several stock counters and
//! reservation records changed together, all or nothing, each under its own
//! condition. DynamoDB does that with `TransactWriteItems`; the memory
//! adapter with one lock. The saga's logic (coalescing, chunking, fallback)
//! lives above the port, so both adapters run exactly the same logic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_error::AwsError;
use domain::event::UnavailableLine;
use domain::{OrderId, Sku};
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

/// The per-order record, written in the same transaction as the stock it
/// accounts for.
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
    /// Bumped by every write; a write names the revision it replaces.
    pub revision: u32,
}

impl Reservation {
    pub fn held_lines(&self) -> &[StockLine] {
        &self.lines[..self.held.min(self.lines.len())]
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
/// (deltas to the same SKU are merged) and one write per order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Change {
    stock: BTreeMap<Sku, StockDelta>,
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

    pub fn record_writes(&self) -> impl Iterator<Item = &RecordWrite> {
        self.records.values()
    }

    /// The items this change writes, as a transaction counts them.
    pub fn items(&self) -> usize {
        self.stock_changes().count() + self.records.len()
    }

    /// How many items the change would have with `lines` added (as stock
    /// changes) and one more record.
    pub fn items_with(&self, lines: &[StockLine]) -> usize {
        let new_skus = lines.iter().filter(|l| !self.stock.contains_key(&l.sku)).count();
        self.stock.len() + new_skus + self.records.len() + 1
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
    /// the expected revision (or exists when it must not).
    #[error("change refused: short of {short:?}, stale records {stale:?}")]
    Refused { short: Vec<Sku>, stale: Vec<OrderId> },
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

    /// Applies `change` all or nothing.
    async fn commit(&self, change: &Change) -> Result<(), CommitError>;
}
