//! A `shop_product` row as a catalog item, and how that item differs from
//! the one the catalog has. No I/O.

use std::fmt;

use domain::{CatalogItem, Currency, Sku, Title};
use serde::Serialize;
use serde_json::{json, Value};

/// A `shop_product` row as the import reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShopProduct {
    pub slug: String,
    pub title: String,
    /// Minor units of the shop's currency.
    pub price: i32,
    /// `deleted_at` is set: the shop no longer sells it.
    pub withdrawn: bool,
}

/// A row that is no valid catalog item; the import skips it (and says so).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("shop_product {slug:?}: {field} {reason}")]
pub struct InvalidProduct {
    pub slug: String,
    pub field: &'static str,
    pub reason: &'static str,
}

impl ShopProduct {
    /// The item the row stands for: `slug` → SKU, `title`, `price` in
    /// `currency`, withdrawn → inactive; no purchase limit (the shop has
    /// none).
    pub fn to_item(&self, currency: &Currency) -> Result<CatalogItem, InvalidProduct> {
        let invalid = |field, reason| InvalidProduct { slug: self.slug.clone(), field, reason };
        Ok(CatalogItem {
            sku: Sku::parse(&self.slug).map_err(|reason| invalid("slug", reason))?,
            title: Title::parse(&self.title).map_err(|reason| invalid("title", reason))?,
            price_cents: domain::catalog::price_cents(i64::from(self.price))
                .map_err(|reason| invalid("price", reason))?,
            currency: currency.clone(),
            active: !self.withdrawn,
            max_per_customer: None,
        })
    }
}

/// What the import does to a SKU's item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// The catalog had no item for the SKU.
    Created,
    /// The item was for sale and the shop withdrew the product.
    Deactivated,
    /// Any other change of the product fields.
    Updated,
}

/// One product field the import changes: its value before (none for a new
/// item) and after, as the catalog item's JSON has them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    pub after: Value,
}

/// How the catalog's item of a SKU differs from the shop's product.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub sku: Sku,
    pub change: Change,
    pub fields: Vec<FieldChange>,
}

/// The product fields, those the shop owns (`maxPerCustomer` is not one).
fn product_fields(item: &CatalogItem) -> [(&'static str, Value); 4] {
    [
        ("title", json!(item.title.as_str())),
        ("priceCents", json!(item.price_cents)),
        ("currency", json!(item.currency.as_str())),
        ("active", json!(item.active)),
    ]
}

/// The difference between the catalog's item (`None`: it has none) and the
/// shop's `product`; `None` when the product fields are equal.
pub fn difference(current: Option<&CatalogItem>, product: &CatalogItem) -> Option<Difference> {
    let before = current.map(product_fields);
    let fields: Vec<FieldChange> = product_fields(product)
        .into_iter()
        .enumerate()
        .filter_map(|(i, (field, after))| {
            let before = before.as_ref().map(|fields| fields[i].1.clone());
            (before.as_ref() != Some(&after)).then_some(FieldChange { field, before, after })
        })
        .collect();
    let change = match current {
        _ if fields.is_empty() => return None,
        None => Change::Created,
        Some(current) if current.active && !product.active => Change::Deactivated,
        Some(_) => Change::Updated,
    };
    Some(Difference { sku: product.sku.clone(), change, fields })
}

/// One line: `+ sku  title "…", priceCents 1999, …` for a new item,
/// `~ sku  priceCents 24900 → 26900` for a change, `- sku  active true →
/// false` when the product was withdrawn.
impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = match self.change {
            Change::Created => '+',
            Change::Updated => '~',
            Change::Deactivated => '-',
        };
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|c| match &c.before {
                Some(before) => format!("{} {before} → {}", c.field, c.after),
                None => format!("{} {}", c.field, c.after),
            })
            .collect();
        write!(f, "{sign} {}  {}", self.sku, fields.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn row(slug: &str, title: &str, price: i32, withdrawn: bool) -> ShopProduct {
        ShopProduct { slug: slug.to_owned(), title: title.to_owned(), price, withdrawn }
    }

    #[test]
    fn a_row_is_an_item_without_a_limit_and_withdrawn_is_inactive() {
        let item = row("muskie-casting-rod", "Muskie casting rod", 24_900, true).to_item(&usd()).unwrap();
        assert_eq!((item.sku.as_str(), item.title.as_str()), ("muskie-casting-rod", "Muskie casting rod"));
        assert_eq!((item.price_cents, item.currency.as_str(), item.active), (24_900, "USD", false));
        assert_eq!(item.max_per_customer, None);
    }

    #[test]
    fn rows_that_are_no_catalog_item_name_the_field() {
        for (product, field) in [
            (row("Muskie Rod", "Muskie", 100, false), "slug"),
            (row("muskie", "", 100, false), "title"),
            (row("muskie", "Muskie\u{7}", 100, false), "title"),
            (row("muskie", "Muskie", 0, false), "price"),
            (row("muskie", "Muskie", -5, false), "price"),
            (row("muskie", "Muskie", 100_000_001, false), "price"),
        ] {
            let invalid = product.to_item(&usd()).unwrap_err();
            assert_eq!(invalid.field, field, "{product:?}");
            assert!(invalid.to_string().contains(&format!("{:?}", product.slug)), "{invalid}");
        }
    }

    #[test]
    fn differences_name_each_changed_product_field_and_ignore_the_limit() {
        let product = row("reel", "Reel", 1_999, false).to_item(&usd()).unwrap();
        let created = difference(None, &product).unwrap();
        assert_eq!(created.change, Change::Created);
        assert_eq!(created.fields.len(), 4);
        assert_eq!(created.to_string(), r#"+ reel  title "Reel", priceCents 1999, currency "USD", active true"#);

        let limited = CatalogItem { max_per_customer: Some(2), ..product.clone() };
        assert_eq!(difference(Some(&limited), &product), None, "the limit is not the shop's");

        let repriced = CatalogItem { price_cents: 2_499, ..product.clone() };
        let updated = difference(Some(&limited), &repriced).unwrap();
        assert_eq!((updated.change, updated.to_string()), (Change::Updated, "~ reel  priceCents 1999 → 2499".into()));

        let withdrawn = CatalogItem { active: false, ..product.clone() };
        let deactivated = difference(Some(&product), &withdrawn).unwrap();
        assert_eq!(deactivated.change, Change::Deactivated);
        assert_eq!(deactivated.to_string(), "- reel  active true → false");
        let back = difference(Some(&withdrawn), &product).unwrap();
        assert_eq!(back.change, Change::Updated, "a product sold again is an update");
    }
}
