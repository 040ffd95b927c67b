//! DynamoDB adapter. One table, partition key `pk` only:
//!
//! | item | `pk` | attributes |
//! |---|---|---|
//! | stock of a SKU | `sku#<sku>` | `sku` S, `available` N, `reserved` N, `shipped` N |
//! | reservation record of an order | `order#<orderId>` | `orderId` S, `state` S, `lines` L of M `{sku S, quantity N}`, `held` N, `unavailable` L of M `{sku S, requested N, available N}`, `revision` N |
//!
//! Items are read and written with `serde_dynamo` through the item structs
//! below. The earlier layout, `lines`/`unavailable` as JSON text in string
//! attributes, was never deployed: there is no reader for it (a local stack
//! that still holds one starts afresh with `scripts/local-stack down dynamodb`).
//!
//! A commit is one `TransactWriteItems`: an `Update … ADD` per SKU,
//! conditioned on every decremented counter covering its decrement, and a
//! `Put` per record, conditioned on its revision.
//!
//! Throttling is retried by the SDK (standard retry mode: throttling errors,
//! `TransactionInProgressException` included, are retried with backoff), so
//! a throttled call that still fails is [`InventoryError::Unavailable`] and
//! the saga leaves the message to SQS. What the SDK does not retry is a
//! transaction cancelled because another transaction held an item (or one
//! item was throttled inside it): that is [`CommitError::Contended`], which
//! the saga retries.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use domain::event::UnavailableLine;
use domain::{OrderId, Sku};

use serde::{Deserialize, Serialize};

use crate::store::{
    Change, CommitError, InventoryError, InventoryStore, RecordWrite, Reservation, ReservationState, Stock, StockDelta,
    StockLine, MAX_CHANGE_ITEMS,
};

const PK: &str = "pk";
const SKU: &str = "sku";
const AVAILABLE: &str = "available";
const RESERVED: &str = "reserved";
const SHIPPED: &str = "shipped";
const REVISION: &str = "revision";

/// BatchGetItem's limit on keys per request.
const MAX_BATCH_GET_KEYS: usize = 100;

type Item = HashMap<String, AttributeValue>;

/// The stock item of one SKU. Only read: every write is an update
/// expression. A counter an `ADD` never touched reads as zero, as the ADD
/// would treat it.
#[derive(Deserialize)]
struct StockItem {
    sku: Sku,
    #[serde(default)]
    available: u64,
    #[serde(default)]
    reserved: u64,
    #[serde(default)]
    shipped: u64,
}

/// The reservation record of one order, as stored.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservationItem {
    pk: String,
    order_id: OrderId,
    state: ReservationState,
    lines: Vec<StockLine>,
    held: usize,
    unavailable: Vec<UnavailableLine>,
    revision: u32,
}

impl From<&Reservation> for ReservationItem {
    fn from(record: &Reservation) -> Self {
        ReservationItem {
            pk: order_key(record.order_id),
            order_id: record.order_id,
            state: record.state,
            lines: record.lines.clone(),
            held: record.held,
            unavailable: record.unavailable.clone(),
            revision: record.revision,
        }
    }
}

impl From<ReservationItem> for Reservation {
    fn from(item: ReservationItem) -> Self {
        Reservation {
            order_id: item.order_id,
            state: item.state,
            lines: item.lines,
            held: item.held,
            unavailable: item.unavailable,
            revision: item.revision,
        }
    }
}

#[derive(Clone)]
pub struct DynamoInventoryStore {
    client: Client,
    table: String,
}

impl DynamoInventoryStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoInventoryStore { client, table: table.into() }
    }

    /// Reads items by `pk`, strongly consistently, in requests of at most
    /// 100 keys, following `UnprocessedKeys` until none is left.
    async fn get_items(&self, keys: Vec<String>) -> Result<Vec<Item>, InventoryError> {
        let mut items = Vec::new();
        for chunk in keys.chunks(MAX_BATCH_GET_KEYS) {
            let keys = chunk.iter().map(|pk| HashMap::from([(PK.to_owned(), AttributeValue::S(pk.clone()))]));
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys.collect()))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            );
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", e))?;
                if let Some(found) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                    items.extend(found);
                }
                request = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            }
        }
        Ok(items)
    }
}

fn sku_key(sku: &Sku) -> String {
    format!("sku#{sku}")
}

fn order_key(order_id: OrderId) -> String {
    format!("order#{order_id}")
}

