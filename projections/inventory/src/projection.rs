//! The inventory consumer ([`sqs_consumer::Projection`]): the glue of the
//! saga's parts.
//!
//! Per batch: group the deliveries by order ([`crate::intake`]), read the
//! orders' reservation records, split the orders into groups that share no
//! stock write, and per group (groups side by side) reserve the orders seen
//! for the first time, all of them at once ([`Engine::reserve_new`]), then
//! per order apply its events in version order ([`crate::reactions`]). A
//! failed step fails its messages and those of the order's later steps;
//! the other orders of the batch go on.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use commands::OrderService;
use domain::{Catalog, OrderEvent};
use futures_util::future::join_all;
use inventory_store::store::{InventoryStore, Reservation};
use sqs_consumer::{Delivery, Failed, OrderSteps, Projection};
use tracing::Instrument;

use crate::intake::{self, Group};
use crate::reactions::Reactions;
use crate::reservation::{Engine, Outcome, ReservationStrategy};

pub struct InventoryProjection {
    store: Arc<dyn InventoryStore>,
    strategy: ReservationStrategy,
    engine: Engine,
    reactions: Reactions,
}

impl InventoryProjection {
    /// `catalog`: where the purchase limits come from ([`Engine::new`]).
    pub fn new(store: Arc<dyn InventoryStore>, catalog: Arc<dyn Catalog>, orders: OrderService) -> Self {
        let engine = Engine::new(store.clone(), catalog);
        InventoryProjection {
            reactions: Reactions::new(engine.clone(), orders),
            engine,
            store,
            strategy: ReservationStrategy::default(),
        }
    }

    pub fn with_strategy(mut self, strategy: ReservationStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Runs one group of orders: reserve the new ones, then each order's
    /// steps. Groups share no stock write, so they run side by side.
    async fn run_group(&self, group: Group) -> Vec<Failed> {
        let mut reserved = self.engine.reserve_new(group.new_orders(), self.strategy).await;
        let Group { orders, mut records } = group;
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

    /// Applies one order's steps in order; answers the messages to retry.
    /// `reserved`: what [`Engine::reserve_new`] decided for its OrderPlaced.
    async fn run_order(
        &self,
        order: OrderSteps,
        mut record: Option<Reservation>,
        mut reserved: Option<Outcome>,
    ) -> Vec<Failed> {
        let order_id = order.order_id;
        // Run within the batch's span ([`Projection::apply`]).
        let batch_traceparent = telemetry::current_traceparent();
        for (i, step) in order.steps.iter().enumerate() {
            let envelope = &step.envelope;
            let span = tracing::info_span!(
                "event",
                function = "inventory",
                %order_id,
                event_id = %envelope.event_id,
                event_type = envelope.event_type().as_str(),
                correlation_id = %envelope.correlation_id,
            );
            telemetry::continue_in_batch(&span, step.traceparent.as_deref(), batch_traceparent.as_deref());
            let outcome = async {
                match &envelope.event {
                    OrderEvent::Placed(placed) => {
                        let reservation = match reserved.take() {
                            Some(result) => result?,
                            None => self.reactions.on_placed(order_id, placed, record.clone()).await?,
                        };
                        self.reactions.settle(envelope, step.lane, reservation).await
                    }
                    OrderEvent::Cancelled(_) => self.reactions.on_cancelled(order_id, record.clone()).await,
                    OrderEvent::Shipped(_) => self.reactions.on_shipped(order_id, record.clone()).await,
                    OrderEvent::Confirmed(_) | OrderEvent::Rejected(_) => Ok(record.clone()),
                }
            }
            .instrument(span.clone())
            .await;
            match outcome {
                Ok(next) => record = next,
                Err(error) => {
                    let failure = error.failure();
                    span.in_scope(
                        || tracing::error!(%error, ?failure, "inventory step failed; its messages will be retried"),
                    );
                    // Later events of this order wait for the redelivery too.
                    return order.failed_from(i, failure);
                }
            }
        }
        Vec::new()
    }
}

#[async_trait]
impl Projection for InventoryProjection {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        // Reservations are decided for the whole batch (one transaction may
        // reserve several orders): in the batch's span, which each order's
        // step links to.
        let span = tracing::info_span!("inventory_batch", function = "inventory", messages = batch.len());
        self.apply_batch(batch).instrument(span).await
    }
}

impl InventoryProjection {
    async fn apply_batch(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        let orders = intake::group_by_order(batch);
        let ids: Vec<_> = orders.iter().map(|o| o.order_id).collect();
        let records: HashMap<_, _> = match self.store.reservations(&ids).await {
            Ok(records) => records,
            Err(error) => {
                tracing::error!(%error, "cannot read reservation records; the whole batch will be retried");
                let failure = crate::error::inventory_failure(&error);
                return orders.iter().flat_map(|o| o.failed_from(0, failure)).collect();
            }
        };
        let groups = intake::groups(orders, records, self.strategy);
        join_all(groups.into_iter().map(|group| self.run_group(group))).await.into_iter().flatten().collect()
    }
}
