//! The request bodies as received, and how each becomes a command. Every
//! failure names the field by its JSON path, so a 400 says exactly what to
//! fix; the rules themselves are the domain's.

use domain::catalog::{max_per_customer, price_cents};
use domain::values::{quantity, unit_price_cents, MAX_LINES};
use domain::{
    CatalogItem, Currency, CustomerId, LinesError, OrderRequest, PlaceOrder, Reason, RequestedLine, Sku, Title,
    TrackingNumber,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::body::{optional_whole_number, present, whole_number};
use crate::problem::FieldError;

/// The body of `POST /orders`. Numbers are signed so that a negative
/// quantity is reported as out of range rather than as a type error.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlaceOrderInput {
    /// Optional for a customer, whose own id it is; required for a service.
    #[serde(default, deserialize_with = "present")]
    pub customer_id: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub basket_id: Option<String>,
    /// The currency the caller showed; the catalog's when absent.
    #[serde(default, deserialize_with = "present")]
    pub currency: Option<String>,
    pub lines: Vec<LineInput>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LineInput {
    pub sku: String,
    #[serde(deserialize_with = "whole_number")]
    pub quantity: i64,
    /// The price the caller showed, checked against the catalog's; the
    /// catalog's when absent.
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub unit_price_cents: Option<i64>,
}

/// The body of `PUT /catalog/{sku}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogItemInput {
    pub title: String,
    #[serde(deserialize_with = "whole_number")]
    pub price_cents: i64,
    pub currency: String,
    pub active: bool,
    #[serde(default, deserialize_with = "optional_whole_number")]
    pub max_per_customer: Option<i64>,
}

/// The body of `POST /orders/{id}/cancel`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelInput {
    #[serde(default, deserialize_with = "present")]
    pub reason: Option<String>,
}

/// The body of `POST /orders/{id}/ship`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ShipInput {
    #[serde(default, deserialize_with = "present")]
    pub tracking_number: Option<String>,
}

impl PlaceOrderInput {
    /// The order as asked, to be priced from the catalog; `caller` fills in
    /// a missing `customerId`.
    pub fn validate(self, caller: Option<&CustomerId>) -> Result<OrderRequest, Vec<FieldError>> {
        let mut errors = Vec::new();
        let customer_id = match (self.customer_id.as_deref(), caller) {
            (Some(id), _) => CustomerId::parse(id).map_err(|m| errors.push(FieldError::new("customerId", m))),
            (None, Some(caller)) => Ok(caller.clone()),
            (None, None) => {
                errors.push(FieldError::new("customerId", "is required"));
                Err(())
            }
        };
        let basket_id = self
            .basket_id
            .as_deref()
            .map(Uuid::parse_str)
            .transpose()
            .map_err(|_| errors.push(FieldError::new("basketId", "must be a UUID")));
        let currency = self
            .currency
            .as_deref()
            .map(Currency::parse)
            .transpose()
            .map_err(|m| errors.push(FieldError::new("currency", m)));
        if self.lines.is_empty() || self.lines.len() > MAX_LINES {
            errors.push(FieldError::new("lines", LinesError::Count.to_string()));
        }
        // Valid lines with their index in the body, for naming a repeated SKU.
        let (indices, lines): (Vec<usize>, Vec<RequestedLine>) =
            self.lines.iter().enumerate().filter_map(|(i, line)| Some((i, line.validate(i, &mut errors)?))).unzip();
        for error in PlaceOrder::check_lines(&lines) {
            if let LinesError::RepeatedSku(j) = error {
                errors.push(FieldError::new(format!("lines[{}].sku", indices[j]), error.to_string()));
            }
        }
        match (customer_id, basket_id, currency) {
            (Ok(customer_id), Ok(basket_id), Ok(currency)) if errors.is_empty() => {
                Ok(OrderRequest { customer_id, basket_id, currency, lines })
            }
            _ => Err(errors),
        }
    }
}

impl LineInput {
    fn validate(&self, i: usize, errors: &mut Vec<FieldError>) -> Option<RequestedLine> {
        let field = |name: &str| format!("lines[{i}].{name}");
        let sku = Sku::parse(&self.sku).map_err(|m| errors.push(FieldError::new(field("sku"), m)));
        let quantity = quantity(self.quantity).map_err(|m| errors.push(FieldError::new(field("quantity"), m)));
        let unit_price_cents = self
            .unit_price_cents
            .map(unit_price_cents)
            .transpose()
            .map_err(|m| errors.push(FieldError::new(field("unitPriceCents"), m)));
        Some(RequestedLine { sku: sku.ok()?, quantity: quantity.ok()?, unit_price_cents: unit_price_cents.ok()? })
    }
}

impl CatalogItemInput {
    /// The item for `sku`, every invalid field named.
    pub fn validate(self, sku: Sku) -> Result<CatalogItem, Vec<FieldError>> {
        let mut errors = Vec::new();
        let title = Title::parse(&self.title).map_err(|m| errors.push(FieldError::new("title", m)));
        let price_cents = price_cents(self.price_cents).map_err(|m| errors.push(FieldError::new("priceCents", m)));
        let currency = Currency::parse(&self.currency).map_err(|m| errors.push(FieldError::new("currency", m)));
        let max_per_customer = self
            .max_per_customer
            .map(max_per_customer)
            .transpose()
            .map_err(|m| errors.push(FieldError::new("maxPerCustomer", m)));
        match (title, price_cents, currency, max_per_customer) {
            (Ok(title), Ok(price_cents), Ok(currency), Ok(max_per_customer)) => {
                Ok(CatalogItem { sku, title, price_cents, currency, active: self.active, max_per_customer })
            }
            _ => Err(errors),
        }
    }
}

impl CancelInput {
    pub fn reason(self) -> Result<Option<Reason>, FieldError> {
        self.reason.map(|r| Reason::parse(&r)).transpose().map_err(|m| FieldError::new("reason", m))
    }
}

impl ShipInput {
    pub fn tracking_number(self) -> Result<Option<TrackingNumber>, FieldError> {
        self.tracking_number
            .map(|t| TrackingNumber::parse(&t))
            .transpose()
            .map_err(|m| FieldError::new("trackingNumber", m))
    }
}
