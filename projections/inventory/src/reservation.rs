//! The reservation engine: every write the saga makes to the stock, the
//! customers' shares and the reservation records, and how it retries them.
//!
//! - [`Engine::reserve_new`]: the orders a batch sees for the first time,
//!   with their SKUs' purchase limits ([`Engine::with_limits`]), coalesced
//!   per SKU ([`ReservationStrategy::Coalesced`], see [`crate::plan`]) or
//!   one transaction each ([`ReservationStrategy::PerOrder`]).
//! - [`Engine::reserve_one`]: one order, in as many transactions as its
//!   size needs, rejected (releasing what it holds) when a line is short or
//!   over its customer's limit.
//! - [`Engine::transition`]: one order's record moved by a [`Write`] decided
//!   from its current record, decided again whenever another writer moved
//!   the record first.
//!
//! Three loops retry, each at most [`MAX_ATTEMPTS`] times with the shared
//! backoff ([`commands::backoff`]): the coalesced reservation (read and
//! decide again after a refused commit), the per-order reservation (stock
//! that came back while rejecting), and a transition (a record moved by
//! another writer, or [`CommitError::Contended`]: a transaction cancelled
//! because another one held an item, which the SDK does not retry).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use commands::backoff;
use domain::{Catalog, CatalogError, OrderId, Sku};
use futures_util::future::join_all;
use inventory_store::store::{
    Change, CommitError, InventoryError, InventoryStore, Reservation, ReservationState, ShareDelta, ShareKey,
    StockDelta,
};

use crate::error::SagaError;
use crate::plan::{self, NewOrder};

/// Attempts at a write that keeps meeting a concurrent writer.
pub const MAX_ATTEMPTS: u32 = 30;
const BASE_PAUSE: Duration = Duration::from_millis(5);

/// How the orders a batch sees for the first time are reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReservationStrategy {
    /// One conditional update per SKU for all the batch's orders of that
    /// SKU; orders that stock no longer covers are rejected from a
    /// strongly consistent read, without writing to the SKU at all.
    #[default]
    Coalesced,
    /// One transaction per order, in delivery order: the simple way, kept
    /// as the benchmark's baseline.
    PerOrder,
}

/// The record an order ends a step with (`None`: it has none), or why the
/// step failed.
pub type Outcome = Result<Option<Reservation>, SagaError>;

/// What one step of one order writes: stock and share changes (`change`,
/// without the record) and the order's next record, together.
pub struct Write {
    pub change: Change,
    pub record: Reservation,
}

/// Where the write of one order stands after [`Engine::transition`].
pub enum Transition {
    Written(Reservation),
    Unchanged(Option<Reservation>),
    /// A stock counter would have gone below zero; nothing was written.
    Short(Option<Reservation>),
}

#[derive(Clone)]
pub struct Engine {
    store: Arc<dyn InventoryStore>,
    catalog: Arc<dyn Catalog>,
}

impl Engine {
    /// The purchase limits come from `catalog` (the catalog store, through
    /// an instance's cache in the Lambda), read when an order is first
    /// reserved. Not from OrderPlaced: the limit is the merchandiser's
    /// rule of the moment, so a limit set during a sale holds for every
    /// order not yet reserved, and the event keeps DESIGN.md's fields.
    pub fn new(store: Arc<dyn InventoryStore>, catalog: Arc<dyn Catalog>) -> Self {
        Engine { store, catalog }
    }

    /// `orders` with the purchase limits of their SKUs, from the catalog as
    /// it is now (one read for all of them).
    pub async fn with_limits(&self, mut orders: Vec<NewOrder>) -> Result<Vec<NewOrder>, Arc<CatalogError>> {
        let skus = skus_of(&orders);
        if skus.is_empty() {
            return Ok(orders);
        }
        let items = self.catalog.items(&skus).await.map_err(Arc::new)?;
        for order in &mut orders {
            order.limits = order
                .lines
                .iter()
                .filter_map(|l| items.get(&l.sku)?.max_per_customer.map(|max| (l.sku.clone(), max)))
                .collect();
        }
        Ok(orders)
    }

    /// What `shares` hold; no request when there are none.
    async fn shares(&self, shares: Vec<ShareKey>) -> Result<HashMap<ShareKey, u64>, InventoryError> {
        if shares.is_empty() {
            return Ok(HashMap::new());
        }
        self.store.shares(&shares).await
    }

