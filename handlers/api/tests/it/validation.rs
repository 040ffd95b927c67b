//! DESIGN.md's limits on `POST /orders`, field by field: each refusal names
//! the field by its JSON path.

use api::input::{LineInput, PlaceOrderInput};
use domain::CustomerId;
use uuid::Uuid;

fn line(sku: &str, quantity: i64, unit_price_cents: i64) -> LineInput {
    LineInput { sku: sku.into(), quantity, unit_price_cents }
}

fn input(lines: Vec<LineInput>) -> PlaceOrderInput {
    PlaceOrderInput { customer_id: Some("customer-1".into()), basket_id: None, currency: "EUR".into(), lines }
}

#[test]
fn limits_name_the_field() {
    let fields = |input: PlaceOrderInput| -> Vec<String> {
        input.validate(None).unwrap_err().into_iter().map(|e| e.field).collect()
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
    bad.customer_id = Some("x".repeat(129));
    bad.currency = "EURO".into();
    bad.basket_id = Some("not-a-uuid".into());
    assert_eq!(fields(bad), ["customerId", "basketId", "currency"]);
}

#[test]
fn limits_accept_their_bounds() {
    let mut edge = input(
        (0..100).map(|i| line(&format!("{i}{}", "x".repeat(63 - i.to_string().len())), 1000, 100_000_000)).collect(),
    );
    edge.customer_id = Some("é".repeat(128));
    edge.basket_id = Some(Uuid::new_v4().to_string());
    let place = edge.validate(None).unwrap();
    assert_eq!(place.lines.len(), 100);
}

#[test]
fn a_missing_customer_id_is_the_callers_own_or_required() {
    let mut anonymous = input(vec![line("a", 1, 1)]);
    anonymous.customer_id = None;
    let caller = CustomerId::parse("customer-1842").unwrap();
    assert_eq!(anonymous.clone().validate(Some(&caller)).unwrap().customer_id, caller);
    let fields: Vec<String> = anonymous.validate(None).unwrap_err().into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["customerId"]);
}
