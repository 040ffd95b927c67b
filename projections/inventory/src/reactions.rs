//! The saga's reactions, one per event of one order, each taking the
//! order's current record and answering the next ([`Outcome`]):
//!
//! - OrderPlaced: reserve (usually done already for the whole batch by
//!   [`Engine::reserve_new`]; [`Reactions::on_placed`] finishes a reservation
//!   made in steps), then [`Reactions::settle`]: confirm or reject the order
//!   through the event store.
//! - OrderCancelled: give back what the order holds, or leave a `cancelled`
//!   record so that a late OrderPlaced reserves nothing.
//! - OrderShipped: the held stock moves from `reserved` to `shipped`.
//!
//! The record makes each reaction happen at most once; re-issuing
//! ConfirmOrder/RejectOrder is a no-op once it landed, so a redelivery after
//! a crash between reserving and settling just finishes the job.

use std::collections::BTreeMap;

use commands::{CommandContext, CommandError, Known, OrderService, RetryPolicy};
use domain::event::{OrderPlaced, Shortage};
use domain::limit::LIMIT_EXCEEDED;
use domain::{Command, DomainError, Envelope, Lane, OrderId, OrderStatus, Reason};
use inventory_store::store::{Change, Reservation, ReservationState, StockDelta};

use crate::error::SagaError;
use crate::intake::from_placed;
use crate::reservation::{release, Engine, Outcome, Transition, Write};

/// The reason RejectOrder gives when stock is short; its `shortages` of
/// kind `stock` name the lines. Over a purchase limit it is
/// [`LIMIT_EXCEEDED`], and the shortages of kind `limit` name them.
pub const REJECT_REASON: &str = "insufficient stock";

/// The RejectOrder of a rejected record: over a limit if it says so, else
/// short of stock; the stock shortages first.
fn reject(record: &Reservation) -> Command {
    let reason = if record.exceeded.is_empty() { REJECT_REASON } else { LIMIT_EXCEEDED };
    let stock = record.unavailable.iter().cloned().map(Shortage::from);
    let limits = record.exceeded.iter().cloned().map(Shortage::from);
    Command::Reject {
        reason: Reason::parse(reason).expect("the reject reasons are valid reasons"),
        shortages: stock.chain(limits).collect(),
    }
}

pub struct Reactions {
    engine: Engine,
    orders: OrderService,
}

impl Reactions {
    pub fn new(engine: Engine, orders: OrderService) -> Self {
        Reactions { engine, orders }
    }

    /// OrderPlaced that [`Engine::reserve_new`] did not reserve: finish a
    /// reservation made in steps, leave a decided record as it is, or (no
    /// record) reserve it with its SKUs' limits.
    pub async fn on_placed(&self, order_id: OrderId, placed: &OrderPlaced, record: Option<Reservation>) -> Outcome {
        let order = from_placed(order_id, placed);
        match record {
            Some(r) if r.state != ReservationState::Reserving => Ok(Some(r)),
            Some(r) => self.engine.reserve_one(order, Some(r)).await,
            None => {
                let order = self.engine.with_limits(vec![order]).await.map_err(SagaError::Catalog)?;
                self.engine.reserve_one(order.into_iter().next().expect("one order in, one out"), None).await
            }
        }
    }

    /// OrderCancelled: give back what the order holds, stock and the
    /// customer's shares. Seen before its OrderPlaced, it leaves a
    /// `cancelled` record so the late OrderPlaced reserves nothing.
    pub async fn on_cancelled(&self, order_id: OrderId, record: Option<Reservation>) -> Outcome {
        let released = self
            .engine
            .transition(order_id, record, |record| match record {
                None => Some(Write { change: Change::new(), record: tombstone(order_id, ReservationState::Cancelled) }),
                Some(r) if matches!(r.state, ReservationState::Reserving | ReservationState::Reserved) => {
                    let record = Reservation { state: ReservationState::Released, held: 0, ..r.clone() };
                    Some(Write { change: release(r), record })
                }
                Some(_) => None,
            })
            .await?;
        moved_or_inconsistent(released, "release")
    }

    /// OrderShipped: the held stock leaves the warehouse. The customer's
    /// shares keep counting it: a shipped order is neither cancelled nor
    /// rejected.
    pub async fn on_shipped(&self, order_id: OrderId, record: Option<Reservation>) -> Outcome {
        let shipped = self
            .engine
            .transition(order_id, record, |record| match record {
                None => {
                    tracing::warn!(%order_id, "OrderShipped for an order inventory never reserved");
                    Some(Write { change: Change::new(), record: tombstone(order_id, ReservationState::Shipped) })
                }
                Some(r) if matches!(r.state, ReservationState::Reserving | ReservationState::Reserved) => {
                    let mut change = Change::new();
                    for line in r.held_lines() {
                        change.stock(&line.sku, StockDelta::ship(line.quantity.into()));
                    }
                    let record = Reservation { state: ReservationState::Shipped, held: 0, ..r.clone() };
                    Some(Write { change, record })
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
    /// `lane`: where the order's events are stored (the message's `lane`
    /// attribute), which lets the command be decided on the OrderPlaced
    /// state without a read; unknown, the order service reads first.
    pub async fn settle(&self, placed: &Envelope, lane: Option<Lane>, record: Option<Reservation>) -> Outcome {
        let Some(record) = record else { return Ok(None) };
        let command = match record.state {
            ReservationState::Reserved => Command::Confirm,
            ReservationState::Rejected => reject(&record),
            _ => return Ok(Some(record)),
        };
        let mut context = CommandContext::new(placed.correlation_id.clone());
        context.causation_id = placed.event_id.to_string();
        // The OrderPlaced envelope is the order at version 1: decide on it
        // and append version 2; a cancel that got in first makes the append
        // lose, and the order service reads and decides again.
        let known = lane.map_or(Known::Nothing, |lane| Known::from_placed(placed, lane));
        match self.orders.execute_from(record.order_id, &command, &context, RetryPolicy::INTERNAL, known).await {
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
}

fn tombstone(order_id: OrderId, state: ReservationState) -> Reservation {
    Reservation {
        order_id,
        state,
        lines: vec![],
        held: 0,
        unavailable: vec![],
        customer_id: None,
        limits: BTreeMap::new(),
        exceeded: vec![],
        revision: 0,
    }
}

/// Releasing or shipping only ever adds to `available`/`shipped` and takes
/// from `reserved` what the record says it holds: refused, the two disagree.
fn moved_or_inconsistent(transition: Transition, what: &str) -> Outcome {
    match transition {
        Transition::Written(r) => Ok(Some(r)),
        Transition::Unchanged(r) => Ok(r),
        Transition::Short(r) => Err(SagaError::Inconsistent(format!(
            "cannot {what} order {:?}: reserved stock is less than it holds",
            r.map(|r| r.order_id)
        ))),
    }
}
