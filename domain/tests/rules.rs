//! DESIGN.md's Domain section, rule by rule.

use chrono::{TimeZone, Utc};
use order_domain::validation::{LineInput, PlaceOrderInput};
use order_domain::{decide, evolve, fold, Command, DomainError, Envelope, OrderEvent, OrderId, OrderStatus};
use uuid::Uuid;

fn line(sku: &str, quantity: i64, unit_price_cents: i64) -> LineInput {
    LineInput { sku: sku.into(), quantity, unit_price_cents }
}

fn input(lines: Vec<LineInput>) -> PlaceOrderInput {
    PlaceOrderInput { customer_id: "customer-1".into(), basket_id: None, currency: "EUR".into(), lines }
}

fn place() -> Command {
    Command::Place(input(vec![line("muskie-casting-rod", 2, 19_900), line("lure-7", 1, 450)]).validate().unwrap())
}

/// Applies commands in order, as the command service would.
fn run(commands: &[Command]) -> (Vec<Envelope>, Vec<Result<usize, DomainError>>) {
    let order_id = OrderId(Uuid::nil());
    let mut history = Vec::new();
    let mut results = Vec::new();
    for command in commands {
        let state = fold(&history);
        match decide(state.as_ref(), command) {
            Ok(events) => {
                results.push(Ok(events.len()));
                for event in events {
                    let version = history.len() as u32 + 1;
                    history.push(Envelope {
                        event_id: Uuid::new_v4(),
                        order_id,
                        version,
                        occurred_at: Utc.timestamp_millis_opt(1_764_000_000_000 + i64::from(version)).unwrap(),
                        correlation_id: "c".into(),
                        causation_id: "c".into(),
                        event,
                    });
                }
            }
            Err(e) => results.push(Err(e)),
        }
    }
    (history, results)
}

fn status(commands: &[Command]) -> OrderStatus {
    fold(&run(commands).0).unwrap().status
}

#[test]
fn the_happy_path_places_confirms_and_ships() {
    let (history, results) = run(&[place(), Command::Confirm, Command::Ship { tracking_number: Some("T1".into()) }]);
    assert_eq!(results, vec![Ok(1), Ok(1), Ok(1)]);
    let order = fold(&history).unwrap();
    assert_eq!(order.status, OrderStatus::Shipped);
    assert_eq!(order.version, 3);
    assert_eq!(order.total_cents, 2 * 19_900 + 450);
    assert_eq!(order.placed_at, history[0].occurred_at);
    assert_eq!(order.updated_at, history[2].occurred_at);
}

#[test]
fn allowed_transitions() {
    assert_eq!(
        status(&[place(), Command::Reject { reason: "stock".into(), unavailable: vec![] }]),
        OrderStatus::Rejected
    );
    assert_eq!(status(&[place(), Command::Cancel { reason: None }]), OrderStatus::Cancelled);
    assert_eq!(status(&[place(), Command::Confirm, Command::Cancel { reason: None }]), OrderStatus::Cancelled);
}

#[test]
fn repeating_a_command_changes_nothing() {
    let (history, results) = run(&[place(), place(), Command::Confirm, Command::Confirm]);
    assert_eq!(results, vec![Ok(1), Ok(0), Ok(1), Ok(0)]);
    assert_eq!(history.len(), 2);
    let (_, results) =
        run(&[place(), Command::Cancel { reason: None }, Command::Cancel { reason: Some("again".into()) }]);
    assert_eq!(results[2], Ok(0));
    let ship = || Command::Ship { tracking_number: None };
    assert_eq!(run(&[place(), Command::Confirm, ship(), ship()]).1[3], Ok(0));
    let reject = || Command::Reject { reason: "stock".into(), unavailable: vec![] };
    assert_eq!(run(&[place(), reject(), reject()]).1[2], Ok(0));
}

#[test]
fn forbidden_transitions_are_conflicts() {
    let ship = Command::Ship { tracking_number: None };
    let cancel = Command::Cancel { reason: None };
    let cases: Vec<(Vec<Command>, Command, OrderStatus)> = vec![
        (vec![place(), Command::Confirm, ship.clone()], cancel.clone(), OrderStatus::Shipped),
        (vec![place()], ship.clone(), OrderStatus::Placed),
        (vec![place(), cancel.clone()], Command::Confirm, OrderStatus::Cancelled),
        (
            vec![place(), Command::Confirm],
            Command::Reject { reason: "x".into(), unavailable: vec![] },
            OrderStatus::Confirmed,
        ),
        (
            vec![place(), Command::Reject { reason: "x".into(), unavailable: vec![] }],
            cancel.clone(),
            OrderStatus::Rejected,
        ),
        (vec![place(), cancel], ship, OrderStatus::Cancelled),
    ];
    for (before, command, status) in cases {
        let mut commands = before;
        commands.push(command.clone());
        let (_, results) = run(&commands);
        match results.last().unwrap() {
            Err(DomainError::NotAllowed { status: s, command: c }) => {
                assert_eq!((*s, *c), (status, command.name()))
            }
            other => panic!("{} in {status:?}: expected NotAllowed, got {other:?}", command.name()),
        }
    }
}

