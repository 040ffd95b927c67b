//! DynamoDB adapter. One table, partition key `pk` only:
//!
//! | item | `pk` | attributes |
//! |---|---|---|
//! | stock of a SKU | `sku#<sku>` | `sku` S, `available` N, `reserved` N, `shipped` N |
//! | a customer's share of a SKU with a purchase limit | `share#<sku>#<customerId>` | `sku` S, `customerId` S, `held` N |
//! | reservation record of an order | `order#<orderId>` | `orderId` S, `state` S, `lines` L of M `{sku S, quantity N}`, `held` N, `unavailable` L of M `{sku S, requested N, available N}`, `revision` N; and when not empty: `customerId` S, `limits` M of SKU → N, `exceeded` L of M `{sku S, requested N, allowed N}` |
//!
//! A share's key puts the SKU first: a SKU never holds `#`, so any
//! customer id (which may) still makes a distinct key. Every share is its
//! own item, apart from the SKU's: taking a share never writes the hot
//! SKU's item more often.
//!
//! Items are read and written with `serde_dynamo` through the item structs
//! below. The earlier layout, `lines`/`unavailable` as JSON text in string
//! attributes, was never deployed: there is no reader for it (a local stack
//! that still holds one starts afresh with `scripts/local-stack down dynamodb`).
//!
//! A commit is one `TransactWriteItems`: an `Update … ADD` per SKU,
//! conditioned on every decremented counter covering its decrement, an
//! `Update … ADD` per share, conditioned on the share staying within its
//! limit (or covering what is given back), and a `Put` per record,
//! conditioned on its revision.
//!
//! Throttling is retried by the SDK (standard retry mode: throttling errors,
//! `TransactionInProgressException` included, are retried with backoff), so
//! a throttled call that still fails is [`InventoryError::Unavailable`] and
//! the saga leaves the message to SQS. What the SDK does not retry is a
//! transaction cancelled because another transaction held an item (or one
//! item was throttled inside it): that is [`CommitError::Contended`], which
//! the saga retries.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use domain::event::{OverLimitLine, UnavailableLine};
use domain::{CustomerId, OrderId, Sku};

use serde::{Deserialize, Serialize};

use crate::store::{
    Change, CommitError, InventoryError, InventoryStore, RecordWrite, Reservation, ReservationState, ShareDelta,
    ShareKey, Stock, StockDelta, StockLine, MAX_CHANGE_ITEMS,
};

const PK: &str = "pk";
const SKU: &str = "sku";
const AVAILABLE: &str = "available";
const RESERVED: &str = "reserved";
const SHIPPED: &str = "shipped";
const CUSTOMER_ID: &str = "customerId";
const HELD: &str = "held";
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

/// A customer's share of a SKU. Only read, like the stock item.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShareItem {
    sku: Sku,
    customer_id: CustomerId,
    #[serde(default)]
    held: u64,
}

/// The reservation record of one order, as stored. The purchase-limit
/// attributes are left out when empty, so a record without them (every
/// record written before limits) reads as it was written.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReservationItem {
    pk: String,
    order_id: OrderId,
    state: ReservationState,
    lines: Vec<StockLine>,
    held: usize,
    unavailable: Vec<UnavailableLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    customer_id: Option<CustomerId>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    limits: BTreeMap<Sku, u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    exceeded: Vec<OverLimitLine>,
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
            customer_id: record.customer_id.clone(),
            limits: record.limits.clone(),
            exceeded: record.exceeded.clone(),
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
            customer_id: item.customer_id,
            limits: item.limits,
            exceeded: item.exceeded,
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