    /// Reserves (or rejects) the orders a batch sees for the first time.
    pub async fn reserve_new(&self, orders: Vec<NewOrder>, strategy: ReservationStrategy) -> HashMap<OrderId, Outcome> {
        let ids: Vec<OrderId> = orders.iter().map(|o| o.order_id).collect();
        let orders = match self.with_limits(orders).await {
            Ok(orders) => orders,
            Err(e) => return ids.into_iter().map(|id| (id, Err(SagaError::Catalog(e.clone())))).collect(),
        };
        let mut results = HashMap::new();
        match strategy {
            ReservationStrategy::PerOrder => {
                for order in orders {
                    let order_id = order.order_id;
                    results.insert(order_id, self.reserve_one(order, None).await);
                }
            }
            ReservationStrategy::Coalesced => {
                let (small, big): (Vec<_>, Vec<_>) = orders.into_iter().partition(NewOrder::fits_one_change);
                let big = join_all(
                    big.into_iter().map(|order| async move { (order.order_id, self.reserve_one(order, None).await) }),
                );
                let (big, small) = futures_util::future::join(big, self.reserve_together(small)).await;
                results.extend(big);
                results.extend(small);
            }
        }
        results
    }

    /// Reserves `orders` (each fitting one transaction) with as few writes
    /// per SKU as the transaction limit allows. When a commit is refused
    /// because a concurrent writer moved the stock, a share or a record,
    /// the rest is read and decided again.
    async fn reserve_together(&self, orders: Vec<NewOrder>) -> HashMap<OrderId, Outcome> {
        let mut results = HashMap::new();
        let mut pending = orders;
        let mut attempt = 0;
        while !pending.is_empty() {
            if attempt == MAX_ATTEMPTS {
                results.extend(pending.drain(..).map(|o| (o.order_id, Err(SagaError::Contended))));
                break;
            }
            attempt += 1;
            let skus = skus_of(&pending);
            let shares: Vec<ShareKey> =
                pending.iter().flat_map(NewOrder::shares).collect::<HashSet<_>>().into_iter().collect();
            let (stock, shares) =
                match futures_util::future::try_join(self.store.stock(&skus), self.shares(shares)).await {
                    Ok(read) => read,
                    Err(e) => {
                        results.extend(pending.drain(..).map(|o| (o.order_id, Err(SagaError::Store(e.clone())))));
                        break;
                    }
                };
            let decisions = plan::decide(&pending, &stock, &shares);
            let mut settled: HashSet<OrderId> = HashSet::new();
            let mut pause = false;
            for chunk in plan::pack(&pending, &decisions) {
                match self.store.commit(&chunk.change).await {
                    Ok(()) => {
                        for record in chunk.records {
                            tracing::info!(order_id = %record.order_id, state = record.state.as_str(), "reservation decided");
                            settled.insert(record.order_id);
                            results.insert(record.order_id, Ok(Some(record)));
                        }
                    }
                    Err(CommitError::Refused { short, stale, over }) => {
                        tracing::debug!(?short, ?stale, ?over, "coalesced reservation refused; deciding again");
                        // Another consumer got to these orders first (a duplicate delivery).
                        match self.store.reservations(&stale).await {
                            Ok(existing) => {
                                for (order_id, record) in existing {
                                    settled.insert(order_id);
                                    results.insert(order_id, Ok(Some(record)));
                                }
                            }
                            Err(e) => {
                                for order_id in stale {
                                    settled.insert(order_id);
                                    results.insert(order_id, Err(SagaError::Store(e.clone())));
                                }
                            }
                        }
                        break;
                    }
                    Err(CommitError::Contended) => {
                        pause = true;
                        break;
                    }
                    Err(e) => {
                        for order in &pending {
                            if settled.insert(order.order_id) {
                                results.insert(order.order_id, Err(SagaError::Commit(e.clone())));
                            }
                        }
                        break;
                    }
                }
            }
            pending.retain(|o| !settled.contains(&o.order_id));
            if pause {
                backoff::pause(BASE_PAUSE, attempt).await;
            }
        }
        results
    }

    /// Reserves one order in as many transactions as its size needs (two for
    /// 100 lines: the record takes an item too, and each line of a limited
    /// SKU its share), continuing from what its record already holds: a
    /// `Reserving` record's own lines, customer and limits, else what
    /// `order` asks. If a line is short or over its limit, whatever it holds
    /// is released and it is rejected, in one transaction.
    pub async fn reserve_one(&self, order: NewOrder, mut current: Option<Reservation>) -> Outcome {
        let order_id = order.order_id;
        for attempt in 1..=MAX_ATTEMPTS {
            let reserve = self
                .transition(order_id, current, |record| {
                    let (asked, from) = match record {
                        None => (order.clone(), 0),
                        // A record's `held` beyond its lines (a hand-edited item)
                        // is bounded like the store's `held_lines`, never a panic.
                        Some(r) if r.state == ReservationState::Reserving => {
                            (asked_by(&order, r), r.held.min(r.lines.len()))
                        }
                        Some(_) => return None,
                    };
                    let to = asked.step_end(from);
                    let state =
                        if to == asked.lines.len() { ReservationState::Reserved } else { ReservationState::Reserving };
                    Some(Write { change: asked.holding(from, to), record: asked.record(state, to) })
                })
                .await?;
            current = match reserve {
                Transition::Written(r) if r.state == ReservationState::Reserving => Some(r),
                Transition::Written(r) => {
                    tracing::info!(%order_id, state = r.state.as_str(), "reservation decided");
                    return Ok(Some(r));
                }
                Transition::Unchanged(r) => return Ok(r),
                Transition::Short(r) => match self.reject(&order, r).await? {
                    Transition::Written(r) => {
                        tracing::info!(%order_id, state = r.state.as_str(), "reservation decided");
                        return Ok(Some(r));
                    }
                    Transition::Unchanged(r) => {
                        // The stock (or the share) came back in the meantime: try to reserve again.
                        backoff::pause(BASE_PAUSE, attempt).await;
                        r
                    }
                    Transition::Short(r) => {
                        return Err(SagaError::Inconsistent(format!(
                            "cannot release what order {order_id} holds: {:?}",
                            r.map(|r| r.held)
                        )))
                    }
                },
            };
        }
        Err(SagaError::Contended)
    }

