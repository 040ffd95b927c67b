use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use domain::ports::{EventScan, EventStore, ScanPage, StoreError};
use domain::{Envelope, Lane, OrderId};
use tokio::sync::mpsc;

/// Events in a process. `subscribe` stands in for the DynamoDB stream: every
/// appended event is sent to each subscriber in commit order
/// (`subscribe_with_lanes`: with its lane, as the stream image holds it).
#[derive(Default)]
pub struct MemoryEventStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    orders: BTreeMap<OrderId, Vec<Stored>>,
    subscribers: Vec<mpsc::UnboundedSender<Envelope>>,
    lane_subscribers: Vec<mpsc::UnboundedSender<(Envelope, Lane)>>,
}

/// One event and the lane it was appended in (`append_in_lane`), as a
/// DynamoDB item keeps it.
struct Stored {
    envelope: Envelope,
    lane: Option<Lane>,
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

    /// The in-process stream of newly appended events with their lane
    /// (`standard` for events appended without one).
    pub fn subscribe_with_lanes(&self) -> mpsc::UnboundedReceiver<(Envelope, Lane)> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.lock().expect("store lock").lane_subscribers.push(tx);
        rx
    }

    fn append_locked(&self, events: &[Envelope], lane: Option<Lane>) -> Result<(), StoreError> {
        let Some(first) = events.first() else { return Ok(()) };
        let mut inner = self.inner.lock().expect("store lock");
        let stored = inner.orders.get(&first.order_id).map_or(0, Vec::len);
        if let Some(taken) = events.iter().find(|e| e.version as usize <= stored) {
            return Err(StoreError::Conflict { order_id: taken.order_id, version: taken.version });
        }
        inner
            .orders
            .entry(first.order_id)
            .or_default()
            .extend(events.iter().map(|e| Stored { envelope: e.clone(), lane }));
        let published_lane = lane.unwrap_or_default();
        inner.subscribers.retain(|s| events.iter().all(|e| s.send(e.clone()).is_ok()));
        inner.lane_subscribers.retain(|s| events.iter().all(|e| s.send((e.clone(), published_lane)).is_ok()));
        Ok(())
    }

    /// The lane each event of the order travels in, oldest first (events
    /// appended without one travel `standard`, as the stream sends them).
    pub fn event_lanes(&self, order_id: OrderId) -> Vec<Lane> {
        let inner = self.inner.lock().expect("store lock");
        inner
            .orders
            .get(&order_id)
            .map_or_else(Vec::new, |events| events.iter().map(|e| e.lane.unwrap_or_default()).collect())
    }

    fn envelopes(inner: &Inner, order_id: OrderId) -> Vec<Envelope> {
        inner.orders.get(&order_id).map_or_else(Vec::new, |events| events.iter().map(|e| e.envelope.clone()).collect())
    }
}

#[async_trait]
impl EventStore for MemoryEventStore {
    async fn load(&self, order_id: OrderId) -> Result<Vec<Envelope>, StoreError> {
        Ok(Self::envelopes(&self.inner.lock().expect("store lock"), order_id))
    }

    async fn append(&self, events: &[Envelope]) -> Result<(), StoreError> {
        self.append_locked(events, None)
    }

    async fn load_with_lane(&self, order_id: OrderId) -> Result<(Vec<Envelope>, Option<Lane>), StoreError> {
        let inner = self.inner.lock().expect("store lock");
        // As DynamoDB's: the first lane an event of the order holds.
        let lane = inner.orders.get(&order_id).and_then(|events| events.iter().find_map(|e| e.lane));
        Ok((Self::envelopes(&inner, order_id), lane))
    }

    async fn append_in_lane(&self, events: &[Envelope], lane: Lane) -> Result<(), StoreError> {
        self.append_locked(events, Some(lane))
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
            events: page.into_iter().flat_map(|(_, events)| events.iter().map(|e| e.envelope.clone())).collect(),
        })
    }
}
