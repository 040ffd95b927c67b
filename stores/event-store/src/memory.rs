use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use order_domain::ports::{EventScan, EventStore, ScanPage, StoreError};
use order_domain::{Envelope, OrderId};
use tokio::sync::mpsc;

/// Events in a process. `subscribe` stands in for the DynamoDB stream: every
/// appended event is sent to each subscriber in commit order.
#[derive(Default)]
pub struct MemoryEventStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    orders: BTreeMap<OrderId, Vec<Envelope>>,
    subscribers: Vec<mpsc::UnboundedSender<Envelope>>,
}

impl MemoryEventStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The in-process stream of newly appended events.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Envelope> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.lock().expect("store lock").subscribers.push(tx);
        rx
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        Ok(self.inner.lock().expect("store lock").orders.get(&order_id).cloned().unwrap_or_default())
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        let Some(first) = events.first() else { return Ok(()) };
        let mut inner = self.inner.lock().expect("store lock");
        let stored = inner.orders.get(&first.order_id).map_or(0, Vec::len);
        if let Some(taken) = events.iter().find(|e| e.version as usize <= stored) {
            return Err(StoreError::Conflict { order_id: taken.order_id, version: taken.version });
        }
        inner.orders.entry(first.order_id).or_default().extend_from_slice(events);
        inner.subscribers.retain(|s| events.iter().all(|e| s.send(e.clone()).is_ok()));
        Ok(())
    }
}

#[async_trait]
impl EventScan for MemoryEventStore {
    async fn scan_page(&self, segment: u32, segments: u32, cursor: Option<String>) -> Result<ScanPage, StoreError> {
        const PAGE_ORDERS: usize = 100;
        let after: Option<OrderId> = match cursor {
            Some(c) => Some(c.parse().map_err(|_| StoreError::Corrupt(format!("bad scan cursor {c:?}")))?),
            None => None,
        };
        let inner = self.inner.lock().expect("store lock");
        let mut orders = inner
            .orders
            .iter()
            .filter(|(id, _)| after.is_none_or(|a| **id > a))
            .filter(|(id, _)| (id.0.as_u128() % u128::from(segments)) as u32 == segment);
        let page: Vec<_> = orders.by_ref().take(PAGE_ORDERS).collect();
        let more = orders.next().is_some();
        Ok(ScanPage {
            cursor: if more { page.last().map(|(id, _)| id.to_string()) } else { None },
            events: page.into_iter().flat_map(|(_, events)| events.iter().cloned()).collect(),
        })
    }
}