fn share_key(share: &ShareKey) -> String {
    format!("share#{}#{}", share.sku, share.customer_id.as_str())
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

fn decode_share(item: &Item) -> Result<(ShareKey, u64), InventoryError> {
    let ShareItem { sku, customer_id, held } = serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(item, e))?;
    Ok((ShareKey { customer_id, sku }, held))
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

/// Takes (within the share's limit) or gives back (what it covers) of one
/// customer's share. A take bigger than the limit itself never gets here
/// ([`Change::impossible_shares`]), so `:room` is never negative.
fn share_update(table: &str, share: &ShareKey, delta: &ShareDelta) -> Update {
    let update = Update::builder()
        .table_name(table)
        .key(PK, s(share_key(share)))
        .update_expression("SET #sku = :sku, #customerId = :customerId ADD #held :quantity")
        .expression_attribute_names("#sku", SKU)
        .expression_attribute_names("#customerId", CUSTOMER_ID)
        .expression_attribute_names("#held", HELD)
        .expression_attribute_values(":sku", s(share.sku.as_str()))
        .expression_attribute_values(":customerId", s(share.customer_id.as_str()))
        .expression_attribute_values(":quantity", n(delta.quantity));
    let update = match delta.max {
        Some(max) if delta.quantity > 0 => update
            .condition_expression("attribute_not_exists(#held) OR #held <= :room")
            .expression_attribute_values(":room", n(i64::from(max) - delta.quantity)),
        _ => update.condition_expression("#held >= :needed").expression_attribute_values(":needed", n(-delta.quantity)),
    };
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
    Share(ShareKey),
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
    let (mut short, mut stale, mut over) = (Vec::new(), Vec::new(), Vec::new());
    for (reason, item) in reasons.iter().zip(written) {
        match (reason.code(), item) {
            (Some("ConditionalCheckFailed"), Written::Stock(sku)) => short.push(sku.clone()),
            (Some("ConditionalCheckFailed"), Written::Share(share)) => over.push(share.clone()),
            (Some("ConditionalCheckFailed"), Written::Record(order)) => stale.push(*order),
            _ => {}
        }
    }
    let contended = reasons
        .iter()
        .any(|r| matches!(r.code(), Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")));
    if !short.is_empty() || !stale.is_empty() || !over.is_empty() {
        CommitError::Refused { short, stale, over }
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

    async fn shares(&self, shares: &[ShareKey]) -> Result<HashMap<ShareKey, u64>, InventoryError> {
        let items = self.get_items(shares.iter().map(share_key).collect()).await?;
        items.iter().map(decode_share).collect()
    }

    async fn commit(&self, change: &Change) -> Result<(), CommitError> {
        if change.items() > MAX_CHANGE_ITEMS {
            return Err(CommitError::TooLarge(change.items()));
        }
        let impossible = change.impossible_shares();
        if !impossible.is_empty() {
            return Err(CommitError::Refused { short: vec![], stale: vec![], over: impossible });
        }
        let mut written = Vec::with_capacity(change.items());
        let mut items = Vec::with_capacity(change.items());
        for (sku, delta) in change.stock_changes() {
            written.push(Written::Stock(sku.clone()));
            items.push(TransactWriteItem::builder().update(stock_update(&self.table, sku, delta)).build());
        }
        for (share, delta) in change.share_changes() {
            written.push(Written::Share(share.clone()));
            items.push(TransactWriteItem::builder().update(share_update(&self.table, share, delta)).build());
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
            customer_id: None,
            limits: BTreeMap::new(),
            exceeded: vec![],
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
    fn a_record_without_purchase_limits_is_stored_as_before_limits_and_one_with_them_keeps_them() {
        let item: Item = serde_dynamo::to_item(ReservationItem::from(&record())).unwrap();
        for absent in ["customerId", "limits", "exceeded"] {
            assert!(!item.contains_key(absent), "{absent} is left out when empty");
        }
        let limited = Reservation {
            customer_id: Some(CustomerId::parse("angler #7").unwrap()),
            limits: BTreeMap::from([(sku("muskie-casting-rod"), 2)]),
            exceeded: vec![OverLimitLine { sku: sku("muskie-casting-rod"), requested: 2, allowed: 1 }],
            ..record()
        };
        let item: Item = serde_dynamo::to_item(ReservationItem::from(&limited)).unwrap();
        assert_eq!(item["customerId"], s("angler #7"));
        assert_eq!(item["limits"], AttributeValue::M(HashMap::from([("muskie-casting-rod".to_owned(), n(2))])));
        assert_eq!(decode_reservation(&item).unwrap(), limited);
    }

    #[test]
    fn a_share_is_keyed_by_sku_then_customer_and_reads_back() {
        let share = ShareKey { customer_id: CustomerId::parse("angler #7").unwrap(), sku: sku("muskie-casting-rod") };
        assert_eq!(share_key(&share), "share#muskie-casting-rod#angler #7");
        let item: Item = HashMap::from([
            ("pk".to_owned(), s(share_key(&share))),
            ("sku".to_owned(), s("muskie-casting-rod")),
            ("customerId".to_owned(), s("angler #7")),
            ("held".to_owned(), n(2)),
        ]);
        assert_eq!(decode_share(&item).unwrap(), (share, 2));
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
