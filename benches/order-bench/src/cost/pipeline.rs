//! The whole pipeline in this process, on the local stack, on resources of
//! its own: the API's place path, the publisher reading the events table's
//! stream, the inventory saga, fulfillment and the legacy sync each polling
//! its SQS queue, subscribed to the topic with its filter policy.
//!
//! Each handler call runs in an [`INVOCATION`] span, as a Lambda invocation
//! does in AWS (`lambda_runtime`'s OpenTelemetry layer); the stream reader's
//! and the pollers' own requests are made outside them, as Lambda's event
//! source mappings make them outside the function.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_sns::error::ProvideErrorMetadata;
use catalog_store::{CachedCatalog, DynamoCatalog};
use commands::{CommandContext, Known, OrderService, RetryPolicy};
use contract::publish::{BatchEntry, EntryFailure, EntryOutcome, EventPublisher, PublishError};
use domain::ports::EventStore;
use domain::{Catalog, CatalogItem, Command, CustomerId, OrderId, OrderRequest, RequestedLine, Sku, Title};
use event_store::DynamoEventStore;
use fulfillment::{DynamoFulfillmentStore, FulfillmentProjection};
use inventory::{InventoryProjection, LIMITS_CACHE_TTL};
use inventory_store::{DynamoInventoryStore, InventoryStore};
use legacy_sync::{ConnectionSettings, DatabaseSource, LegacySync};
use local_aws::poller::QueuePoller;
use local_aws::stream::{latest_stream_arn, StartingPosition, StreamOptions, StreamReader};
use publisher::sns::sdk_attributes;
use publisher::{publish_stream_batch, PreviousVersionWindow, SnsPublisher};
use sqs_consumer::{Delivery, Failed, Projection};
use telemetry::{RecentTraces, SpanRecord};
use tokio::sync::watch;
use tracing::Instrument;

use super::bill::{API, INVOCATION, PUBLISHER};
use testkit::requests::{RequestCounter, RequestTotals};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What every order buys: one of these, priced as the catalog says.
const SKU: &str = "tourney-casting-rod";
const PRICE_CENTS: u64 = 18_900;
/// Stock enough for any run.
const STOCK: u64 = 10_000_000;
/// Time for the pollers to delete what they applied before they are stopped.
const SETTLE: Duration = Duration::from_secs(2);
/// The longest a phase may take to decide and sync every order.
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);

/// How the pipeline batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Design {
    /// The platform: the template's batch sizes where the local stand-ins
    /// can take them, PublishBatch, one PostgreSQL transaction per batch.
    Batched,
    /// Everything one at a time: one stream record per publisher
    /// invocation and one `Publish` per event, one message per SQS
    /// receive (and invocation), hence one PostgreSQL transaction per event.
    Naive,
}

impl Design {
    pub fn name(self) -> &'static str {
        match self {
            Design::Batched => "this design (batched)",
            Design::Naive => "naive (one at a time)",
        }
    }

    /// Records per publisher invocation: the stream mapping's `BatchSize`.
    fn stream_batch(self) -> i32 {
        match self {
            Design::Batched => 100,
            Design::Naive => 1,
        }
    }

    /// Messages per SQS receive: the template's `BatchSize` of 10 for
    /// inventory and fulfillment; the legacy sync's 100 is more than one
    /// receive takes, so here it gets batches of at most 10 too.
    fn sqs_batch(self) -> i32 {
        match self {
            Design::Batched => 10,
            Design::Naive => 1,
        }
    }
}

