//! Embedded mode: the whole pipeline in one process on in-memory adapters.
//! New events go from the store to an in-memory topic that honours each
//! subscription's filter policy, and each consumer gets them as the very
//! Lambda SQS payload it gets in AWS, with the same retry-then-dead-letter
//! behaviour as a queue with a redrive policy: each failed message is
//! hidden for the visibility the handler body asks for (its backoff, or
//! none for poison).

use std::sync::Arc;

use tokio::time::Instant;

use api::App;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use catalog_store::MemoryCatalog;
use commands::OrderService;
use domain::{CatalogItem, Currency, Sku, Title};
use event_store::MemoryEventStore;
use fulfillment::{FulfillmentProjection, MemoryFulfillmentStore};
use inventory::InventoryProjection;
use inventory_store::{InventoryService, MemoryInventoryStore};
use local_aws::{Delivered, FilterPolicy, InMemoryTopic};
use sqs_consumer::{retries, Backoff, Projection};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::stack::{Names, MAX_RECEIVES};

/// SQS's and Lambda's batch size.
const BATCH: usize = 10;

/// What the embedded runner has on its shelves at start (`--no-seed`: none),
/// so the README's first order ("Trying it") is confirmed.
pub const DEMO_STOCK: [(&str, u64); 2] = [("muskie-casting-rod", 100), ("tourney-casting-rod", 500)];

/// The embedded runner's catalog at start (`--no-seed`: empty): the legacy
/// seed rows' products (`legacy/seed.sql`), in USD, with the hot rod's
/// purchase limit.
pub fn demo_catalog() -> Vec<CatalogItem> {
    crate::legacy::SEED_PRODUCTS
        .iter()
        .map(|(sku, title, price_cents)| {
            let sku = Sku::parse(sku).expect("a seed SKU is valid");
            CatalogItem {
                max_per_customer: crate::legacy::demo_limit(&sku),
                sku,
                title: Title::parse(title).expect("a seed title is valid"),
                price_cents: *price_cents,
                currency: Currency::parse("USD").expect("USD is ISO-4217"),
                active: true,
            }
        })
        .collect()
}

pub async fn start(names: &Names, seed: bool) -> Result<App, Box<dyn std::error::Error>> {
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
    let catalog = Arc::new(if seed { MemoryCatalog::with_items(demo_catalog()) } else { MemoryCatalog::new() });
    let inventory = Arc::new(InventoryProjection::new(stock.clone(), catalog.clone(), orders.clone()));
    for (queue, filter_policy) in names.inventory_lanes() {
        consume(queue, subscribe(&topic, filter_policy)?, inventory.clone());
    }
    let pick_requests = Arc::new(MemoryFulfillmentStore::new());
    let fulfillment = Arc::new(FulfillmentProjection::new(pick_requests, orders.store().clone()));
    consume(&names.fulfillment_queue, subscribe(&topic, contract::subscription::FULFILLMENT)?, fulfillment);
    if let Some(sync) = crate::legacy::sync(events.clone()).await? {
        consume(&names.legacy_sync_queue, subscribe(&topic, contract::subscription::LEGACY_SYNC)?, Arc::new(sync));
    }
    let app = App::new(orders, InventoryService::new(stock), catalog);
    if seed {
        for (sku, available) in DEMO_STOCK {
            app.inventory.set_available(&Sku::parse(sku)?, available).await?;
        }
        tracing::info!(?DEMO_STOCK, "demo stock and catalog set (--no-seed starts empty)");
    }
    Ok(app)
}

fn subscribe(topic: &InMemoryTopic, policy: &str) -> Result<UnboundedReceiver<Delivered>, Box<dyn std::error::Error>> {
    Ok(topic.subscribe(Some(FilterPolicy::from_json(policy)?)))
}

