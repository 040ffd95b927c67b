//! The rules: which command is allowed in which state, and what it records.
//!
//! ```text
//! PLACED → CONFIRMED → SHIPPED
//! PLACED → REJECTED
//! PLACED | CONFIRMED → CANCELLED
//! ```
//! A command that would change nothing succeeds and records nothing.

use crate::command::{Command, PlaceOrder};
use crate::event::{OrderCancelled, OrderConfirmed, OrderEvent, OrderPlaced, OrderRejected, OrderShipped};
use crate::order::{Order, OrderStatus};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("order not found")]
    NotFound,
    #[error("the order already exists with other content")]
    AlreadyPlacedDifferently,
    #[error("{command} is not allowed when the order is {}", status.as_lowercase())]
    NotAllowed { command: &'static str, status: OrderStatus },
}

pub fn decide(state: Option<&Order>, command: &Command) -> Result<Vec<OrderEvent>, DomainError> {
    use OrderStatus::*;
    let Some(order) = state else {
        return match command {
            Command::Place(place) => Ok(vec![OrderEvent::Placed(placed(place))]),
            _ => Err(DomainError::NotFound),
        };
    };
    let not_allowed = || DomainError::NotAllowed { command: command.name(), status: order.status };
    let event = match (command, order.status) {
        (Command::Place(place), _) if same_order(order, place) => return Ok(vec![]),
        (Command::Place(_), _) => return Err(DomainError::AlreadyPlacedDifferently),
        (Command::Confirm, Confirmed) | (Command::Reject { .. }, Rejected) => return Ok(vec![]),
        (Command::Cancel { .. }, Cancelled) | (Command::Ship { .. }, Shipped) => return Ok(vec![]),
        (Command::Confirm, Placed) => OrderEvent::Confirmed(OrderConfirmed {}),
        (Command::Reject { reason, shortages }, Placed) => {
            OrderEvent::Rejected(OrderRejected { reason: reason.as_str().to_owned(), shortages: shortages.clone() })
        }
        (Command::Cancel { reason }, Placed | Confirmed) => {
            OrderEvent::Cancelled(OrderCancelled { reason: reason.as_ref().map(|r| r.as_str().to_owned()) })
        }
        (Command::Ship { tracking_number }, Confirmed) => OrderEvent::Shipped(OrderShipped {
            tracking_number: tracking_number.as_ref().map(|t| t.as_str().to_owned()),
        }),
        _ => return Err(not_allowed()),
    };
    Ok(vec![event])
}

fn placed(place: &PlaceOrder) -> OrderPlaced {
    OrderPlaced {
        customer_id: place.customer_id.clone(),
        basket_id: place.basket_id,
        currency: place.currency.clone(),
        lines: place.lines.clone(),
        total_cents: place.lines.iter().map(|l| l.total_cents()).sum(),
    }
}

/// A retried PlaceOrder (same Idempotency-Key) must carry the same order.
fn same_order(order: &Order, place: &PlaceOrder) -> bool {
    order.customer_id == place.customer_id
        && order.basket_id == place.basket_id
        && order.currency == place.currency
        && order.lines == place.lines
}
