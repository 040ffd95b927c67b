//! Every golden event (`events/golden/`: every version of every type ever
//! written) as the fulfillment queue delivers it: the stored JSON, as the
//! publisher of its time sent it, then what this build's publisher sends.
//! None fails, and each order's pick request is what its recorded state
//! says.

use domain::{OrderEvent, OrderStatus};
use fulfillment::{PickLine, PickStatus};
use testkit::delivery::deliver_bodies;
use testkit::golden::histories;

use crate::common::Fixture;

#[tokio::test]
async fn fulfillment_handles_every_golden_event_in_every_version() {
    let f = Fixture::memory();
    for history in histories() {
        history.append_to(f.events.as_ref()).await;
        for nth in 0..2 {
            let bodies: Vec<String> = history.events.iter().map(|e| e.bodies()[nth].clone()).collect();
            let failed = deliver_bodies(&f.projection, &bodies).await;
            assert!(failed.is_empty(), "{}: messages {failed:?} failed", history.name);
        }
        let request = f.store.get(history.order_id).await.unwrap();
        let confirmed = history.envelopes().iter().any(|e| matches!(e.event, OrderEvent::Confirmed(_)));
        let status = match history.state.status {
            OrderStatus::Confirmed => Some(PickStatus::Open),
            OrderStatus::Shipped => Some(PickStatus::Closed),
            OrderStatus::Cancelled => Some(PickStatus::Cancelled),
            OrderStatus::Placed | OrderStatus::Rejected => None,
        };
        assert_eq!(request.as_ref().map(|r| r.status), status, "{}", history.name);
        if let Some(request) = request {
            let lines: Vec<PickLine> = if confirmed {
                history.state.lines.iter().map(|l| PickLine { sku: l.sku.clone(), quantity: l.quantity }).collect()
            } else {
                Vec::new()
            };
            assert_eq!((request.lines, request.version), (lines, history.state.version), "{}", history.name);
        }
    }
}
