//! Recently folded orders, per process (one Lambda instance): what the
//! command service may decide on instead of reading the order's history
//! first. Nothing here is trusted for an answer: a decision made on a cached
//! state stands only once its conditional append succeeds (which proves the
//! order was at the cached version), and anything else is decided again on
//! a fresh read. A stale entry can cost a retry, never change an answer.

use std::collections::HashMap;
use std::sync::Mutex;

use domain::{Lane, Order, OrderId};

/// Orders kept by default: a few hundred bytes each, so about a megabyte.
pub const DEFAULT_CAPACITY: usize = 4096;

/// A bounded map from order id to the order at its latest known version.
/// Over capacity it drops the least recently used eighth at once (so the
/// scan that finds them runs once per `capacity / 8` inserts). A capacity of
/// zero keeps nothing.
pub struct OrderCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<OrderId, Entry>,
    clock: u64,
}

struct Entry {
    order: Order,
    /// The lane the order's events are stored in, when the read or append
    /// that filled the entry knew it.
    lane: Option<Lane>,
    last_used: u64,
}

impl OrderCache {
    pub fn new(capacity: usize) -> Self {
        OrderCache { capacity, inner: Mutex::new(Inner::default()) }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The order as last seen, and its lane, if kept.
    pub fn get(&self, order_id: OrderId) -> Option<(Order, Option<Lane>)> {
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        inner.entries.get_mut(&order_id).map(|entry| {
            entry.last_used = now;
            (entry.order.clone(), entry.lane)
        })
    }

    /// Remembers `order` unless a later version of it is already kept
    /// (concurrent commands may finish out of order).
    pub fn put(&self, order: &Order, lane: Option<Lane>) {
        if self.capacity == 0 {
            return;
        }
        let mut inner = self.lock();
        inner.clock += 1;
        let now = inner.clock;
        match inner.entries.get_mut(&order.order_id) {
            Some(entry) if entry.order.version > order.version => entry.last_used = now,
            Some(entry) => *entry = Entry { order: order.clone(), lane, last_used: now },
            None => {
                inner.entries.insert(order.order_id, Entry { order: order.clone(), lane, last_used: now });
                if inner.entries.len() > self.capacity {
                    inner.evict(self.capacity.div_ceil(8));
                }
            }
        }
    }

    /// Drops what is kept of the order (it proved stale, or does not exist).
    pub fn forget(&self, order_id: OrderId) {
        self.lock().entries.remove(&order_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The map is consistent after every statement: a panic elsewhere
        // while holding the lock leaves nothing half-done.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Drops the `count` least recently used entries.
    fn evict(&mut self, count: usize) {
        let mut ages: Vec<u64> = self.entries.values().map(|e| e.last_used).collect();
        let count = count.clamp(1, ages.len());
        let (_, &mut threshold, _) = ages.select_nth_unstable(count - 1);
        // Ticks are unique, so exactly `count` entries are at or under it.
        self.entries.retain(|_, e| e.last_used > threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use domain::{Currency, CustomerId, OrderStatus};
    use uuid::Uuid;

    fn order(version: u32) -> Order {
        Order {
            order_id: OrderId(Uuid::new_v4()),
            status: OrderStatus::Placed,
            customer_id: CustomerId::parse("c").unwrap(),
            basket_id: None,
            currency: Currency::parse("USD").unwrap(),
            lines: vec![],
            total_cents: 0,
            version,
            placed_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn keeps_the_latest_version() {
        let cache = OrderCache::new(8);
        let v2 = Order { version: 2, status: OrderStatus::Confirmed, ..order(2) };
        let v1 = Order { version: 1, status: OrderStatus::Placed, ..v2.clone() };
        cache.put(&v2, None);
        cache.put(&v1, None);
        assert_eq!(cache.get(v2.order_id), Some((v2.clone(), None)), "an older version never replaces a newer one");
        cache.forget(v2.order_id);
        assert_eq!(cache.get(v2.order_id), None);
    }

    #[test]
    fn stays_bounded_and_drops_the_least_recently_used() {
        let cache = OrderCache::new(16);
        let first = order(1);
        cache.put(&first, None);
        for _ in 0..100 {
            cache.put(&order(1), None);
            assert!(cache.get(first.order_id).is_some(), "used all the time, so never the oldest");
            assert!(cache.len() <= 16);
        }
        let unused = order(1);
        cache.put(&unused, None);
        for _ in 0..16 {
            cache.put(&order(1), None);
        }
        assert!(cache.get(unused.order_id).is_none(), "unused, so dropped");
    }

    #[test]
    fn a_zero_capacity_keeps_nothing() {
        let cache = OrderCache::new(0);
        let o = order(1);
        cache.put(&o, None);
        assert!(cache.is_empty());
        assert_eq!(cache.get(o.order_id), None);
    }
}
