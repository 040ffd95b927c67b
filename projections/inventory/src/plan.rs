//! Coalescing, as pure functions: which new orders of one batch can be
//! reserved together, and how their writes are packed into transactions.
//!
//! Every order of a batch that asks for the hot SKU is reserved by one
//! conditional update of that SKU's item, not one update each: a batch of 10
//! orders costs the hot item one write instead of 10, which is what keeps a
//! flash sale under DynamoDB's per-item write ceiling. A customer's share of
//! a SKU with a purchase limit is an item of its own, written in the same
//! transaction: it adds items to the transaction, never writes to the
//! SKU's item.

use std::collections::{BTreeMap, HashMap};

use domain::event::{OverLimitLine, UnavailableLine};
use domain::{CustomerId, OrderId, Sku};
use inventory_store::store::{
    Change, Reservation, ReservationState, ShareDelta, ShareKey, Stock, StockDelta, StockLine, MAX_CHANGE_ITEMS,
};

/// An order inventory has not seen before, as its OrderPlaced asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub lines: Vec<StockLine>,
    /// The purchase limits of its SKUs that have one, as the saga read them
    /// from the catalog before reserving it (empty until then).
    pub limits: BTreeMap<Sku, u32>,
}

impl NewOrder {
    /// Whether one transaction holds the whole order: its lines, its
    /// shares and its record.
    pub fn fits_one_change(&self) -> bool {
        self.items(0, self.lines.len()) <= MAX_CHANGE_ITEMS
    }

    /// The items one transaction writes to hold `lines[from..to]`: a stock
    /// item per line, a share per line of a limited SKU, and the record.
    fn items(&self, from: usize, to: usize) -> usize {
        1 + self.lines[from..to].iter().map(|l| 1 + usize::from(self.limits.contains_key(&l.sku))).sum::<usize>()
    }

    /// Where a step that holds lines from `from` on ends: as many lines as
    /// one transaction takes (at least one).
    pub fn step_end(&self, from: usize) -> usize {
        let mut to = (from + 1).min(self.lines.len());
        while to < self.lines.len() && self.items(from, to + 1) <= MAX_CHANGE_ITEMS {
            to += 1;
        }
        to
    }

    /// The customer's share of `sku`.
    pub fn share(&self, sku: &Sku) -> ShareKey {
        ShareKey { customer_id: self.customer_id.clone(), sku: sku.clone() }
    }

    /// The shares the order counts in: one per SKU with a limit.
    pub fn shares(&self) -> impl Iterator<Item = ShareKey> + '_ {
        self.lines.iter().filter(|l| self.limits.contains_key(&l.sku)).map(|l| self.share(&l.sku))
    }

    /// What holding `lines[from..to]` writes besides the record: the stock
    /// reserved, and the shares taken of limited SKUs.
    pub fn holding(&self, from: usize, to: usize) -> Change {
        let mut change = Change::new();
        for line in &self.lines[from..to] {
            change.stock(&line.sku, StockDelta::reserve(line.quantity.into()));
            if let Some(max) = self.limits.get(&line.sku) {
                change.share(&self.share(&line.sku), ShareDelta::take(line.quantity.into(), *max));
            }
        }
        change
    }

    /// The record of the order once `held` of its lines are held, in `state`.
    pub fn record(&self, state: ReservationState, held: usize) -> Reservation {
        Reservation {
            order_id: self.order_id,
            state,
            lines: self.lines.clone(),
            held,
            unavailable: Vec::new(),
            customer_id: Some(self.customer_id.clone()),
            limits: self.limits.clone(),
            exceeded: Vec::new(),
            revision: 0,
        }
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
/// Orders keep their relative order inside a group. Two orders that take
/// the same share name the same SKU, so they are in one group.
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
    /// Short of stock: the lines that are, and what was left of them.
    Reject(Vec<UnavailableLine>),
    /// Over the customer's purchase limit: the lines that are.
    OverLimit(Vec<OverLimitLine>),
}

