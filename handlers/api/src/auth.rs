//! The caller, read from the claims of the token API Gateway's JWT
//! authorizer validated (`requestContext.authorizer.jwt.claims`). The API
//! never validates a token itself; what it may do is decided by
//! [`domain::access::authorize`].
//!
//! A token whose `scope` names any of the platform's scopes is a service's
//! (a client-credentials token: its `sub` is the client); any other is a
//! customer's, whose `sub` is the customer id. Cognito writes a resource
//! server's scopes as `<identifier>/<name>`: the part after the last `/` is
//! the scope.

use std::collections::{BTreeSet, HashMap};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::access::{Principal, Scope};
use domain::CustomerId;
use lambda_http::request::RequestContext;

use crate::problem::Problem;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl<S: Sync> FromRequestParts<S> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims)
            }
            _ => None,
        };
        let claims = claims.ok_or_else(|| Problem::unauthorized("a valid bearer token is required"))?;
        principal(claims).map(Caller)
    }
}

fn principal(claims: &HashMap<String, String>) -> Result<Principal, Problem> {
    let subject = claims.get("sub").filter(|s| !s.is_empty());
    let subject = subject.ok_or_else(|| Problem::unauthorized("the token names no subject"))?;
    let scopes: BTreeSet<Scope> = claims
        .get("scope")
        .map(|scope| scope.split_whitespace().filter_map(|s| Scope::parse(s.rsplit('/').next().unwrap_or(s))).collect())
        .unwrap_or_default();
    if !scopes.is_empty() {
        return Ok(Principal::Service { subject: subject.clone(), scopes });
    }
    let customer =
        CustomerId::parse(subject).map_err(|_| Problem::unauthorized("the token's subject is not a customer id"))?;
    Ok(Principal::Customer(customer))
}
