//! The catalog as one API instance sees it: each SKU's item (or its
//! absence) kept for at most `ttl`, so a warm instance prices an order
//! without a request, and a new price reaches orders at most `ttl` later
//! (DESIGN.md: at most 60 s). A put through this instance is seen by it at
//! once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use domain::{Catalog, CatalogError, CatalogItem, Sku};

/// The longest an item may be kept: DESIGN.md's bound on how late a new
/// price may apply.
pub const MAX_TTL: Duration = Duration::from_secs(60);

/// SKUs kept at most: orders naming ever new SKUs (unknown ones are kept
/// too) cannot grow the cache without bound.
pub const MAX_ENTRIES: usize = 10_000;

/// What the cache knows of one SKU, and since when.
struct Entry {
    item: Option<CatalogItem>,
    fetched: Instant,
}

pub struct CachedCatalog {
    inner: Arc<dyn Catalog>,
    ttl: Duration,
    entries: Mutex<HashMap<Sku, Entry>>,
}

impl CachedCatalog {
    /// Keeps items for `ttl`, at most [`MAX_TTL`] (a longer one is cut to it).
    pub fn new(inner: Arc<dyn Catalog>, ttl: Duration) -> Self {
        CachedCatalog { inner, ttl: ttl.min(MAX_TTL), entries: Mutex::new(HashMap::new()) }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

#[async_trait]
impl Catalog for CachedCatalog {
    /// Reads only the SKUs not known within `ttl`, in one request, and
    /// remembers what it found and what it did not (an unknown SKU asked
    /// again and again costs one read per `ttl`, not one per order).
    async fn items(&self, skus: &[Sku]) -> Result<HashMap<Sku, CatalogItem>, CatalogError> {
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        {
            let entries = self.entries.lock().expect("catalog cache lock");
            for sku in skus {
                match entries.get(sku).filter(|entry| entry.fetched.elapsed() < self.ttl) {
                    Some(Entry { item: Some(item), .. }) => {
                        found.insert(sku.clone(), item.clone());
                    }
                    Some(Entry { item: None, .. }) => {}
                    None => missing.push(sku.clone()),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let fetched_at = Instant::now();
        let mut fetched = self.inner.items(&missing).await?;
        let mut entries = self.entries.lock().expect("catalog cache lock");
        if entries.len() + missing.len() > MAX_ENTRIES {
            entries.retain(|_, entry| entry.fetched.elapsed() < self.ttl);
            if entries.len() + missing.len() > MAX_ENTRIES {
                entries.clear();
            }
        }
        for sku in missing {
            let item = fetched.remove(&sku);
            if let Some(item) = &item {
                found.insert(sku.clone(), item.clone());
            }
            entries.insert(sku, Entry { item, fetched: fetched_at });
        }
        Ok(found)
    }

    async fn put(&self, item: &CatalogItem) -> Result<(), CatalogError> {
        self.inner.put(item).await?;
        let entry = Entry { item: Some(item.clone()), fetched: Instant::now() };
        self.entries.lock().expect("catalog cache lock").insert(item.sku.clone(), entry);
        Ok(())
    }
}