/// First come, first served: each order in turn is rejected if a line
/// would take its customer over the SKU's limit (counting what `shares`
/// hold and what earlier orders of the batch take), else reserved if what
/// is left of `stock` covers every line, else rejected naming the lines
/// that are short and what was left of them.
pub fn decide(orders: &[NewOrder], stock: &HashMap<Sku, Stock>, shares: &HashMap<ShareKey, u64>) -> Vec<Decision> {
    let mut left: HashMap<&Sku, u64> = HashMap::new();
    let mut held: HashMap<ShareKey, u64> = HashMap::new();
    orders
        .iter()
        .map(|order| {
            let needs = order.needs();
            let limited: Vec<(&Sku, u64, u32, ShareKey)> = needs
                .iter()
                .filter_map(|(sku, need)| order.limits.get(*sku).map(|max| (*sku, *need, *max, order.share(sku))))
                .collect();
            let over: Vec<OverLimitLine> = limited
                .iter()
                .filter_map(|(sku, need, max, share)| {
                    let holds = *held.entry(share.clone()).or_insert_with(|| shares.get(share).copied().unwrap_or(0));
                    domain::limit::over_limit(sku, *need, holds, *max)
                })
                .collect();
            if !over.is_empty() {
                return Decision::OverLimit(over);
            }
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
            if !unavailable.is_empty() {
                return Decision::Reject(unavailable);
            }
            for (sku, need) in needs {
                *left.get_mut(sku).expect("entered above") -= need;
            }
            for (_, need, _, share) in limited {
                *held.get_mut(&share).expect("entered above") += need;
            }
            Decision::Reserve
        })
        .collect()
}

/// One transaction's worth of decisions, and the records it writes.
#[derive(Clone, Debug, Default)]
pub struct Chunk {
    pub change: Change,
    pub records: Vec<Reservation>,
}

/// What deciding `order` writes: for a reservation its stock, its shares
/// and its record; for a rejection its record alone.
fn written(order: &NewOrder, decision: &Decision) -> (Change, Reservation) {
    let (mut change, record) = match decision {
        Decision::Reserve => {
            (order.holding(0, order.lines.len()), order.record(ReservationState::Reserved, order.lines.len()))
        }
        Decision::Reject(unavailable) => (
            Change::new(),
            Reservation { unavailable: unavailable.clone(), ..order.record(ReservationState::Rejected, 0) },
        ),
        Decision::OverLimit(exceeded) => {
            (Change::new(), Reservation { exceeded: exceeded.clone(), ..order.record(ReservationState::Rejected, 0) })
        }
    };
    change.record(None, record.clone());
    (change, Reservation { revision: 1, ..record })
}

