//! The catalog import (DESIGN.md "Catalog"): the legacy shop's
//! `shop_product` is the system of record for products, and the platform
//! keeps their catalog items in DynamoDB. One library for the three that
//! run it: `orders catalog import` (resumable, a progress bar, `--dry-run`),
//! the local runner's provisioning, and the `catalog-import` Lambda that
//! EventBridge Scheduler runs in AWS.
//!
//! Read [`product`] (a row as an item, and the difference to the catalog's;
//! no I/O), then [`import`] (pages, writes, checkpoints). The database is
//! reached exactly as the legacy sync reaches it
//! ([`legacy_sync::DatabaseSource`]).

pub mod import;
pub mod product;

use contract::config::SHOP_CURRENCY;
use domain::Currency;

pub use import::{
    count_products, import_all, Checkpoint, Counts, Import, ImportError, Options, Page, DEFAULT_PAGE_SIZE,
};
pub use product::{Change, Difference, FieldChange, InvalidProduct, ShopProduct};

/// The shop's prices are in this currency.
pub const DEFAULT_SHOP_CURRENCY: &str = "USD";

#[derive(Debug, thiserror::Error)]
#[error("{SHOP_CURRENCY}={code}: {reason}")]
pub struct ShopCurrencyError {
    code: String,
    reason: &'static str,
}

/// `SHOP_CURRENCY`, else [`DEFAULT_SHOP_CURRENCY`].
pub fn shop_currency() -> Result<Currency, ShopCurrencyError> {
    let code = std::env::var(SHOP_CURRENCY).unwrap_or_else(|_| DEFAULT_SHOP_CURRENCY.to_owned());
    Currency::parse(&code).map_err(|reason| ShopCurrencyError { code, reason })
}
