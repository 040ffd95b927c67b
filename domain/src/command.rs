//! What can be asked of an order. Commands hold validated values only.

use uuid::Uuid;

use crate::event::UnavailableLine;
use crate::values::{Currency, CustomerId, OrderLine};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceOrder {
    pub customer_id: CustomerId,
    pub basket_id: Option<Uuid>,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// From checkout, through the API.
    Place(PlaceOrder),
    /// From inventory, once every line is reserved.
    Confirm,
    /// From inventory, when some line cannot be reserved.
    Reject { reason: String, unavailable: Vec<UnavailableLine> },
    /// From checkout or the customer, through the API.
    Cancel { reason: Option<String> },
    /// From the warehouse, through the API.
    Ship { tracking_number: Option<String> },
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
