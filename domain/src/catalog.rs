//! The catalog (DESIGN.md "Catalog"): one item per SKU with its title,
//! price, currency, whether it is for sale and how much one customer may
//! hold of it; the port its stores implement; and pricing, which turns an
//! order as a caller asked for it into the order the catalog prices.
//! Prices come from the catalog, never from the caller: a price the caller
//! sends is only checked against it.

use std::collections::HashMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use uuid::Uuid;

use crate::command::PlaceOrder;
use crate::order::Order;
use crate::values::{is_printable, unit_price_cents, Currency, CustomerId, OrderLine, Sku};

/// The legacy `shop_product.title` is a `varchar(200)`.
pub const MAX_TITLE_CHARS: usize = 200;

/// A product's title: 1–200 printable characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "String", into = "String")]
#[schemars(extend("minLength" = 1, "maxLength" = 200))]
pub struct Title(String);

impl Title {
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        let chars = value.chars().count();
        if chars == 0 || chars > MAX_TITLE_CHARS {
            Err("must be 1 to 200 characters")
        } else if !value.chars().all(is_printable) {
            Err("must contain only printable characters")
        } else {
            Ok(Title(value.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = &'static str;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Title::parse(&value)
    }
}

impl From<Title> for String {
    fn from(title: Title) -> String {
        title.0
    }
}

/// A SKU as the catalog sells it. Deserializing checks every range, so an
/// item read from a store is as valid as one built from a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CatalogItem {
    pub sku: Sku,
    pub title: Title,
    /// Minor units of `currency`, 1–100,000,000 (an order line's range).
    #[serde(deserialize_with = "price_in_range")]
    #[schemars(range(min = 1, max = 100_000_000))]
    pub price_cents: u64,
    pub currency: Currency,
    /// Not for sale: orders naming it are refused as `unknown-sku`.
    pub active: bool,
    /// The most one customer may hold over its orders that are neither
    /// cancelled nor rejected; no limit when absent.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "limit_in_range")]
    #[schemars(range(min = 1))]
    pub max_per_customer: Option<u32>,
}

/// A price in minor units: the range of an order line's unit price.
pub fn price_cents(value: i64) -> Result<u64, &'static str> {
    unit_price_cents(value)
}

/// A purchase limit: at least 1.
pub fn max_per_customer(value: i64) -> Result<u32, &'static str> {
    u32::try_from(value).ok().filter(|limit| *limit >= 1).ok_or("must be an integer from 1 to 4294967295")
}

fn price_in_range<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let value = i64::deserialize(deserializer)?;
    price_cents(value).map_err(serde::de::Error::custom)
}

fn limit_in_range<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    Option::<i64>::deserialize(deserializer)?.map(max_per_customer).transpose().map_err(serde::de::Error::custom)
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The store did not answer; the cause is kept for the logs.
    #[error("catalog unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("corrupt catalog item: {0}")]
    Corrupt(String),
}

/// Where catalog items are kept. Adapters: `catalog-store` (DynamoDB,
/// memory), held to one contract suite.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// The items of those `skus` the catalog has (active or not).
    async fn items(&self, skus: &[Sku]) -> Result<HashMap<Sku, CatalogItem>, CatalogError>;

    /// Creates or replaces the item of `item.sku`.
    async fn put(&self, item: &CatalogItem) -> Result<(), CatalogError>;
}

/// The catalog as the import from the legacy shop writes it. The shop's
/// `shop_product` owns an item's product fields (title, price, currency,
/// whether it is for sale); the purchase limit is the merchandiser's
/// (`PUT /catalog/{sku}`), which the shop has no column for.
#[async_trait]
pub trait ProductCatalog: Catalog {
    /// Sets the product fields of `item.sku`'s item and keeps its
    /// `max_per_customer`, in one write, so a limit set meanwhile is never
    /// lost; creates `item` as given (its limit too) when the SKU has none.
    async fn put_product(&self, item: &CatalogItem) -> Result<(), CatalogError>;
}

/// One line as the caller asked for it: the price is the one it showed, if
/// it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedLine {
    pub sku: Sku,
    pub quantity: u32,
    pub unit_price_cents: Option<u64>,
}

impl AsRef<Sku> for RequestedLine {
    fn as_ref(&self) -> &Sku {
        &self.sku
    }
}

