//! What the HTTP API needs: `GET /inventory/{sku}` and `PUT /inventory/{sku}`.

use std::sync::Arc;

use domain::Sku;

use crate::store::{InventoryError, InventoryStore, Stock};

/// The most a merchandiser can set as available for one SKU: far above any
/// warehouse, and far below where counters could overflow.
pub const MAX_AVAILABLE: u64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum SetAvailableError {
    #[error("available must be between 0 and {MAX_AVAILABLE}")]
    OutOfRange,
    #[error(transparent)]
    Store(#[from] InventoryError),
}

#[derive(Clone)]
pub struct InventoryService {
    store: Arc<dyn InventoryStore>,
}

impl InventoryService {
    pub fn new(store: Arc<dyn InventoryStore>) -> Self {
        InventoryService { store }
    }

    /// The stock of `sku`, or `None` if it was never set.
    pub async fn get(&self, sku: &Sku) -> Result<Option<Stock>, InventoryError> {
        Ok(self.store.stock(std::slice::from_ref(sku)).await?.remove(sku))
    }

    /// Sets what is available of `sku` (what the merchandiser counted on
    /// the shelf, net of nothing: stock already reserved stays reserved).
    pub async fn set_available(&self, sku: &Sku, available: u64) -> Result<Stock, SetAvailableError> {
        if available > MAX_AVAILABLE {
            return Err(SetAvailableError::OutOfRange);
        }
        let stock = self.store.set_available(sku, available).await?;
        tracing::info!(%sku, available, reserved = stock.reserved, "stock set");
        Ok(stock)
    }
}
