//! The fulfillment consumer: OrderConfirmed opens a pick request (with the
//! order's lines, read from the event store: OrderConfirmed carries none),
//! OrderCancelled cancels it, OrderShipped closes it. Each message is one
//! conditional write; its queue's bounded concurrency is what paces the
//! warehouse.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::future::join_all;
use order_domain::ports::{EventStore, StoreError};
use order_domain::{fold, Envelope, OrderEvent};
use sqs_consumer::{Delivery, Projection};
use tracing::Instrument;

use crate::store::{FulfillmentError, FulfillmentStore, PickLine, PickStatus, PickUpdate};
use crate::SUBSCRIBED_EVENT_TYPES;

#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Store(#[from] FulfillmentError),
    #[error("cannot read the order: {0}")]
    Orders(#[from] StoreError),
    #[error("OrderConfirmed for an order the event store does not hold")]
    UnknownOrder,
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

    async fn apply_one(&self, envelope: &Envelope) -> Result<(), StepError> {
        let (status, lines) = match &envelope.event {
            OrderEvent::Confirmed(_) => {
                let history = self.events.load(envelope.order_id).await?;
                let order = fold(&history).ok_or(StepError::UnknownOrder)?;
                let lines = order.lines.iter().map(|l| PickLine { sku: l.sku.clone(), quantity: l.quantity });
                (PickStatus::Open, Some(lines.collect()))
            }
            OrderEvent::Cancelled(_) => (PickStatus::Cancelled, None),
            OrderEvent::Shipped(_) => (PickStatus::Closed, None),
            OrderEvent::Placed(_) | OrderEvent::Rejected(_) => return Ok(()),
        };
        let update = PickUpdate {
            order_id: envelope.order_id,
            version: envelope.version,
            status,
            lines,
            at: envelope.occurred_at,
        };
        let applied = self.store.apply(&update).await?;
        tracing::info!(status = status.as_str(), applied, "pick request updated");
        Ok(())
    }
}

#[async_trait]
impl Projection for FulfillmentProjection {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<String> {
        let steps = batch.into_iter().map(|Delivery { message_id, envelope, .. }| async move {
            if !SUBSCRIBED_EVENT_TYPES.contains(&envelope.event_type()) {
                tracing::debug!(%message_id, event_type = envelope.event_type().as_str(), "not a fulfillment event; ignored");
                return None;
            }
            let span = tracing::info_span!(
                "event",
                order_id = %envelope.order_id,
                event_id = %envelope.event_id,
                event_type = envelope.event_type().as_str(),
                correlation_id = %envelope.correlation_id,
            );
            match self.apply_one(&envelope).instrument(span.clone()).await {
                Ok(()) => None,
                Err(error) => {
                    span.in_scope(|| tracing::error!(%error, "fulfillment step failed; the message will be retried"));
                    Some(message_id)
                }
            }
        });
        join_all(steps).await.into_iter().flatten().collect()
    }
}
