//! Turning untrusted input into commands. Every failure names the field, so
//! the API can answer a 400 that says exactly what to fix.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::command::PlaceOrder;
use crate::values::{Currency, CustomerId, OrderLine, Sku, MAX_LINES, QUANTITY_RANGE, UNIT_PRICE_RANGE};

pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_TRACKING_NUMBER_CHARS: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into() }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct ValidationErrors(pub Vec<FieldError>);

/// The body of `POST /orders` as received. Numbers are signed so that a
/// negative quantity is reported as out of range rather than as a type error.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderInput {
    pub customer_id: String,
    #[serde(default)]
    pub basket_id: Option<String>,
    pub currency: String,
    pub lines: Vec<LineInput>,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineInput {
    pub sku: String,
    pub quantity: i64,
    pub unit_price_cents: i64,
}

/// The body of `POST /orders/{id}/cancel`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelInput {
    #[serde(default)]
    pub reason: Option<String>,
}

/// The body of `POST /orders/{id}/ship`.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShipInput {
    #[serde(default)]
    pub tracking_number: Option<String>,
}

impl PlaceOrderInput {
    pub fn validate(self) -> Result<PlaceOrder, ValidationErrors> {
        let mut errors = Vec::new();
        let customer_id =
            CustomerId::parse(&self.customer_id).map_err(|m| errors.push(FieldError::new("customerId", m))).ok();
        let basket_id = match self.basket_id.as_deref().map(Uuid::parse_str) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                errors.push(FieldError::new("basketId", "must be a UUID"));
                None
            }
        };
        let currency = Currency::parse(&self.currency).map_err(|m| errors.push(FieldError::new("currency", m))).ok();
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            errors.push(FieldError::new("lines", format!("must have 1 to {MAX_LINES} lines")));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.iter().enumerate() {
            if let Some(line) = validate_line(i, line, &mut errors) {
                if lines.iter().any(|l: &OrderLine| l.sku == line.sku) {
                    errors.push(FieldError::new(format!("lines[{i}].sku"), "must not repeat a SKU of another line"));
                }
                lines.push(line);
            }
        }
        match (customer_id, currency) {
            (Some(customer_id), Some(currency)) if errors.is_empty() => {
                Ok(PlaceOrder { customer_id, basket_id, currency, lines })
            }
            _ => Err(ValidationErrors(errors)),
        }
    }
}

fn validate_line(i: usize, line: &LineInput, errors: &mut Vec<FieldError>) -> Option<OrderLine> {
    let before = errors.len();
    let sku = Sku::parse(&line.sku).map_err(|m| errors.push(FieldError::new(format!("lines[{i}].sku"), m))).ok();
    let quantity = u32::try_from(line.quantity).ok().filter(|q| QUANTITY_RANGE.contains(q));
    if quantity.is_none() {
        errors.push(FieldError::new(format!("lines[{i}].quantity"), "must be an integer from 1 to 1000"));
    }
    let unit_price_cents = u64::try_from(line.unit_price_cents).ok().filter(|p| UNIT_PRICE_RANGE.contains(p));
    if unit_price_cents.is_none() {
        errors.push(FieldError::new(format!("lines[{i}].unitPriceCents"), "must be an integer from 1 to 100000000"));
    }
    if errors.len() > before {
        return None;
    }
    Some(OrderLine { sku: sku?, quantity: quantity?, unit_price_cents: unit_price_cents? })
}

/// Optional free text: at most `max` characters, no control characters.
pub fn validate_text(field: &str, value: Option<String>, max: usize) -> Result<Option<String>, ValidationErrors> {
    match value {
        Some(text) if text.is_empty() || text.chars().count() > max => {
            Err(ValidationErrors(vec![FieldError::new(field, format!("must be 1 to {max} characters"))]))
        }
        Some(text) if !text.chars().all(crate::values::is_printable) => {
            Err(ValidationErrors(vec![FieldError::new(field, "must contain only printable characters")]))
        }
        other => Ok(other),
    }
}
