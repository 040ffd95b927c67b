//! A mixed deployment loses nothing (issue 23). While a deploy rolls out,
//! the publisher and the consumers run different builds, in either order.
//! Both directions run here on the local stack as the soak provisions it
//! (`soak::stack::Stack`: its own tables, topic, queues with their DLQs and
//! redrive policies, legacy databases), the publisher and the consumers in
//! this process. A build is a value: this one's
//! (`SchemaVersions::current()`, OrderRejected at 2) and the one before
//! OrderRejected's bump (`SchemaVersions::previous()`: it reads and writes
//! OrderRejected at 1, and meets 2 as that build did). The soak's own checks
//! (`soak::check`) judge the end: every stored event reached a subscriber,
//! every order was decided, inventory, fulfillment and the legacy rows equal
//! their rebuild from the event store by this build's code, and no dead
//! letter is left.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use catalog_store::{CachedCatalog, DynamoCatalog};
use chrono::Utc;
use commands::{CommandContext, OrderService, RetryPolicy};
use contract::message::{DOWNCAST_FROM, SCHEMA_VERSION_ATTRIBUTE};
use contract::publish::{BatchEntry, EntryOutcome, EventPublisher, PublishError};
use contract::{MessageAttribute, OutgoingMessage};
use domain::ports::EventStore;
use domain::upcast::SchemaVersions;
use domain::{
    Command, Currency, CustomerId, Envelope, EventType, HotList, OrderId, OrderLine, OrderStatus, PlaceOrder, Sku,
};
use event_store::{DynamoEventStore, StoredEvent};
use fulfillment::{DynamoFulfillmentStore, FulfillmentProjection};
use inventory::{InventoryProjection, LIMITS_CACHE_TTL};
use inventory_store::{DynamoInventoryStore, InventoryService};
use legacy_sync::LegacySync;
use local_aws::poller::QueuePoller;
use local_aws::stream::{latest_stream_arn, run_stream, StreamOptions};
use publisher::{handle_stream_event, PreviousVersionWindow, SnsPublisher};
use soak::load::Outcome;
use soak::stack::{Stack, CONSUMER_QUEUES};
use sqs_consumer::{Backoff, InBuild, Projection};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const LEGACY_SYNC_QUEUE: &str = "LEGACY_SYNC_QUEUE";
const NEWER: &str = "schemaVersion 2 of OrderRejected is newer than this build (reads up to 1)";

/// The stock each run starts with: some orders of the two rods run out, the
/// line never does.
fn stock() -> BTreeMap<&'static str, u64> {
    BTreeMap::from([("muskie-casting-rod", 4), ("tourney-casting-rod", 8), ("braided-line", 1_000)])
}

/// This process's warnings and errors, one JSON object a line: the log
/// lines the consumers and the publisher write.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// The process's log capture, installed once.
    fn capture() -> Logs {
        static LOGS: OnceLock<Logs> = OnceLock::new();
        LOGS.get_or_init(|| {
            let logs = Logs::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_max_level(tracing::Level::WARN)
                .with_writer(move || writer.clone())
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("no other log subscriber in this test");
            logs
        })
        .clone()
    }

    fn lines_with(&self, text: &str) -> Vec<String> {
        let logs = String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned();
        logs.lines().filter(|line| line.contains(text)).map(str::to_owned).collect()
    }
}

/// The topic, recording every message it accepted.
struct Recording {
    sns: SnsPublisher,
    sent: Mutex<Vec<OutgoingMessage>>,
}

#[async_trait]
impl EventPublisher for Recording {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        let outcomes = self.sns.publish_batch(entries).await?;
        let accepted = entries.iter().zip(&outcomes).filter(|(_, outcome)| outcome.is_ok());
        self.sent.lock().unwrap().extend(accepted.map(|(entry, _)| entry.message.clone()));
        Ok(outcomes)
    }
}

