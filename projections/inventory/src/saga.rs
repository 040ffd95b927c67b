//! The inventory consumer and the order saga.
//!
//! Per batch: group the deliveries by order (oldest version first, one step
//! per eventId however often it was delivered), read the orders'
//! reservation records, reserve the orders seen for the first time (all of
//! them at once, see [`crate::plan`]), then per order apply its events and
//! confirm or reject it through the event store. The record makes each
//! step happen at most once; re-issuing ConfirmOrder/RejectOrder is a no-op
//! once it landed, so a redelivery after a crash between the two just
//! finishes the job.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use inventory_store::store::{
    Change, CommitError, InventoryError, InventoryStore, Reservation, ReservationState, StockDelta, StockLine,
    MAX_CHANGE_ITEMS,
};
use order_commands::{backoff, CommandContext, CommandError, OrderService, RetryPolicy};
use order_domain::event::OrderPlaced;
use order_domain::{Command, DomainError, Envelope, OrderEvent, OrderId, OrderStatus, Sku};
use sqs_consumer::{Delivery, Projection};
use tracing::Instrument;

use crate::plan::{self, NewOrder};
use crate::SUBSCRIBED_EVENT_TYPES;

/// The reason RejectOrder gives; `unavailable` names the lines.
pub const REJECT_REASON: &str = "insufficient stock";

