use std::collections::HashMap;

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnConsumedCapacity, TransactWriteItem};
use aws_sdk_dynamodb::Client;
use domain::ports::{EventScan, EventStore, ScanPage, StoreError};
use domain::upcast::{SchemaVersions, UpcastError};
use domain::{Envelope, EnvelopeError, Lane, OrderId};

use contract::event_item::{AnyItem, EventItem, EVENT_KIND, KIND, ORDER_ID, VERSION};

#[derive(Clone)]
pub struct DynamoEventStore {
    client: Client,
    table: String,
    /// The versions it reads up to and writes: this build's, unless a test
    /// runs the store of an earlier build ([`Self::in_build`]).
    build: SchemaVersions,
}

impl DynamoEventStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoEventStore { client, table: table.into(), build: SchemaVersions::current() }
    }

    /// The same table as the build at `build` reads and writes it: events
    /// at `build`'s versions, and a newer one is
    /// [`StoreError::NewerThanBuild`] (a test's store of the build before a
    /// bump).
    pub fn in_build(self, build: SchemaVersions) -> Self {
        DynamoEventStore { build, ..self }
    }

    fn item(&self, event: &Envelope, lane: Option<Lane>) -> HashMap<String, AttributeValue> {
        let item = EventItem::with_envelope_json(event, event.to_json_by(self.build));
        let item = EventItem { lane: lane.map(|lane| lane.as_str().to_owned()), ..item };
        serde_dynamo::to_item(item).expect("an event item always maps to attributes")
    }

    async fn put_one(&self, event: &Envelope, lane: Option<Lane>) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.item(event, lane)))
            .condition_expression("attribute_not_exists(#v)")
            .expression_attribute_names("#v", VERSION)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                Err(StoreError::Conflict { order_id: event.order_id, version: event.version })
            }
            Err(e) => Err(unavailable("PutItem", e)),
        }
    }

    async fn transact(&self, events: &[Envelope], lane: Option<Lane>) -> Result<(), StoreError> {
        let items = events
            .iter()
            .map(|event| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(self.item(event, lane)))
                    .condition_expression("attribute_not_exists(#v)")
                    .expression_attribute_names("#v", VERSION)
                    .build()
                    .expect("table, item and condition are set");
                TransactWriteItem::builder().put(put).build()
            })
            .collect();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => {
                let lost = e.as_service_error().and_then(|s| match s {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => {
                        c.cancellation_reasons().iter().position(|r| r.code() == Some("ConditionalCheckFailed"))
                    }
                    _ => None,
                });
                match lost {
                    Some(i) => Err(StoreError::Conflict { order_id: events[i].order_id, version: events[i].version }),
                    None => Err(unavailable("TransactWriteItems", e)),
                }
            }
        }
    }
}

fn unavailable<E, R>(operation: &'static str, e: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(Box::new(AwsError::new(operation, e)))
}

impl DynamoEventStore {
    async fn append_items(&self, events: &[Envelope], lane: Option<Lane>) -> Result<(), StoreError> {
        match events {
            [] => Ok(()),
            // One event: a conditional PutItem costs half a transaction.
            [event] => self.put_one(event, lane).await,
            _ => self.transact(events, lane).await,
        }
    }
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        self.load_with_lane(order_id).await.map(|(events, _)| events)
    }

    /// The lane is the first one an item of the order holds (the command
    /// service writes the same on every event of an order), read in the
    /// same strongly consistent `Query`: no extra request.
    async fn load_with_lane(&self, order_id: OrderId) -> Result<(Vec<Envelope>, Option<Lane>), StoreError> {
        let mut events = Vec::new();
        let mut order_lane = None;
        for item in self.query_order(order_id).await? {
            let (stored, lane) = decode_stored(item, self.build)?;
            order_lane = order_lane.or(lane);
            events.push(stored.envelope);
        }
        Ok((events, order_lane))
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.append_items(events, None).await
    }

    async fn append_in_lane(&self, events: &[Envelope], lane: Lane) -> Result<(), StoreError> {
        self.append_items(events, Some(lane)).await
    }
}

/// An event as stored: the envelope (read at its type's current version)
/// and the exact JSON the item holds (what the publisher sends to SNS), for
/// tools that must reproduce those bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredEvent {
    pub envelope: Envelope,
    pub json: String,
    /// The `schemaVersion` `json` was written at.
    pub schema_version: u32,
    /// The order's lane; events stored before lanes travel `standard`.
    pub lane: Lane,
}

