//! Coalescing, as pure functions: which new orders of one batch can be
//! reserved together, and how their writes are packed into transactions.
//!
//! Every order of a batch that asks for the hot SKU is reserved by one
//! conditional update of that SKU's item, not one update each: a batch of 10
//! orders costs the hot item one write instead of 10, which is what keeps a
//! flash sale under DynamoDB's per-item write ceiling.

use std::collections::{BTreeMap, HashMap};

use domain::event::UnavailableLine;
use domain::{OrderId, Sku};
use inventory_store::store::{Change, Reservation, ReservationState, Stock, StockDelta, StockLine, MAX_CHANGE_ITEMS};

/// An order inventory has not seen before, as its OrderPlaced asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub order_id: OrderId,
    pub lines: Vec<StockLine>,
}

impl NewOrder {
    /// Whether one transaction holds the whole order: its lines and its record.
    pub fn fits_one_change(&self) -> bool {
        self.lines.len() < MAX_CHANGE_ITEMS
    }

    /// What the order needs per SKU (a SKU named twice is summed).
    fn needs(&self) -> BTreeMap<&Sku, u64> {
        let mut needs = BTreeMap::new();
        for line in &self.lines {
            *needs.entry(&line.sku).or_insert(0) += u64::from(line.quantity);
        }
        needs
    }
}

