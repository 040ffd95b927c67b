//! The fulfillment consumer: OrderConfirmed opens a pick request (with the
//! order's lines, read from the event store: the events carry none),
//! OrderCancelled cancels it, OrderShipped closes it. Each event is one read
//! of the order and one conditional write; its queue's bounded concurrency is what paces the
//! warehouse. A batch's orders are applied side by side, each order's
//! events in version order.

use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::{EventStore, StoreError};
use domain::{fold, Envelope, OrderEvent};
use futures_util::future::join_all;
use sqs_consumer::{Delivery, Failed, Failure, OrderSteps, Projection};
use tracing::Instrument;

use crate::store::{FulfillmentError, FulfillmentStore, PickLine, PickStatus, PickUpdate};
use crate::SUBSCRIBED_EVENT_TYPES;

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Store(#[from] FulfillmentError),
    #[error("cannot read the order: {0}")]
    Orders(#[from] StoreError),
    #[error("an event of an order the event store does not hold")]
    UnknownOrder,
}

impl StepError {
    /// Transient when a store did not answer; poison when what it holds is
    /// unreadable (or of a newer build: redriven after the upgrade) or the
    /// event names an order the store never had.
    fn failure(&self) -> Failure {
        match self {
            StepError::Store(FulfillmentError::Unavailable(_))
            | StepError::Orders(StoreError::Unavailable(_) | StoreError::Conflict { .. }) => Failure::Transient,
            StepError::Store(FulfillmentError::Corrupt(_))
            | StepError::Orders(StoreError::Corrupt(_) | StoreError::NewerThanBuild(_))
            | StepError::UnknownOrder => Failure::Poison,
        }
    }
}

pub struct FulfillmentProjection {
    store: Arc<dyn FulfillmentStore>,
    /// Read only: an order's lines, folded from its events.
    events: Arc<dyn EventStore>,
}

impl FulfillmentProjection {
    pub fn new(store: Arc<dyn FulfillmentStore>, events: Arc<dyn EventStore>) -> Self {
        FulfillmentProjection { store, events }
    }

    /// Applies one order's events oldest first: an OrderShipped applied
    /// before the OrderConfirmed of the same batch would close a request
    /// that has no lines, and the OrderConfirmed, now older, could not add
    /// them. Answers the messages to retry: a failed event's, and every
    /// later event's of the order, which must not be applied before it.
    async fn apply_order(&self, order: &OrderSteps) -> Vec<Failed> {
        for (i, step) in order.steps.iter().enumerate() {
            let envelope = &step.envelope;
            let span = tracing::info_span!(
                "event",
                function = "fulfillment",
                order_id = %envelope.order_id,
                event_id = %envelope.event_id,
                event_type = envelope.event_type().as_str(),
                correlation_id = %envelope.correlation_id,
            );
            telemetry::continue_trace(&span, step.traceparent.as_deref());
            if let Err(error) = self.apply_one(envelope).instrument(span.clone()).await {
                let failure = error.failure();
                span.in_scope(|| tracing::error!(%error, ?failure, "fulfillment step failed; it and the order's later events will be retried"));
                return order.failed_from(i, failure);
            }
        }
        Vec::new()
    }

    /// The pick request as of `envelope`, from the order's history up to
    /// it: the same whichever of the order's events arrives first (SQS keeps
    /// no order across batches), so an OrderShipped or OrderCancelled that
    /// overtakes the OrderConfirmed still carries its lines and its time,
    /// and the late OrderConfirmed, refused as older, has nothing to add.
    async fn apply_one(&self, envelope: &Envelope) -> Result<(), StepError> {
        let status = match &envelope.event {
            OrderEvent::Confirmed(_) => PickStatus::Open,
            OrderEvent::Cancelled(_) => PickStatus::Cancelled,
            OrderEvent::Shipped(_) => PickStatus::Closed,
            OrderEvent::Placed(_) | OrderEvent::Rejected(_) => return Ok(()),
        };
        let mut history = self.events.load(envelope.order_id).await?;
        history.retain(|e| e.version <= envelope.version);
        let order = fold(&history).ok_or(StepError::UnknownOrder)?;
        // The event itself counts, should the store not show it yet.
        let confirmed_at = history
            .iter()
            .chain(std::iter::once(envelope))
            .find(|e| matches!(e.event, OrderEvent::Confirmed(_)))
            .map(|e| e.occurred_at);
        let lines = match confirmed_at {
            Some(_) => order.lines.iter().map(|l| PickLine { sku: l.sku.clone(), quantity: l.quantity }).collect(),
            None => Vec::new(),
        };
        let update = PickUpdate {
            order_id: envelope.order_id,
            version: envelope.version,
            status,
            lines: Some(lines),
            created_at: confirmed_at.unwrap_or(envelope.occurred_at),
            at: envelope.occurred_at,
        };
        let applied = self.store.apply(&update).await?;
        tracing::info!(status = status.as_str(), applied, "pick request updated");
        Ok(())
    }
}

#[async_trait]
impl Projection for FulfillmentProjection {
    /// Orders side by side, each order's events one after the other.
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        let orders = sqs_consumer::group_by_order(batch, &SUBSCRIBED_EVENT_TYPES);
        join_all(orders.iter().map(|order| self.apply_order(order))).await.into_iter().flatten().collect()
    }
}