/// What the topic accepted of one event: (`schemaVersion` of the body, its
/// attribute, `downcastFrom`) per message.
fn sent_of(recording: &Recording, event: &Envelope) -> BTreeSet<(u64, String, Option<String>)> {
    let attribute =
        |message: &OutgoingMessage, name: &str| message.attributes.get(name).map(MessageAttribute::string_value);
    recording
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter_map(|message| {
            let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
            (body["eventId"] == event.event_id.to_string()).then(|| {
                let version = body["schemaVersion"].as_u64().unwrap();
                (version, attribute(message, SCHEMA_VERSION_ATTRIBUTE).unwrap(), attribute(message, DOWNCAST_FROM))
            })
        })
        .collect()
}

/// The consumers of one build, each polling its queue until stopped.
struct Consumers(Vec<(oneshot::Sender<()>, JoinHandle<()>)>);

impl Consumers {
    /// Stops them once the queues are quiet, so no batch is cut off.
    async fn stop(self) {
        for (stop, task) in self.0 {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }
}

/// The platform on the soak's resources: the publisher reading the events
/// table's stream (its build can change between two batches, as a function
/// update under its event source mapping), consumers started per build.
struct Deploy {
    args: soak::Args,
    stack: Stack,
    hot_list: HotList,
    publisher: Arc<Mutex<PreviousVersionWindow>>,
    topic: Arc<Recording>,
    stop_publisher: oneshot::Sender<()>,
    /// This build's view of the events table: what the checks read.
    events: DynamoEventStore,
    outcomes: Vec<Outcome>,
    logs: Logs,
}

impl Deploy {
    async fn provision(publisher: PreviousVersionWindow) -> Deploy {
        let logs = Logs::capture();
        testkit::dynamodb_config().await;
        testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
        let sns = aws_sdk_sns::Client::new(&testkit::local_stack_config("AWS_ENDPOINT_URL_SNS").await);
        let args = soak::Args {
            orders: 0,
            rate: 1.0,
            concurrency: 1,
            fault_seconds: 0,
            sns_error_share: 0.0,
            dynamodb_throttle_share: 0.0,
            visibility_timeout: 5,
            backoff_base_seconds: 1,
            backoff_cap_seconds: 5,
            drain_timeout: 120,
            runner: None,
            long_outage: false,
            keep: false,
        };
        let runner = PathBuf::from(env!("CARGO_BIN_EXE_order-platform"));
        let stack = Stack::provision(&args, runner).await.expect("the soak's resources");
        let events_table = stack.var(contract::config::EVENTS_TABLE).to_owned();
        let stock_service = InventoryService::new(Arc::new(DynamoInventoryStore::new(
            stack.dynamodb.clone(),
            stack.var(contract::config::INVENTORY_TABLE),
        )));
        for (sku, available) in stock() {
            stock_service.set_available(&Sku::parse(sku).unwrap(), available).await.unwrap();
        }

        let publisher = Arc::new(Mutex::new(publisher));
        let topic = Arc::new(Recording {
            sns: SnsPublisher::new(sns, stack.var(contract::config::ORDER_EVENTS_TOPIC_ARN)),
            sent: Mutex::new(Vec::new()),
        });
        let streams = aws_sdk_dynamodbstreams::Client::new(&testkit::dynamodb_config().await);
        let stream_arn = latest_stream_arn(&streams, &events_table).await.unwrap();
        let options = StreamOptions {
            poll_interval: Duration::from_millis(100),
            retry_delay: Duration::from_millis(500),
            ..StreamOptions::default()
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (window, sns) = (publisher.clone(), topic.clone());
        let handler = move |event| {
            let (window, sns) = (*window.lock().unwrap(), sns.clone());
            async move { handle_stream_event(sns.as_ref(), window, event, None).await }
        };
        tokio::spawn(run_stream(streams, stream_arn, options, handler, async {
            let _ = stopped.await;
        }));
        Deploy {
            args,
            events: DynamoEventStore::new(stack.dynamodb.clone(), &events_table),
            stack,
            hot_list: HotList::configured(Some("muskie-casting-rod")).unwrap(),
            publisher,
            topic,
            stop_publisher: stop,
            outcomes: Vec::new(),
            logs,
        }
    }

    /// The publisher of another build, from its next batch on.
    fn upgrade_publisher(&self, window: PreviousVersionWindow) {
        *self.publisher.lock().unwrap() = window;
    }

    /// The command service (the API's, or the saga's) of the build at `build`.
    fn orders(&self, build: SchemaVersions) -> OrderService {
        let store = DynamoEventStore::new(self.stack.dynamodb.clone(), self.stack.var(contract::config::EVENTS_TABLE));
        OrderService::new(Arc::new(store.in_build(build))).with_hot_list(self.hot_list.clone())
    }

    /// The consumers of the build at `build` on the queues named (by their
    /// variables), wired as the runner wires them on the local stack.
    async fn start_consumers(&self, build: SchemaVersions, queues: &[&str]) -> Consumers {
        let (stack, dynamodb) = (&self.stack, &self.stack.dynamodb);
        let orders = self.orders(build);
        let stock = Arc::new(DynamoInventoryStore::new(dynamodb.clone(), stack.var(contract::config::INVENTORY_TABLE)));
        let catalog = Arc::new(DynamoCatalog::new(dynamodb.clone(), stack.var(contract::config::CATALOG_TABLE)));
        let limits = Arc::new(CachedCatalog::new(catalog, LIMITS_CACHE_TTL));
        let inventory: Arc<dyn Projection> =
            Arc::new(InBuild { projection: InventoryProjection::new(stock, limits, orders.clone()), build });
        let pick_requests =
            Arc::new(DynamoFulfillmentStore::new(dynamodb.clone(), stack.var(contract::config::FULFILLMENT_TABLE)));
        let fulfillment = FulfillmentProjection::new(pick_requests, orders.store().clone());
        let legacy = LegacySync::new(stack.legacy.clone().into(), orders.store().clone());
        let by_queue: [(&str, Arc<dyn Projection>); 4] = [
            ("INVENTORY_HOT_QUEUE", inventory.clone()),
            ("INVENTORY_QUEUE", inventory),
            ("FULFILLMENT_QUEUE", Arc::new(InBuild { projection: fulfillment, build })),
            (LEGACY_SYNC_QUEUE, Arc::new(InBuild { projection: legacy, build })),
        ];
        let mut consumers = Vec::new();
        for (var, projection) in by_queue.into_iter().filter(|(var, _)| queues.contains(var)) {
            let url = stack.queue_url(stack.var(var)).await.unwrap();
            let backoff = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(5) };
            let poller = QueuePoller::new(stack.sqs.clone(), url).await.unwrap().with_backoff(backoff);
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                poller
                    .run(projection.as_ref(), async {
                        let _ = stopped.await;
                    })
                    .await
            });
            consumers.push((stop, task));
        }
        Consumers(consumers)
    }

    /// Places `count` orders through `writer`: the hot rod, the other rod,
    /// two lines, and the hot rod over its limit of 2 per customer (always
    /// rejected), in turn.
    async fn place(&mut self, writer: &OrderService, phase: u32, count: u32) -> Vec<OrderId> {
        let line = |sku: &str, quantity, unit_price_cents| OrderLine {
            sku: Sku::parse(sku).unwrap(),
            quantity,
            unit_price_cents,
        };
        let mut placed = Vec::new();
        for i in 0..count {
            let lines = match i % 4 {
                0 => vec![line("muskie-casting-rod", 1, 24_900)],
                1 => vec![line("tourney-casting-rod", 2, 18_900)],
                2 => vec![line("braided-line", 3, 1_999), line("tourney-casting-rod", 1, 18_900)],
                _ => vec![line("muskie-casting-rod", 3, 24_900)],
            };
            let command = Command::Place(PlaceOrder {
                customer_id: CustomerId::parse(&format!("mixed-{phase}-{i}")).unwrap(),
                basket_id: None,
                currency: Currency::parse("USD").unwrap(),
                lines,
            });
            let id = OrderId(uuid::Uuid::new_v4());
            let context = CommandContext::new(format!("mixed-deploy-{phase}"));
            writer.execute(id, &command, &context, RetryPolicy::NONE).await.unwrap();
            self.outcomes.push(Outcome {
                index: self.outcomes.len() as u32,
                order_id: Some(id.0),
                ..Outcome::default()
            });
            placed.push(id);
        }
        placed
    }

    async fn status(&self, id: OrderId) -> OrderStatus {
        domain::fold(&self.events.load(id).await.unwrap()).expect("a placed order").status
    }

    /// Once every order of `ids` is decided, cancels a third of the
    /// confirmed ones and ships another third, through `writer`.
    async fn cancel_and_ship(&mut self, writer: &OrderService, ids: &[OrderId]) {
        let this = &*self;
        eventually("every order decided", || async move {
            for id in ids {
                if this.status(*id).await == OrderStatus::Placed {
                    return Err(format!("{id} is still placed"));
                }
            }
            Ok(())
        })
        .await;
        for (i, id) in ids.iter().enumerate() {
            if self.status(*id).await != OrderStatus::Confirmed {
                continue;
            }
            let command = match i % 3 {
                0 => Command::Cancel { reason: None },
                1 => Command::Ship { tracking_number: None },
                _ => continue,
            };
            let context = CommandContext::new("mixed-deploy");
            writer.execute(*id, &command, &context, RetryPolicy::NONE).await.unwrap();
            let outcome = self.outcomes.iter_mut().find(|o| o.order_id == Some(id.0)).unwrap();
            outcome.cancelled = matches!(command, Command::Cancel { .. });
            outcome.shipped = matches!(command, Command::Ship { .. });
        }
    }

    /// Every event of the orders placed so far, as stored.
    async fn stored(&self) -> Vec<StoredEvent> {
        let mut events = Vec::new();
        for outcome in &self.outcomes {
            events.extend(self.events.load_stored(OrderId(outcome.order_id.unwrap())).await.unwrap());
        }
        events
    }

    /// The OrderRejected events stored so far.
    async fn rejections(&self) -> Vec<StoredEvent> {
        self.stored().await.into_iter().filter(|e| e.envelope.event_type() == EventType::OrderRejected).collect()
    }

    /// Messages in the queue, visible or in flight.
    async fn depth(&self, url: &str) -> u64 {
        soak::check::depth(&self.stack.sqs, url).await.unwrap()
    }

    /// (queue, its DLQ) of the consumer named by its variable.
    fn queues_of(&self, var: &str) -> &(String, String) {
        let index = CONSUMER_QUEUES.iter().position(|q| *q == var).unwrap();
        &self.stack.dlqs[index]
    }

    /// Waits until every stored event is on the topic.
    async fn published(&self) {
        eventually("the publisher caught up", || async move {
            for stored in self.stored().await {
                if sent_of(&self.topic, &stored.envelope).is_empty() {
                    return Err(format!("{} {} not published", stored.envelope.event_type(), stored.envelope.event_id));
                }
            }
            Ok(())
        })
        .await;
    }

    /// Waits until every queue of `vars` is empty.
    async fn consumed(&self, vars: &[&str]) {
        eventually("the consumers caught up", || async move {
            for var in vars {
                let depth = self.depth(&self.queues_of(var).0).await;
                if depth > 0 {
                    return Err(format!("{depth} messages in {var}"));
                }
            }
            Ok(())
        })
        .await;
    }

    /// The first phase of a deploy, with the consumers (on `queues`) and
    /// the API of the build at `build`: `count` orders placed, decided, some
    /// cancelled and shipped; once the publisher and the consumers caught
    /// up, answers the consumers.
    async fn first_phase(&mut self, build: SchemaVersions, queues: &[&str], count: u32) -> Consumers {
        let consumers = self.start_consumers(build, queues).await;
        let api = self.orders(build);
        let placed = self.place(&api, 1, count).await;
        self.cancel_and_ship(&api, &placed).await;
        self.published().await;
        self.consumed(queues).await;
        consumers
    }

    /// Legacy `shop_order.status` of an order, if it has a row.
    async fn legacy_status(&self, id: OrderId) -> Option<String> {
        let client = legacy_sync::connect(&self.stack.legacy).await.unwrap();
        let row = client.query_opt("SELECT status::text FROM shop_order WHERE id = $1", &[&id.0]).await.unwrap();
        row.map(|row| row.get(0))
    }

    /// After the last upgrade: waits for the pipeline to drain and holds it
    /// to the soak's checks, with no dead letter allowed.
    async fn verify(self) {
        let drained = soak::check::wait_for_drain(&self.args, &self.stack, self.stack.downstream_reader())
            .await
            .expect("the pipeline drains");
        assert!(!drained.timed_out, "the pipeline did not drain in {} s", self.args.drain_timeout);
        let stock = stock();
        let verdicts =
            soak::check::verify(&self.stack, &self.outcomes, &drained, &stock, &[]).await.expect("the checks run");
        let _ = self.stop_publisher.send(());
        self.stack.clean_up(true).await;
        assert!(verdicts.passed(), "{verdicts:#?}");
        assert_eq!(verdicts.legacy_orders, self.outcomes.len(), "a legacy row per order");
        assert_eq!(verdicts.delivered_unique, drained.events(), "every stored event reached a subscriber");
    }
}

