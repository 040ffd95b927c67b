//! The caller, read from the claims of the token API Gateway's JWT
//! authorizer validated (`requestContext.authorizer.jwt.claims`). The API
//! never validates a token itself; who the caller is, is decided by the
//! configured [`ServiceRule`](domain::access::ServiceRule), and what it may do by
//! [`domain::access::authorize`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use domain::access::{Principal, TokenClaims};
use lambda_http::request::RequestContext;

use crate::problem::Problem;
use crate::App;

/// The authenticated caller of a request.
pub struct Caller(pub Principal);

impl FromRequestParts<App> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Problem> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| &jwt.claims)
            }
            _ => None,
        };
        let claims = claims.ok_or_else(|| Problem::unauthorized("a valid bearer token is required"))?;
        let claim = |name: &str| claims.get(name).map(String::as_str);
        let token = TokenClaims { sub: claim("sub"), client_id: claim("client_id"), scope: claim("scope") };
        let principal = app.services.principal(token).map_err(|e| Problem::unauthorized(e.to_string()))?;
        Ok(Caller(principal))
    }
}
