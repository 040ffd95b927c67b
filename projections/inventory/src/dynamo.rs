//! DynamoDB adapter. One table, partition key `pk` only:
//!
//! | item | `pk` | attributes |
//! |---|---|---|
//! | stock of a SKU | `sku#<sku>` | `sku` S, `available` N, `reserved` N, `shipped` N |
//! | reservation record of an order | `order#<orderId>` | `orderId` S, `state` S, `lines` S (JSON `[{sku, quantity}]`), `held` N, `unavailable` S (JSON `[{sku, requested, available}]`), `revision` N |
//!
//! A commit is one `TransactWriteItems`: an `Update … ADD` per SKU,
//! conditioned on every decremented counter covering its decrement, and a
//! `Put` per record, conditioned on its revision.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, ReturnValue, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use order_domain::event::UnavailableLine;
use order_domain::{OrderId, Sku};

use crate::store::{
    Change, CommitError, InventoryError, InventoryStore, RecordWrite, Reservation, ReservationState, Stock, StockDelta,
    StockLine, MAX_CHANGE_ITEMS,
};

const PK: &str = "pk";
const SKU: &str = "sku";
const AVAILABLE: &str = "available";
const RESERVED: &str = "reserved";
const SHIPPED: &str = "shipped";
const ORDER_ID: &str = "orderId";
const STATE: &str = "state";
const LINES: &str = "lines";
const HELD: &str = "held";
const UNAVAILABLE: &str = "unavailable";
const REVISION: &str = "revision";

/// BatchGetItem's limit on keys per request.
const MAX_BATCH_GET_KEYS: usize = 100;

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
    async fn get_items(&self, keys: Vec<String>) -> Result<Vec<HashMap<String, AttributeValue>>, InventoryError> {
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
                let out =
                    self.client.batch_get_item().request_items(&self.table, keys).send().await.map_err(unavailable)?;
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

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> InventoryError {
    InventoryError::Unavailable(format!("{}: {}", e.code().unwrap_or("request failed"), DisplayErrorContext(&e)))
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Result<&'a str, InventoryError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| InventoryError::Corrupt(format!("item {:?} has no string {name}", item.get(PK))))
}

fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Result<T, InventoryError> {
    match item.get(name) {
        None => Err(InventoryError::Corrupt(format!("item {:?} has no number {name}", item.get(PK)))),
        Some(v) => {
            v.as_n().ok().and_then(|n| n.parse().ok()).ok_or_else(|| {
                InventoryError::Corrupt(format!("item {:?}: {name} is not a valid number", item.get(PK)))
            })
        }
    }
}

/// A counter an `ADD` never touched reads as zero, as the ADD would treat it.
fn get_counter(item: &HashMap<String, AttributeValue>, name: &str) -> Result<u64, InventoryError> {
    if item.contains_key(name) {
        get_n(item, name)
    } else {
        Ok(0)
    }
}

fn decode_stock(item: &HashMap<String, AttributeValue>) -> Result<Stock, InventoryError> {
    let sku = get_s(item, SKU)?;
    Ok(Stock {
        sku: Sku::parse(sku).map_err(|e| InventoryError::Corrupt(format!("sku {sku:?} {e}")))?,
        available: get_counter(item, AVAILABLE)?,
        reserved: get_counter(item, RESERVED)?,
        shipped: get_counter(item, SHIPPED)?,
    })
}

fn decode_reservation(item: &HashMap<String, AttributeValue>) -> Result<Reservation, InventoryError> {
    let corrupt = |what: &str, e: &dyn std::fmt::Display| InventoryError::Corrupt(format!("{what}: {e}"));
    let order_id: OrderId = get_s(item, ORDER_ID)?.parse().map_err(|e| corrupt(ORDER_ID, &e))?;
    let state = get_s(item, STATE)?;
    let lines: Vec<StockLine> = serde_json::from_str(get_s(item, LINES)?).map_err(|e| corrupt(LINES, &e))?;
    let unavailable: Vec<UnavailableLine> =
        serde_json::from_str(get_s(item, UNAVAILABLE)?).map_err(|e| corrupt(UNAVAILABLE, &e))?;
    Ok(Reservation {
        order_id,
        state: ReservationState::parse(state).ok_or_else(|| corrupt(STATE, &state))?,
        lines,
        held: get_n(item, HELD)?,
        unavailable,
        revision: get_n(item, REVISION)?,
    })
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
    let record = &write.record;
    let item = HashMap::from([
        (PK.to_owned(), s(order_key(record.order_id))),
        (ORDER_ID.to_owned(), s(record.order_id.to_string())),
        (STATE.to_owned(), s(record.state.as_str())),
        (LINES.to_owned(), s(serde_json::to_string(&record.lines).expect("lines serialize"))),
        (HELD.to_owned(), n(record.held)),
        (UNAVAILABLE.to_owned(), s(serde_json::to_string(&record.unavailable).expect("lines serialize"))),
        (REVISION.to_owned(), n(record.revision)),
    ]);
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
            .map_err(unavailable)?;
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
        let result = self.client.transact_write_items().set_transact_items(Some(items)).send().await;
        let error = match result {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                let reasons = cancelled.cancellation_reasons();
                let (mut short, mut stale) = (Vec::new(), Vec::new());
                for (reason, item) in reasons.iter().zip(&written) {
                    match (reason.code(), item) {
                        (Some("ConditionalCheckFailed"), Written::Stock(sku)) => short.push(sku.clone()),
                        (Some("ConditionalCheckFailed"), Written::Record(order)) => stale.push(*order),
                        _ => {}
                    }
                }
                let contended = reasons.iter().any(|r| {
                    matches!(
                        r.code(),
                        Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
                    )
                });
                if !short.is_empty() || !stale.is_empty() {
                    Err(CommitError::Refused { short, stale })
                } else if contended {
                    Err(CommitError::Contended)
                } else {
                    Err(CommitError::Store(unavailable(error)))
                }
            }
            Some(
                TransactWriteItemsError::ThrottlingException(_)
                | TransactWriteItemsError::ProvisionedThroughputExceededException(_)
                | TransactWriteItemsError::RequestLimitExceeded(_)
                | TransactWriteItemsError::TransactionInProgressException(_),
            ) => Err(CommitError::Contended),
            _ => Err(CommitError::Store(unavailable(error))),
        }
    }
}
