//! Each rule of the gate on a fixture pair (frozen, current), with the exact
//! message a developer reads.

use schema_compat::{compare, CompatError};
use serde_json::{json, Value};

use crate::fixture::{changed, order_placed, rename, with_gift_note};

/// The gate's messages on a pair.
fn messages(frozen: &Value, current: &Value) -> Vec<String> {
    compare(frozen, current).unwrap().violations.iter().map(ToString::to_string).collect()
}

/// The gate's messages on the fixture, changed by `f`.
fn violations(f: impl FnOnce(&mut Value)) -> Vec<String> {
    messages(&order_placed(), &changed(f))
}

#[test]
fn removed_field_fails_even_when_optional() {
    let found = violations(|s| {
        s["properties"].as_object_mut().unwrap().remove("basketId");
    });
    assert_eq!(found, ["field data.basketId removed (rule: no removed field)"]);
}

#[test]
fn renamed_field_fails_as_a_likely_rename() {
    let found = violations(|s| rename(s, "", "basketId", "cartId"));
    assert_eq!(found, ["field data.basketId removed and data.cartId added: renamed? (rule: no renamed field)"]);
}

#[test]
fn changed_type_fails() {
    let found = violations(|s| s["properties"]["totalCents"] = json!({ "type": "string" }));
    assert_eq!(
        found,
        [
            "field data.totalCents changed type: integer → string (rule: no changed type)",
            "field data.totalCents loses format uint64 (rule: no changed type)",
            "field data.totalCents loses minimum 0 (rule: no widened range)",
        ]
    );
}

#[test]
fn new_required_field_fails() {
    let found = violations(|s| {
        s["properties"]["channel"] = json!({ "type": "string" });
        s["required"].as_array_mut().unwrap().push("channel".into());
    });
    assert_eq!(found, ["field data.channel added as required (rule: no new required field)"]);
}

#[test]
fn narrowed_enum_fails() {
    let found = violations(|s| s["$defs"]["Delivery"]["enum"] = json!(["standard", "express"]));
    assert_eq!(found, [r#"field data.delivery no longer allows "pickup" (rule: no narrowed enum)"#]);
}

/// Inside a type that only a `$ref` reaches (`lines[]` → `OrderLine`), the
/// rename that the rehearsal of issue 23 suggests.
#[test]
fn change_nested_in_defs_fails() {
    let found = violations(|s| rename(s, "/$defs/OrderLine", "unitPriceCents", "priceCents"));
    assert_eq!(
        found,
        [
            "field data.lines[].priceCents added as required (rule: no new required field)",
            "field data.lines[].unitPriceCents removed and data.lines[].priceCents added: renamed? (rule: no renamed field)",
        ]
    );
}

#[test]
fn added_optional_field_passes() {
    let diff = compare(&order_placed(), &changed(with_gift_note)).unwrap();
    assert_eq!(diff.violations, []);
    assert_eq!(diff.added_optional, ["data.giftNote"]);
}

/// A reader of a closed object (`deny_unknown_fields`) refuses any field it does not know.
#[test]
fn field_added_to_a_closed_object_fails() {
    let closed = changed(|s| s["$defs"]["OrderLine"]["additionalProperties"] = json!(false));
    let mut current = closed.clone();
    current["$defs"]["OrderLine"]["properties"]["note"] = json!({ "type": "string" });
    assert_eq!(
        messages(&closed, &current),
        ["field data.lines[].note added (rule: no field added where the frozen schema allows no other)"]
    );
}

/// Forward compatibility: a consumer still at the frozen schema would meet a value it does not know.
#[test]
fn widened_enum_fails() {
    let found = violations(|s| s["$defs"]["Delivery"]["enum"].as_array_mut().unwrap().push("locker".into()));
    assert_eq!(
        found,
        [
            r#"field data.delivery now also allows "locker", which a reader of the frozen schema does not know (rule: no widened enum)"#
        ]
    );
}

#[test]
fn required_field_made_optional_fails() {
    let found = violations(|s| s["required"] = json!(["delivery", "lines"]));
    assert_eq!(
        found,
        ["field data.totalCents no longer required (readers of the frozen schema expect it) (rule: no required field made optional)"]
    );
}

#[test]
fn narrowed_and_widened_ranges_fail() {
    let found = violations(|s| {
        s["properties"]["lines"]["maxItems"] = json!(50);
        s["$defs"]["OrderLine"]["properties"]["quantity"]["maximum"] = json!(5000);
    });
    assert_eq!(
        found,
        [
            "field data.lines maxItems 100 → 50 (rule: no narrowed range)",
            "field data.lines[].quantity maximum 1000 → maximum 5000 (rule: no widened range)",
        ]
    );
}

/// Two `$ref`s deep: `lines[]` → `OrderLine`, `sku` → `Sku`.
#[test]
fn changed_pattern_two_refs_deep_fails() {
    let found = violations(|s| s["$defs"]["Sku"]["pattern"] = json!("^[a-z]+$"));
    assert_eq!(
        found,
        ["field data.lines[].sku changed pattern: ^[a-z0-9][a-z0-9-]{0,63}$ → ^[a-z]+$ (rule: no changed pattern)"]
    );
}

/// Keywords the library does not compare (`multipleOf` here) are not let through unseen.
#[test]
fn change_the_gate_cannot_judge_fails() {
    let found = violations(|s| s["properties"]["totalCents"]["multipleOf"] = json!(5));
    assert_eq!(
        found,
        ["field data.totalCents has `multipleOf` none → 5, which the gate cannot judge (rule: no change the gate cannot classify)"]
    );
}

#[test]
fn annotations_are_no_change() {
    let diff = compare(&order_placed(), &changed(|s| s["description"] = json!("reworded"))).unwrap();
    assert!(diff.is_identical(), "{diff:?}");
}

/// A subtree behind a reference nobody resolves would be compared by nobody.
#[test]
fn unresolvable_reference_is_an_error() {
    let current = changed(|s| s["properties"]["delivery"] = json!({ "$ref": "other.json#/Delivery" }));
    let error = compare(&order_placed(), &current).unwrap_err();
    assert!(matches!(error, CompatError::UnresolvedRef(ref r) if r == "other.json#/Delivery"), "{error}");
}
