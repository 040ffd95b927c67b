//! Embedded mode: the whole pipeline in one process on in-memory adapters.
//! New events go from the store to an in-memory topic that honours each
//! subscription's filter policy, and each consumer gets them as the very
//! Lambda SQS payload it gets in AWS, with the same retry-then-dead-letter
//! behaviour as a queue with a redrive policy.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use event_store::MemoryEventStore;
use fulfillment::{FulfillmentProjection, MemoryFulfillmentStore};
use inventory::InventoryProjection;
use inventory_store::{InventoryService, MemoryInventoryStore};
use local_aws::{Delivered, FilterPolicy, InMemoryTopic};
use order_api::App;
use order_commands::OrderService;
use sqs_consumer::{handle_sqs_event, Projection};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::stack::{Names, MAX_RECEIVES};

/// SQS's and Lambda's batch size.
const BATCH: usize = 10;
/// Stands in for the visibility timeout before a failed message returns.
const RETRY_DELAY: Duration = Duration::from_secs(1);

pub async fn start(names: &Names) -> Result<App, Box<dyn std::error::Error>> {
    let events = Arc::new(MemoryEventStore::new());
    let orders = OrderService::new(events.clone()).with_hot_list(names.hot_list.clone());
    let topic = Arc::new(InMemoryTopic::new());

    let mut appended = events.subscribe_with_lanes();
    let publisher_topic = topic.clone();
    tokio::spawn(async move {
        while let Some(event_in_lane) = appended.recv().await {
            publisher_topic.publish_envelopes(&[event_in_lane]);
        }
    });

    let stock = Arc::new(MemoryInventoryStore::new());
    let inventory = Arc::new(InventoryProjection::new(stock.clone(), orders.clone()));
    for (queue, filter_policy) in names.inventory_lanes() {
        consume(queue, subscribe(&topic, filter_policy)?, inventory.clone());
    }
    let pick_requests = Arc::new(MemoryFulfillmentStore::new());
    let fulfillment = Arc::new(FulfillmentProjection::new(pick_requests, orders.store().clone()));
    consume(&names.fulfillment_queue, subscribe(&topic, fulfillment::FILTER_POLICY)?, fulfillment);
    if let Some(sync) = crate::legacy::sync(events.clone()).await? {
        consume(&names.legacy_sync_queue, subscribe(&topic, legacy_sync::FILTER_POLICY)?, Arc::new(sync));
    }
    Ok(App::new(orders, InventoryService::new(stock)))
}

fn subscribe(topic: &InMemoryTopic, policy: &str) -> Result<UnboundedReceiver<Delivered>, Box<dyn std::error::Error>> {
    Ok(topic.subscribe(Some(FilterPolicy::from_json(policy)?)))
}

/// Feeds `projection` in batches of up to ten; failed messages come back
/// after a pause, and after `MAX_RECEIVES` receives are dead-lettered.
fn consume(queue: &str, mut messages: UnboundedReceiver<Delivered>, projection: Arc<dyn Projection>) {
    let queue = queue.to_owned();
    tokio::spawn(async move {
        let mut retries: VecDeque<(Delivered, u32)> = VecDeque::new();
        loop {
            let mut batch = Vec::with_capacity(BATCH);
            if retries.is_empty() {
                match messages.recv().await {
                    Some(message) => batch.push((message, 1)),
                    None => return,
                }
            }
            while batch.len() < BATCH {
                if let Some(retry) = retries.pop_front() {
                    batch.push(retry);
                } else if let Ok(message) = messages.try_recv() {
                    batch.push((message, 1));
                } else {
                    break;
                }
            }
            let response = handle_sqs_event(projection.as_ref(), sqs_event(&queue, &batch)).await;
            let failed: HashSet<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
            for (message, receives) in batch.into_iter().filter(|(m, _)| failed.contains(&m.message_id)) {
                if receives >= MAX_RECEIVES {
                    tracing::error!(%queue, message_id = %message.message_id, receives, "dead-lettered: the message kept failing");
                } else {
                    retries.push_back((message, receives + 1));
                }
            }
            if !failed.is_empty() {
                tokio::time::sleep(RETRY_DELAY).await;
            }
        }
    });
}

fn sqs_event(queue: &str, batch: &[(Delivered, u32)]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch
        .iter()
        .map(|(delivered, receives)| {
            let mut message = SqsMessage::default();
            message.message_id = Some(delivered.message_id.clone());
            message.receipt_handle = Some(delivered.message_id.clone());
            message.body = Some(delivered.message.body.clone());
            message.attributes.insert("ApproximateReceiveCount".into(), receives.to_string());
            message.event_source = Some("aws:sqs".into());
            message.event_source_arn = Some(format!("arn:aws:sqs:local:000000000000:{queue}"));
            message
        })
        .collect();
    event
}
