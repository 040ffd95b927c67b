//! Any sequence of commands keeps the order's invariants, and `evolve` of
//! whatever `decide` returns never panics.

use domain::event::{OrderCancelled, OrderConfirmed, OrderRejected, OrderShipped};
use domain::values::{quantity, unit_price_cents};
use domain::{
    decide, evolve, Command, Currency, CustomerId, DomainError, Envelope, Order, OrderEvent, OrderLine, OrderStatus,
    PlaceOrder, Reason, Sku, TrackingNumber,
};
use proptest::prelude::*;

use crate::support::{envelope, given_no_previous_events};

/// A line as checkout might send it: valid or not.
fn any_line() -> impl Strategy<Value = Option<OrderLine>> {
    ("[a-z0-9][a-z0-9-]{0,10}", -5i64..1100, -5i64..200_000_000).prop_map(|(sku, q, price)| {
        Some(OrderLine {
            sku: Sku::parse(&sku).ok()?,
            quantity: quantity(q).ok()?,
            unit_price_cents: unit_price_cents(price).ok()?,
        })
    })
}

fn any_command() -> impl Strategy<Value = Command> {
    let place = (prop::collection::vec(any_line(), 0..6), "\\PC{0,130}").prop_filter_map(
        "invalid input",
        |(lines, customer_id)| {
            let lines: Vec<OrderLine> = lines.into_iter().collect::<Option<_>>()?;
            if !PlaceOrder::check_lines(&lines).is_empty() {
                return None;
            }
            let customer_id = CustomerId::parse(&customer_id).ok()?;
            Some(Command::Place(PlaceOrder {
                customer_id,
                basket_id: None,
                currency: Currency::parse("USD").ok()?,
                lines,
            }))
        },
    );
    prop_oneof![
        place,
        Just(Command::Confirm),
        Just(Command::Reject { reason: Reason::parse("out of stock").unwrap(), shortages: vec![] }),
        prop::option::of("[a-z]{1,20}")
            .prop_map(|reason| Command::Cancel { reason: reason.map(|r| Reason::parse(&r).unwrap()) }),
        prop::option::of("[A-Z0-9]{1,20}").prop_map(|tracking_number| Command::Ship {
            tracking_number: tracking_number.map(|t| TrackingNumber::parse(&t).unwrap())
        }),
    ]
}

fn allowed(from: Option<OrderStatus>, to: OrderStatus) -> bool {
    use OrderStatus::*;
    matches!(
        (from, to),
        (None, Placed) | (Some(Placed), Confirmed | Rejected | Cancelled) | (Some(Confirmed), Shipped | Cancelled)
    )
}

proptest! {
    #[test]
    fn any_command_sequence_keeps_the_invariants(commands in prop::collection::vec(any_command(), 0..25)) {
        let mut order = given_no_previous_events();
        for command in &commands {
            let before = order.state();
            match order.apply(command) {
                Ok(recorded) => {
                    prop_assert!(recorded.len() <= 1);
                    for envelope in &recorded {
                        // Events survive the wire unchanged.
                        prop_assert_eq!(&Envelope::from_json(&envelope.to_json()).unwrap(), envelope);
                        let after = order.state().unwrap();
                        prop_assert!(allowed(before.as_ref().map(|o| o.status), after.status));
                    }
                }
                Err(DomainError::NotFound) => prop_assert!(before.is_none()),
                Err(_) => prop_assert!(before.is_some()),
            }
            let version = order.history().len() as u32;
            if let Some(order) = order.state() {
                // Gap-free versions: the state counts every event.
                prop_assert_eq!(order.version, version);
                prop_assert_eq!(order.total_cents, order.lines.iter().map(|l| l.total_cents()).sum::<u64>());
                prop_assert!(!order.lines.is_empty() && order.lines.len() <= 100);
                prop_assert!(order.placed_at <= order.updated_at);
            } else {
                prop_assert_eq!(version, 0);
            }
        }
    }

    /// Any history, even one no correct store holds: an event that does not
    /// fit the status leaves it alone, and the version follows every event.
    #[test]
    fn evolve_moves_only_along_the_transitions(kinds in prop::collection::vec(0u8..5, 1..12)) {
        let placed = match decide(None, &any_place()).unwrap().pop().unwrap() {
            OrderEvent::Placed(placed) => placed,
            _ => unreachable!(),
        };
        let mut state: Option<Order> = None;
        for (i, kind) in kinds.iter().enumerate() {
            let event = match kind {
                0 => OrderEvent::Placed(placed.clone()),
                1 => OrderEvent::Confirmed(OrderConfirmed {}),
                2 => OrderEvent::Rejected(OrderRejected { reason: "r".into(), shortages: vec![] }),
                3 => OrderEvent::Cancelled(OrderCancelled { reason: None }),
                _ => OrderEvent::Shipped(OrderShipped { tracking_number: None }),
            };
            let version = i as u32 + 1;
            let envelope = envelope(version, event);
            let before = state.as_ref().map(|o| o.status);
            state = evolve(state, &envelope);
            match (before, &state) {
                (None, None) => prop_assert!(!matches!(envelope.event, OrderEvent::Placed(_))),
                (None, Some(order)) => prop_assert_eq!(order.status, OrderStatus::Placed),
                (Some(_), None) => prop_assert!(false, "evolve forgot the order"),
                (Some(status), Some(order)) => {
                    prop_assert_eq!(order.status, status.after(&envelope.event).unwrap_or(status));
                    prop_assert!(order.status == status || allowed(Some(status), order.status));
                    prop_assert_eq!(order.version, version);
                }
            }
        }
    }
}

fn any_place() -> Command {
    let line = OrderLine { sku: Sku::parse("lure-7").unwrap(), quantity: 1, unit_price_cents: 450 };
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("c-1").unwrap(),
        basket_id: None,
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![line],
    })
}
