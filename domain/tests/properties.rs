//! Any sequence of commands keeps the order's invariants, and `evolve` of
//! whatever `decide` returns never panics.

use chrono::{TimeZone, Utc};
use order_domain::validation::{LineInput, PlaceOrderInput};
use order_domain::{decide, evolve, Command, DomainError, Envelope, Order, OrderId, OrderStatus};
use proptest::prelude::*;
use uuid::Uuid;

fn any_line() -> impl Strategy<Value = LineInput> {
    ("[a-z0-9][a-z0-9-]{0,10}", -5i64..1100, -5i64..200_000_000)
        .prop_map(|(sku, quantity, unit_price_cents)| LineInput { sku, quantity, unit_price_cents })
}

fn any_command() -> impl Strategy<Value = Command> {
    let place = (prop::collection::vec(any_line(), 0..6), "\\PC{0,130}").prop_filter_map(
        "invalid input",
        |(lines, customer_id)| {
            PlaceOrderInput { customer_id, basket_id: None, currency: "USD".into(), lines }
                .validate()
                .ok()
                .map(Command::Place)
        },
    );
    prop_oneof![
        place,
        Just(Command::Confirm),
        Just(Command::Reject { reason: "out of stock".into(), unavailable: vec![] }),
        prop::option::of("[a-z ]{1,20}").prop_map(|reason| Command::Cancel { reason }),
        prop::option::of("[A-Z0-9]{1,20}").prop_map(|tracking_number| Command::Ship { tracking_number }),
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
        let order_id = OrderId(Uuid::new_v4());
        let mut state: Option<Order> = None;
        let mut version = 0u32;
        for command in &commands {
            let before = state.clone();
            match decide(state.as_ref(), command) {
                Ok(events) => {
                    prop_assert!(events.len() <= 1);
                    for event in events {
                        version += 1;
                        let envelope = Envelope {
                            event_id: Uuid::new_v4(),
                            order_id,
                            version,
                            occurred_at: Utc.timestamp_millis_opt(1_700_000_000_000 + i64::from(version)).unwrap(),
                            correlation_id: "c".into(),
                            causation_id: "c".into(),
                            event,
                        };
                        // Events survive the wire unchanged.
                        prop_assert_eq!(&Envelope::from_json(&envelope.to_json()).unwrap(), &envelope);
                        state = evolve(state, &envelope);
                        let after = state.as_ref().unwrap();
                        prop_assert!(allowed(before.as_ref().map(|o| o.status), after.status));
                    }
                }
                Err(DomainError::NotFound) => prop_assert!(state.is_none()),
                Err(_) => prop_assert!(state.is_some()),
            }
            if let Some(order) = &state {
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
}
