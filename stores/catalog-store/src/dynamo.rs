//! DynamoDB adapter: the catalog table, partition key `sku`, one item per
//! SKU with the attributes of [`CatalogItem`] (`title` S, `priceCents` N,
//! `currency` S, `active` BOOL, `maxPerCustomer` N when there is a limit),
//! read and written with `serde_dynamo`. An item that does not decode as a
//! valid [`CatalogItem`] is [`CatalogError::Corrupt`], never priced from.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use domain::{Catalog, CatalogError, CatalogItem, Sku};

const SKU: &str = "sku";
/// BatchGetItem's limit on keys per request.
const MAX_BATCH_GET_KEYS: usize = 100;

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoCatalog {
    client: Client,
    table: String,
}

impl DynamoCatalog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoCatalog { client, table: table.into() }
    }
}

fn unavailable<E, R>(operation: &'static str, e: SdkError<E, R>) -> CatalogError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    CatalogError::Unavailable(Box::new(AwsError::new(operation, e)))
}

fn decode(item: Item) -> Result<CatalogItem, CatalogError> {
    let sku = item.get(SKU).cloned();
    serde_dynamo::from_item(item).map_err(|e| CatalogError::Corrupt(format!("item {sku:?}: {e}")))
}

#[async_trait]
impl Catalog for DynamoCatalog {
    /// Eventually consistent reads: a price is cached for up to a minute
    /// anyway, and they cost half.
    async fn items(&self, skus: &[Sku]) -> Result<HashMap<Sku, CatalogItem>, CatalogError> {
        let mut found = HashMap::new();
        for chunk in skus.chunks(MAX_BATCH_GET_KEYS) {
            let keys = chunk.iter().map(|sku| HashMap::from([(SKU.to_owned(), AttributeValue::S(sku.to_string()))]));
            let mut request =
                Some(KeysAndAttributes::builder().set_keys(Some(keys.collect())).build().expect("keys are set"));
            while let Some(keys) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, keys)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", e))?;
                for item in out.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    let item = decode(item)?;
                    found.insert(item.sku.clone(), item);
                }
                request = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table));
            }
        }
        Ok(found)
    }

    async fn put(&self, item: &CatalogItem) -> Result<(), CatalogError> {
        let attributes: Item = serde_dynamo::to_item(item).expect("a catalog item serializes");
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes))
            .send()
            .await
            .map_err(|e| unavailable("PutItem", e))?;
        Ok(())
    }
}
