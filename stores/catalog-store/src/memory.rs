use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::{Catalog, CatalogError, CatalogItem, ProductCatalog, Sku};

/// Catalog items in a process: the embedded runner's and fast tests'.
#[derive(Default)]
pub struct MemoryCatalog {
    items: Mutex<HashMap<Sku, CatalogItem>>,
}

impl MemoryCatalog {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_items(items: impl IntoIterator<Item = CatalogItem>) -> Self {
        MemoryCatalog { items: Mutex::new(items.into_iter().map(|item| (item.sku.clone(), item)).collect()) }
    }
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn items(&self, skus: &[Sku]) -> Result<HashMap<Sku, CatalogItem>, CatalogError> {
        let items = self.items.lock().expect("catalog lock");
        Ok(skus.iter().filter_map(|sku| items.get(sku).map(|item| (sku.clone(), item.clone()))).collect())
    }

    async fn put(&self, item: &CatalogItem) -> Result<(), CatalogError> {
        self.items.lock().expect("catalog lock").insert(item.sku.clone(), item.clone());
        Ok(())
    }
}

#[async_trait]
impl ProductCatalog for MemoryCatalog {
    async fn put_product(&self, item: &CatalogItem) -> Result<(), CatalogError> {
        let mut items = self.items.lock().expect("catalog lock");
        let max_per_customer = items.get(&item.sku).map_or(item.max_per_customer, |kept| kept.max_per_customer);
        items.insert(item.sku.clone(), CatalogItem { max_per_customer, ..item.clone() });
        Ok(())
    }
}
