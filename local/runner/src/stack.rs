//! Local-stack mode: the same handlers against DynamoDB Local, moto SNS/SQS
//! and PostgreSQL. The publisher reads the events table's stream the way an
//! event source mapping does; each consumer polls its queue the same way.

use std::future::pending;
use std::sync::Arc;

use api::App;
use catalog_store::{CachedCatalog, DynamoCatalog};
use commands::OrderService;
use domain::{HotList, HotListError, Lane};
use event_store::DynamoEventStore;
use fulfillment::{DynamoFulfillmentStore, FulfillmentProjection};
use inventory::{InventoryProjection, LIMITS_CACHE_TTL};
use inventory_store::{DynamoInventoryStore, InventoryService};
use local_aws::poller::QueuePoller;
use local_aws::stream::{latest_stream_arn, run_stream, StreamOptions};
use publisher::{handle_stream_event, PreviousVersionWindow, SnsPublisher};
use sqs_consumer::{Backoff, Projection};

/// Receives before a queue's redrive policy dead-letters a message: the
/// template's `maxReceiveCount`, which with the consumers' backoff outlasts
/// a 6-hour outage (docs/operations.md, "Outages and backoff").
pub const MAX_RECEIVES: u32 = 60;

/// Resource names, from the same variables the Lambdas read.
pub struct Names {
    pub events_table: String,
    pub inventory_table: String,
    pub catalog_table: String,
    pub fulfillment_table: String,
    pub topic_arn: String,
    /// The standard lane's inventory queue.
    pub inventory_queue: String,
    /// The hot lane's inventory queue (the same consumer code).
    pub inventory_hot_queue: String,
    pub fulfillment_queue: String,
    pub legacy_sync_queue: String,
    /// Orders placed with one of these SKUs travel in the hot lane
    /// (`HOT_SKUS`, or the runner's `--hot-skus`).
    pub hot_list: HotList,
}

impl Names {
    pub fn from_env() -> Result<Self, HotListError> {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Ok(Names {
            events_table: var(contract::config::EVENTS_TABLE, "order-events"),
            inventory_table: var(contract::config::INVENTORY_TABLE, "inventory"),
            catalog_table: var(contract::config::CATALOG_TABLE, "catalog"),
            fulfillment_table: var(contract::config::FULFILLMENT_TABLE, "fulfillment"),
            topic_arn: var(contract::config::ORDER_EVENTS_TOPIC_ARN, "arn:aws:sns:us-east-1:123456789012:order-events"),
            inventory_queue: var("INVENTORY_QUEUE", lane_queue(Lane::Standard)),
            inventory_hot_queue: var("INVENTORY_HOT_QUEUE", lane_queue(Lane::Hot)),
            fulfillment_queue: var("FULFILLMENT_QUEUE", "fulfillment"),
            legacy_sync_queue: var("LEGACY_SYNC_QUEUE", "legacy-sync"),
            hot_list: HotList::configured(std::env::var(contract::config::HOT_SKUS).ok().as_deref())?,
        })
    }

    /// Each inventory lane's queue and its subscription's filter policy.
    pub fn inventory_lanes(&self) -> [(&str, &'static str); 2] {
        [
            (&self.inventory_hot_queue, contract::subscription::INVENTORY_HOT),
            (&self.inventory_queue, contract::subscription::INVENTORY),
        ]
    }
}

fn lane_queue(lane: Lane) -> &'static str {
    inventory::LANE_QUEUES
        .iter()
        .find(|(l, _, _)| *l == lane)
        .map(|(_, queue, _)| *queue)
        .expect("every lane has a queue")
}

/// Where the stream reader remembers, per shard, the last record it handed
/// to the publisher: `$STREAM_CHECKPOINT`, else
/// `.local-stack/stream-checkpoints/<events table>.json` in the workspace.
pub fn checkpoint_path(events_table: &str) -> std::path::PathBuf {
    match std::env::var_os("STREAM_CHECKPOINT") {
        Some(path) => path.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.local-stack/stream-checkpoints")
            .join(format!("{events_table}.json")),
    }
}

pub fn is_configured() -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"].iter().any(|v| std::env::var_os(v).is_some())
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

/// Seconds of the consumers' backoff: its first ceiling, and its cap.
pub const BACKOFF_BASE_VAR: &str = "CONSUMER_BACKOFF_BASE_SECONDS";
pub const BACKOFF_CAP_VAR: &str = "CONSUMER_BACKOFF_CAP_SECONDS";

/// The Lambdas' backoff ([`Backoff::default`]), unless [`BACKOFF_BASE_VAR`]
/// and [`BACKOFF_CAP_VAR`] scale it down (the soak does, to run in minutes).
pub fn consumer_backoff() -> Result<Backoff, String> {
    backoff_from(std::env::var(BACKOFF_BASE_VAR).ok(), std::env::var(BACKOFF_CAP_VAR).ok())
}

