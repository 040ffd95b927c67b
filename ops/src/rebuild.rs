//! `orders rebuild inventory|fulfillment|legacy`: a projection rebuilt from
//! the event store through its live code, resumable, with progress.
//!
//! - **fulfillment**: every page of the scan goes through
//!   [`fulfillment::FulfillmentProjection`] into the target table. Each
//!   write is conditioned on the event being newer than the last applied,
//!   so the scan's order across orders does not matter.
//! - **inventory**: every page goes through the live saga,
//!   [`inventory::InventoryProjection`], into the target table. The saga's
//!   decisions are already in the store (OrderConfirmed / OrderRejected),
//!   and the rebuild must follow them, not decide again: stock is primed
//!   so that every order can reserve, the saga's ConfirmOrder/RejectOrder
//!   runs against the store read-only (an order already settled makes it a
//!   no-op, exactly as a redelivery does live), and an order the store
//!   shows rejected or cancelled makes the saga give its stock back — its
//!   own path for "order no longer wants its stock". So `reserved` and
//!   `shipped` end as the live saga left them. Last, `available` is set to
//!   the merchandiser's count (`available + reserved + shipped` of the
//!   `--stock-from` table, which every saga step keeps constant) less
//!   `reserved` and `shipped`. An order the live saga has not settled yet
//!   stops the rebuild (the saga would have to decide it); run it again when
//!   the pipeline is drained.
//! - **legacy**: `legacy_sync::rebuild` (its progress is kept in
//!   `order_sync.rebuild_segment`).
//!
//! [`fulfillment`], [`inventory`] and [`legacy`] are the whole of each
//! rebuild, for `orders rebuild` and the soak's check alike.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use commands::OrderService;
use domain::ports::{EventStore, StoreError};
use domain::{Envelope, OrderEvent, OrderId, Sku};
use event_store::{DynamoEventStore, StoredEvent};
use inventory_store::{DynamoInventoryStore, InventoryStore, Stock};
use sqs_consumer::{Delivery, Projection};

use indicatif::ProgressBar;

use crate::scan::{self, PageHandler, ScanJob, ScanOutcome};
use crate::stack::Error;
use crate::state::{self, StateFile};

/// What `available` is primed to while replaying: more than any order asks.
const PRIMED: u64 = 1_000_000_000_000;

/// Without their lane: the saga then settles an order on a read, which
/// finds it settled (a no-op), where a known state would first try an
/// append that [`ReadOnlyStore`] refuses.
fn deliveries(events: Vec<StoredEvent>) -> Vec<Delivery> {
    events
        .into_iter()
        .map(|e| Delivery {
            message_id: e.envelope.event_id.to_string(),
            envelope: e.envelope,
            lane: None,
            traceparent: None,
        })
        .collect()
}

/// The event store as the rebuilt saga sees it: reads as usual, never writes.
struct ReadOnlyStore(Arc<dyn EventStore>);

#[async_trait]
impl EventStore for ReadOnlyStore {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.0.load(order_id).await
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        let order = events.first().map(|e| e.order_id.to_string()).unwrap_or_default();
        Err(StoreError::Unavailable(
            format!(
                "order {order} has not been settled by the live saga yet (the rebuild never writes events): \
                 run the rebuild again once the pipeline has drained"
            )
            .into(),
        ))
    }
}

struct FulfillmentRebuild {
    projection: fulfillment::FulfillmentProjection,
}

#[async_trait]
impl PageHandler for FulfillmentRebuild {
    async fn page(&self, _segment: u32, events: Vec<StoredEvent>) -> Result<u64, Error> {
        let events: Vec<_> = events.into_iter().filter(|e| fulfillment::subscribed(e.envelope.event_type())).collect();
        let count = events.len() as u64;
        // The page holds each order's events together, by version, and the
        // projection applies an order's events of a batch in version order.
        for chunk in deliveries(events).chunks(25) {
            let failed = self.projection.apply(chunk.to_vec()).await;
            if !failed.is_empty() {
                return Err(format!("fulfillment: {} events could not be applied (see the log)", failed.len()).into());
            }
        }
        Ok(count)
    }
}

struct InventoryRebuild {
    projection: inventory::InventoryProjection,
    target: Arc<DynamoInventoryStore>,
    /// SKUs primed by this run.
    primed: Mutex<BTreeSet<Sku>>,
}

