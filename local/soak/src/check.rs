//! After the load: wait until the pipeline has drained, then check that
//! nothing was lost and that every projection equals what the event store
//! gives when rebuilt from it by the live code (`orders rebuild`'s
//! [`ops::rebuild`], each into scratch tables).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use domain::{Envelope, OrderEvent, OrderId, Sku};
use event_store::DynamoEventStore;
use fulfillment::{DynamoFulfillmentStore, FulfillmentStore};
use futures_util::stream::{self, StreamExt};
use indicatif::ProgressBar;
use inventory_store::{DynamoInventoryStore, InventoryStore};
use ops::rebuild::{ScanOptions, Tables};

use crate::load::Outcome;
use crate::stack::{Downstream, Stack};
use crate::{Args, Context, SoakError};

/// The pipeline once drained (or once the drain timed out).
pub struct Drained {
    /// Every stored event, per order, by version.
    pub orders: BTreeMap<OrderId, Vec<Envelope>>,
    /// Deliveries to the downstream queue per eventId.
    pub downstream: HashMap<String, u32>,
    pub at: Instant,
    pub timed_out: bool,
}

impl Drained {
    pub fn events(&self) -> usize {
        self.orders.values().map(Vec::len).sum()
    }
}

fn events_store(stack: &Stack) -> DynamoEventStore {
    DynamoEventStore::new(stack.dynamodb.clone(), stack.var(contract::config::EVENTS_TABLE))
}

async fn stored(stack: &Stack) -> Result<BTreeMap<OrderId, Vec<Envelope>>, SoakError> {
    let store = events_store(stack);
    let mut orders: BTreeMap<OrderId, Vec<Envelope>> = BTreeMap::new();
    let mut cursor = None;
    loop {
        let page = store.scan_stored(0, 1, cursor, None).await.step("scan the events table")?;
        for event in page.events {
            orders.entry(event.envelope.order_id).or_default().push(event.envelope);
        }
        cursor = page.cursor;
        if cursor.is_none() {
            break;
        }
    }
    for events in orders.values_mut() {
        events.sort_by_key(|e| e.version);
    }
    Ok(orders)
}

/// Messages a queue holds, visible or in flight.
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, SoakError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .step("queue depth")?;
    let attributes = out.attributes.unwrap_or_default();
    Ok(attributes.values().filter_map(|v| v.parse::<u64>().ok()).sum())
}

fn settled(events: &[Envelope]) -> bool {
    events.iter().any(|e| !matches!(e.event, OrderEvent::Placed(_)))
}

