//! DynamoDB adapter: one item per order, partition key `orderId` (S);
//! `status` S, `lines` S (JSON `[{sku, quantity}]`), `createdAt` S,
//! `updatedAt` S (RFC 3339, milliseconds), `version` N. One conditional
//! `UpdateItem` per event: `attribute_not_exists(orderId) OR version < :v`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use order_domain::OrderId;

use crate::store::{FulfillmentError, FulfillmentStore, PickLine, PickRequest, PickStatus, PickUpdate};

const ORDER_ID: &str = "orderId";
const STATUS: &str = "status";
const LINES: &str = "lines";
const CREATED_AT: &str = "createdAt";
const UPDATED_AT: &str = "updatedAt";
const VERSION: &str = "version";

#[derive(Clone)]
pub struct DynamoFulfillmentStore {
    client: Client,
    table: String,
}

impl DynamoFulfillmentStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoFulfillmentStore { client, table: table.into() }
    }
}

fn unavailable<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> FulfillmentError {
    FulfillmentError::Unavailable(format!("{}: {}", e.code().unwrap_or("request failed"), DisplayErrorContext(&e)))
}

fn timestamp(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn decode(item: &HashMap<String, AttributeValue>) -> Result<PickRequest, FulfillmentError> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| FulfillmentError::Corrupt(format!("{:?} has no {name}", item.get(ORDER_ID))))
    };
    let corrupt = |name: &str, e: &dyn std::fmt::Display| FulfillmentError::Corrupt(format!("{name}: {e}"));
    let time = |name: &str| -> Result<DateTime<Utc>, FulfillmentError> {
        Ok(DateTime::parse_from_rfc3339(text(name)?).map_err(|e| corrupt(name, &e))?.with_timezone(&Utc))
    };
    let status = text(STATUS)?;
    let version = item.get(VERSION).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok());
    Ok(PickRequest {
        order_id: text(ORDER_ID)?.parse().map_err(|e| corrupt(ORDER_ID, &e))?,
        status: PickStatus::parse(status).ok_or_else(|| corrupt(STATUS, status))?,
        lines: serde_json::from_str::<Vec<PickLine>>(text(LINES)?).map_err(|e| corrupt(LINES, &e))?,
        created_at: time(CREATED_AT)?,
        updated_at: time(UPDATED_AT)?,
        version: version.ok_or_else(|| corrupt(VERSION, &"not a version number"))?,
    })
}

#[async_trait]
impl FulfillmentStore for DynamoFulfillmentStore {
    async fn apply(&self, update: &PickUpdate) -> Result<bool, FulfillmentError> {
        let lines = match &update.lines {
            Some(lines) => ("#lines = :lines", serde_json::to_string(lines).expect("lines serialize")),
            None => ("#lines = if_not_exists(#lines, :lines)", "[]".to_owned()),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ORDER_ID, AttributeValue::S(update.order_id.to_string()))
            .update_expression(format!(
                "SET #status = :status, #version = :version, #updatedAt = :at, \
                 #createdAt = if_not_exists(#createdAt, :at), {}",
                lines.0
            ))
            .condition_expression("attribute_not_exists(#orderId) OR #version < :version")
            .expression_attribute_names("#orderId", ORDER_ID)
            .expression_attribute_names("#status", STATUS)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_names("#updatedAt", UPDATED_AT)
            .expression_attribute_names("#createdAt", CREATED_AT)
            .expression_attribute_names("#lines", LINES)
            .expression_attribute_values(":status", AttributeValue::S(update.status.as_str().to_owned()))
            .expression_attribute_values(":version", AttributeValue::N(update.version.to_string()))
            .expression_attribute_values(":at", timestamp(update.at))
            .expression_attribute_values(":lines", AttributeValue::S(lines.1))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get(&self, order_id: OrderId) -> Result<Option<PickRequest>, FulfillmentError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(ORDER_ID, AttributeValue::S(order_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item().map(decode).transpose()
    }
}
