//! The legacy rows of one order: `shop_order` and its `shop_orderitem`s,
//! as the event store's view of the order (`domain::fold`) maps onto
//! the Django shop's columns.

use chrono::{DateTime, Utc};
use domain::{Order, OrderId, OrderStatus};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyOrder {
    pub order_id: OrderId,
    pub customer_id: String,
    pub basket_id: Option<Uuid>,
    pub status: OrderStatus,
    pub currency: String,
    pub total: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The event version these rows stand for.
    pub version: u32,
    pub lines: Vec<LegacyLine>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyLine {
    pub sku: String,
    pub item_price: i32,
    pub quantity: i32,
}

/// Why events cannot become legacy rows. The domain's limits keep every
/// valid order inside the legacy column types; these guard the boundary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("the order's first event is not OrderPlaced")]
    NotPlacedFirst,
    #[error("{column} value {value} does not fit the legacy column")]
    OutOfRange { column: &'static str, value: u64 },
    #[error("the order's events have a gap the event store does not fill")]
    Gap,
}

impl TryFrom<&Order> for LegacyOrder {
    type Error = RowError;

    fn try_from(order: &Order) -> Result<Self, RowError> {
        let lines = order
            .lines
            .iter()
            .map(|line| {
                Ok(LegacyLine {
                    sku: line.sku.as_str().to_owned(),
                    item_price: fit("shop_orderitem.item_price", line.unit_price_cents)?,
                    quantity: fit("shop_orderitem.quantity", u64::from(line.quantity))?,
                })
            })
            .collect::<Result<_, RowError>>()?;
        Ok(LegacyOrder {
            order_id: order.order_id,
            customer_id: order.customer_id.as_str().to_owned(),
            basket_id: order.basket_id,
            status: order.status,
            currency: order.currency.as_str().to_owned(),
            total: fit("shop_order.total", order.total_cents)?,
            placed_at: order.placed_at,
            updated_at: order.updated_at,
            version: order.version,
            lines,
        })
    }
}

fn fit<T: TryFrom<u64>>(column: &'static str, value: u64) -> Result<T, RowError> {
    T::try_from(value).map_err(|_| RowError::OutOfRange { column, value })
}