/// Attempts at a write that keeps meeting a concurrent writer.
const MAX_ATTEMPTS: u32 = 30;
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

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    #[error(transparent)]
    Store(#[from] InventoryError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("confirming or rejecting the order failed: {0}")]
    Command(#[from] CommandError),
    #[error("gave up after {MAX_ATTEMPTS} attempts contended by other writers")]
    Contended,
    #[error("stock is inconsistent with the reservation record: {0}")]
    Inconsistent(String),
}

pub struct InventoryProjection {
    store: Arc<dyn InventoryStore>,
    orders: OrderService,
    strategy: ReservationStrategy,
}

/// One event of one order, with every message that delivered it.
struct Step {
    envelope: Envelope,
    message_ids: Vec<String>,
}

struct OrderSteps {
    order_id: OrderId,
    steps: Vec<Step>,
}

impl OrderSteps {
    fn placed(&self) -> Option<&OrderPlaced> {
        self.steps.iter().find_map(|s| match &s.envelope.event {
            OrderEvent::Placed(placed) => Some(placed),
            _ => None,
        })
    }
}

/// Where the write of one order stands after [`InventoryProjection::transition`].
enum Transition {
    Written(Reservation),
    Unchanged(Option<Reservation>),
    /// A stock counter would have gone below zero; nothing was written.
    Short(Option<Reservation>),
}

impl InventoryProjection {
    pub fn new(store: Arc<dyn InventoryStore>, orders: OrderService) -> Self {
        InventoryProjection { store, orders, strategy: ReservationStrategy::default() }
    }

    pub fn with_strategy(mut self, strategy: ReservationStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Runs one group of orders: reserve the new ones, then each order's
    /// steps. Groups share no stock write, so they run side by side.
    async fn run_group(&self, orders: Vec<OrderSteps>, mut records: HashMap<OrderId, Reservation>) -> Vec<String> {
        let new: Vec<NewOrder> = orders
            .iter()
            .filter(|o| !records.contains_key(&o.order_id))
            .filter_map(|o| o.placed().map(|placed| NewOrder { order_id: o.order_id, lines: stock_lines(placed) }))
            .collect();
        let mut reserved = self.reserve_new(new).await;
        join_all(orders.into_iter().map(|order| {
            let record = records.remove(&order.order_id);
            let reservation = reserved.remove(&order.order_id);
            self.run_order(order, record, reservation)
        }))
        .await
        .into_iter()
        .flatten()
        .collect()
    }

    async fn reserve_new(&self, orders: Vec<NewOrder>) -> HashMap<OrderId, Result<Option<Reservation>, SagaError>> {
        let mut results = HashMap::new();
        match self.strategy {
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
    async fn reserve_together(
        &self,
        orders: Vec<NewOrder>,
    ) -> HashMap<OrderId, Result<Option<Reservation>, SagaError>> {
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
                pause_before(attempt).await;
            }
        }
        results
    }

    /// Reserves one order in as many transactions as its size needs (two for
    /// 100 lines: the record takes an item too), continuing from what its
    /// record already holds. If a line is short, whatever it holds is
    /// released and it is rejected, in one transaction.
    async fn reserve_one(
        &self,
        order_id: OrderId,
        lines: Vec<StockLine>,
        mut current: Option<Reservation>,
    ) -> Result<Option<Reservation>, SagaError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let reserve = self
                .transition(order_id, current, |record| {
                    let (lines, from) = match record {
                        None => (lines.clone(), 0),
                        Some(r) if r.state == ReservationState::Reserving => (r.lines.clone(), r.held),
                        Some(_) => return None,
                    };
                    let to = lines.len().min(from + MAX_CHANGE_ITEMS - 1);
                    let stock = lines[from..to].iter().map(|l| (l.sku.clone(), StockDelta::reserve(l.quantity.into())));
                    let state =
                        if to == lines.len() { ReservationState::Reserved } else { ReservationState::Reserving };
                    let stock = stock.collect();
                    Some((stock, Reservation { order_id, state, lines, held: to, unavailable: vec![], revision: 0 }))
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
                        pause_before(attempt).await;
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
        let held = current.as_ref().map_or(0, |r| r.held);
        let lines = current.as_ref().map_or(lines, |r| r.lines.as_slice()).to_vec();
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
            Some((stock, record))
        })
        .await
    }

    /// Writes what `step` decides from the current record, deciding again
    /// from a fresh read whenever another writer moved the record first.
    /// `step` answers `None` when the record is already where it should be.
    async fn transition<F>(
        &self,
        order_id: OrderId,
        mut current: Option<Reservation>,
        step: F,
    ) -> Result<Transition, SagaError>
    where
        F: Fn(Option<&Reservation>) -> Option<(Vec<(Sku, StockDelta)>, Reservation)>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            let Some((stock, record)) = step(current.as_ref()) else {
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
                Err(CommitError::Contended) => pause_before(attempt).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SagaError::Contended)
    }

    /// OrderPlaced for an order that already has a record: finish a
    /// reservation made in steps, or leave it as it is.
    async fn on_placed(
        &self,
        order_id: OrderId,
        placed: &OrderPlaced,
        record: Option<Reservation>,
    ) -> Result<Option<Reservation>, SagaError> {
        match record {
            Some(r) if r.state != ReservationState::Reserving => Ok(Some(r)),
            record => self.reserve_one(order_id, stock_lines(placed), record).await,
        }
    }

    /// OrderCancelled: give back what the order holds. Seen before its
    /// OrderPlaced, it leaves a `cancelled` record so the late OrderPlaced
    /// reserves nothing.
    async fn on_cancelled(
        &self,
        order_id: OrderId,
        record: Option<Reservation>,
    ) -> Result<Option<Reservation>, SagaError> {
        let released = self
            .transition(order_id, record, |record| match record {
                None => Some((vec![], tombstone(order_id, ReservationState::Cancelled))),
                Some(r) if matches!(r.state, ReservationState::Reserving | ReservationState::Reserved) => {
                    let stock = r.held_lines().iter().map(|l| (l.sku.clone(), StockDelta::release(l.quantity.into())));
                    Some((stock.collect(), Reservation { state: ReservationState::Released, held: 0, ..r.clone() }))
                }
                Some(_) => None,
            })
            .await?;
        moved_or_inconsistent(released, "release")
    }

    /// OrderShipped: the held stock leaves the warehouse.
    async fn on_shipped(
        &self,
        order_id: OrderId,
        record: Option<Reservation>,
    ) -> Result<Option<Reservation>, SagaError> {
        let shipped = self
            .transition(order_id, record, |record| match record {
                None => {
                    tracing::warn!(%order_id, "OrderShipped for an order inventory never reserved");
                    Some((vec![], tombstone(order_id, ReservationState::Shipped)))
                }
                Some(r) if matches!(r.state, ReservationState::Reserving | ReservationState::Reserved) => {
                    let stock = r.held_lines().iter().map(|l| (l.sku.clone(), StockDelta::ship(l.quantity.into())));
                    Some((stock.collect(), Reservation { state: ReservationState::Shipped, held: 0, ..r.clone() }))
                }
                Some(r) => {
                    if r.state != ReservationState::Shipped {
                        tracing::warn!(%order_id, state = r.state.as_str(), "OrderShipped for an order holding no stock");
                    }
                    None
                }
            })
            .await?;
        moved_or_inconsistent(shipped, "ship")
    }

    /// The saga's step: tell the order what inventory decided. Re-issued on
    /// every delivery of OrderPlaced; the order service makes a repeat a no-op.
    async fn settle(&self, placed: &Envelope, record: Option<Reservation>) -> Result<Option<Reservation>, SagaError> {
        let Some(record) = record else { return Ok(None) };
        let command = match record.state {
            ReservationState::Reserved => Command::Confirm,
            ReservationState::Rejected => {
                Command::Reject { reason: REJECT_REASON.to_owned(), unavailable: record.unavailable.clone() }
            }
            _ => return Ok(Some(record)),
        };
        let mut context = CommandContext::new(placed.correlation_id.clone());
        context.causation_id = placed.event_id.to_string();
        match self.orders.execute(record.order_id, &command, &context, RetryPolicy::INTERNAL).await {
            Ok(outcome) => {
                tracing::info!(
                    order_id = %record.order_id,
                    command = command.name(),
                    appended = outcome.appended.len(),
                    "order settled"
                );
                Ok(Some(record))
            }
            Err(CommandError::Domain(DomainError::NotAllowed { status, .. }))
                if record.state == ReservationState::Reserved
                    && matches!(status, OrderStatus::Cancelled | OrderStatus::Rejected) =>
            {
                // Cancelled before inventory could confirm it: give the stock
                // back now; the OrderCancelled still on its way finds it released.
                tracing::info!(order_id = %record.order_id, status = status.as_lowercase(), "order no longer wants its stock");
                self.on_cancelled(record.order_id, Some(record)).await
            }
            Err(CommandError::Domain(DomainError::NotAllowed { status, .. })) => {
                tracing::warn!(
                    order_id = %record.order_id,
                    command = command.name(),
                    status = status.as_lowercase(),
                    "order moved on before inventory settled it; nothing to do"
                );
                Ok(Some(record))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn run_order(
        &self,
        order: OrderSteps,
        mut record: Option<Reservation>,
        mut reserved: Option<Result<Option<Reservation>, SagaError>>,
    ) -> Vec<String> {
        let order_id = order.order_id;
        for (i, step) in order.steps.iter().enumerate() {
            let envelope = &step.envelope;
            let span = tracing::info_span!(
                "event",
                %order_id,
                event_id = %envelope.event_id,
                event_type = envelope.event_type().as_str(),
                correlation_id = %envelope.correlation_id,
            );
            let outcome = async {
                match &envelope.event {
                    OrderEvent::Placed(placed) => {
                        let reservation = match reserved.take() {
                            Some(result) => result?,
                            None => self.on_placed(order_id, placed, record.clone()).await?,
                        };
                        self.settle(envelope, reservation).await
                    }
                    OrderEvent::Cancelled(_) => self.on_cancelled(order_id, record.clone()).await,
                    OrderEvent::Shipped(_) => self.on_shipped(order_id, record.clone()).await,
                    OrderEvent::Confirmed(_) | OrderEvent::Rejected(_) => Ok(record.clone()),
                }
            }
            .instrument(span.clone())
            .await;
            match outcome {
                Ok(next) => record = next,
                Err(error) => {
                    span.in_scope(|| tracing::error!(%error, "inventory step failed; its messages will be retried"));
                    // Later events of this order wait for the redelivery too.
                    return order.steps[i..].iter().flat_map(|s| s.message_ids.clone()).collect();
                }
            }
        }
        Vec::new()
    }
}

#[async_trait]
impl Projection for InventoryProjection {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<String> {
        let orders = group_by_order(batch);
        let ids: Vec<OrderId> = orders.iter().map(|o| o.order_id).collect();
        let mut records = match self.store.reservations(&ids).await {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%error, "cannot read reservation records; the whole batch will be retried");
                return orders.into_iter().flat_map(|o| o.steps).flat_map(|s| s.message_ids).collect();
            }
        };
        let groups: Vec<Vec<OrderSteps>> = match self.strategy {
            // Orders for unrelated SKUs commit (and confirm) independently.
            ReservationStrategy::Coalesced => {
                let (new, seen): (Vec<_>, Vec<_>) =
                    orders.into_iter().partition(|o| o.placed().is_some() && !records.contains_key(&o.order_id));
                let plans = plan::independent_groups(
                    new.iter()
                        .map(|o| NewOrder {
                            order_id: o.order_id,
                            lines: stock_lines(o.placed().expect("partitioned")),
                        })
                        .collect(),
                );
                let mut new: HashMap<OrderId, OrderSteps> = new.into_iter().map(|o| (o.order_id, o)).collect();
                plans
                    .into_iter()
                    .map(|group| group.iter().filter_map(|o| new.remove(&o.order_id)).collect())
                    .chain(seen.into_iter().map(|o| vec![o]))
                    .collect()
            }
            ReservationStrategy::PerOrder => vec![orders],
        };
        join_all(groups.into_iter().map(|group| {
            let group_records =
                group.iter().filter_map(|o| records.remove(&o.order_id).map(|r| (o.order_id, r))).collect();
            self.run_group(group, group_records)
        }))
        .await
        .into_iter()
        .flatten()
        .collect()
    }
}

/// The batch by order, in order of first delivery; each order's events
/// oldest first, duplicates (same eventId) folded into one step. Events this
/// consumer is not subscribed to are acknowledged and ignored.
fn group_by_order(batch: Vec<Delivery>) -> Vec<OrderSteps> {
    let mut orders: Vec<OrderSteps> = Vec::new();
    let mut index: HashMap<OrderId, usize> = HashMap::new();
    for Delivery { message_id, envelope } in batch {
        if !SUBSCRIBED_EVENT_TYPES.contains(&envelope.event_type()) {
            tracing::debug!(%message_id, event_type = envelope.event_type().as_str(), "not an inventory event; ignored");
            continue;
        }
        let i = *index.entry(envelope.order_id).or_insert_with(|| {
            orders.push(OrderSteps { order_id: envelope.order_id, steps: Vec::new() });
            orders.len() - 1
        });
        let steps = &mut orders[i].steps;
        match steps.iter_mut().find(|s| s.envelope.event_id == envelope.event_id) {
            Some(step) => step.message_ids.push(message_id),
            None => steps.push(Step { envelope, message_ids: vec![message_id] }),
        }
    }
    for order in &mut orders {
        order.steps.sort_by_key(|s| s.envelope.version);
    }
    orders
}

fn stock_lines(placed: &OrderPlaced) -> Vec<StockLine> {
    placed.lines.iter().map(|l| StockLine { sku: l.sku.clone(), quantity: l.quantity }).collect()
}

fn tombstone(order_id: OrderId, state: ReservationState) -> Reservation {
    Reservation { order_id, state, lines: vec![], held: 0, unavailable: vec![], revision: 0 }
}

/// Releasing or shipping only ever adds to `available`/`shipped` and takes
/// from `reserved` what the record says it holds: refused, the two disagree.
fn moved_or_inconsistent(transition: Transition, what: &str) -> Result<Option<Reservation>, SagaError> {
    match transition {
        Transition::Written(r) => Ok(Some(r)),
        Transition::Unchanged(r) => Ok(r),
        Transition::Short(r) => Err(SagaError::Inconsistent(format!(
            "cannot {what} order {:?}: reserved stock is less than it holds",
            r.map(|r| r.order_id)
        ))),
    }
}

/// The shared backoff: exponential with full jitter, capped at 64 × the base.
async fn pause_before(attempt: u32) {
    backoff::pause(BASE_PAUSE, attempt).await;
}