fn backoff_from(base: Option<String>, cap: Option<String>) -> Result<Backoff, String> {
    let seconds = |var: &str, value: Option<String>, default: std::time::Duration| match value {
        Some(value) => value
            .parse::<u64>()
            .map(std::time::Duration::from_secs)
            .map_err(|_| format!("{var} must be a whole number of seconds, not {value:?}")),
        None => Ok(default),
    };
    let default = Backoff::default();
    let backoff = Backoff {
        base: seconds(BACKOFF_BASE_VAR, base, default.base)?,
        cap: seconds(BACKOFF_CAP_VAR, cap, default.cap)?,
    };
    if backoff.base.is_zero() || backoff.cap < backoff.base {
        return Err(format!("{BACKOFF_BASE_VAR} must be at least 1 and at most {BACKOFF_CAP_VAR}"));
    }
    Ok(backoff)
}

pub async fn start(names: &Names) -> Result<App, Box<dyn std::error::Error>> {
    let backoff = consumer_backoff()?;
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let events = Arc::new(DynamoEventStore::new(dynamodb.clone(), &names.events_table));
    let orders = OrderService::new(events.clone()).with_hot_list(names.hot_list.clone());

    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let stream_arn = latest_stream_arn(&streams, &names.events_table).await?;
    let sns = Arc::new(SnsPublisher::new(aws_sdk_sns::Client::new(&config), &names.topic_arn));
    let window = PreviousVersionWindow::from_env()?;
    let checkpoint = checkpoint_path(&names.events_table);
    tracing::info!(checkpoint = %checkpoint.display(), "stream reader resumes from its checkpoint (delete it to replay the stream)");
    tokio::spawn(run_stream(
        streams,
        stream_arn,
        StreamOptions { checkpoint: Some(checkpoint), ..StreamOptions::default() },
        move |event| {
            let sns = sns.clone();
            async move { handle_stream_event(sns.as_ref(), window, event, None).await }
        },
        pending(),
    ));

    let sqs = aws_sdk_sqs::Client::new(&config);
    let stock = Arc::new(DynamoInventoryStore::new(dynamodb.clone(), &names.inventory_table));
    let catalog = Arc::new(DynamoCatalog::new(dynamodb.clone(), &names.catalog_table));
    // One saga, both lanes' queues, each polled on its own (in AWS: two
    // functions of the same code, each with its own concurrency), with its
    // own cache of the catalog, as a Lambda instance has.
    let limits = Arc::new(CachedCatalog::new(catalog.clone(), LIMITS_CACHE_TTL));
    let inventory = Arc::new(InventoryProjection::new(stock.clone(), limits, orders.clone()));
    for (queue, _) in names.inventory_lanes() {
        poll(&sqs, queue, inventory.clone(), backoff).await?;
    }
    let pick_requests = Arc::new(DynamoFulfillmentStore::new(dynamodb, &names.fulfillment_table));
    let fulfillment = Arc::new(FulfillmentProjection::new(pick_requests, orders.store().clone()));
    poll(&sqs, &names.fulfillment_queue, fulfillment, backoff).await?;
    if let Some(sync) = crate::legacy::sync(events.clone()).await? {
        poll(&sqs, &names.legacy_sync_queue, Arc::new(sync), backoff).await?;
    }
    Ok(App::new(orders, InventoryService::new(stock), catalog))
}

async fn poll(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    projection: Arc<dyn Projection>,
    backoff: Backoff,
) -> Result<(), Box<dyn std::error::Error>> {
    let url = sqs.get_queue_url().queue_name(queue).send().await.map_err(|e| {
        format!("queue {queue}: {} (run `order-platform provision`)", aws_sdk_sqs::error::DisplayErrorContext(&e))
    })?;
    let poller = QueuePoller::new(sqs.clone(), url.queue_url.unwrap_or_default()).await?.with_backoff(backoff);
    tracing::info!(%queue, "polling");
    tokio::spawn(async move { poller.run(projection.as_ref(), pending()).await });
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_consumer_backoff_is_the_lambdas_unless_scaled_and_bad_values_are_refused() {
        assert_eq!(backoff_from(None, None), Ok(Backoff::default()));
        let scaled = Backoff { base: Duration::from_secs(1), cap: Duration::from_secs(5) };
        assert_eq!(backoff_from(Some("1".into()), Some("5".into())), Ok(scaled));
        assert_eq!(
            backoff_from(Some("1s".into()), None),
            Err("CONSUMER_BACKOFF_BASE_SECONDS must be a whole number of seconds, not \"1s\"".into())
        );
        for (base, cap) in [("0", "5"), ("10", "5")] {
            assert!(backoff_from(Some(base.into()), Some(cap.into())).is_err(), "{base}, {cap}");
        }
    }
}
