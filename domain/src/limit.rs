//! Purchase limits (DESIGN.md "Catalog"): a catalog item's `maxPerCustomer`
//! caps what one customer may hold of its SKU over all its orders that are
//! neither cancelled nor rejected. The inventory saga counts what each
//! customer holds, with the reservation; the rule it decides by is here.

use crate::event::OverLimitLine;
use crate::values::Sku;

/// The `reason` of an OrderRejected whose `limits` name lines over their limit.
pub const LIMIT_EXCEEDED: &str = "limit-exceeded";

/// Whether a customer that holds `held` of `sku` may take `requested`
/// more under a limit of `max_per_customer`: `None` if it may, else the
/// line to reject the order with, naming what it may still take.
pub fn over_limit(sku: &Sku, requested: u64, held: u64, max_per_customer: u32) -> Option<OverLimitLine> {
    let allowed = u64::from(max_per_customer).saturating_sub(held);
    (requested > allowed).then(|| OverLimitLine {
        sku: sku.clone(),
        requested: u32::try_from(requested).unwrap_or(u32::MAX),
        allowed: u32::try_from(allowed).expect("at most max_per_customer"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rod() -> Sku {
        Sku::parse("muskie-casting-rod").unwrap()
    }

    #[test]
    fn a_customer_may_take_up_to_its_limit_and_no_more() {
        assert_eq!(over_limit(&rod(), 2, 0, 2), None);
        assert_eq!(over_limit(&rod(), 1, 1, 2), None);
        assert_eq!(over_limit(&rod(), 1, 2, 2), Some(OverLimitLine { sku: rod(), requested: 1, allowed: 0 }));
        assert_eq!(over_limit(&rod(), 3, 0, 2), Some(OverLimitLine { sku: rod(), requested: 3, allowed: 2 }));
    }

    #[test]
    fn holding_more_than_a_lowered_limit_allows_nothing() {
        assert_eq!(over_limit(&rod(), 1, 5, 2), Some(OverLimitLine { sku: rod(), requested: 1, allowed: 0 }));
    }
}
