//! DynamoDB adapter: the catalog table, partition key `sku`, one item per
//! SKU with the attributes of [`CatalogItem`] (`title` S, `priceCents` N,
//! `currency` S, `active` BOOL, `maxPerCustomer` N when there is a limit),
//! read and written with `serde_dynamo`. An item that does not decode as a
//! valid [`CatalogItem`] is [`CatalogError::Corrupt`], never priced from.
//! The import's writes ([`ProductCatalog`]) are `UpdateItem`s that set every
//! attribute but `maxPerCustomer`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_sdk_dynamodb::Client;
use domain::{Catalog, CatalogError, CatalogItem, ProductCatalog, Sku};

const SKU: &str = "sku";
/// The merchandiser's attribute, which the import never writes.
const MAX_PER_CUSTOMER: &str = "maxPerCustomer";
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

impl DynamoCatalog {
    /// Sets every attribute of `item` but its limit; with `only_existing`,
    /// only when the SKU has an item (false when it has none).
    async fn update_product(&self, item: &CatalogItem, only_existing: bool) -> Result<bool, CatalogError> {
        let mut attributes: Item = serde_dynamo::to_item(item).expect("a catalog item serializes");
        let key = attributes.remove(SKU).expect("a catalog item has its sku");
        attributes.remove(MAX_PER_CUSTOMER);
        let mut names = HashMap::from([("#sku".to_owned(), SKU.to_owned())]);
        let mut values = HashMap::new();
        let mut sets = Vec::new();
        for (i, (name, value)) in attributes.into_iter().enumerate() {
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
            sets.push(format!("#a{i} = :a{i}"));
        }
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(SKU, key)
            .update_expression(format!("SET {}", sets.join(", ")))
            .set_expression_attribute_values(Some(values));
        let request = match only_existing {
            true => request.condition_expression("attribute_exists(#sku)").set_expression_attribute_names(Some(names)),
            false => {
                names.remove("#sku");
                request.set_expression_attribute_names(Some(names))
            }
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("UpdateItem", e)),
        }
    }

    /// Puts `item` when the SKU has none (false when it has one).
    async fn create(&self, item: &CatalogItem) -> Result<bool, CatalogError> {
        let attributes: Item = serde_dynamo::to_item(item).expect("a catalog item serializes");
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attributes))
            .condition_expression("attribute_not_exists(#sku)")
            .expression_attribute_names("#sku", SKU)
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(unavailable("PutItem", e)),
        }
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

#[async_trait]
impl ProductCatalog for DynamoCatalog {
    /// One `UpdateItem` when `item` has no limit (it creates or updates
    /// alike); with a limit, which only a new item takes, an update of an
    /// existing item, else a create, else (another writer created it
    /// meanwhile; items are never deleted) the update without its condition.
    async fn put_product(&self, item: &CatalogItem) -> Result<(), CatalogError> {
        if item.max_per_customer.is_some() && (self.update_product(item, true).await? || self.create(item).await?) {
            return Ok(());
        }
        self.update_product(item, false).await.map(drop)
    }
}
