use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::OrderId;

use crate::store::{FulfillmentError, FulfillmentStore, PickRequest, PickUpdate};

/// Pick requests in a process, for the embedded runner and fast tests.
#[derive(Default)]
pub struct MemoryFulfillmentStore {
    requests: Mutex<HashMap<OrderId, PickRequest>>,
}

impl MemoryFulfillmentStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl FulfillmentStore for MemoryFulfillmentStore {
    async fn apply(&self, update: &PickUpdate) -> Result<bool, FulfillmentError> {
        let mut requests = self.requests.lock().expect("fulfillment lock");
        let current = requests.get(&update.order_id);
        if current.is_some_and(|r| r.version >= update.version) {
            return Ok(false);
        }
        let request = PickRequest {
            order_id: update.order_id,
            status: update.status,
            lines: update.lines.clone().or_else(|| current.map(|r| r.lines.clone())).unwrap_or_default(),
            created_at: current.map_or(update.created_at, |r| r.created_at),
            updated_at: update.at,
            version: update.version,
        };
        requests.insert(update.order_id, request);
        Ok(true)
    }

    async fn get(&self, order_id: OrderId) -> Result<Option<PickRequest>, FulfillmentError> {
        Ok(self.requests.lock().expect("fulfillment lock").get(&order_id).cloned())
    }
}