#[test]
fn commands_on_a_missing_order_are_not_found() {
    for command in [Command::Confirm, Command::Cancel { reason: None }, Command::Ship { tracking_number: None }] {
        assert_eq!(decide(None, &command), Err(DomainError::NotFound));
    }
}

#[test]
fn placing_again_with_other_content_is_refused() {
    let other = Command::Place(input(vec![line("lure-7", 3, 450)]).validate().unwrap());
    assert_eq!(run(&[place(), other]).1[1], Err(DomainError::AlreadyPlacedDifferently));
}

#[test]
fn limits_name_the_field() {
    let fields = |input: PlaceOrderInput| -> Vec<String> {
        input.validate().unwrap_err().0.into_iter().map(|e| e.field).collect()
    };
    assert_eq!(fields(input(vec![])), ["lines"]);
    assert_eq!(fields(input((0..101).map(|i| line(&format!("sku-{i}"), 1, 1)).collect())), ["lines"]);
    assert_eq!(fields(input(vec![line("a", 0, 1)])), ["lines[0].quantity"]);
    assert_eq!(fields(input(vec![line("a", 1001, 1)])), ["lines[0].quantity"]);
    assert_eq!(fields(input(vec![line("a", 1, 0)])), ["lines[0].unitPriceCents"]);
    assert_eq!(fields(input(vec![line("a", 1, 100_000_001)])), ["lines[0].unitPriceCents"]);
    assert_eq!(fields(input(vec![line("a", 1, 1), line("a", 2, 1)])), ["lines[1].sku"]);
    for bad_sku in ["", "-a", "A", "a b", "a'; DROP TABLE shop_order; --", &"a".repeat(65), "café"] {
        assert_eq!(fields(input(vec![line(bad_sku, 1, 1)])), ["lines[0].sku"], "{bad_sku:?}");
    }
    let mut bad = input(vec![line("a", 1, 1)]);
    bad.customer_id = "x".repeat(129);
    bad.currency = "EURO".into();
    bad.basket_id = Some("not-a-uuid".into());
    assert_eq!(fields(bad), ["customerId", "basketId", "currency"]);
}

#[test]
fn limits_accept_their_bounds() {
    let mut edge = input(
        (0..100).map(|i| line(&format!("{i}{}", "x".repeat(63 - i.to_string().len())), 1000, 100_000_000)).collect(),
    );
    edge.customer_id = "é".repeat(128);
    edge.basket_id = Some(Uuid::new_v4().to_string());
    let place = edge.validate().unwrap();
    assert_eq!(place.lines.len(), 100);
}

#[test]
fn evolve_ignores_events_that_do_not_fit() {
    let (history, _) = run(&[place(), Command::Confirm]);
    assert_eq!(evolve(None, &history[1]), None);
    let mut stray = history[1].clone();
    stray.event = OrderEvent::Placed(match &history[0].event {
        OrderEvent::Placed(p) => p.clone(),
        _ => unreachable!(),
    });
    let order = evolve(fold(&history), &stray).unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed);
}

#[test]
fn envelopes_round_trip_and_reject_unknowns() {
    let (history, _) = run(&[place()]);
    let json = history[0].to_json();
    assert!(json.starts_with(r#"{"eventId":""#), "{json}");
    assert!(json.contains(r#""eventType":"OrderPlaced","schemaVersion":1,"orderId""#));
    assert!(json.contains(r#""occurredAt":"2025-11-24T16:00:00.001Z""#), "{json}");
    assert_eq!(Envelope::from_json(&json).unwrap(), history[0]);
    assert_eq!(Envelope::from_json(&json).unwrap().to_json(), json);
    let unknown_type = json.replace("OrderPlaced", "OrderTeleported");
    assert!(matches!(Envelope::from_json(&unknown_type), Err(order_domain::EnvelopeError::UnknownEventType(_))));
    let future = json.replace(r#""schemaVersion":1"#, r#""schemaVersion":2"#);
    assert!(matches!(Envelope::from_json(&future), Err(order_domain::EnvelopeError::UnsupportedSchemaVersion(2))));
    assert!(matches!(Envelope::from_json("not json"), Err(order_domain::EnvelopeError::Malformed(_))));
}
