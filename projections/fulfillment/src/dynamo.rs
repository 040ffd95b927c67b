//! DynamoDB adapter: one item per order, partition key `orderId` (S);
//! `status` S, `lines` L of M `{sku S, quantity N}`, `createdAt` S,
//! `updatedAt` S (RFC 3339, milliseconds), `version` N. One conditional
//! `UpdateItem` per event: `attribute_not_exists(orderId) OR version < :v`.
//!
//! Items are read with `serde_dynamo` ([`PickItem`]). The earlier layout,
//! `lines` as JSON text in a string attribute, was never deployed: there is
//! no reader for it (a local stack that still holds one starts afresh with
//! `scripts/local-stack down dynamodb`).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::OrderId;

use serde::Deserialize;

use crate::store::{FulfillmentError, FulfillmentStore, PickLine, PickRequest, PickStatus, PickUpdate};

const ORDER_ID: &str = "orderId";
const STATUS: &str = "status";
const LINES: &str = "lines";
const CREATED_AT: &str = "createdAt";
const UPDATED_AT: &str = "updatedAt";
const VERSION: &str = "version";

type Item = HashMap<String, AttributeValue>;

/// A pick request as stored. Only read: every write is an update expression.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PickItem {
    order_id: OrderId,
    status: PickStatus,
    lines: Vec<PickLine>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: u32,
}

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

fn unavailable<E, R>(operation: &'static str, e: SdkError<E, R>) -> FulfillmentError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    FulfillmentError::Unavailable(AwsError::new(operation, e))
}

fn timestamp(at: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(at.to_rfc3339_opts(SecondsFormat::Millis, true))
}

fn lines_list(lines: &[PickLine]) -> AttributeValue {
    serde_dynamo::to_attribute_value(lines).expect("lines serialize")
}

fn decode(item: &Item) -> Result<PickRequest, FulfillmentError> {
    let PickItem { order_id, status, lines, created_at, updated_at, version } =
        serde_dynamo::from_item(item.clone())
            .map_err(|e| FulfillmentError::Corrupt(format!("{:?}: {e}", item.get(ORDER_ID))))?;
    Ok(PickRequest { order_id, status, lines, created_at, updated_at, version })
}

#[async_trait]
impl FulfillmentStore for DynamoFulfillmentStore {
    async fn apply(&self, update: &PickUpdate) -> Result<bool, FulfillmentError> {
        let lines = match &update.lines {
            Some(given) => ("#lines = :lines", lines_list(given)),
            None => ("#lines = if_not_exists(#lines, :lines)", lines_list(&[])),
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(ORDER_ID, AttributeValue::S(update.order_id.to_string()))
            .update_expression(format!(
                "SET #status = :status, #version = :version, #updatedAt = :at, \
                 #createdAt = if_not_exists(#createdAt, :createdAt), {}",
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
            .expression_attribute_values(":createdAt", timestamp(update.created_at))
            .expression_attribute_values(":lines", lines.1)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("UpdateItem", e)),
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
            .map_err(|e| unavailable("GetItem", e))?;
        out.item().map(decode).transpose()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use domain::Sku;

    use super::*;

    fn s(value: &str) -> AttributeValue {
        AttributeValue::S(value.to_owned())
    }

    fn request() -> PickRequest {
        PickRequest {
            order_id: OrderId(uuid::Uuid::from_u128(9)),
            status: PickStatus::Open,
            lines: vec![PickLine { sku: Sku::parse("jig-head").unwrap(), quantity: 3 }],
            created_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 1).unwrap(),
            updated_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 5).unwrap(),
            version: 2,
        }
    }

    fn item(lines: AttributeValue) -> Item {
        HashMap::from([
            (ORDER_ID.to_owned(), s("00000000-0000-0000-0000-000000000009")),
            (STATUS.to_owned(), s("open")),
            (LINES.to_owned(), lines),
            (CREATED_AT.to_owned(), timestamp(request().created_at)),
            (UPDATED_AT.to_owned(), timestamp(request().updated_at)),
            (VERSION.to_owned(), AttributeValue::N("2".to_owned())),
        ])
    }

    #[test]
    fn lines_are_stored_as_a_list_of_maps() {
        let line =
            HashMap::from([("sku".to_owned(), s("jig-head")), ("quantity".to_owned(), AttributeValue::N("3".into()))]);
        assert_eq!(lines_list(&request().lines), AttributeValue::L(vec![AttributeValue::M(line)]));
        assert_eq!(lines_list(&[]), AttributeValue::L(vec![]));
        assert_eq!(decode(&item(lines_list(&request().lines))).unwrap(), request());
    }
}