/// An order as the caller asked for it, before pricing. Its lines are
/// already valid one by one and together (`PlaceOrder::check_lines`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub basket_id: Option<Uuid>,
    /// The currency the caller showed; the catalog's when absent.
    pub currency: Option<Currency>,
    pub lines: Vec<RequestedLine>,
}

/// Why the catalog refuses an order, with each line it concerns (its index
/// in the request). Only the first kind that applies is reported, in this
/// order: a line that cannot be sold, then one that cannot be sold this
/// way, then a price to show the customer again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PricingRefusal {
    /// Not in the catalog, or not active.
    UnknownSku { lines: Vec<usize> },
    /// These lines' items are priced in another currency than the order's.
    CurrencyMismatch { currency: Currency, lines: Vec<(usize, Currency)> },
    /// These lines ask for more than the item's `maxPerCustomer` (the
    /// second member) in one order.
    LimitExceeded { lines: Vec<(usize, u32)> },
    /// These lines' `unitPriceCents` are not the catalog's price (the
    /// second member).
    PriceChanged { lines: Vec<(usize, u64)> },
}

impl OrderRequest {
    /// The order the catalog prices: every line at the item's price, in the
    /// items' currency. `items` holds the catalog's items of (at least)
    /// the lines' SKUs.
    pub fn price(&self, items: &HashMap<Sku, CatalogItem>) -> Result<PlaceOrder, PricingRefusal> {
        let found: Vec<(usize, &RequestedLine, &CatalogItem)> = self
            .lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| items.get(&line.sku).filter(|item| item.active).map(|item| (i, line, item)))
            .collect();
        if found.len() < self.lines.len() {
            let lines = (0..self.lines.len()).filter(|i| !found.iter().any(|(j, ..)| j == i)).collect();
            return Err(PricingRefusal::UnknownSku { lines });
        }
        // An order has a line (validated); an empty one has no currency to take.
        let currency = match (&self.currency, found.first()) {
            (Some(currency), _) => currency.clone(),
            (None, Some((_, _, item))) => item.currency.clone(),
            (None, None) => return Err(PricingRefusal::UnknownSku { lines: vec![] }),
        };
        let other_currency: Vec<(usize, Currency)> = found
            .iter()
            .filter(|(_, _, item)| item.currency != currency)
            .map(|(i, _, item)| (*i, item.currency.clone()))
            .collect();
        if !other_currency.is_empty() {
            return Err(PricingRefusal::CurrencyMismatch { currency, lines: other_currency });
        }
        let over_limit: Vec<(usize, u32)> = found
            .iter()
            .filter_map(|(i, line, item)| item.max_per_customer.filter(|limit| line.quantity > *limit).map(|l| (*i, l)))
            .collect();
        if !over_limit.is_empty() {
            return Err(PricingRefusal::LimitExceeded { lines: over_limit });
        }
        let changed: Vec<(usize, u64)> = found
            .iter()
            .filter(|(_, line, item)| line.unit_price_cents.is_some_and(|shown| shown != item.price_cents))
            .map(|(i, _, item)| (*i, item.price_cents))
            .collect();
        if !changed.is_empty() {
            return Err(PricingRefusal::PriceChanged { lines: changed });
        }
        Ok(PlaceOrder {
            customer_id: self.customer_id.clone(),
            basket_id: self.basket_id,
            currency,
            lines: found
                .iter()
                .map(|(_, line, item)| OrderLine {
                    sku: line.sku.clone(),
                    quantity: line.quantity,
                    unit_price_cents: item.price_cents,
                })
                .collect(),
        })
    }

    /// Whether `order` is what this request placed, whatever the catalog
    /// says now: a retry with the same Idempotency-Key and body answers the
    /// order as placed even after a price change. Prices and currency are
    /// compared where the request gives them.
    pub fn placed_as(&self, order: &Order) -> bool {
        order.customer_id == self.customer_id
            && order.basket_id == self.basket_id
            && self.currency.as_ref().is_none_or(|currency| *currency == order.currency)
            && order.lines.len() == self.lines.len()
            && order.lines.iter().zip(&self.lines).all(|(placed, asked)| {
                placed.sku == asked.sku
                    && placed.quantity == asked.quantity
                    && asked.unit_price_cents.is_none_or(|price| price == placed.unit_price_cents)
            })
    }
}
