//! DESIGN.md's Domain section, rule by rule.

use domain::event::{
    OrderCancelled, OrderConfirmed, OrderPlaced, OrderRejected, OrderShipped, OverLimitLine, Shortage, ShortageKind,
};
use domain::limit::LIMIT_EXCEEDED;
use domain::upcast::{SchemaVersions, UpcastError};
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
    OrderEvent::Rejected(OrderRejected { reason: reason.into(), shortages: vec![] })
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
    let reject = Command::Reject { reason: reason("stock"), shortages: vec![] };
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
        .when(&Command::Reject { reason: reason("stock"), shortages: vec![] })
        .then_expect_no_events();
}

#[test]
fn a_rejection_over_a_purchase_limit_names_its_lines_and_older_rejections_still_read() {
    let over = OverLimitLine { sku: Sku::parse("muskie-casting-rod").unwrap(), requested: 1, allowed: 0 };
    let reject = Command::Reject { reason: reason(LIMIT_EXCEEDED), shortages: vec![over.into()] };
    let shortage = Shortage {
        kind: ShortageKind::Limit,
        sku: Sku::parse("muskie-casting-rod").unwrap(),
        requested: 1,
        available: 0,
    };
    let expected = OrderEvent::Rejected(OrderRejected { reason: LIMIT_EXCEEDED.into(), shortages: vec![shortage] });
    given([placed()]).when(&reject).then_expect_events([expected.clone()]);
    assert_eq!(
        expected.data(),
        serde_json::json!({"reason": "limit-exceeded",
            "shortages": [{"kind": "limit", "sku": "muskie-casting-rod", "requested": 1, "available": 0}]})
    );
    // An OrderRejected stored at schemaVersion 1 before `limits` existed:
    // read as a stock shortage, and written back at version 1 as it was.
    let placed_order = given_no_previous_events().when(&place()).then_expect_events([placed()]);
    let json = placed_order.history()[0].to_json();
    let head = &json[..json.find(r#""data":"#).unwrap()];
    let older =
        r#"{"reason":"insufficient stock","unavailable":[{"available":1,"requested":2,"sku":"muskie-casting-rod"}]}"#;
    let stored = format!(
        r#"{}"data":{older}}}"#,
        head.replace(r#""eventType":"OrderPlaced""#, r#""eventType":"OrderRejected""#)
    );
    let read = Envelope::from_json(&stored).unwrap();
    let stock = Shortage {
        kind: ShortageKind::Stock,
        sku: Sku::parse("muskie-casting-rod").unwrap(),
        requested: 2,
        available: 1,
    };
    assert_eq!(
        read.event,
        OrderEvent::Rejected(OrderRejected { reason: "insufficient stock".into(), shortages: vec![stock] })
    );
    assert_eq!(read.to_json_at(1).unwrap(), stored);
    assert!(read.to_json().contains(r#""schemaVersion":2"#));
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
            Command::Reject { reason: reason("x"), shortages: vec![] },
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
    let error = Envelope::from_json(&future).unwrap_err();
    assert!(
        matches!(
            error,
            domain::EnvelopeError::SchemaVersion(UpcastError::NewerThanBuild { version: 2, current: 1, .. })
        ),
        "{error:?}"
    );
    assert_eq!(error.to_string(), "schemaVersion 2 of OrderPlaced is newer than this build (reads up to 1)");
    assert!(matches!(Envelope::from_json("not json"), Err(domain::EnvelopeError::Malformed(_))));
}

/// A build at the previous versions (what a test runs as the build
/// before the last bump) writes OrderRejected at 1 and reads it back, and
/// meets this build's version 2 as newer than it reads.
#[test]
fn a_build_at_the_previous_versions_writes_and_reads_its_own() {
    let placed_order = given_no_previous_events().when(&place()).then_expect_events([placed()]);
    let rejection = placed_order.when(&Command::Reject { reason: reason("insufficient stock"), shortages: vec![] });
    let event = rejection.then_expect_events([rejected("insufficient stock")]).history().last().unwrap().clone();
    let previous = SchemaVersions::previous();
    let written = event.to_json_by(previous);
    assert!(written.contains(r#""schemaVersion":1"#) && written.contains(r#""unavailable":[]"#), "{written}");
    assert_eq!(event.to_json_by(SchemaVersions::current()), event.to_json());
    assert_eq!(Envelope::read_by(previous, &written).unwrap(), (event.clone(), 1));
    assert_eq!(Envelope::read(&written).unwrap(), (event.clone(), 1));
    let error = Envelope::read_by(previous, &event.to_json()).unwrap_err();
    assert_eq!(error.to_string(), "schemaVersion 2 of OrderRejected is newer than this build (reads up to 1)");
}

/// A tolerant reader: fields added later (additive: same `schemaVersion`)
/// are ignored, in the envelope and in `data`.
#[test]
fn unknown_additive_fields_are_ignored() {
    let placed_order = given_no_previous_events().when(&place()).then_expect_events([placed()]);
    let history = placed_order.history();
    let json = history[0].to_json();
    let newer = json.replacen(r#""eventId""#, r#""tenant":"north-shop","eventId""#, 1).replacen(
        r#""data":{"#,
        r#""data":{"giftWrap":{"paper":"red"},"#,
        1,
    );
    assert_ne!(newer, json);
    assert_eq!(Envelope::from_json(&newer).unwrap(), history[0]);
}

/// `traceparent` (additive): read when present, written back as it was,
/// left out when absent, so an untraced event's JSON is what it always was.
#[test]
fn an_events_traceparent_is_kept_and_an_absent_one_is_not_written() {
    let placed_order = given_no_previous_events().when(&place()).then_expect_events([placed()]);
    let untraced = placed_order.history()[0].clone();
    assert!(!untraced.to_json().contains("traceparent"));
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let traced = Envelope { traceparent: Some(traceparent.to_owned()), ..untraced };
    let json = traced.to_json();
    assert!(json.contains(&format!(r#""traceparent":"{traceparent}""#)), "{json}");
    assert_eq!(Envelope::from_json(&json).unwrap(), traced);
}

mod pricing {
    //! DESIGN.md "Catalog": prices come from the catalog, never from the caller.

    use std::collections::HashMap;

    use domain::{CatalogItem, Currency, CustomerId, OrderRequest, PricingRefusal, RequestedLine, Sku, Title};

    fn item(sku: &str, price_cents: u64, currency: &str, max_per_customer: Option<u32>) -> CatalogItem {
        CatalogItem {
            sku: Sku::parse(sku).unwrap(),
            title: Title::parse("A product").unwrap(),
            price_cents,
            currency: Currency::parse(currency).unwrap(),
            active: true,
            max_per_customer,
        }
    }

    fn catalog(items: Vec<CatalogItem>) -> HashMap<Sku, CatalogItem> {
        items.into_iter().map(|item| (item.sku.clone(), item)).collect()
    }

    fn shop() -> HashMap<Sku, CatalogItem> {
        catalog(vec![
            item("muskie-casting-rod", 24_900, "USD", Some(2)),
            item("lure-7", 450, "USD", None),
            item("euro-reel", 9_900, "EUR", None),
            CatalogItem { active: false, ..item("withdrawn-rod", 5_000, "USD", None) },
        ])
    }

    fn request(currency: Option<&str>, lines: &[(&str, u32, Option<u64>)]) -> OrderRequest {
        OrderRequest {
            customer_id: CustomerId::parse("customer-1").unwrap(),
            basket_id: None,
            currency: currency.map(|c| Currency::parse(c).unwrap()),
            lines: lines
                .iter()
                .map(|(sku, quantity, price)| RequestedLine {
                    sku: Sku::parse(sku).unwrap(),
                    quantity: *quantity,
                    unit_price_cents: *price,
                })
                .collect(),
        }
    }

    #[test]
    fn lines_are_priced_from_the_catalog_whatever_the_caller_leaves_out() {
        let place = request(None, &[("muskie-casting-rod", 1, None), ("lure-7", 3, Some(450))]).price(&shop()).unwrap();
        let prices: Vec<(u32, u64)> = place.lines.iter().map(|l| (l.quantity, l.unit_price_cents)).collect();
        assert_eq!(prices, [(1, 24_900), (3, 450)]);
        assert_eq!(place.currency.as_str(), "USD", "the items' currency when the caller names none");
    }

    #[test]
    fn a_price_the_caller_made_up_is_refused_with_the_current_one() {
        let one_cent = request(Some("USD"), &[("muskie-casting-rod", 1, Some(1))]);
        assert_eq!(one_cent.price(&shop()), Err(PricingRefusal::PriceChanged { lines: vec![(0, 24_900)] }));
        let second_line = request(Some("USD"), &[("lure-7", 1, Some(450)), ("muskie-casting-rod", 1, Some(19_900))]);
        assert_eq!(second_line.price(&shop()), Err(PricingRefusal::PriceChanged { lines: vec![(1, 24_900)] }));
    }

    #[test]
    fn unknown_and_inactive_skus_are_refused_first() {
        let asked = request(None, &[("lure-7", 1, Some(1)), ("never-sold", 1, None), ("withdrawn-rod", 1, None)]);
        assert_eq!(asked.price(&shop()), Err(PricingRefusal::UnknownSku { lines: vec![1, 2] }));
    }

    #[test]
    fn another_currency_than_the_items_is_refused() {
        let usd = Currency::parse("USD").unwrap();
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(
            request(Some("EUR"), &[("lure-7", 1, None)]).price(&shop()),
            Err(PricingRefusal::CurrencyMismatch { currency: eur.clone(), lines: vec![(0, usd)] })
        );
        assert_eq!(
            request(None, &[("lure-7", 1, None), ("euro-reel", 1, None)]).price(&shop()),
            Err(PricingRefusal::CurrencyMismatch { currency: Currency::parse("USD").unwrap(), lines: vec![(1, eur)] }),
            "one order, one currency"
        );
    }

    #[test]
    fn a_line_over_the_items_limit_is_refused_and_the_limit_itself_is_not() {
        assert_eq!(
            request(None, &[("muskie-casting-rod", 3, Some(24_900))]).price(&shop()),
            Err(PricingRefusal::LimitExceeded { lines: vec![(0, 2)] })
        );
        assert!(request(None, &[("muskie-casting-rod", 2, None), ("lure-7", 1000, None)]).price(&shop()).is_ok());
    }

    #[test]
    fn a_retry_matches_the_order_as_placed_even_after_a_price_change() {
        use domain::{Order, OrderId, OrderStatus};
        let asked = request(None, &[("muskie-casting-rod", 1, None)]);
        let placed = asked.price(&shop()).unwrap();
        let order = Order {
            order_id: OrderId(uuid::Uuid::nil()),
            status: OrderStatus::Confirmed,
            customer_id: placed.customer_id.clone(),
            basket_id: None,
            currency: placed.currency.clone(),
            lines: placed.lines.clone(),
            total_cents: 24_900,
            version: 2,
            placed_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let mut repriced = shop();
        repriced.get_mut(&Sku::parse("muskie-casting-rod").unwrap()).unwrap().price_cents = 26_900;
        assert!(asked.price(&repriced).unwrap().lines != order.lines, "priced anew, it would differ");
        assert!(asked.placed_as(&order));
        assert!(request(Some("USD"), &[("muskie-casting-rod", 1, Some(24_900))]).placed_as(&order));
        assert!(!request(None, &[("muskie-casting-rod", 1, Some(26_900))]).placed_as(&order));
        assert!(!request(None, &[("muskie-casting-rod", 2, None)]).placed_as(&order));
        assert!(!request(Some("EUR"), &[("muskie-casting-rod", 1, None)]).placed_as(&order));
    }

    #[test]
    fn catalog_items_read_from_a_store_are_held_to_the_limits() {
        let good = r#"{"sku":"muskie-casting-rod","title":"Muskie casting rod","priceCents":24900,"currency":"USD","active":true,"maxPerCustomer":2}"#;
        let item: CatalogItem = serde_json::from_str(good).unwrap();
        assert_eq!(serde_json::to_string(&item).unwrap(), good, "serialized as read");
        for bad in [
            good.replace("24900", "0"),
            good.replace("24900", "100000001"),
            good.replace(r#""maxPerCustomer":2"#, r#""maxPerCustomer":0"#),
            good.replace("Muskie casting rod", ""),
            good.replace("USD", "XYZ"),
        ] {
            assert!(serde_json::from_str::<CatalogItem>(&bad).is_err(), "{bad}");
        }
        let unlimited = good.replace(r#","maxPerCustomer":2"#, "");
        assert_eq!(serde_json::from_str::<CatalogItem>(&unlimited).unwrap().max_per_customer, None);
    }
}
