//! A schema shaped as schemars generates them: nested types in `$defs`
//! behind `$ref`s, an `Option` as `["string", "null"]`, an enum.

use serde_json::{json, Value};

pub fn order_placed() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "OrderPlaced",
        "type": "object",
        "properties": {
            "basketId": { "type": ["string", "null"], "format": "uuid" },
            "delivery": { "$ref": "#/$defs/Delivery" },
            "lines": { "type": "array", "items": { "$ref": "#/$defs/OrderLine" }, "minItems": 1, "maxItems": 100 },
            "totalCents": { "type": "integer", "format": "uint64", "minimum": 0 }
        },
        "required": ["delivery", "lines", "totalCents"],
        "$defs": {
            "Delivery": { "type": "string", "enum": ["standard", "express", "pickup"] },
            "OrderLine": {
                "type": "object",
                "properties": {
                    "quantity": { "type": "integer", "format": "uint32", "minimum": 1, "maximum": 1000 },
                    "sku": { "$ref": "#/$defs/Sku" },
                    "unitPriceCents": { "type": "integer", "format": "uint64", "minimum": 1 }
                },
                "required": ["sku", "quantity", "unitPriceCents"]
            },
            "Sku": { "type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$" }
        }
    })
}

/// The fixture, changed by `f`.
pub fn changed(f: impl FnOnce(&mut Value)) -> Value {
    let mut schema = order_placed();
    f(&mut schema);
    schema
}

/// Renames a property of the object at `pointer`, in `required` too.
pub fn rename(schema: &mut Value, pointer: &str, from: &str, to: &str) {
    let object = schema.pointer_mut(pointer).unwrap();
    let property = object["properties"].as_object_mut().unwrap().remove(from).unwrap();
    object["properties"][to] = property;
    if let Some(required) = object.get_mut("required").and_then(Value::as_array_mut) {
        for name in required.iter_mut().filter(|name| *name == from) {
            *name = to.into();
        }
    }
}

/// An optional field added to the top level.
pub fn with_gift_note(schema: &mut Value) {
    schema["properties"]["giftNote"] = json!({ "type": ["string", "null"] });
}