/// The resources of one run; [`Stack::remove`] deletes them, but the events
/// table, which is the caller's.
pub struct Stack {
    config: aws_config::SdkConfig,
    meter: RequestCounter,
    dynamodb: aws_sdk_dynamodb::Client,
    events_table: String,
    tables: [String; 3],
    topic_arn: String,
    /// (function, queue URL), the order they are polled in.
    queues: Vec<(&'static str, String)>,
    admin: ConnectionSettings,
    database: String,
}

impl Stack {
    /// Tables, a topic, the consumers' queues subscribed to it and a legacy
    /// database, all new, on the local stack; `events_table` is created if
    /// missing and kept.
    pub async fn create(events_table: &str, database_url: &str) -> Result<Stack, Error> {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let meter = RequestCounter::asking_for_capacity();
        let dynamodb = meter.client(&config);
        let id = uuid::Uuid::new_v4().simple().to_string();
        contract::tables::create_events_table(&dynamodb, events_table).await?;
        let tables = [format!("cost-inventory-{id}"), format!("cost-fulfillment-{id}"), format!("cost-catalog-{id}")];
        contract::tables::create_inventory_table(&dynamodb, &tables[0]).await?;
        contract::tables::create_fulfillment_table(&dynamodb, &tables[1]).await?;
        contract::tables::create_catalog_table(&dynamodb, &tables[2]).await?;
        DynamoInventoryStore::new(dynamodb.clone(), tables[0].as_str()).set_available(&sku(), STOCK).await?;
        DynamoCatalog::new(dynamodb.clone(), tables[2].as_str())
            .put(&CatalogItem {
                sku: sku(),
                title: Title::parse("Tourney casting rod").expect("a valid title"),
                price_cents: PRICE_CENTS,
                currency: currency(),
                active: true,
                max_per_customer: None,
            })
            .await?;

        let (sns, sqs) = (aws_sdk_sns::Client::new(&config), aws_sdk_sqs::Client::new(&config));
        let topic_arn =
            sns.create_topic().name(format!("cost-{id}")).send().await?.topic_arn.ok_or("CreateTopic: no ARN")?;
        let mut queues = Vec::new();
        for (function, filter_policy) in [
            ("inventory", contract::subscription::INVENTORY),
            ("fulfillment", contract::subscription::FULFILLMENT),
            ("legacy-sync", contract::subscription::LEGACY_SYNC),
        ] {
            let name = format!("cost-{function}-{id}");
            let url = crate::publisher::subscribed_queue(&sns, &sqs, &topic_arn, &name, Some(filter_policy)).await?;
            queues.push((function, url));
        }

        let admin = ConnectionSettings::from_url(database_url)?;
        let database = format!("cost_{id}");
        legacy_sync::connect(&admin).await?.batch_execute(&format!("CREATE DATABASE {database}")).await?;
        let mut client = legacy_sync::connect(&admin.with_dbname(&database)).await?;
        legacy_sync::migrations::create_legacy_tables_if_missing(&client).await?;
        legacy_sync::migrate(&mut client).await?;
        client
            .execute(
                "INSERT INTO shop_product (id, title, description, slug, in_stock, price) \
                 VALUES ($1, 'Tourney casting rod', '', $2, true, $3)",
                &[&uuid::Uuid::new_v4(), &SKU, &(PRICE_CENTS as i32)],
            )
            .await?;
        Ok(Stack {
            config,
            meter,
            dynamodb,
            events_table: events_table.to_owned(),
            tables,
            topic_arn,
            queues,
            admin,
            database,
        })
    }

    pub async fn remove(self) -> Result<(), Error> {
        for table in &self.tables {
            self.dynamodb.delete_table().table_name(table).send().await?;
        }
        let (sns, sqs) = (aws_sdk_sns::Client::new(&self.config), aws_sdk_sqs::Client::new(&self.config));
        sns.delete_topic().topic_arn(&self.topic_arn).send().await?;
        for (_, url) in &self.queues {
            sqs.delete_queue().queue_url(url).send().await?;
        }
        legacy_sync::connect(&self.admin)
            .await?
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.database))
            .await?;
        Ok(())
    }
}

/// What one design's run left: its spans, from its first order placed to
/// its last message deleted.
pub struct Phase {
    pub orders: Vec<OrderId>,
    pub spans: Vec<SpanRecord>,
    /// DynamoDB capacity consumed, as DynamoDB Local reported it.
    pub capacity: RequestTotals,
    pub elapsed: Duration,
}

/// How the orders arrive.
#[derive(Clone, Copy, Debug)]
pub enum Arrival {
    /// `concurrency` placing at once, each placing its next as soon as its
    /// last is placed: a busy shop, whose batches fill.
    Busy { concurrency: usize },
    /// Each order placed once the one before is synced: every batch holds
    /// one order's events, so each order's trace holds all its requests.
    OneAtATime,
}

/// Messages each consumer applied without failure.
#[derive(Default)]
struct Applied {
    inventory: Arc<AtomicUsize>,
    fulfillment: Arc<AtomicUsize>,
    legacy: Arc<AtomicUsize>,
}

impl Applied {
    /// Every message of `orders` placed-and-confirmed orders applied: the
    /// saga takes each OrderPlaced, fulfillment each OrderConfirmed, the
    /// legacy sync both.
    fn done(&self, orders: usize) -> bool {
        self.inventory.load(Ordering::Acquire) >= orders
            && self.fulfillment.load(Ordering::Acquire) >= orders
            && self.legacy.load(Ordering::Acquire) >= 2 * orders
    }
}

