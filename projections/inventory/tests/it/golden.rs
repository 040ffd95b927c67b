//! Every golden event (`events/golden/`: every version of every type ever
//! written) as the saga's queue delivers it: the stored JSON, as the
//! publisher of its time sent it, then what this build's publisher sends.
//! None fails, and the stock ends as the histories say: what shipped has
//! left, everything else is back.

use std::collections::BTreeMap;

use domain::{OrderEvent, OrderStatus};
use testkit::delivery::{deliver_bodies, deliver_in_lane};
use testkit::golden::histories;

use crate::common::Fixture;

const STOCK: u64 = 10;

#[tokio::test]
async fn the_saga_handles_every_golden_event_in_every_version() {
    let f = Fixture::memory();
    let histories = histories();
    // sku → (held, shipped) by the orders' recorded states.
    let mut expected: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for history in &histories {
        let OrderEvent::Placed(placed) = history.envelopes()[0].event.clone() else {
            panic!("{}: a history starts with OrderPlaced", history.name)
        };
        for line in &placed.lines {
            f.set(line.sku.as_str(), STOCK).await;
            let (held, shipped) = expected.entry(line.sku.as_str().to_owned()).or_default();
            match history.state.status {
                OrderStatus::Placed | OrderStatus::Confirmed => *held += u64::from(line.quantity),
                OrderStatus::Shipped => *shipped += u64::from(line.quantity),
                OrderStatus::Rejected | OrderStatus::Cancelled => {}
            }
        }
    }
    for history in &histories {
        history.append_to(f.events.as_ref()).await;
        for nth in 0..2 {
            let bodies: Vec<String> = history.events.iter().map(|e| e.bodies()[nth].clone()).collect();
            let failed = match history.lane() {
                Some(lane) => deliver_in_lane(&f.projection, &bodies, lane).await,
                None => deliver_bodies(&f.projection, &bodies).await,
            };
            assert!(failed.is_empty(), "{}: messages {failed:?} failed", history.name);
        }
    }
    for (sku, (held, shipped)) in expected {
        assert_eq!(f.stock(&sku).await, (STOCK - held - shipped, held, shipped), "{sku}");
    }
}
