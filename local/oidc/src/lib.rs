//! The embedded runner's sign-in: the OpenID Connect endpoints a browser
//! client (the storefront's `oidc-client-ts`) needs, around the runner's
//! own [`LocalIssuer`](local_aws::issuer::LocalIssuer):
//!
//! - `GET /.well-known/openid-configuration` and `GET /jwks.json`;
//! - `GET /authorize`: a sign-in form ("sign in as customer id": a local
//!   stand-in, no password), `POST /authorize` answers with a one-time code
//!   and a session cookie; while the session lasts, `GET /authorize`
//!   answers with a code at once, as Cognito does (`prompt=none` without
//!   one: `login_required`; `prompt=login`: the form);
//! - `POST /token`: the code for tokens, with PKCE (S256) checked.
//!
//! [`provider`] holds the flow without HTTP; [`routes`] serves it.

pub mod provider;
pub mod routes;

pub use provider::{AuthorizeError, Provider, TokenError};
pub use routes::router;