/// Polls `check` until it passes; fails with its last answer after 90 s.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        match check().await {
            Ok(()) => return,
            Err(why) if tokio::time::Instant::now() > deadline => panic!("{what}: not after 90 s: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// The publisher deployed first: this build's publisher, its
/// previous-version window open as in production, before its consumers.
/// The consumers of the previous build dead-letter every OrderRejected it
/// sends at 2 (the window's copy at 1 is not theirs: the platform's
/// subscriptions leave the copies out), each receive's log line saying why;
/// nothing else fails and nothing is lost. After their upgrade, `orders dlq
/// redrive` (ops::dlq::redrive) delivers every dead letter, and the
/// projections end as the rebuild by this build makes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_first_the_older_consumers_dead_letter_the_newer_events_and_a_redrive_delivers_them() {
    let (previous, current) = (SchemaVersions::previous(), SchemaVersions::current());
    let mut deploy = Deploy::provision(open_window()).await;
    let all = CONSUMER_QUEUES;

    let older = deploy.first_phase(previous, &all, 12).await;
    let rejected = deploy.rejections().await;
    assert!(rejected.len() >= 3, "{} rejections", rejected.len());
    let (legacy_queue, legacy_dlq) = deploy.queues_of(LEGACY_SYNC_QUEUE).clone();
    let (this, dlq, expected) = (&deploy, &legacy_dlq, rejected.len() as u64);
    eventually("every rejection dead-lettered", || async move {
        let depth = this.depth(dlq).await;
        (depth == expected).then_some(()).ok_or(format!("{depth} of {expected} in the DLQ"))
    })
    .await;
    older.stop().await;

    // Written at 1 by the older saga, sent at 2 and, in the window, at 1.
    for event in &rejected {
        assert_eq!(event.schema_version, 1);
        let sent = sent_of(&deploy.topic, &event.envelope);
        assert_eq!(sent, BTreeSet::from([(2, "2".into(), None), (1, "1".into(), Some("2".into()))]));
        assert_eq!(deploy.legacy_status(event.envelope.order_id).await.as_deref(), Some("placed"), "it waits");
    }
    let dead = ops::dlq::peek(&deploy.stack.sqs, &legacy_dlq, 100).await.unwrap();
    let dead_ids: BTreeSet<String> = dead.iter().map(|m| ops::dlq::decode(m).event_id.unwrap()).collect();
    let rejected_ids: BTreeSet<String> = rejected.iter().map(|e| e.envelope.event_id.to_string()).collect();
    assert_eq!(dead_ids, rejected_ids, "the legacy sync's DLQ holds exactly the rejections");
    for message in &dead {
        assert!(message.body().unwrap().contains(r#""schemaVersion":2"#));
        let id = message.message_id().unwrap();
        let lines = deploy.logs.lines_with(&format!(r#""message_id":"{id}""#));
        assert!(lines.iter().any(|l| l.contains("poison message") && l.contains(NEWER)), "{id}: {lines:?}");
    }
    let poison = deploy.logs.lines_with("poison message");
    assert!(poison.iter().all(|line| line.contains(NEWER)), "only newer events are poison: {poison:?}");
    for (queue, dlq) in deploy.stack.dlqs.iter().filter(|(queue, _)| *queue != legacy_queue) {
        assert_eq!(deploy.depth(dlq).await, 0, "nothing else dead-lettered ({queue})");
    }

    // The consumers upgraded, then the redrive; orders go on meanwhile.
    let _upgraded = deploy.start_consumers(current, &all).await;
    let hidden = indicatif::ProgressBar::hidden();
    let redriven = ops::dlq::redrive(&deploy.stack.sqs, &legacy_dlq, &legacy_queue, None, &hidden).await.unwrap();
    assert_eq!(redriven.moved, rejected.len() as u64);
    let api = deploy.orders(current);
    let second = deploy.place(&api, 2, 8).await;
    deploy.cancel_and_ship(&api, &second).await;
    let later: Vec<StoredEvent> = deploy.rejections().await.into_iter().filter(|e| !rejected.contains(e)).collect();
    assert!(!later.is_empty() && later.iter().all(|e| e.schema_version == 2), "the upgraded saga writes 2");
    deploy.verify().await;
}

/// The consumers deployed first, while the previous build's publisher still
/// runs. What it sends (OrderRejected at 1, with no `downcastFrom`, so the
/// platform's subscriptions let it through) the upgraded consumers read,
/// upcast. The upgraded saga writes OrderRejected at 2, which the older
/// publisher cannot read: it stops at that record, its log line saying
/// why, and skips nothing; upgraded, it goes on from there. Nothing is
/// dead-lettered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_first_the_older_publisher_is_read_upcast_and_waits_at_the_first_newer_event() {
    let (previous, current) = (SchemaVersions::previous(), SchemaVersions::current());
    let mut deploy = Deploy::provision(open_window().in_build(previous)).await;
    let all = CONSUMER_QUEUES;
    let inventory = ["INVENTORY_HOT_QUEUE", "INVENTORY_QUEUE"];

    // Before the deploy: the older saga decides; what the publisher sent
    // the projections is still in their queues when they upgrade.
    let older = deploy.first_phase(previous, &inventory, 8).await;
    older.stop().await;
    let rejected = deploy.rejections().await;
    assert!(rejected.len() >= 2, "{} rejections", rejected.len());
    for event in &rejected {
        assert_eq!(sent_of(&deploy.topic, &event.envelope), BTreeSet::from([(1, "1".into(), None)]), "at 1 only");
    }

    // The consumers upgraded: they read the older publisher's messages,
    // and their saga writes OrderRejected at 2.
    let _upgraded = deploy.start_consumers(current, &all).await;
    let api = deploy.orders(current);
    let second = deploy.place(&api, 2, 8).await;
    let this = &deploy;
    eventually("the older publisher stops at a newer event", || async move {
        let stalled = this.logs.lines_with("stream record holds an event that cannot be read");
        let newer = this.rejections().await.into_iter().any(|e| e.schema_version == 2);
        match newer && stalled.iter().any(|line| line.contains(NEWER)) {
            true => Ok(()),
            false => Err(format!("no stall at a newer event yet: {stalled:?}")),
        }
    })
    .await;
    deploy.consumed(&all).await;
    for event in &rejected {
        let status = deploy.legacy_status(event.envelope.order_id).await;
        assert_eq!(status.as_deref(), Some("rejected"), "read upcast");
    }
    for event in deploy.rejections().await.iter().filter(|e| e.schema_version == 2) {
        assert!(sent_of(&deploy.topic, &event.envelope).is_empty(), "sent {}", event.envelope.event_id);
    }

    // The publisher upgraded: it goes on from the record it stopped at.
    deploy.upgrade_publisher(open_window());
    deploy.cancel_and_ship(&api, &second).await;
    deploy.verify().await;
}

/// The previous-version window, open as in production.
fn open_window() -> PreviousVersionWindow {
    PreviousVersionWindow::until(Utc::now() + chrono::Duration::days(1))
}
