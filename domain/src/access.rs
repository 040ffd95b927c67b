//! Who may do what (DESIGN.md's table), decided by pure functions: who the
//! caller is, from its token's claims ([`ServiceRule::principal`]), and
//! what it may do ([`authorize`]). Authentication is not here: in AWS the
//! HTTP API's JWT authorizer has validated the token before the request
//! reaches the code.

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
    /// Another system, known by its client id, acting within its scopes.
    Service { subject: String, scopes: BTreeSet<Scope> },
}

/// The claims of a validated token that name the caller.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokenClaims<'a> {
    pub sub: Option<&'a str>,
    pub client_id: Option<&'a str>,
    /// Space-separated, as OAuth 2.0 writes them.
    pub scope: Option<&'a str>,
}

/// Why a validated token names no caller (401).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unidentified {
    #[error("the token names no subject")]
    NoSubject,
    #[error("the token's subject is not a customer id: {0}")]
    NotACustomerId(&'static str),
}

/// Which tokens are services' (`SERVICE_CLIENT_IDS`, `SCOPE_PREFIX`). A
/// scope is a grant only in a client-credentials token of a listed client:
/// an app client that lets its users ask for `orders:read` makes customers
/// with an extra word in their token, nothing more.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRule {
    client_ids: BTreeSet<String>,
    scope_prefix: String,
}

impl ServiceRule {
    /// `client_ids`: the service clients; `scope_prefix`: the resource
    /// server's identifier, so `orders-api` makes `orders-api/orders:ship`
    /// the ship scope (a trailing `/` is the same prefix); empty: scopes are
    /// bare (`orders:ship`).
    pub fn new<I, S>(client_ids: I, scope_prefix: &str) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let client_ids = client_ids.into_iter().map(Into::into).filter(|id| !id.is_empty()).collect();
        let scope_prefix = match scope_prefix.trim().trim_end_matches('/') {
            "" => String::new(),
            prefix => format!("{prefix}/"),
        };
        ServiceRule { client_ids, scope_prefix }
    }

    /// From configuration text: client ids separated by commas or spaces.
    pub fn parse(client_ids: &str, scope_prefix: &str) -> Self {
        Self::new(client_ids.split(|c: char| c == ',' || c.is_whitespace()), scope_prefix)
    }

    pub fn client_ids(&self) -> impl Iterator<Item = &str> {
        self.client_ids.iter().map(String::as_str)
    }

    pub fn is_service(&self, client_id: &str) -> bool {
        self.client_ids.contains(client_id)
    }

    /// A scope as tokens of this platform write it: `orders:ship` with the
    /// prefix (`orders-api/orders:ship`).
    pub fn scope_name(&self, scope: Scope) -> String {
        format!("{}{}", self.scope_prefix, scope.as_str())
    }

    /// The caller a token names. A service only when `client_id` is listed
    /// and `sub` is absent or that same client (client credentials); its
    /// scopes only with the prefix, exactly. Every other token is a
    /// customer's, `sub` the customer id, whatever scopes it carries.
    pub fn principal(&self, claims: TokenClaims) -> Result<Principal, Unidentified> {
        let sub = claims.sub.filter(|s| !s.is_empty());
        if let Some(client) = claims.client_id.filter(|c| self.client_ids.contains(*c)) {
            if sub.is_none_or(|sub| sub == client) {
                let scopes = claims.scope.unwrap_or_default().split_whitespace();
                let scopes = scopes
                    .filter_map(|s| s.strip_prefix(self.scope_prefix.as_str()))
                    .filter_map(Scope::parse)
                    .collect();
                return Ok(Principal::Service { subject: client.to_owned(), scopes });
            }
        }
        let sub = sub.ok_or(Unidentified::NoSubject)?;
        Ok(Principal::Customer(CustomerId::parse(sub).map_err(Unidentified::NotACustomerId)?))
    }
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
    /// `names_basket`: the order names a legacy basket (`basketId`), which
    /// the sync writes the order into: only the shop's checkout may.
    PlaceOrder {
        for_customer: &'a CustomerId,
        names_basket: bool,
    },
    ReadOrder {
        owner: Option<&'a CustomerId>,
    },
    CancelOrder {
        owner: Option<&'a CustomerId>,
    },
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
    /// A customer named a legacy basket: the sync would write the order into
    /// it, and a basket id does not prove whose basket it is (403).
    #[error("only the shop's checkout may name a basketId")]
    NamesBasket,
}

