//! What can be asked of an order. Commands hold validated values only.

use uuid::Uuid;

use crate::event::Shortage;
use crate::values::{Currency, CustomerId, OrderLine, Reason, Sku, TrackingNumber, MAX_LINES};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    pub customer_id: CustomerId,
    pub basket_id: Option<Uuid>,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
}

/// What makes a set of valid lines an invalid order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinesError {
    #[error("must have 1 to {MAX_LINES} lines")]
    Count,
    /// The line at this index names the SKU of an earlier line.
    #[error("must not repeat a SKU of another line")]
    RepeatedSku(usize),
}

impl PlaceOrder {
    /// 1–100 lines, no SKU twice: the rules that span lines. Each error is
    /// reported, so a caller can name every field at once.
    pub fn check_lines<L: AsRef<Sku>>(lines: &[L]) -> Vec<LinesError> {
        let mut errors = Vec::new();
        if lines.is_empty() || lines.len() > MAX_LINES {
            errors.push(LinesError::Count);
        }
        for (i, line) in lines.iter().enumerate() {
            if lines[..i].iter().any(|earlier| earlier.as_ref() == line.as_ref()) {
                errors.push(LinesError::RepeatedSku(i));
            }
        }
        errors
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// From checkout, through the API.
    Place(PlaceOrder),
    /// From inventory, once every line is reserved.
    Confirm,
    /// From inventory, when some line cannot be reserved: short of stock
    /// or over the customer's purchase limit (`shortages`).
    Reject { reason: Reason, shortages: Vec<Shortage> },
    /// From checkout or the customer, through the API.
    Cancel { reason: Option<Reason> },
    /// From the warehouse, through the API.
    Ship { tracking_number: Option<TrackingNumber> },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Place(_) => "PlaceOrder",
            Command::Confirm => "ConfirmOrder",
            Command::Reject { .. } => "RejectOrder",
            Command::Cancel { .. } => "CancelOrder",
            Command::Ship { .. } => "ShipOrder",
        }
    }
}
