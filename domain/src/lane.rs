//! Lanes: the hot product's orders travel apart from everyone else's.
//!
//! An order's lane is decided once, when it is placed: `hot` when one of its
//! lines is for a SKU of the configured [`HotList`], else `standard`. Every
//! later event of the order travels in that lane (the event store keeps it
//! beside each event, not in the envelope), so changing the hot list never
//! moves an order that is already placed, and an order's events never race
//! each other across two queues.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use crate::event::OrderEvent;
use crate::values::{OrderLine, Sku};

/// The hot list when none is configured.
pub const DEFAULT_HOT_SKUS: &str = "muskie-casting-rod";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Hot,
    /// Everything not placed with a hot SKU, and every order stored before
    /// lanes existed.
    #[default]
    Standard,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::Hot, Lane::Standard];

    /// The lane's name, as events carry it.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::Hot => "hot",
            Lane::Standard => "standard",
        }
    }
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown lane {0:?} (hot or standard)")]
pub struct UnknownLane(pub String);

impl FromStr for Lane {
    type Err = UnknownLane;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hot" => Ok(Lane::Hot),
            "standard" => Ok(Lane::Standard),
            other => Err(UnknownLane(other.to_owned())),
        }
    }
}

/// The configured hot SKUs. Empty: every order is `standard`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HotList {
    skus: BTreeSet<Sku>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("hot SKU {sku:?} {message}")]
pub struct HotListError {
    pub sku: String,
    pub message: &'static str,
}

impl HotList {
    pub fn new(skus: impl IntoIterator<Item = Sku>) -> Self {
        HotList { skus: skus.into_iter().collect() }
    }

    /// A comma-separated list (spaces around names are ignored; an empty
    /// string is an empty list).
    pub fn parse(value: &str) -> Result<Self, HotListError> {
        let skus = value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| Sku::parse(s).map_err(|message| HotListError { sku: s.to_owned(), message }))
            .collect::<Result<BTreeSet<_>, _>>()?;
        Ok(HotList { skus })
    }

    /// The list as configured: `value`, or [`DEFAULT_HOT_SKUS`] when none
    /// is set.
    pub fn configured(value: Option<&str>) -> Result<Self, HotListError> {
        Self::parse(value.unwrap_or(DEFAULT_HOT_SKUS))
    }

    pub fn contains(&self, sku: &Sku) -> bool {
        self.skus.contains(sku)
    }

    pub fn skus(&self) -> impl Iterator<Item = &Sku> {
        self.skus.iter()
    }

    /// The lane of an order placed with `lines`.
    pub fn lane_of(&self, lines: &[OrderLine]) -> Lane {
        if lines.iter().any(|line| self.contains(&line.sku)) {
            Lane::Hot
        } else {
            Lane::Standard
        }
    }

    /// The lane of the events one command appends to an order whose events
    /// are stored in `stored` (`None`: no event of it yet, or only events
    /// stored without a lane). The lane an order was placed in sticks: only
    /// an OrderPlaced decides one, against this list.
    pub fn lane_for<'a>(&self, stored: Option<Lane>, appended: impl IntoIterator<Item = &'a OrderEvent>) -> Lane {
        if let Some(lane) = stored {
            return lane;
        }
        appended
            .into_iter()
            .find_map(|event| match event {
                OrderEvent::Placed(placed) => Some(self.lane_of(&placed.lines)),
                _ => None,
            })
            .unwrap_or_default()
    }
}

impl fmt::Display for HotList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.skus.iter().map(Sku::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(sku: &str) -> OrderLine {
        OrderLine { sku: Sku::parse(sku).unwrap(), quantity: 1, unit_price_cents: 100 }
    }

    #[test]
    fn parses_comma_separated_names() {
        let list = HotList::parse(" muskie-casting-rod, tourney-casting-rod ,").unwrap();
        assert_eq!(list.to_string(), "muskie-casting-rod,tourney-casting-rod");
        assert_eq!(HotList::parse("").unwrap(), HotList::default());
        assert!(HotList::parse("Muskie Rod").is_err());
        assert_eq!(HotList::configured(None).unwrap().to_string(), DEFAULT_HOT_SKUS);
        assert_eq!(HotList::configured(Some("")).unwrap(), HotList::default());
    }

    #[test]
    fn an_order_with_any_hot_line_is_hot() {
        let list = HotList::parse("muskie-casting-rod").unwrap();
        assert_eq!(list.lane_of(&[line("braided-line-30lb"), line("muskie-casting-rod")]), Lane::Hot);
        assert_eq!(list.lane_of(&[line("braided-line-30lb")]), Lane::Standard);
        assert_eq!(HotList::default().lane_of(&[line("muskie-casting-rod")]), Lane::Standard);
    }

    #[test]
    fn a_stored_lane_sticks() {
        let list = HotList::parse("muskie-casting-rod").unwrap();
        let confirmed = OrderEvent::Confirmed(crate::event::OrderConfirmed {});
        assert_eq!(list.lane_for(Some(Lane::Hot), [&confirmed]), Lane::Hot);
        assert_eq!(list.lane_for(Some(Lane::Standard), [&confirmed]), Lane::Standard);
        assert_eq!(list.lane_for(None, [&confirmed]), Lane::Standard, "no lane stored: standard");
    }

    #[test]
    fn lanes_read_back() {
        for lane in Lane::ALL {
            assert_eq!(lane.as_str().parse::<Lane>(), Ok(lane));
        }
        assert!("fast".parse::<Lane>().is_err());
    }
}