pub fn authorize(principal: &Principal, action: Action) -> Result<(), Refusal> {
    let allowed = match (principal, action) {
        (Principal::Customer(me), Action::ReadOrder { owner } | Action::CancelOrder { owner }) => {
            return if owner == Some(me) { Ok(()) } else { Err(Refusal::NotYours) };
        }
        (Principal::Customer(_), Action::PlaceOrder { names_basket: true, .. }) => return Err(Refusal::NamesBasket),
        (Principal::Customer(me), Action::PlaceOrder { for_customer, .. }) => me == for_customer,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> ServiceRule {
        ServiceRule::parse("checkout-backend, warehouse", "orders-api")
    }

    fn token<'a>(sub: Option<&'a str>, client_id: Option<&'a str>, scope: &'a str) -> TokenClaims<'a> {
        TokenClaims { sub, client_id, scope: Some(scope) }
    }

    fn customer(id: &str) -> Principal {
        Principal::Customer(CustomerId::parse(id).unwrap())
    }

    fn service(client: &str, scopes: &[Scope]) -> Principal {
        Principal::Service { subject: client.to_owned(), scopes: scopes.iter().copied().collect() }
    }

    #[test]
    fn a_listed_clients_credentials_token_is_a_service_with_its_prefixed_scopes() {
        let claims =
            token(Some("checkout-backend"), Some("checkout-backend"), "orders-api/orders:write orders-api/orders:read");
        assert_eq!(rule().principal(claims), Ok(service("checkout-backend", &[Scope::OrdersWrite, Scope::OrdersRead])));
        let without_sub = token(None, Some("warehouse"), "orders-api/orders:ship");
        assert_eq!(rule().principal(without_sub), Ok(service("warehouse", &[Scope::OrdersShip])));
    }

    #[test]
    fn only_scopes_with_the_exact_prefix_count() {
        let claims = token(
            None,
            Some("warehouse"),
            "orders:ship other-api/orders:read orders-apix/orders:write orders-api/orders:shipx",
        );
        assert_eq!(rule().principal(claims), Ok(service("warehouse", &[])));
        let bare = ServiceRule::parse("warehouse", "");
        let prefixed = token(None, Some("warehouse"), "orders-api/orders:ship orders:read");
        assert_eq!(bare.principal(prefixed), Ok(service("warehouse", &[Scope::OrdersRead])));
        assert_eq!(ServiceRule::parse("warehouse", "orders-api/"), ServiceRule::parse("warehouse", "orders-api"));
    }

    #[test]
    fn a_users_token_is_a_customer_whatever_scopes_it_carries() {
        let scopes = "orders-api/orders:read orders-api/inventory:write";
        let user_of_listed_client = token(Some("customer-2"), Some("checkout-backend"), scopes);
        assert_eq!(rule().principal(user_of_listed_client), Ok(customer("customer-2")));
        let unlisted_client = token(Some("rogue-app"), Some("rogue-app"), scopes);
        assert_eq!(rule().principal(unlisted_client), Ok(customer("rogue-app")));
        let no_client = token(Some("customer-3"), None, scopes);
        assert_eq!(rule().principal(no_client), Ok(customer("customer-3")));
        assert_eq!(
            ServiceRule::default().principal(token(Some("warehouse"), Some("warehouse"), scopes)),
            Ok(customer("warehouse"))
        );
    }

    #[test]
    fn a_token_that_is_no_service_and_names_no_customer_names_no_caller() {
        assert_eq!(rule().principal(token(None, Some("rogue-app"), "")), Err(Unidentified::NoSubject));
        assert_eq!(rule().principal(token(Some(""), None, "")), Err(Unidentified::NoSubject));
        assert!(matches!(rule().principal(token(Some("a\u{0}b"), None, "")), Err(Unidentified::NotACustomerId(_))));
    }

    #[test]
    fn configured_client_ids_are_split_on_commas_and_spaces() {
        let rule = ServiceRule::parse(" checkout-backend,,warehouse merchandiser ", "");
        assert_eq!(rule.client_ids().collect::<Vec<_>>(), ["checkout-backend", "merchandiser", "warehouse"]);
        assert_eq!(rule.scope_name(Scope::OrdersShip), "orders:ship");
        assert_eq!(ServiceRule::parse("x", "orders-api").scope_name(Scope::OrdersShip), "orders-api/orders:ship");
    }

    #[test]
    fn only_a_service_may_name_a_basket() {
        let me = CustomerId::parse("customer-1").unwrap();
        let with_basket = Action::PlaceOrder { for_customer: &me, names_basket: true };
        assert_eq!(authorize(&customer("customer-1"), with_basket), Err(Refusal::NamesBasket));
        let own = Action::PlaceOrder { for_customer: &me, names_basket: false };
        assert_eq!(authorize(&customer("customer-1"), own), Ok(()));
        assert_eq!(authorize(&service("checkout-backend", &[Scope::OrdersWrite]), with_basket), Ok(()));
    }
}