/// Splits `orders` into groups that share no SKU, so each group commits
/// independently and an order for a quiet SKU never waits on the hot one.
/// Orders keep their relative order inside a group.
pub fn independent_groups(orders: Vec<NewOrder>) -> Vec<Vec<NewOrder>> {
    let mut parent: Vec<usize> = (0..orders.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut first_with_sku: HashMap<&Sku, usize> = HashMap::new();
    for (i, order) in orders.iter().enumerate() {
        for line in &order.lines {
            let first = *first_with_sku.entry(&line.sku).or_insert(i);
            let (a, b) = (root(&mut parent, first), root(&mut parent, i));
            parent[a.max(b)] = a.min(b);
        }
    }
    let roots: Vec<usize> = (0..orders.len()).map(|i| root(&mut parent, i)).collect();
    let mut groups: BTreeMap<usize, Vec<NewOrder>> = BTreeMap::new();
    for (order, group) in orders.into_iter().zip(roots) {
        groups.entry(group).or_default().push(order);
    }
    groups.into_values().collect()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Reserve,
    Reject(Vec<UnavailableLine>),
}

/// First come, first served: each order in turn is reserved if what is
/// left of `stock` covers every line, and rejected otherwise (naming the
/// lines that are short and what was left of them).
pub fn decide(orders: &[NewOrder], stock: &HashMap<Sku, Stock>) -> Vec<Decision> {
    let mut left: HashMap<&Sku, u64> = HashMap::new();
    orders
        .iter()
        .map(|order| {
            let needs = order.needs();
            for sku in needs.keys() {
                left.entry(sku).or_insert_with(|| stock.get(*sku).map_or(0, |s| s.available));
            }
            let unavailable: Vec<UnavailableLine> = needs
                .iter()
                .filter(|(sku, need)| left[*sku] < **need)
                .map(|(sku, need)| UnavailableLine {
                    sku: (*sku).clone(),
                    requested: u32::try_from(*need).unwrap_or(u32::MAX),
                    available: left[*sku],
                })
                .collect();
            if unavailable.is_empty() {
                for (sku, need) in needs {
                    *left.get_mut(sku).expect("entered above") -= need;
                }
                Decision::Reserve
            } else {
                Decision::Reject(unavailable)
            }
        })
        .collect()
}

/// One transaction's worth of decisions, and the records it writes.
#[derive(Clone, Debug, Default)]
pub struct Chunk {
    pub change: Change,
    pub records: Vec<Reservation>,
}

/// Packs `decisions` into changes of at most [`MAX_CHANGE_ITEMS`] items,
/// reservations first. Committed in order, a rejection is only written
/// after every reservation it was decided against (a rejection may depend on
/// stock an earlier order of the batch took). Every order must fit one change.
pub fn pack(orders: &[NewOrder], decisions: &[Decision]) -> Vec<Chunk> {
    let reserves = orders.iter().zip(decisions).filter(|(_, d)| **d == Decision::Reserve);
    let rejects = orders.iter().zip(decisions).filter(|(_, d)| **d != Decision::Reserve);
    let mut chunks = Vec::new();
    let mut chunk = Chunk::default();
    for (order, decision) in reserves.chain(rejects) {
        let stock_lines: &[StockLine] = match decision {
            Decision::Reserve => &order.lines,
            Decision::Reject(_) => &[],
        };
        if !chunk.records.is_empty() && chunk.change.items_with(stock_lines) > MAX_CHANGE_ITEMS {
            chunks.push(std::mem::take(&mut chunk));
        }
        let record = match decision {
            Decision::Reserve => {
                for line in &order.lines {
                    chunk.change.stock(&line.sku, StockDelta::reserve(u64::from(line.quantity)));
                }
                Reservation {
                    order_id: order.order_id,
                    state: ReservationState::Reserved,
                    lines: order.lines.clone(),
                    held: order.lines.len(),
                    unavailable: Vec::new(),
                    revision: 1,
                }
            }
            Decision::Reject(unavailable) => Reservation {
                order_id: order.order_id,
                state: ReservationState::Rejected,
                lines: order.lines.clone(),
                held: 0,
                unavailable: unavailable.clone(),
                revision: 1,
            },
        };
        chunk.change.record(None, record.clone());
        chunk.records.push(record);
    }
    if !chunk.records.is_empty() {
        chunks.push(chunk);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn order(n: u128, lines: &[(&str, u32)]) -> NewOrder {
        NewOrder {
            order_id: OrderId(uuid::Uuid::from_u128(n)),
            lines: lines.iter().map(|(s, q)| StockLine { sku: sku(s), quantity: *q }).collect(),
        }
    }

    fn stock(entries: &[(&str, u64)]) -> HashMap<Sku, Stock> {
        entries
            .iter()
            .map(|(s, available)| (sku(s), Stock { sku: sku(s), available: *available, reserved: 0, shipped: 0 }))
            .collect()
    }

    #[test]
    fn orders_sharing_no_sku_fall_into_separate_groups() {
        let groups = independent_groups(vec![
            order(1, &[("hot", 1)]),
            order(2, &[("quiet", 1)]),
            order(3, &[("hot", 1), ("bait", 2)]),
            order(4, &[("bait", 1)]),
            order(5, &[("quiet", 3)]),
        ]);
        let ids: Vec<Vec<u128>> = groups.iter().map(|g| g.iter().map(|o| o.order_id.0.as_u128()).collect()).collect();
        assert_eq!(ids, vec![vec![1, 3, 4], vec![2, 5]]);
    }

    #[test]
    fn first_come_first_served_until_the_stock_runs_out() {
        let orders = [order(1, &[("hot", 2)]), order(2, &[("hot", 2)]), order(3, &[("hot", 1)])];
        let decisions = decide(&orders, &stock(&[("hot", 3)]));
        assert_eq!(decisions[0], Decision::Reserve);
        assert_eq!(
            decisions[1],
            Decision::Reject(vec![UnavailableLine { sku: sku("hot"), requested: 2, available: 1 }])
        );
        assert_eq!(decisions[2], Decision::Reserve, "a smaller later order still fits");
    }

    #[test]
    fn an_order_is_reserved_whole_or_not_at_all() {
        let orders = [order(1, &[("hot", 1), ("rare", 5)]), order(2, &[("hot", 1)])];
        let decisions = decide(&orders, &stock(&[("hot", 1), ("rare", 4)]));
        assert_eq!(
            decisions[0],
            Decision::Reject(vec![UnavailableLine { sku: sku("rare"), requested: 5, available: 4 }])
        );
        assert_eq!(decisions[1], Decision::Reserve, "the rejected order took nothing");
    }

    #[test]
    fn a_sku_never_stocked_counts_as_zero() {
        let decisions = decide(&[order(1, &[("ghost", 1)])], &HashMap::new());
        assert_eq!(
            decisions[0],
            Decision::Reject(vec![UnavailableLine { sku: sku("ghost"), requested: 1, available: 0 }])
        );
    }

    #[test]
    fn reservations_of_one_sku_coalesce_into_one_stock_change() {
        let orders: Vec<NewOrder> = (0..10).map(|i| order(i, &[("hot", 1)])).collect();
        let decisions = vec![Decision::Reserve; 10];
        let chunks = pack(&orders, &decisions);
        assert_eq!(chunks.len(), 1);
        let stock: Vec<_> = chunks[0].change.stock_changes().collect();
        assert_eq!(stock, vec![(&sku("hot"), &StockDelta::reserve(10))]);
        assert_eq!(chunks[0].change.items(), 11);
    }

    #[test]
    fn chunks_respect_the_transaction_limit_and_put_rejections_last() {
        // 60 orders of two distinct SKUs each: 3 items per order.
        let mut orders: Vec<NewOrder> = (0..60)
            .map(|i| {
                let a = format!("sku-{i}-a");
                let b = format!("sku-{i}-b");
                order(i, &[(a.as_str(), 1), (b.as_str(), 1)])
            })
            .collect();
        orders.insert(0, order(1000, &[("hot", 1)]));
        let mut decisions = vec![Decision::Reserve; 61];
        decisions[0] = Decision::Reject(vec![]);
        let chunks = pack(&orders, &decisions);
        assert!(chunks.iter().all(|c| c.change.items() <= MAX_CHANGE_ITEMS));
        assert_eq!(chunks.iter().map(|c| c.records.len()).sum::<usize>(), 61);
        let last = chunks.last().unwrap().records.last().unwrap();
        assert_eq!(last.state, ReservationState::Rejected, "the rejection is written after the reservations");
    }
}