/// Runs `orders` orders through the pipeline batched as `design` says, and
/// answers the spans `recent` kept of it (the process's subscriber must
/// export into `recent`).
pub async fn run_phase(
    stack: &Stack,
    design: Design,
    orders: usize,
    arrival: Arrival,
    recent: &RecentTraces,
) -> Result<Phase, Error> {
    let config = &stack.config;
    let events: Arc<dyn EventStore> = Arc::new(DynamoEventStore::new(stack.dynamodb.clone(), &stack.events_table));
    let service = OrderService::new(events.clone());
    let catalog: Arc<dyn Catalog> = Arc::new(DynamoCatalog::new(stack.dynamodb.clone(), stack.tables[2].as_str()));
    let applied = Applied::default();
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut stopped: watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };

    // The consumers, each with what its Lambda holds across invocations.
    let stock = Arc::new(DynamoInventoryStore::new(stack.dynamodb.clone(), stack.tables[0].as_str()));
    let limits = Arc::new(CachedCatalog::new(catalog.clone(), LIMITS_CACHE_TTL));
    let pick_requests = Arc::new(DynamoFulfillmentStore::new(stack.dynamodb.clone(), stack.tables[1].as_str()));
    let legacy = DatabaseSource::Settings(Box::new(stack.admin.with_dbname(&stack.database)));
    let sqs = aws_sdk_sqs::Client::new(config);
    let mut tasks = Vec::new();
    for (function, url) in &stack.queues {
        let (projection, count): (Arc<dyn Projection>, _) = match *function {
            "inventory" => (
                Arc::new(InventoryProjection::new(stock.clone(), limits.clone(), service.clone())),
                applied.inventory.clone(),
            ),
            "fulfillment" => (
                Arc::new(FulfillmentProjection::new(pick_requests.clone(), events.clone())),
                applied.fulfillment.clone(),
            ),
            _ => (Arc::new(LegacySync::new(legacy.clone(), events.clone())), applied.legacy.clone()),
        };
        let invoked = Invoked { function, inner: projection, applied: count };
        let poller = QueuePoller::new(sqs.clone(), url.as_str()).await?.with_max_messages(design.sqs_batch());
        let stopped = until_stopped(stopped.clone());
        tasks.push(tokio::spawn(async move { poller.run(&invoked, stopped).await }));
    }

    // The publisher, on the stream from its end: the records of this phase only.
    let streams = aws_sdk_dynamodbstreams::Client::new(config);
    let stream_arn = latest_stream_arn(&streams, &stack.events_table).await?;
    let options = StreamOptions {
        start: StartingPosition::Latest,
        batch_size: design.stream_batch(),
        ..StreamOptions::default()
    };
    let poll_interval = options.poll_interval;
    let mut reader = StreamReader::new(streams, stream_arn, options);
    let sns = aws_sdk_sns::Client::new(config);
    let publisher: Arc<dyn EventPublisher> = match design {
        Design::Batched => Arc::new(SnsPublisher::new(sns, &stack.topic_arn)),
        Design::Naive => Arc::new(OnePublishPerEvent { client: sns, topic_arn: stack.topic_arn.clone() }),
    };
    let handler = move |event: Event| {
        let publisher = publisher.clone();
        let span = tracing::info_span!(parent: None, INVOCATION, function = PUBLISHER, messages = event.records.len());
        async move {
            publish_stream_batch(publisher.as_ref(), PreviousVersionWindow::CLOSED, event, None).await.response()
        }
        .instrument(span)
    };
    // Takes the shards' iterators at their end, before anything is placed.
    reader.drain_once(&handler).await?;
    let reading = {
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            while !*stopped.borrow() {
                if let Err(error) = reader.drain_once(&handler).await {
                    eprintln!("cost: reading the stream failed, retrying: {error}");
                }
                tokio::select! {
                    _ = stopped.changed() => {}
                    () = tokio::time::sleep(poll_interval) => {}
                }
            }
        })
    };

    let from_micros = now_micros();
    let capacity_before = stack.meter.snapshot();
    let started = Instant::now();
    let api = Api { service, catalog: Arc::new(CachedCatalog::new(catalog, api::CATALOG_CACHE_TTL)) };
    let placed = match arrival {
        Arrival::Busy { concurrency } => {
            let api = Arc::new(api);
            let next = Arc::new(AtomicUsize::new(0));
            let placers: Vec<_> = (0..concurrency.max(1))
                .map(|_| {
                    let (api, next) = (api.clone(), next.clone());
                    tokio::spawn(async move {
                        let mut placed = Vec::new();
                        while next.fetch_add(1, Ordering::Relaxed) < orders {
                            placed.push(api.place().await?);
                        }
                        Ok::<_, Error>(placed)
                    })
                })
                .collect();
            let mut placed = Vec::with_capacity(orders);
            for placer in placers {
                placed.extend(placer.await??);
            }
            wait_until(PHASE_TIMEOUT, || applied.done(orders)).await?;
            placed
        }
        Arrival::OneAtATime => {
            let mut placed = Vec::with_capacity(orders);
            for n in 1..=orders {
                placed.push(api.place().await?);
                wait_until(PHASE_TIMEOUT, || applied.done(n)).await?;
            }
            placed
        }
    };
    tokio::time::sleep(SETTLE).await;
    let _ = stop.send(true);
    for task in tasks {
        task.await?;
    }
    reading.await?;
    let elapsed = started.elapsed();
    let capacity = stack.meter.snapshot() - capacity_before;
    let spans = recent.spans().into_iter().filter(|span| span.start_micros >= from_micros).collect();
    Ok(Phase { orders: placed, spans, capacity, elapsed })
}