/// Drains the downstream queue until the consumer queues are empty, every
/// stored order is settled (the saga decided it, or it was cancelled) and
/// every stored event reached the downstream queue.
pub async fn wait_for_drain(args: &Args, stack: &Stack, mut downstream: Downstream) -> Result<Drained, SoakError> {
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout);
    loop {
        downstream.drain().await?;
        let mut busy = 0;
        for (url, _) in &stack.dlqs {
            busy += depth(&stack.sqs, url).await?;
        }
        let timed_out = Instant::now() > deadline;
        if busy == 0 || timed_out {
            let orders = stored(stack).await?;
            let undelivered = orders
                .values()
                .flatten()
                .filter(|e| !downstream.received.contains_key(&e.event_id.to_string()))
                .count();
            let unsettled = orders.values().filter(|e| !settled(e)).count();
            if (undelivered == 0 && unsettled == 0) || timed_out {
                return Ok(Drained { orders, downstream: downstream.received, at: Instant::now(), timed_out });
            }
            eprintln!(
                "draining: queues empty; {undelivered} stored events not yet downstream, {unsettled} orders undecided"
            );
        } else {
            eprintln!("draining: {busy} messages in the consumer queues");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Samples the consumer queues' depths every 5 s until `stop` fires and
/// answers each queue's peak: the queue that backs up names the stage
/// that bounds the pipeline.
pub async fn peak_depths(
    sqs: aws_sdk_sqs::Client,
    queues: Vec<(String, String)>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Vec<(String, u64)> {
    let mut peaks: Vec<(String, u64)> = queues.iter().map(|(name, _)| (name.clone(), 0)).collect();
    loop {
        for ((_, url), (_, peak)) in queues.iter().zip(peaks.iter_mut()) {
            if let Ok(now) = depth(&sqs, url).await {
                *peak = (*peak).max(now);
            }
        }
        tokio::select! {
            _ = &mut stop => return peaks,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

/// The outcome of every check.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// Orders answered 201 whose OrderPlaced is not in the store.
    pub accepted_missing: Vec<String>,
    /// Orders whose versions are not 1..n, or whose accepted cancel/ship is not their last state.
    pub wrong_history: Vec<String>,
    /// Stored orders still PLACED.
    pub unsettled: usize,
    pub delivered_unique: usize,
    pub delivered_duplicates: u64,
    /// Stored events the downstream queue never received.
    pub delivered_missing: usize,
    /// Received eventIds the store does not hold.
    pub delivered_unknown: usize,
    /// SKUs whose live counters differ from the rebuilt ones, or whose sum is not the stock set.
    pub inventory_diff: Vec<String>,
    pub inventory_skus: usize,
    pub fulfillment_diff: Vec<String>,
    pub fulfillment_requests: usize,
    pub legacy_diff: Vec<String>,
    pub legacy_orders: usize,
    /// Per DLQ: what is in it besides the injected poison, and poison missing from it.
    pub dlq_diff: Vec<String>,
    pub dlq_poison: usize,
}

impl Verdicts {
    pub fn lost_nothing(&self) -> bool {
        self.accepted_missing.is_empty()
            && self.wrong_history.is_empty()
            && self.delivered_missing == 0
            && self.delivered_unknown == 0
    }

    pub fn passed(&self) -> bool {
        self.lost_nothing()
            && self.unsettled == 0
            && self.inventory_diff.is_empty()
            && self.fulfillment_diff.is_empty()
            && self.legacy_diff.is_empty()
            && self.dlq_diff.is_empty()
    }
}

pub async fn verify(
    stack: &Stack,
    outcomes: &[Outcome],
    drained: &Drained,
    stock: &BTreeMap<&'static str, u64>,
    poison: &[(String, String)],
) -> Result<Verdicts, SoakError> {
    let mut v = Verdicts::default();
    for outcome in outcomes {
        let Some(id) = outcome.order_id else { continue };
        let Some(events) = drained.orders.get(&OrderId(id)) else {
            v.accepted_missing.push(id.to_string());
            continue;
        };
        let last = events.last().map(|e| e.event_type());
        let wrong = !matches!(events.first().map(|e| &e.event), Some(OrderEvent::Placed(_)))
            || (outcome.cancelled && last != Some(domain::EventType::OrderCancelled))
            || (outcome.shipped && last != Some(domain::EventType::OrderShipped));
        if wrong {
            v.wrong_history.push(id.to_string());
        }
    }
    for (id, events) in &drained.orders {
        if events.iter().enumerate().any(|(i, e)| e.version as usize != i + 1) {
            v.wrong_history.push(id.to_string());
        }
    }
    v.unsettled = drained.orders.values().filter(|e| !settled(e)).count();
    let stored: BTreeSet<String> = drained.orders.values().flatten().map(|e| e.event_id.to_string()).collect();
    v.delivered_unique = drained.downstream.len();
    v.delivered_duplicates = drained.downstream.values().map(|n| u64::from(n - 1)).sum();
    v.delivered_missing = stored.iter().filter(|id| !drained.downstream.contains_key(*id)).count();
    v.delivered_unknown = drained.downstream.keys().filter(|id| !stored.contains(*id)).count();

    // A rebuild that fails is a projection that did not converge, with the reason.
    if let Err(error) = inventory(stack, stock, &mut v).await {
        v.inventory_diff.push(chain(&error));
    }
    if let Err(error) = fulfillment(stack, drained, &mut v).await {
        v.fulfillment_diff.push(chain(&error));
    }
    if let Err(error) = legacy(stack, &mut v).await {
        v.legacy_diff.push(chain(&error));
    }
    dead_letters(stack, poison, &mut v).await?;
    Ok(v)
}

/// An error and its sources, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Where the soak keeps its rebuilds' progress, each started afresh.
fn scan_options(stack: &Stack) -> ScanOptions {
    ScanOptions { segments: 4, page_size: None, state_dir: stack.dir.clone(), restart: true, stop_after_pages: None }
}

async fn inventory(stack: &Stack, stock: &BTreeMap<&'static str, u64>, v: &mut Verdicts) -> Result<(), SoakError> {
    let live_table = stack.var(contract::config::INVENTORY_TABLE);
    let into = format!("{live_table}-expected");
    let tables = Tables {
        dynamodb: &stack.dynamodb,
        events: stack.var(contract::config::EVENTS_TABLE),
        live: live_table,
        into: &into,
    };
    ops::rebuild::inventory(&tables, None, &scan_options(stack), &ProgressBar::hidden())
        .await
        .step("rebuild inventory from the event store")?;
    let live = DynamoInventoryStore::new(stack.dynamodb.clone(), live_table);
    let target = DynamoInventoryStore::new(stack.dynamodb.clone(), &into);
    let skus: Vec<Sku> = stock.keys().filter_map(|s| Sku::parse(s).ok()).collect();
    let now = live.stock(&skus).await.step("read the live stock")?;
    let rebuilt = target.stock(&skus).await.step("read the rebuilt stock")?;
    for sku in &skus {
        let (live, rebuilt) = (now.get(sku), rebuilt.get(sku));
        let set = stock.get(sku.as_str()).copied().unwrap_or(0);
        let sum = live.map_or(0, |s| s.available + s.reserved + s.shipped);
        if live != rebuilt || sum != set {
            v.inventory_diff.push(format!("{}: live {live:?}, rebuilt {rebuilt:?}, stock set {set}", sku.as_str()));
        }
    }
    v.inventory_skus = skus.len();
    Ok(())
}

async fn fulfillment(stack: &Stack, drained: &Drained, v: &mut Verdicts) -> Result<(), SoakError> {
    let into = format!("{}-expected", stack.var(contract::config::FULFILLMENT_TABLE));
    let tables = Tables {
        dynamodb: &stack.dynamodb,
        events: stack.var(contract::config::EVENTS_TABLE),
        live: stack.var(contract::config::FULFILLMENT_TABLE),
        into: &into,
    };
    ops::rebuild::fulfillment(&tables, &scan_options(stack), &ProgressBar::hidden())
        .await
        .step("rebuild fulfillment from the event store")?;
    let live = DynamoFulfillmentStore::new(stack.dynamodb.clone(), stack.var(contract::config::FULFILLMENT_TABLE));
    let rebuilt = DynamoFulfillmentStore::new(stack.dynamodb.clone(), &into);
    let compared: Vec<Result<Option<String>, SoakError>> = stream::iter(drained.orders.keys().copied())
        .map(|id| {
            let (live, rebuilt) = (&live, &rebuilt);
            async move {
                let a = live.get(id).await.step("read a live pick request")?;
                let b = rebuilt.get(id).await.step("read a rebuilt pick request")?;
                Ok((a != b).then(|| format!("{id}: live {a:?}, rebuilt {b:?}")))
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for result in compared {
        if let Some(diff) = result? {
            v.fulfillment_diff.push(diff);
        } else {
            v.fulfillment_requests += 1;
        }
    }
    Ok(())
}

/// Every row of the order tables, keyed by order: the order as JSON and its items (ids left out: serials).
async fn legacy_rows(settings: &legacy_sync::ConnectionSettings) -> Result<BTreeMap<String, String>, SoakError> {
    let client = legacy_sync::connect(settings).await.step("connect to a legacy database")?;
    let rows = client
        .query(
            "SELECT o.id::text, row_to_json(o)::text || coalesce((SELECT json_agg(json_build_array(i.sku, i.product_id, i.item_price, i.quantity) ORDER BY i.sku)::text FROM shop_orderitem i WHERE i.order_id = o.id), '[]')
             FROM shop_order o",
            &[],
        )
        .await
        .step("read shop_order and shop_orderitem")?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn legacy(stack: &Stack, v: &mut Verdicts) -> Result<(), SoakError> {
    let options = legacy_sync::RebuildOptions { segments: 4, truncate: false, restart: false };
    let source = stack.legacy_expected.clone().into();
    ops::rebuild::legacy(
        &stack.dynamodb,
        stack.var(contract::config::EVENTS_TABLE),
        source,
        options,
        &ProgressBar::hidden(),
    )
    .await
    .step("rebuild the legacy rows from the event store")?;
    let live = legacy_rows(&stack.legacy).await?;
    let expected = legacy_rows(&stack.legacy_expected).await?;
    let ids: BTreeSet<&String> = live.keys().chain(expected.keys()).collect();
    for id in ids {
        let (a, b) = (live.get(id), expected.get(id));
        if a != b {
            v.legacy_diff.push(format!("{id}: live {a:?}, from the store {b:?}"));
        }
    }
    v.legacy_orders = live.len();
    Ok(())
}

async fn dead_letters(stack: &Stack, poison: &[(String, String)], v: &mut Verdicts) -> Result<(), SoakError> {
    for (queue, dlq) in &stack.dlqs {
        let mut bodies = Vec::new();
        loop {
            let out = stack
                .sqs
                .receive_message()
                .queue_url(dlq)
                .max_number_of_messages(10)
                .visibility_timeout(300)
                .send()
                .await
                .step("receive from a DLQ")?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            bodies.extend(messages.iter().map(|m| m.body().unwrap_or_default().to_owned()));
        }
        let expected: Vec<String> = poison.iter().filter(|(q, _)| q == queue).map(|(_, b)| b.clone()).collect();
        v.dlq_poison += bodies.iter().filter(|b| expected.contains(b)).count();
        for body in bodies.iter().filter(|b| !expected.contains(b)) {
            v.dlq_diff.push(format!("{dlq}: not injected: {body}"));
        }
        for body in expected.iter().filter(|b| !bodies.contains(b)) {
            v.dlq_diff.push(format!("{dlq}: injected poison missing: {body}"));
        }
    }
    Ok(())
}
