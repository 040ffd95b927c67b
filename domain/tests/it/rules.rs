//! DESIGN.md's Domain section, rule by rule.

use domain::event::{OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected, OrderShipped};
use domain::{
    evolve, fold, Command, Currency, CustomerId, DomainError, Envelope, OrderEvent, OrderLine, OrderStatus, PlaceOrder,
    Reason, Sku, TrackingNumber,
};

use crate::support::{given, given_no_previous_events};

fn line(sku: &str, quantity: u32, unit_price_cents: u64) -> OrderLine {
    OrderLine { sku: Sku::parse(sku).unwrap(), quantity, unit_price_cents }
}

fn input(lines: Vec<OrderLine>) -> PlaceOrder {
    PlaceOrder {
        customer_id: CustomerId::parse("customer-1").unwrap(),
        basket_id: None,
        currency: Currency::parse("EUR").unwrap(),
        lines,
    }
}

fn reason(text: &str) -> Reason {
    Reason::parse(text).unwrap()
}

fn place() -> Command {
    Command::Place(input(vec![line("muskie-casting-rod", 2, 19_900), line("lure-7", 1, 450)]))
}

/// What `place()` records.
fn placed() -> OrderEvent {
    OrderEvent::Placed(OrderPlaced {
        customer_id: CustomerId::parse("customer-1").unwrap(),
        basket_id: None,
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![line("muskie-casting-rod", 2, 19_900), line("lure-7", 1, 450)],
        total_cents: 2 * 19_900 + 450,
    })
}

fn confirmed() -> OrderEvent {
    OrderEvent::Confirmed(OrderConfirmed {})
}

fn rejected(reason: &str) -> OrderEvent {
    OrderEvent::Rejected(OrderRejected { reason: reason.into(), unavailable: vec![] })
}

fn cancelled(reason: Option<&str>) -> OrderEvent {
    OrderEvent::Cancelled(OrderCancelled { reason: reason.map(Into::into) })
}

fn shipped(tracking_number: Option<&str>) -> OrderEvent {
    OrderEvent::Shipped(OrderShipped { tracking_number: tracking_number.map(Into::into) })
}

#[test]
fn the_happy_path_places_confirms_and_ships() {
    let shipped_order = given_no_previous_events()
        .when(&place())
        .then_expect_events([placed()])
        .when(&Command::Confirm)
        .then_expect_events([confirmed()])
        .when(&Command::Ship { tracking_number: Some(TrackingNumber::parse("T1").unwrap()) })
        .then_expect_events([shipped(Some("T1"))]);
    let history = shipped_order.history();
    let order = fold(history).unwrap();
    assert_eq!(order.status, OrderStatus::Shipped);
    assert_eq!(order.version, 3);
    assert_eq!(order.total_cents, 2 * 19_900 + 450);
    assert_eq!(order.placed_at, history[0].occurred_at);
    assert_eq!(order.updated_at, history[2].occurred_at);
}

#[test]
fn allowed_transitions() {
    let reject = Command::Reject { reason: reason("stock"), unavailable: vec![] };
    assert_eq!(
        given([placed()]).when(&reject).then_expect_events([rejected("stock")]).state().unwrap().status,
        OrderStatus::Rejected
    );
    let cancel = Command::Cancel { reason: None };
    assert_eq!(
        given([placed()]).when(&cancel).then_expect_events([cancelled(None)]).state().unwrap().status,
        OrderStatus::Cancelled
    );
    assert_eq!(
        given([placed(), confirmed()]).when(&cancel).then_expect_events([cancelled(None)]).state().unwrap().status,
        OrderStatus::Cancelled
    );
}

#[test]
fn repeating_a_command_changes_nothing() {
    let confirmed_once = given_no_previous_events()
        .when(&place())
        .then_expect_events([placed()])
        .when(&place())
        .then_expect_no_events()
        .when(&Command::Confirm)
        .then_expect_events([confirmed()])
        .when(&Command::Confirm)
        .then_expect_no_events();
    assert_eq!(confirmed_once.history().len(), 2);
    given([placed(), cancelled(None)]).when(&Command::Cancel { reason: Some(reason("again")) }).then_expect_no_events();
    given([placed(), confirmed(), shipped(None)])
        .when(&Command::Ship { tracking_number: None })
        .then_expect_no_events();
    given([placed(), rejected("stock")])
        .when(&Command::Reject { reason: reason("stock"), unavailable: vec![] })
        .then_expect_no_events();
}

#[test]
fn forbidden_transitions_are_conflicts() {
    let ship = Command::Ship { tracking_number: None };
    let cancel = Command::Cancel { reason: None };
    let cases: Vec<(Vec<OrderEvent>, Command, OrderStatus)> = vec![
        (vec![placed(), confirmed(), shipped(None)], cancel.clone(), OrderStatus::Shipped),
        (vec![placed()], ship.clone(), OrderStatus::Placed),
        (vec![placed(), cancelled(None)], Command::Confirm, OrderStatus::Cancelled),
        (
            vec![placed(), confirmed()],
            Command::Reject { reason: reason("x"), unavailable: vec![] },
            OrderStatus::Confirmed,
        ),
        (vec![placed(), rejected("x")], cancel, OrderStatus::Rejected),
        (vec![placed(), cancelled(None)], ship, OrderStatus::Cancelled),
    ];
    for (history, command, status) in cases {
        given(history).when(&command).then_expect_error(DomainError::NotAllowed { status, command: command.name() });
    }
}

#[test]
fn commands_on_a_missing_order_are_not_found() {
    for command in [Command::Confirm, Command::Cancel { reason: None }, Command::Ship { tracking_number: None }] {
        given_no_previous_events().when(&command).then_expect_error(DomainError::NotFound);
    }
}

#[test]
fn placing_again_with_other_content_is_refused() {
    let other = Command::Place(input(vec![line("lure-7", 3, 450)]));
    given([placed()]).when(&other).then_expect_error(DomainError::AlreadyPlacedDifferently);
}

#[test]
fn evolve_ignores_events_that_do_not_fit() {
    let confirmed_order = given([placed(), confirmed()]);
    let history = confirmed_order.history();
    assert_eq!(evolve(None, &history[1]), None);
    let mut stray = history[1].clone();
    stray.event = OrderEvent::Placed(match &history[0].event {
        OrderEvent::Placed(p) => p.clone(),
        _ => unreachable!(),
    });
    let order = evolve(fold(history), &stray).unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed);
}

#[test]
fn envelopes_round_trip_and_reject_unknowns() {
    let placed_order = given_no_previous_events().when(&place()).then_expect_events([placed()]);
    let history = placed_order.history();
    let json = history[0].to_json();
    assert!(json.starts_with(r#"{"eventId":""#), "{json}");
    assert!(json.contains(r#""eventType":"OrderPlaced","schemaVersion":1,"orderId""#));
    assert!(json.contains(r#""occurredAt":"2025-11-24T16:00:00.001Z""#), "{json}");
    assert_eq!(Envelope::from_json(&json).unwrap(), history[0]);
    assert_eq!(Envelope::from_json(&json).unwrap().to_json(), json);
    let unknown_type = json.replace("OrderPlaced", "OrderTeleported");
    assert!(matches!(Envelope::from_json(&unknown_type), Err(domain::EnvelopeError::UnknownEventType(_))));
    let future = json.replace(r#""schemaVersion":1"#, r#""schemaVersion":2"#);
    assert!(matches!(Envelope::from_json(&future), Err(domain::EnvelopeError::UnsupportedSchemaVersion(2))));
    assert!(matches!(Envelope::from_json("not json"), Err(domain::EnvelopeError::Malformed(_))));
}