fn unavailable<E, R>(operation: &'static str, e: SdkError<E, R>) -> InventoryError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    InventoryError::Unavailable(Arc::new(AwsError::new(operation, e)))
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn corrupt(item: &Item, e: serde_dynamo::Error) -> InventoryError {
    InventoryError::Corrupt(format!("item {:?}: {e}", item.get(PK)))
}

fn decode_stock(item: &Item) -> Result<Stock, InventoryError> {
    let StockItem { sku, available, reserved, shipped } =
        serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(item, e))?;
    Ok(Stock { sku, available, reserved, shipped })
}

fn decode_reservation(item: &Item) -> Result<Reservation, InventoryError> {
    let record: ReservationItem = serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(item, e))?;
    Ok(record.into())
}

fn stock_update(table: &str, sku: &Sku, delta: &StockDelta) -> Update {
    let mut update = Update::builder()
        .table_name(table)
        .key(PK, s(sku_key(sku)))
        .expression_attribute_names("#sku", SKU)
        .expression_attribute_values(":sku", s(sku.as_str()));
    let mut adds = Vec::new();
    let mut conditions = Vec::new();
    for (name, placeholder, value) in [
        (AVAILABLE, "available", delta.available),
        (RESERVED, "reserved", delta.reserved),
        (SHIPPED, "shipped", delta.shipped),
    ] {
        if value == 0 {
            continue;
        }
        update = update
            .expression_attribute_names(format!("#{placeholder}"), name)
            .expression_attribute_values(format!(":{placeholder}"), n(value));
        adds.push(format!("#{placeholder} :{placeholder}"));
        if value < 0 {
            // A missing counter fails the comparison: nothing to take from.
            update = update.expression_attribute_values(format!(":{placeholder}Needed"), n(-value));
            conditions.push(format!("#{placeholder} >= :{placeholder}Needed"));
        }
    }
    update = update.update_expression(format!("SET #sku = :sku ADD {}", adds.join(", ")));
    if !conditions.is_empty() {
        update = update.condition_expression(conditions.join(" AND "));
    }
    update.build().expect("table, key and expression are set")
}

fn record_put(table: &str, write: &RecordWrite) -> Put {
    let item: Item = serde_dynamo::to_item(ReservationItem::from(&write.record)).expect("a record serializes");
    let put = Put::builder().table_name(table).set_item(Some(item));
    let put = match write.expected_revision {
        None => put.condition_expression("attribute_not_exists(#pk)").expression_attribute_names("#pk", PK),
        Some(revision) => put
            .condition_expression("#revision = :expected")
            .expression_attribute_names("#revision", REVISION)
            .expression_attribute_values(":expected", n(revision)),
    };
    put.build().expect("table, item and condition are set")
}

/// What the item at each position of a commit stands for, to read the
/// transaction's cancellation reasons back.
enum Written {
    Stock(Sku),
    Record(OrderId),
}

/// Reads a failed `TransactWriteItems` back: refused conditions name their
/// SKUs and orders; a transaction cancelled because another one held an
/// item (or an item was throttled inside it) is contended, which the SDK
/// does not retry (it is a `TransactionCanceledException`, not a throttling
/// error) and the saga does. Anything else, throttling that outlasted the
/// SDK's own retries included, is the store being unavailable.
fn commit_error(error: SdkError<TransactWriteItemsError>, written: &[Written]) -> CommitError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = error.as_service_error() else {
        return CommitError::Store(unavailable("TransactWriteItems", error));
    };
    let reasons = cancelled.cancellation_reasons();
    let (mut short, mut stale) = (Vec::new(), Vec::new());
    for (reason, item) in reasons.iter().zip(written) {
        match (reason.code(), item) {
            (Some("ConditionalCheckFailed"), Written::Stock(sku)) => short.push(sku.clone()),
            (Some("ConditionalCheckFailed"), Written::Record(order)) => stale.push(*order),
            _ => {}
        }
    }
    let contended = reasons
        .iter()
        .any(|r| matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")));
    if !short.is_empty() || !stale.is_empty() {
        CommitError::Refused { short, stale }
    } else if contended {
        CommitError::Contended
    } else {
        CommitError::Store(unavailable("TransactWriteItems", error))
    }
}

#[async_trait]
impl InventoryStore for DynamoInventoryStore {
    async fn stock(&self, skus: &[Sku]) -> Result<HashMap<Sku, Stock>, InventoryError> {
        let items = self.get_items(skus.iter().map(sku_key).collect()).await?;
        items.iter().map(|item| decode_stock(item).map(|s| (s.sku.clone(), s))).collect()
    }