/// Feeds `projection` in batches of up to ten; a failed message comes back
/// when its visibility ends (the Lambdas' backoff), and after
/// `MAX_RECEIVES` receives is dead-lettered.
fn consume(queue: &str, messages: UnboundedReceiver<Delivered>, projection: Arc<dyn Projection>) {
    tokio::spawn(deliver(queue.to_owned(), messages, projection, Backoff::default()));
}

/// A message waiting in the queue: its receives so far, and when it is
/// visible again.
struct Hidden {
    message: Delivered,
    receives: u32,
    visible_at: Instant,
}

/// The loop behind [`consume`]; once `messages` is closed and no retry is
/// left, returns the dead-letter queue: the messages that failed
/// `MAX_RECEIVES` receives.
async fn deliver(
    queue: String,
    mut messages: UnboundedReceiver<Delivered>,
    projection: Arc<dyn Projection>,
    backoff: Backoff,
) -> Vec<Delivered> {
    let mut dead_letters = Vec::new();
    let mut hidden: Vec<Hidden> = Vec::new();
    let mut open = true;
    loop {
        let mut batch: Vec<(Delivered, u32)> = Vec::with_capacity(BATCH);
        let now = Instant::now();
        while batch.len() < BATCH {
            match hidden.iter().position(|h| h.visible_at <= now) {
                Some(i) => {
                    let due = hidden.remove(i);
                    batch.push((due.message, due.receives + 1));
                }
                None => break,
            }
        }
        while open && batch.len() < BATCH {
            match messages.try_recv() {
                Ok(message) => batch.push((message, 1)),
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            let next_visible = hidden.iter().map(|h| h.visible_at).min();
            match (open, next_visible) {
                (false, None) => return dead_letters,
                (false, Some(at)) => tokio::time::sleep_until(at).await,
                (true, next_visible) => {
                    let wake = async {
                        match next_visible {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        received = messages.recv() => match received {
                            Some(message) => batch.push((message, 1)),
                            None => open = false,
                        },
                        _ = wake => {}
                    }
                }
            }
            if batch.is_empty() {
                continue;
            }
        }
        let retries = retries(projection.as_ref(), sqs_event(&queue, &batch), &backoff).await;
        let received_at = Instant::now();
        for (message, receives) in batch {
            let Some(retry) = retries.iter().find(|r| r.message_id == message.message_id) else { continue };
            if receives >= MAX_RECEIVES {
                tracing::error!(%queue, message_id = %message.message_id, receives, "dead-lettered: the message kept failing");
                dead_letters.push(message);
            } else {
                hidden.push(Hidden { message, receives, visible_at: received_at + retry.visibility });
            }
        }
    }
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
            message.message_attributes = delivered.lambda_attributes();
            message.event_source = Some("aws:sqs".into());
            message.event_source_arn = Some(format!("arn:aws:sqs:local:000000000000:{queue}"));
            message
        })
        .collect();
    event
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::time::Duration;

    use commands::{CommandContext, RetryPolicy};
    use domain::{Command, OrderId};
    use domain::{Currency, CustomerId, OrderLine, PlaceOrder, Sku};
    use sqs_consumer::{Delivery, Failed};
    use tokio::sync::mpsc;

    use super::*;

    /// Fails each message named in `failures` that many times (transiently:
    /// its dependency is down), then applies it; refuses each message of
    /// `poisoned` as poison every time; records every receive and every
    /// message applied.
    #[derive(Default)]
    struct Flaky {
        failures: Mutex<HashMap<String, u32>>,
        poisoned: HashSet<String>,
        receives: Mutex<HashMap<String, Vec<Instant>>>,
        applied: Mutex<Vec<String>>,
    }

    impl Flaky {
        fn failing(failures: &[(&str, u32)]) -> Arc<Self> {
            let failures = failures.iter().map(|(id, n)| (id.to_string(), *n)).collect();
            Arc::new(Flaky { failures: Mutex::new(failures), ..Flaky::default() })
        }

        fn receives(&self, message_id: &str) -> u32 {
            self.received_at(message_id).len() as u32
        }

        fn received_at(&self, message_id: &str) -> Vec<Instant> {
            self.receives.lock().unwrap().get(message_id).cloned().unwrap_or_default()
        }

        fn applied(&self) -> Vec<String> {
            let mut applied = self.applied.lock().unwrap().clone();
            applied.sort();
            applied
        }
    }

    // `Projection` is an `#[async_trait]`; this is what that macro writes.
    impl Projection for Flaky {
        fn apply<'a, 'f>(&'a self, batch: Vec<Delivery>) -> Pin<Box<dyn Future<Output = Vec<Failed>> + Send + 'f>>
        where
            'a: 'f,
            Self: 'f,
        {
            let mut failed = Vec::new();
            for delivery in batch {
                let id = delivery.message_id;
                self.receives.lock().unwrap().entry(id.clone()).or_default().push(Instant::now());
                if self.poisoned.contains(&id) {
                    failed.push(Failed::poison(id));
                    continue;
                }
                match self.failures.lock().unwrap().get_mut(&id) {
                    Some(left) if *left > 0 => {
                        *left -= 1;
                        failed.push(Failed::transient(id));
                    }
                    _ => self.applied.lock().unwrap().push(id),
                }
            }
            Box::pin(async move { failed })
        }
    }

    /// `count` messages, each a real OrderPlaced envelope, with ids `m0`, `m1`, ….
    async fn messages(count: usize) -> Vec<Delivered> {
        let orders = OrderService::new(Arc::new(MemoryEventStore::new()));
        let line = OrderLine { sku: Sku::parse("muskie-casting-rod").unwrap(), quantity: 1, unit_price_cents: 19_900 };
        let place = Command::Place(PlaceOrder {
            customer_id: CustomerId::parse("angler").unwrap(),
            basket_id: None,
            currency: Currency::parse("USD").unwrap(),
            lines: vec![line],
        });
        let mut messages = Vec::new();
        for i in 0..count {
            let id = OrderId(uuid::Uuid::new_v4());
            let outcome = orders.execute(id, &place, &CommandContext::new("test"), RetryPolicy::NONE).await.unwrap();
            let message = contract::OutgoingMessage::from_envelope(&outcome.appended[0], domain::Lane::Standard);
            messages.push(Delivered { message_id: format!("m{i}"), message });
        }
        messages
    }

    /// A backoff scaled down for tests: 1 ms doubling to 4 ms.
    const FAST: Backoff = Backoff { base: Duration::from_millis(1), cap: Duration::from_millis(4) };

    /// Sends `messages`, closes the queue and runs the loop until nothing is
    /// left to retry; returns the ids of the dead-lettered messages.
    async fn run(projection: Arc<Flaky>, messages: Vec<Delivered>) -> Vec<String> {
        run_with(projection, messages, FAST).await
    }

    async fn run_with(projection: Arc<Flaky>, messages: Vec<Delivered>, backoff: Backoff) -> Vec<String> {
        let (sender, receiver) = mpsc::unbounded_channel();
        for message in messages {
            sender.send(message).unwrap();
        }
        drop(sender);
        let delivering = deliver("test-queue".into(), receiver, projection, backoff);
        let dead = tokio::time::timeout(Duration::from_secs(30), delivering).await.expect("the loop ends");
        dead.into_iter().map(|d| d.message_id).collect()
    }

    #[tokio::test]
    async fn a_message_that_fails_is_retried_until_it_goes_through() {
        let projection = Flaky::failing(&[("m1", 2), ("m3", MAX_RECEIVES - 1)]);
        let dead = run(projection.clone(), messages(4).await).await;
        assert!(dead.is_empty(), "{dead:?}");
        assert_eq!(projection.applied(), ["m0", "m1", "m2", "m3"], "every message applied once");
        assert_eq!(projection.receives("m0"), 1);
        assert_eq!(projection.receives("m1"), 3, "two failures, then applied");
        assert_eq!(projection.receives("m3"), MAX_RECEIVES, "applied at the last receive before the dead letter");
    }

    #[tokio::test]
    async fn poison_and_failing_messages_are_dead_lettered_after_max_receives_and_the_rest_go_through() {
        let mut batch = messages(25).await;
        // Not an envelope: the consumer fails it without asking the projection.
        batch[7].message.body = "{\"not\":\"an envelope\"}".into();
        let projection = Flaky::failing(&[("m3", u32::MAX), ("m12", 1)]);

        let mut dead = run(projection.clone(), batch).await;

        dead.sort();
        assert_eq!(dead, ["m3", "m7"]);
        assert_eq!(projection.receives("m3"), MAX_RECEIVES, "the failing message was received maxReceiveCount times");
        assert_eq!(projection.receives("m7"), 0, "the poison message never reaches the projection");
        let mut expected: Vec<String> = (0..25).filter(|i| ![3, 7].contains(i)).map(|i| format!("m{i}")).collect();
        expected.sort();
        assert_eq!(projection.applied(), expected, "every other message is applied once, across batches of ten");
        assert_eq!(projection.receives("m12"), 2);
    }

    /// A transient failure comes back after its backoff, at least half a
    /// ceiling that doubles; poison comes back at once, spending its
    /// receives in far less time than one backoff would take.
    #[tokio::test]
    async fn a_transient_failure_waits_out_its_backoff_and_poison_is_dead_lettered_at_once() {
        let backoff = Backoff { base: Duration::from_millis(100), cap: Duration::from_millis(400) };
        let projection = Arc::new(Flaky {
            failures: Mutex::new(HashMap::from([("m0".to_owned(), 3)])),
            poisoned: HashSet::from(["m1".to_owned()]),
            ..Flaky::default()
        });

        let dead = run_with(projection.clone(), messages(3).await, backoff).await;

        assert_eq!(dead, ["m1"]);
        assert_eq!(projection.applied(), ["m0", "m2"]);
        let transient = projection.received_at("m0");
        assert_eq!(transient.len(), 4, "three failures, then applied");
        for (n, pair) in transient.windows(2).enumerate() {
            let least = backoff.ceiling(n as u32 + 1) / 2;
            assert!(
                pair[1] - pair[0] >= least,
                "receive {}: waited {:?}, less than {least:?}",
                n + 2,
                pair[1] - pair[0]
            );
        }
        let poison = projection.received_at("m1");
        assert_eq!(poison.len() as u32, MAX_RECEIVES, "poison still uses the queue's receives");
        let poison_span = *poison.last().unwrap() - poison[0];
        let backed_off: Duration = (1..MAX_RECEIVES).map(|n| backoff.delay(n, 0.0)).sum();
        assert!(poison_span < Duration::from_secs(2), "{poison_span:?}, where backing off would take {backed_off:?}");
    }

    #[test]
    fn each_receive_is_the_lambda_sqs_record_with_its_receive_count_and_message_attributes() {
        let lane = contract::message::MessageAttribute::String("hot".into());
        let attributes = [(contract::message::LANE.to_owned(), lane)].into();
        let message =
            Delivered { message_id: "m0".into(), message: contract::OutgoingMessage { body: "{}".into(), attributes } };
        let event = sqs_event("inventory", &[(message, 3)]);
        let record = &event.records[0];
        assert_eq!(record.message_id.as_deref(), Some("m0"));
        assert_eq!(record.body.as_deref(), Some("{}"));
        assert_eq!(record.attributes["ApproximateReceiveCount"], "3");
        assert_eq!(record.message_attributes["lane"].string_value.as_deref(), Some("hot"));
        assert_eq!(record.message_attributes["lane"].data_type.as_deref(), Some("String"));
        assert_eq!(record.event_source_arn.as_deref(), Some("arn:aws:sqs:local:000000000000:inventory"));
    }
}
