//! The reservation engine: every write the saga makes to the stock and the
//! reservation records, and how it retries them.
//!
//! - [`Engine::reserve_new`]: the orders a batch sees for the first time,
//!   coalesced per SKU ([`ReservationStrategy::Coalesced`], see
//!   [`crate::plan`]) or one transaction each ([`ReservationStrategy::PerOrder`]).
//! - [`Engine::reserve_one`]: one order, in as many transactions as its
//!   size needs, rejected (releasing what it holds) when a line is short.
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
use domain::{OrderId, Sku};
use futures_util::future::join_all;
use inventory_store::store::{
    Change, CommitError, InventoryStore, Reservation, ReservationState, StockDelta, StockLine, MAX_CHANGE_ITEMS,
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

/// What one step of one order writes: stock changes and the order's next
/// record, together.
pub struct Write {
    pub stock: Vec<(Sku, StockDelta)>,
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
}

impl Engine {
    pub fn new(store: Arc<dyn InventoryStore>) -> Self {
        Engine { store }
    }

    /// Reserves (or rejects) the orders a batch sees for the first time.
    pub async fn reserve_new(&self, orders: Vec<NewOrder>, strategy: ReservationStrategy) -> HashMap<OrderId, Outcome> {
        let mut results = HashMap::new();
        match strategy {
            ReservationStrategy::PerOrder => {
                for order in orders {
                    let result = self.reserve_one(order.order_id, order.lines, None).await;
                    results.insert(order.order_id, result);
                }
            }
            ReservationStrategy::Coalesced => {
                let (small, big): (Vec<_>, Vec<_>) = orders.into_iter().partition(NewOrder::fits_one_change);
                let big = join_all(big.into_iter().map(|order| async move {
                    (order.order_id, self.reserve_one(order.order_id, order.lines, None).await)
                }));
                let (big, small) = futures_util::future::join(big, self.reserve_together(small)).await;
                results.extend(big);
                results.extend(small);
            }
        }
        results
    }

    /// Reserves `orders` (each fitting one transaction) with as few writes
    /// per SKU as the transaction limit allows. When a commit is refused
    /// because a concurrent writer moved the stock or a record, the rest is
    /// read and decided again.
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
            let skus: Vec<Sku> = pending
                .iter()
                .flat_map(|o| o.lines.iter().map(|l| l.sku.clone()))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let stock = match self.store.stock(&skus).await {
                Ok(stock) => stock,
                Err(e) => {
                    results.extend(pending.drain(..).map(|o| (o.order_id, Err(SagaError::Store(e.clone())))));
                    break;
                }
            };
            let decisions = plan::decide(&pending, &stock);
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
                    Err(CommitError::Refused { short, stale }) => {
                        tracing::debug!(?short, ?stale, "coalesced reservation refused; deciding again");
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
    /// 100 lines: the record takes an item too), continuing from what its
    /// record already holds. If a line is short, whatever it holds is
    /// released and it is rejected, in one transaction.
    pub async fn reserve_one(
        &self,
        order_id: OrderId,
        lines: Vec<StockLine>,
        mut current: Option<Reservation>,
    ) -> Outcome {
        for attempt in 1..=MAX_ATTEMPTS {
            let reserve = self
                .transition(order_id, current, |record| {
                    let (lines, from) = match record {
                        None => (lines.clone(), 0),
                        // A record's `held` beyond its lines (a hand-edited item)
                        // is bounded like the store's `held_lines`, never a panic.
                        Some(r) if r.state == ReservationState::Reserving => {
                            (r.lines.clone(), r.held.min(r.lines.len()))
                        }
                        Some(_) => return None,
                    };
                    let to = lines.len().min(from + MAX_CHANGE_ITEMS - 1);
                    let stock = lines[from..to].iter().map(|l| (l.sku.clone(), StockDelta::reserve(l.quantity.into())));
                    let state =
                        if to == lines.len() { ReservationState::Reserved } else { ReservationState::Reserving };
                    let stock = stock.collect();
                    let record = Reservation { order_id, state, lines, held: to, unavailable: vec![], revision: 0 };
                    Some(Write { stock, record })
                })
                .await?;
            current = match reserve {
                Transition::Written(r) if r.state == ReservationState::Reserving => Some(r),
                Transition::Written(r) => {
                    tracing::info!(%order_id, state = r.state.as_str(), "reservation decided");
                    return Ok(Some(r));
                }
                Transition::Unchanged(r) => return Ok(r),
                Transition::Short(r) => match self.reject(order_id, &lines, r).await? {
                    Transition::Written(r) => {
                        tracing::info!(%order_id, state = r.state.as_str(), "reservation decided");
                        return Ok(Some(r));
                    }
                    Transition::Unchanged(r) => {
                        // The stock came back in the meantime: try to reserve again.
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

    /// Rejects an order that a line is short for, releasing what it holds.
    /// `Unchanged` when, read again, every line is covered after all.
    async fn reject(
        &self,
        order_id: OrderId,
        lines: &[StockLine],
        current: Option<Reservation>,
    ) -> Result<Transition, SagaError> {
        let lines = current.as_ref().map_or(lines, |r| r.lines.as_slice()).to_vec();
        let held = current.as_ref().map_or(0, |r| r.held).min(lines.len());
        let wanted: Vec<NewOrder> = vec![NewOrder { order_id, lines: lines[held..].to_vec() }];
        let skus: Vec<Sku> = wanted[0].lines.iter().map(|l| l.sku.clone()).collect();
        let stock = self.store.stock(&skus).await?;
        let unavailable = match plan::decide(&wanted, &stock).pop() {
            Some(plan::Decision::Reject(unavailable)) => unavailable,
            _ => return Ok(Transition::Unchanged(current)),
        };
        self.transition(order_id, current, |record| {
            if record.is_some_and(|r| r.state != ReservationState::Reserving) {
                return None;
            }
            let held = record.map_or(&[][..], Reservation::held_lines);
            let stock = held.iter().map(|l| (l.sku.clone(), StockDelta::release(l.quantity.into()))).collect();
            let record = Reservation {
                order_id,
                state: ReservationState::Rejected,
                lines: lines.clone(),
                held: 0,
                unavailable: unavailable.clone(),
                revision: 0,
            };
            Some(Write { stock, record })
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
            let Some(Write { stock, record }) = step(current.as_ref()) else {
                return Ok(Transition::Unchanged(current));
            };
            let expected = current.as_ref().map(|r| r.revision);
            let mut change = Change::new();
            for (sku, delta) in &stock {
                change.stock(sku, *delta);
            }
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