/// Packs `decisions` into changes of at most [`MAX_CHANGE_ITEMS`] items,
/// reservations first. Committed in order, a rejection is only written
/// after every reservation it was decided against (a rejection may depend
/// on stock, or a share, an earlier order of the batch took). Every order
/// must fit one change.
pub fn pack(orders: &[NewOrder], decisions: &[Decision]) -> Vec<Chunk> {
    let reserves = orders.iter().zip(decisions).filter(|(_, d)| **d == Decision::Reserve);
    let rejects = orders.iter().zip(decisions).filter(|(_, d)| **d != Decision::Reserve);
    let mut chunks = Vec::new();
    let mut chunk = Chunk::default();
    for (order, decision) in reserves.chain(rejects) {
        let (change, record) = written(order, decision);
        if !chunk.records.is_empty() && chunk.change.items_with(&change) > MAX_CHANGE_ITEMS {
            chunks.push(std::mem::take(&mut chunk));
        }
        chunk.change.merge(change);
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
            customer_id: CustomerId::parse(&format!("customer-{n}")).unwrap(),
            lines: lines.iter().map(|(s, q)| StockLine { sku: sku(s), quantity: *q }).collect(),
            limits: BTreeMap::new(),
        }
    }

    /// `order` by `customer`, with a limit of `max` on every SKU it names.
    fn limited(n: u128, customer: &str, lines: &[(&str, u32)], max: u32) -> NewOrder {
        let order = order(n, lines);
        NewOrder {
            customer_id: CustomerId::parse(customer).unwrap(),
            limits: order.lines.iter().map(|l| (l.sku.clone(), max)).collect(),
            ..order
        }
    }

    fn no_shares() -> HashMap<ShareKey, u64> {
        HashMap::new()
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
        let decisions = decide(&orders, &stock(&[("hot", 3)]), &no_shares());
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
        let decisions = decide(&orders, &stock(&[("hot", 1), ("rare", 4)]), &no_shares());
        assert_eq!(
            decisions[0],
            Decision::Reject(vec![UnavailableLine { sku: sku("rare"), requested: 5, available: 4 }])
        );
        assert_eq!(decisions[1], Decision::Reserve, "the rejected order took nothing");
    }

    #[test]
    fn a_sku_never_stocked_counts_as_zero() {
        let decisions = decide(&[order(1, &[("ghost", 1)])], &HashMap::new(), &no_shares());
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

    #[test]
    fn a_customer_takes_up_to_its_limit_over_the_batch_and_what_it_holds() {
        let angler = |n, quantity| limited(n, "angler", &[("hot", quantity)], 2);
        let orders = [angler(1, 1), angler(2, 1), angler(3, 1), limited(4, "other", &[("hot", 2)], 2)];
        let decisions = decide(&orders, &stock(&[("hot", 10)]), &no_shares());
        let over = |allowed| Decision::OverLimit(vec![OverLimitLine { sku: sku("hot"), requested: 1, allowed }]);
        assert_eq!(decisions, [Decision::Reserve, Decision::Reserve, over(0), Decision::Reserve]);

        let holds_one = HashMap::from([(orders[0].share(&sku("hot")), 1)]);
        let decisions = decide(&[angler(5, 2), angler(6, 1)], &stock(&[("hot", 10)]), &holds_one);
        let asked_two = Decision::OverLimit(vec![OverLimitLine { sku: sku("hot"), requested: 2, allowed: 1 }]);
        assert_eq!(decisions, [asked_two, Decision::Reserve], "an order over the limit takes no share");
    }

    #[test]
    fn an_order_over_its_limit_takes_no_stock_and_the_limit_comes_before_the_stock() {
        let orders = [limited(1, "angler", &[("hot", 3)], 2), order(2, &[("hot", 1)])];
        let decisions = decide(&orders, &stock(&[("hot", 1)]), &no_shares());
        assert_eq!(
            decisions,
            [Decision::OverLimit(vec![OverLimitLine { sku: sku("hot"), requested: 3, allowed: 2 }]), Decision::Reserve]
        );
    }

    #[test]
    fn fifty_limited_orders_of_the_hot_sku_write_its_item_in_two_transactions() {
        let orders: Vec<NewOrder> = (0..50).map(|i| limited(i, &format!("buyer-{i}"), &[("hot", 1)], 2)).collect();
        let chunks = pack(&orders, &vec![Decision::Reserve; 50]);
        assert!(chunks.iter().all(|c| c.change.items() <= MAX_CHANGE_ITEMS));
        assert_eq!(chunks.iter().map(|c| c.records.len()).collect::<Vec<_>>(), [49, 1]);
        for chunk in &chunks {
            let hot: Vec<_> = chunk.change.stock_changes().collect();
            assert_eq!(hot, [(&sku("hot"), &StockDelta::reserve(chunk.records.len() as u64))], "one write of the SKU");
            assert_eq!(chunk.change.share_changes().count(), chunk.records.len(), "a share per buyer");
        }
        let record = &chunks[0].records[0];
        assert_eq!((record.customer_id.as_ref().unwrap().as_str(), record.limits[&sku("hot")]), ("buyer-0", 2));
    }

    #[test]
    fn a_step_holds_as_many_lines_as_their_stock_and_shares_fit_one_transaction() {
        let names: Vec<String> = (0..100).map(|i| format!("fly-{i:03}")).collect();
        let lines: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
        let plain = order(1, &lines);
        assert!(!plain.fits_one_change());
        assert_eq!((plain.step_end(0), plain.step_end(99)), (99, 100));
        let all_limited = limited(2, "angler", &lines, 2);
        assert_eq!((all_limited.step_end(0), all_limited.step_end(49), all_limited.step_end(98)), (49, 98, 100));
        assert!(limited(3, "angler", &lines[..49], 2).fits_one_change());
        assert!(!limited(3, "angler", &lines[..50], 2).fits_one_change());
    }
}
