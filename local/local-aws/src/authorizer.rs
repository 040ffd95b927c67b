//! API Gateway's JWT authorizer, done in a process. It validates the bearer
//! token as the HTTP API's authorizer does — a `kid` found in the issuer's
//! JWKS, an RS256 signature, `iss`, `aud` (or `client_id` when there is no
//! `aud`), `exp`, `nbf` and `iat` — and hands the claims to the API in the
//! request context, where the `api` Lambda reads them in AWS. A request whose
//! token fails goes on without claims, and the API answers it 401: in AWS,
//! API Gateway answers it before the Lambda runs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription, ApiGatewayV2httpRequestContext,
};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambda_http::request::RequestContext;
use serde_json::Value;

/// The client `--auth off` names every request's: the runner counts it a
/// service client in that mode.
pub const OPERATOR_CLIENT_ID: &str = "local-operator";

/// How the runner authenticates requests.
pub enum Authorizer {
    /// Tokens from one issuer, for one audience.
    Jwt(JwtAuthorizer),
    /// `--auth off`: every request is an operator ([`OPERATOR_CLIENT_ID`])
    /// with every scope.
    TrustEveryone { scopes: Vec<String> },
}

pub struct JwtAuthorizer {
    issuer: String,
    audience: String,
    keys: JwkSet,
}

/// Why a token was refused (logged; the caller only learns 401).
#[derive(Debug, thiserror::Error)]
pub enum Rejected {
    #[error("no bearer token")]
    NoToken,
    #[error("the token's key id is not in the issuer's key set")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token is for another audience")]
    Audience,
    #[error("the token was issued in the future")]
    IssuedLater,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{0} names no jwks_uri")]
    NoJwksUri(String),
}

impl JwtAuthorizer {
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, keys: JwkSet) -> Self {
        JwtAuthorizer { issuer: issuer.into(), audience: audience.into(), keys }
    }

    /// The authorizer for `issuer`, with the keys its OpenID discovery
    /// document points at (what API Gateway fetches, too).
    pub async fn discover(issuer: &str, audience: &str) -> Result<Self, DiscoveryError> {
        let client = reqwest::Client::new();
        let get = |url: String| {
            let client = client.clone();
            async move {
                let fetch = |source| DiscoveryError::Fetch { url: url.clone(), source };
                client
                    .get(&url)
                    .send()
                    .await
                    .map_err(fetch)?
                    .error_for_status()
                    .map_err(fetch)?
                    .json::<Value>()
                    .await
                    .map_err(fetch)
            }
        };
        let discovery_url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let discovery = get(discovery_url.clone()).await?;
        let jwks_uri = discovery["jwks_uri"].as_str().ok_or(DiscoveryError::NoJwksUri(discovery_url))?;
        let keys = get(jwks_uri.to_owned()).await?;
        let keys: JwkSet = serde_json::from_value(keys).map_err(|_| DiscoveryError::NoJwksUri(jwks_uri.to_owned()))?;
        Ok(JwtAuthorizer::new(issuer, audience, keys))
    }

    /// The claims of a valid `Authorization: Bearer …` value, as API Gateway
    /// passes them to the Lambda: every value a string.
    pub fn claims(&self, authorization: Option<&str>) -> Result<HashMap<String, String>, Rejected> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(Rejected::NoToken)?;
        let header = jsonwebtoken::decode_header(token)?;
        let jwk = header.kid.as_deref().and_then(|kid| self.keys.find(kid)).ok_or(Rejected::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false; // checked below, with API Gateway's client_id fallback
        validation.validate_nbf = true;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss"]);
        let claims: HashMap<String, Value> =
            jsonwebtoken::decode(token, &DecodingKey::from_jwk(jwk)?, &validation)?.claims;
        let audience_matches = match (&claims.get("aud"), &claims.get("client_id")) {
            (Some(Value::String(aud)), _) => *aud == self.audience,
            (Some(Value::Array(auds)), _) => auds.iter().any(|a| a.as_str() == Some(&self.audience)),
            (None, Some(Value::String(client_id))) => *client_id == self.audience,
            _ => false,
        };
        if !audience_matches {
            return Err(Rejected::Audience);
        }
        if claims.get("iat").and_then(Value::as_u64).is_some_and(|iat| iat > now()) {
            return Err(Rejected::IssuedLater);
        }
        Ok(claims.into_iter().map(|(name, value)| (name, claim_text(value))).collect())
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// API Gateway's rendering of a claim: text as is, numbers as digits, lists
/// as `[a b]`.
fn claim_text(value: Value) -> String {
    match value {
        Value::String(text) => text,
        Value::Array(items) => {
            let items: Vec<String> = items.into_iter().map(claim_text).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

/// The middleware: puts the claims of a valid token into the request
/// context, and removes any claims a request brought itself.
pub async fn authorize(State(authorizer): State<Arc<Authorizer>>, mut request: Request, next: Next) -> Response {
    let claims = match authorizer.as_ref() {
        Authorizer::TrustEveryone { scopes } => Some(HashMap::from([
            ("sub".to_owned(), OPERATOR_CLIENT_ID.to_owned()),
            ("client_id".to_owned(), OPERATOR_CLIENT_ID.to_owned()),
            ("scope".to_owned(), scopes.join(" ")),
        ])),
        Authorizer::Jwt(jwt) => {
            let header = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
            match jwt.claims(header) {
                Ok(claims) => Some(claims),
                Err(reason) => {
                    tracing::info!(%reason, "token refused: the request goes on unauthenticated");
                    None
                }
            }
        }
    };
    let mut context = match request.extensions_mut().remove::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context,
        _ => ApiGatewayV2httpRequestContext::default(),
    };
    context.authorizer = claims.map(|claims| {
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = claims;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        authorizer
    });
    request.extensions_mut().insert(RequestContext::ApiGatewayV2(context));
    next.run(request).await
}