impl InventoryRebuild {
    fn new(target: Arc<DynamoInventoryStore>, events: Arc<dyn EventStore>) -> Self {
        let orders = OrderService::new(Arc::new(ReadOnlyStore(events)));
        // No purchase limits: the live saga already decided every order, and
        // a limit applied again in the scan's order could reject an order
        // it confirmed. So the rebuilt table counts no customer shares.
        let no_limits = Arc::new(catalog_store::MemoryCatalog::new());
        InventoryRebuild {
            projection: inventory::InventoryProjection::new(target.clone(), no_limits, orders),
            target,
            primed: Mutex::new(BTreeSet::new()),
        }
    }

    async fn prime(&self, events: &[StoredEvent]) -> Result<(), Error> {
        let skus: BTreeSet<Sku> = events
            .iter()
            .filter_map(|e| match &e.envelope.event {
                OrderEvent::Placed(placed) => Some(placed.lines.iter().map(|l| l.sku.clone())),
                _ => None,
            })
            .flatten()
            .collect();
        let new: Vec<Sku> = {
            let primed = self.primed.lock().expect("primed lock");
            skus.into_iter().filter(|s| !primed.contains(s)).collect()
        };
        for sku in new {
            self.target.set_available(&sku, PRIMED).await?;
            self.primed.lock().expect("primed lock").insert(sku);
        }
        Ok(())
    }
}

#[async_trait]
impl PageHandler for InventoryRebuild {
    async fn page(&self, _segment: u32, events: Vec<StoredEvent>) -> Result<u64, Error> {
        let events: Vec<_> = events.into_iter().filter(|e| inventory::subscribed(e.envelope.event_type())).collect();
        self.prime(&events).await?;
        let count = events.len() as u64;
        for chunk in deliveries(events).chunks(25) {
            let failed = self.projection.apply(chunk.to_vec()).await;
            if !failed.is_empty() {
                return Err(format!(
                    "inventory: {} events could not be applied (see the log; RUST_LOG=warn shows why)",
                    failed.len()
                )
                .into());
            }
        }
        Ok(count)
    }
}

/// Every SKU with a stock item in `table`.
async fn stock_skus(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Sku>, Error> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut skus = Vec::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", AttributeValue::S("sku#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| format!("Scan {table}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        for item in page.items() {
            if let Some(sku) = item.get("sku").and_then(|v| v.as_s().ok()).and_then(|s| Sku::parse(s).ok()) {
                skus.push(sku);
            }
        }
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    Ok(skus)
}

/// One SKU's counters after the rebuild.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StockRow {
    pub sku: String,
    pub available: u64,
    pub reserved: u64,
    pub shipped: u64,
    /// The merchandiser's count the rebuilt counters add up to.
    pub total: u64,
    /// `reserved + shipped` is more than the count: `available` is left at 0.
    pub short: bool,
}

/// The last step: `available` = the count in `stock_from` less what the
/// replay holds reserved and shipped.
async fn settle_available(
    client: &aws_sdk_dynamodb::Client,
    stock_from: &DynamoInventoryStore,
    stock_from_table: &str,
    target: &DynamoInventoryStore,
    target_table: &str,
) -> Result<Vec<StockRow>, Error> {
    let mut skus: BTreeSet<Sku> = stock_skus(client, stock_from_table).await?.into_iter().collect();
    skus.extend(stock_skus(client, target_table).await?);
    let skus: Vec<Sku> = skus.into_iter().collect();
    let mut counts: HashMap<Sku, Stock> = HashMap::new();
    let mut rebuilt: HashMap<Sku, Stock> = HashMap::new();
    for chunk in skus.chunks(100) {
        counts.extend(stock_from.stock(chunk).await?);
        rebuilt.extend(target.stock(chunk).await?);
    }
    let mut rows = Vec::new();
    for sku in skus {
        let total = counts.get(&sku).map_or(0, |s| s.available + s.reserved + s.shipped);
        let (reserved, shipped) = rebuilt.get(&sku).map_or((0, 0), |s| (s.reserved, s.shipped));
        let held = reserved + shipped;
        let available = total.saturating_sub(held);
        let stock = target.set_available(&sku, available).await?;
        rows.push(StockRow {
            sku: sku.as_str().to_owned(),
            available: stock.available,
            reserved: stock.reserved,
            shipped: stock.shipped,
            total,
            short: held > total,
        });
    }
    Ok(rows)
}

/// The source and target of a rebuild into a DynamoDB table.
pub struct Tables<'a> {
    pub dynamodb: &'a aws_sdk_dynamodb::Client,
    pub events: &'a str,
    /// The live projection's table, which is never a target.
    pub live: &'a str,
    /// The table to rebuild into (created when missing).
    pub into: &'a str,
}