    /// Rejects an order that a line is short for, or over its limit for,
    /// releasing what it holds. `Unchanged` when, read again, every line is
    /// covered after all.
    async fn reject(&self, order: &NewOrder, current: Option<Reservation>) -> Result<Transition, SagaError> {
        let asked = current.as_ref().map_or_else(|| order.clone(), |r| asked_by(order, r));
        let held = current.as_ref().map_or(0, |r| r.held).min(asked.lines.len());
        let rest = NewOrder { lines: asked.lines[held..].to_vec(), ..asked.clone() };
        let skus: Vec<Sku> = rest.lines.iter().map(|l| l.sku.clone()).collect();
        let (stock, shares) =
            futures_util::future::try_join(self.store.stock(&skus), self.shares(rest.shares().collect())).await?;
        let rejected = match plan::decide(std::slice::from_ref(&rest), &stock, &shares).pop() {
            Some(plan::Decision::Reject(unavailable)) => {
                Reservation { unavailable, ..asked.record(ReservationState::Rejected, 0) }
            }
            Some(plan::Decision::OverLimit(exceeded)) => {
                Reservation { exceeded, ..asked.record(ReservationState::Rejected, 0) }
            }
            _ => return Ok(Transition::Unchanged(current)),
        };
        self.transition(order.order_id, current, |record| {
            if record.is_some_and(|r| r.state != ReservationState::Reserving) {
                return None;
            }
            Some(Write { change: record.map_or_else(Change::new, release), record: rejected.clone() })
        })
        .await
    }

    /// Writes what `step` decides from the current record, deciding again
    /// from a fresh read whenever another writer moved the record first.
    /// `step` answers `None` when the record is already where it should be.
    pub async fn transition<F>(
        &self,
        order_id: OrderId,
        mut current: Option<Reservation>,
        step: F,
    ) -> Result<Transition, SagaError>
    where
        F: Fn(Option<&Reservation>) -> Option<Write>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let Some(Write { mut change, record }) = step(current.as_ref()) else {
                return Ok(Transition::Unchanged(current));
            };
            let expected = current.as_ref().map(|r| r.revision);
            change.record(expected, record.clone());
            match self.store.commit(&change).await {
                Ok(()) => {
                    let revision = expected.map_or(1, |r| r + 1);
                    return Ok(Transition::Written(Reservation { revision, ..record }));
                }
                Err(CommitError::Refused { stale, .. }) if !stale.is_empty() => {
                    current = self.store.reservations(&[order_id]).await?.remove(&order_id);
                }
                Err(CommitError::Refused { .. }) => return Ok(Transition::Short(current)),
                Err(CommitError::Contended) => backoff::pause(BASE_PAUSE, attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SagaError::Contended)
    }
}

/// Every SKU `orders` name, once.
fn skus_of(orders: &[NewOrder]) -> Vec<Sku> {
    let skus: HashSet<&Sku> = orders.iter().flat_map(|o| o.lines.iter().map(|l| &l.sku)).collect();
    skus.into_iter().cloned().collect()
}

/// The order a `Reserving` record goes on with: its own lines, customer
/// and limits, as decided at its first step (a record written before
/// limits has none, and counts in no share).
fn asked_by(order: &NewOrder, record: &Reservation) -> NewOrder {
    NewOrder {
        order_id: record.order_id,
        customer_id: record.customer_id.clone().unwrap_or_else(|| order.customer_id.clone()),
        lines: record.lines.clone(),
        limits: record.limits.clone(),
    }
}

/// What releasing `record`'s held lines writes: their stock back to
/// `available`, and what they count in the customer's shares given back.
pub fn release(record: &Reservation) -> Change {
    let mut change = Change::new();
    for line in record.held_lines() {
        change.stock(&line.sku, StockDelta::release(line.quantity.into()));
    }
    for (share, quantity) in record.held_shares() {
        change.share(&share, ShareDelta::give_back(quantity.into()));
    }
    change
}