async fn wait_until(timeout: Duration, done: impl Fn() -> bool) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() > deadline {
            return Err(format!("orders not through the pipeline after {} s", timeout.as_secs()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

fn sku() -> Sku {
    Sku::parse(SKU).expect("a valid SKU")
}

fn currency() -> domain::Currency {
    domain::Currency::parse("USD").expect("a valid currency")
}

/// The API function's place path (`POST /orders` without the HTTP layer):
/// the catalog from the instance's cache, PlaceOrder of a new id appended
/// without reading, in one invocation.
struct Api {
    service: OrderService,
    catalog: Arc<CachedCatalog>,
}

impl Api {
    async fn place(&self) -> Result<OrderId, Error> {
        let order_id = OrderId(uuid::Uuid::new_v4());
        let span = tracing::info_span!(parent: None, INVOCATION, function = API);
        async {
            let customer = format!("cost-{}", uuid::Uuid::new_v4().simple());
            let request = OrderRequest {
                customer_id: CustomerId::parse(&customer).expect("a valid customer id"),
                basket_id: None,
                currency: Some(currency()),
                lines: vec![RequestedLine { sku: sku(), quantity: 1, unit_price_cents: Some(PRICE_CENTS) }],
            };
            let items = self.catalog.items(&[sku()]).await?;
            let place = request.price(&items).map_err(|refusal| format!("not priced: {refusal:?}"))?;
            let context = CommandContext::new(format!("cost-{order_id}"));
            self.service
                .execute_from(order_id, &Command::Place(place), &context, RetryPolicy::NONE, Known::New)
                .await?;
            Ok(order_id)
        }
        .instrument(span)
        .await
    }
}

/// A consumer's handler, one invocation per batch; counts what it applied.
struct Invoked {
    function: &'static str,
    inner: Arc<dyn Projection>,
    /// Messages applied without failure.
    applied: Arc<AtomicUsize>,
}

#[async_trait]
impl Projection for Invoked {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        let messages = batch.len();
        let span = tracing::info_span!(parent: None, INVOCATION, function = self.function, messages);
        let failed = self.inner.apply(batch).instrument(span).await;
        self.applied.fetch_add(messages - failed.len(), Ordering::AcqRel);
        failed
    }
}

/// The naive publisher: one `Publish` request per event.
struct OnePublishPerEvent {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

#[async_trait]
impl EventPublisher for OnePublishPerEvent {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            let sent = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .message(&entry.message.body)
                .set_message_attributes(Some(sdk_attributes(&entry.message)))
                .send()
                .await;
            outcomes.push(match sent {
                Ok(output) => Ok(output.message_id.unwrap_or_default()),
                Err(error) => Err(EntryFailure {
                    code: error.code().unwrap_or("PublishFailed").to_owned(),
                    message: aws_sdk_sns::error::DisplayErrorContext(&error).to_string(),
                    sender_fault: false,
                }),
            });
        }
        Ok(outcomes)
    }
}
