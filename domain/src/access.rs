//! Who may do what (DESIGN.md's table), decided by one pure function,
//! [`authorize`], from the caller's [`Principal`]. Authentication is not
//! here: in AWS the HTTP API's JWT authorizer has validated the token before
//! the request reaches the code, and the principal is read from its claims.

use std::collections::BTreeSet;

use crate::values::CustomerId;

/// A scope a service token can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Place orders for any customer (the shop's checkout backend), and cancel them.
    OrdersWrite,
    /// Read any order and its events.
    OrdersRead,
    /// Ship orders (the warehouse).
    OrdersShip,
    /// Read stock.
    InventoryRead,
    /// Set stock (the merchandiser).
    InventoryWrite,
    /// Set catalog items: titles, prices, limits (the merchandiser).
    CatalogWrite,
}

impl Scope {
    pub const ALL: [Scope; 6] = [
        Scope::OrdersWrite,
        Scope::OrdersRead,
        Scope::OrdersShip,
        Scope::InventoryRead,
        Scope::InventoryWrite,
        Scope::CatalogWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OrdersWrite => "orders:write",
            Scope::OrdersRead => "orders:read",
            Scope::OrdersShip => "orders:ship",
            Scope::InventoryRead => "inventory:read",
            Scope::InventoryWrite => "inventory:write",
            Scope::CatalogWrite => "catalog:write",
        }
    }

    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == value)
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// A shopper: the token's subject is the customer id.
    Customer(CustomerId),
    /// Another system, known by its token's subject (a client id), acting
    /// within its scopes.
    Service { subject: String, scopes: BTreeSet<Scope> },
}

impl Principal {
    /// The caller's own name for keys it chooses (`Idempotency-Key`): two
    /// callers who pick the same key never meet.
    pub fn key_namespace(&self) -> String {
        match self {
            Principal::Customer(id) => format!("customer:{}", id.as_str()),
            Principal::Service { subject, .. } => format!("service:{subject}"),
        }
    }

    fn has(&self, scope: Scope) -> bool {
        matches!(self, Principal::Service { scopes, .. } if scopes.contains(&scope))
    }
}

/// What the caller asks to do. Actions on one order name its owner (`None`:
/// there is no such order), so the rule can tell a customer's own order from
/// another's, and a service without the scope learns nothing either way.
/// Reading the catalog needs no token at all, so it is no action here.
#[derive(Clone, Copy, Debug)]
pub enum Action<'a> {
    PlaceOrder { for_customer: &'a CustomerId },
    ReadOrder { owner: Option<&'a CustomerId> },
    CancelOrder { owner: Option<&'a CustomerId> },
    ShipOrder,
    ReadStock,
    SetStock,
    SetCatalogItem,
}

/// Why an action is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The caller may not do this (403).
    #[error("the token does not allow this")]
    Forbidden,
    /// The order is another customer's: answered as if it did not exist
    /// (404), so its existence is not revealed.
    #[error("no order with this id")]
    NotYours,
}

pub fn authorize(principal: &Principal, action: Action) -> Result<(), Refusal> {
    let allowed = match (principal, action) {
        (Principal::Customer(me), Action::ReadOrder { owner } | Action::CancelOrder { owner }) => {
            return if owner == Some(me) { Ok(()) } else { Err(Refusal::NotYours) };
        }
        (Principal::Customer(me), Action::PlaceOrder { for_customer }) => me == for_customer,
        (Principal::Customer(_), Action::ReadStock) => true,
        (Principal::Customer(_), Action::ShipOrder | Action::SetStock | Action::SetCatalogItem) => false,
        (service, Action::PlaceOrder { .. } | Action::CancelOrder { .. }) => service.has(Scope::OrdersWrite),
        (service, Action::ReadOrder { .. }) => service.has(Scope::OrdersRead),
        (service, Action::ShipOrder) => service.has(Scope::OrdersShip),
        (service, Action::ReadStock) => service.has(Scope::InventoryRead),
        (service, Action::SetStock) => service.has(Scope::InventoryWrite),
        (service, Action::SetCatalogItem) => service.has(Scope::CatalogWrite),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::Forbidden)
    }
}