/// How a rebuild scans the events table (the `orders rebuild` flags).
#[derive(Clone, Debug)]
pub struct ScanOptions {
    pub segments: u32,
    /// Items read per page (`None`: DynamoDB's 1 MB pages).
    pub page_size: Option<i32>,
    /// Where the progress file is kept.
    pub state_dir: PathBuf,
    /// Forget recorded progress and start over.
    pub restart: bool,
    /// Stop (as if interrupted) after this many pages in all.
    pub stop_after_pages: Option<u64>,
}

impl Tables<'_> {
    fn refuse_live(&self) -> Result<(), Error> {
        if self.into == self.live {
            return Err(format!(
                "{} is the live table: rebuild into another table, compare, then point the stack at it",
                self.into
            )
            .into());
        }
        Ok(())
    }

    fn store(&self) -> DynamoEventStore {
        DynamoEventStore::new(self.dynamodb.clone(), self.events)
    }

    /// The job of rebuilding `kind`, its progress in a state file of its own.
    fn job(&self, kind: &str, options: &ScanOptions) -> (ScanJob, StateFile) {
        let request = serde_json::json!({ "kind": kind, "eventsTable": self.events, "into": self.into });
        let path = state::job_path(&options.state_dir, &format!("rebuild-{kind}"), &request.to_string());
        let job = ScanJob {
            store: self.store(),
            segments: options.segments,
            page_size: options.page_size,
            restart: options.restart,
            stop_after_pages: options.stop_after_pages,
        };
        (job, StateFile { path, request })
    }
}

/// Rebuilds the fulfillment projection into `tables.into`.
pub async fn fulfillment(tables: &Tables<'_>, options: &ScanOptions, bar: &ProgressBar) -> Result<ScanOutcome, Error> {
    tables.refuse_live()?;
    contract::tables::create_fulfillment_table(tables.dynamodb, tables.into).await?;
    let store = Arc::new(fulfillment::DynamoFulfillmentStore::new(tables.dynamodb.clone(), tables.into));
    let handler = Arc::new(FulfillmentRebuild {
        projection: fulfillment::FulfillmentProjection::new(store, Arc::new(tables.store())),
    });
    let (job, state) = tables.job("fulfillment", options);
    scan::run(job, state, handler, bar).await
}

/// What an inventory rebuild did.
pub struct InventoryRebuilt {
    pub outcome: ScanOutcome,
    /// Every SKU's settled counters; `None` when the scan was interrupted
    /// (`available` is settled once every event is replayed).
    pub stock: Option<Vec<StockRow>>,
}

/// Rebuilds the inventory projection into `tables.into`; `available` is
/// settled from the counts of `stock_from` (default: the live table).
pub async fn inventory(
    tables: &Tables<'_>,
    stock_from: Option<&str>,
    options: &ScanOptions,
    bar: &ProgressBar,
) -> Result<InventoryRebuilt, Error> {
    tables.refuse_live()?;
    let stock_from = stock_from.unwrap_or(tables.live);
    if stock_from == tables.into {
        return Err("--stock-from must not be the table being rebuilt".into());
    }
    contract::tables::create_inventory_table(tables.dynamodb, tables.into).await?;
    let target = Arc::new(DynamoInventoryStore::new(tables.dynamodb.clone(), tables.into));
    let handler = Arc::new(InventoryRebuild::new(target.clone(), Arc::new(tables.store())));
    let (job, state) = tables.job("inventory", options);
    let outcome = scan::run(job, state, handler, bar).await?;
    if outcome.interrupted {
        return Ok(InventoryRebuilt { outcome, stock: None });
    }
    let source = DynamoInventoryStore::new(tables.dynamodb.clone(), stock_from);
    let stock = settle_available(tables.dynamodb, &source, stock_from, &target, tables.into).await?;
    Ok(InventoryRebuilt { outcome, stock: Some(stock) })
}

/// Rebuilds the legacy rows of `source`'s database from `events_table`.
pub async fn legacy(
    dynamodb: &aws_sdk_dynamodb::Client,
    events_table: &str,
    source: legacy_sync::DatabaseSource,
    options: legacy_sync::RebuildOptions,
    bar: &ProgressBar,
) -> Result<ScanOutcome, Error> {
    let store = DynamoEventStore::new(dynamodb.clone(), events_table);
    let bar = bar.clone();
    Ok(legacy_sync::rebuild(source, store.clone(), Arc::new(store), options, move |p| bar.set_position(p.events))
        .await?)
}
