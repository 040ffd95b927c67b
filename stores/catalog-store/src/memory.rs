use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::{Catalog, CatalogError, CatalogItem, Sku};

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