/// A page of [`DynamoEventStore::scan_stored`].
#[derive(Clone, Debug, Default)]
pub struct StoredPage {
    /// In the table's order: one order's events together, by version.
    pub events: Vec<StoredEvent>,
    /// Where the next page starts (the same form as [`EventScan`]'s cursor); `None` when the segment is done.
    pub cursor: Option<String>,
}

/// The event an item holds, as the build at `build` reads it, and the lane
/// it was stored in (`None`: before lanes).
fn decode_stored(
    item: HashMap<String, AttributeValue>,
    build: SchemaVersions,
) -> Result<(StoredEvent, Option<Lane>), StoreError> {
    let order_id = item.get(ORDER_ID).cloned();
    let read: AnyItem = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let lane = read.lane().map_err(|e| StoreError::Corrupt(format!("{e}: {order_id:?}")))?;
    let json = read.envelope.ok_or_else(|| StoreError::Corrupt(format!("item without an envelope: {order_id:?}")))?;
    let (envelope, schema_version) = Envelope::read_by(build, &json).map_err(|e| match e {
        EnvelopeError::SchemaVersion(newer @ UpcastError::NewerThanBuild { .. }) => StoreError::NewerThanBuild(newer),
        other => StoreError::Corrupt(other.to_string()),
    })?;
    Ok((StoredEvent { envelope, json, schema_version, lane: lane.unwrap_or(Lane::Standard) }, lane))
}

impl DynamoEventStore {
    /// Every event of one order as stored, oldest first (strongly consistent).
    pub async fn load_stored(&self, order_id: OrderId) -> Result<Vec<StoredEvent>, StoreError> {
        let items = self.query_order(order_id).await?;
        items.into_iter().map(|item| decode_stored(item, self.build).map(|(stored, _)| stored)).collect()
    }

    /// The items of one order, oldest first: one strongly consistent
    /// `Query`, following `LastEvaluatedKey` across pages.
    async fn query_order(&self, order_id: OrderId) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        let mut items = Vec::new();
        let mut start_key = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#o = :o")
                .expression_attribute_names("#o", ORDER_ID)
                .expression_attribute_values(":o", AttributeValue::S(order_id.to_string()))
                .consistent_read(true)
                .set_exclusive_start_key(start_key)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            let page = page.map_err(|e| unavailable("Query", e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start_key = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Like [`EventScan::scan_page`], with each event's stored JSON and at
    /// most `limit` items read per page (`None`: DynamoDB's 1 MB pages).
    pub async fn scan_stored(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<String>,
        limit: Option<i32>,
    ) -> Result<StoredPage, StoreError> {
        let start_key = match cursor {
            None => None,
            Some(c) => Some(cursor_key(&c)?),
        };
        let page = self
            .client
            .scan()
            .table_name(&self.table)
            .segment(segment as i32)
            .total_segments(segments as i32)
            .filter_expression("#k = :event")
            .expression_attribute_names("#k", KIND)
            .expression_attribute_values(":event", AttributeValue::S(EVENT_KIND.to_owned()))
            .set_exclusive_start_key(start_key)
            .set_limit(limit)
            .consistent_read(true)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        let page = page.map_err(|e| unavailable("Scan", e))?;
        let cursor = page.last_evaluated_key().filter(|k| !k.is_empty()).and_then(|k| {
            let order_id = k.get(ORDER_ID)?.as_s().ok()?;
            let version = k.get(VERSION)?.as_n().ok()?;
            Some(format!("{order_id}/{version}"))
        });
        let events = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| decode_stored(item, self.build).map(|(stored, _)| stored))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(StoredPage { events, cursor })
    }
}

fn cursor_key(c: &str) -> Result<HashMap<String, AttributeValue>, StoreError> {
    let (order_id, version) = c.split_once('/').ok_or_else(|| StoreError::Corrupt(format!("bad scan cursor {c:?}")))?;
    Ok(HashMap::from([
        (ORDER_ID.to_owned(), AttributeValue::S(order_id.to_owned())),
        (VERSION.to_owned(), AttributeValue::N(version.to_owned())),
    ]))
}

#[async_trait]
impl EventScan for DynamoEventStore {
    async fn scan_page(&self, segment: u32, segments: u32, cursor: Option<String>) -> Result<ScanPage, StoreError> {
        let page = self.scan_stored(segment, segments, cursor, None).await?;
        Ok(ScanPage { events: page.events.into_iter().map(|stored| stored.envelope).collect(), cursor: page.cursor })
    }
}