    async fn set_available(&self, sku: &Sku, available: u64) -> Result<Stock, InventoryError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(sku_key(sku)))
            .update_expression(
                "SET #sku = :sku, #available = :available, \
                 #reserved = if_not_exists(#reserved, :zero), #shipped = if_not_exists(#shipped, :zero)",
            )
            .expression_attribute_names("#sku", SKU)
            .expression_attribute_names("#available", AVAILABLE)
            .expression_attribute_names("#reserved", RESERVED)
            .expression_attribute_names("#shipped", SHIPPED)
            .expression_attribute_values(":sku", s(sku.as_str()))
            .expression_attribute_values(":available", n(available))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", e))?;
        decode_stock(out.attributes().ok_or_else(|| InventoryError::Corrupt("UpdateItem returned no item".into()))?)
    }

    async fn reservations(&self, orders: &[OrderId]) -> Result<HashMap<OrderId, Reservation>, InventoryError> {
        let items = self.get_items(orders.iter().map(|id| order_key(*id)).collect()).await?;
        items.iter().map(|item| decode_reservation(item).map(|r| (r.order_id, r))).collect()
    }

    async fn commit(&self, change: &Change) -> Result<(), CommitError> {
        if change.items() > MAX_CHANGE_ITEMS {
            return Err(CommitError::TooLarge(change.items()));
        }
        let mut written = Vec::with_capacity(change.items());
        let mut items = Vec::with_capacity(change.items());
        for (sku, delta) in change.stock_changes() {
            written.push(Written::Stock(sku.clone()));
            items.push(TransactWriteItem::builder().update(stock_update(&self.table, sku, delta)).build());
        }
        for write in change.record_writes() {
            written.push(Written::Record(write.record.order_id));
            items.push(TransactWriteItem::builder().put(record_put(&self.table, write)).build());
        }
        if items.is_empty() {
            return Ok(());
        }
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(()),
            Err(error) => Err(commit_error(error, &written)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(name: &str) -> Sku {
        Sku::parse(name).unwrap()
    }

    fn record() -> Reservation {
        Reservation {
            order_id: OrderId(uuid::Uuid::from_u128(7)),
            state: ReservationState::Rejected,
            lines: vec![
                StockLine { sku: sku("muskie-casting-rod"), quantity: 2 },
                StockLine { sku: sku("braided-line"), quantity: 1 },
            ],
            held: 0,
            unavailable: vec![UnavailableLine { sku: sku("muskie-casting-rod"), requested: 2, available: 1 }],
            revision: 3,
        }
    }

    #[test]
    fn a_record_is_stored_with_its_lines_as_a_list_of_maps() {
        let item: Item = serde_dynamo::to_item(ReservationItem::from(&record())).unwrap();
        assert_eq!(item["pk"], s("order#00000000-0000-0000-0000-000000000007"));
        assert_eq!(item["orderId"], s("00000000-0000-0000-0000-000000000007"));
        assert_eq!(item["state"], s("rejected"));
        assert_eq!(item["held"], n(0));
        assert_eq!(item["revision"], n(3));
        let line = HashMap::from([("sku".to_owned(), s("muskie-casting-rod")), ("quantity".to_owned(), n(2))]);
        assert_eq!(item["lines"].as_l().unwrap()[0], AttributeValue::M(line));
        let short = HashMap::from([
            ("sku".to_owned(), s("muskie-casting-rod")),
            ("requested".to_owned(), n(2)),
            ("available".to_owned(), n(1)),
        ]);
        assert_eq!(item["unavailable"], AttributeValue::L(vec![AttributeValue::M(short)]));
        assert_eq!(decode_reservation(&item).unwrap(), record());
    }

    #[test]
    fn a_corrupt_record_is_reported_not_guessed() {
        let mut item: Item = serde_dynamo::to_item(ReservationItem::from(&record())).unwrap();
        item.insert("lines".to_owned(), s("not json"));
        assert!(matches!(decode_reservation(&item), Err(InventoryError::Corrupt(_))));
        item.insert("lines".to_owned(), AttributeValue::L(vec![]));
        item.insert("state".to_owned(), s("lost"));
        assert!(matches!(decode_reservation(&item), Err(InventoryError::Corrupt(_))));
    }

    #[test]
    fn stock_counters_an_add_never_touched_read_as_zero() {
        let item: Item = HashMap::from([
            ("pk".to_owned(), s("sku#spinner")),
            ("sku".to_owned(), s("spinner")),
            ("available".to_owned(), n(4)),
        ]);
        assert_eq!(decode_stock(&item).unwrap(), Stock { sku: sku("spinner"), available: 4, reserved: 0, shipped: 0 });
        let bad_sku = HashMap::from([("sku".to_owned(), s("Not A Slug"))]);
        assert!(matches!(decode_stock(&bad_sku), Err(InventoryError::Corrupt(_))));
    }
}
