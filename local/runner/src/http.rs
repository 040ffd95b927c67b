//! Serves the API Lambda's router over plain HTTP: the same routes, layers
//! and handlers API Gateway reaches through `lambda_http`, behind the local
//! stand-in for API Gateway's JWT authorizer. Paths are CloudFront's: the
//! API under `/api` (prefix stripped from requests, and put back on the
//! `Location` of responses, as the distribution's functions do) and the hot
//! product's page under [`storefront::PATH`]; the API also answers at the
//! root, as API Gateway does. The embedded issuer's sign-in endpoints are
//! under [`OIDC_PATH`], the runner's recent traces under [`TRACES_PATH`].

use std::net::SocketAddr;
use std::sync::Arc;

use api::App;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::Response;
use axum::routing::get;
use axum::Json;
use local_aws::authorizer::{authorize, Authorizer};
use oidc::Provider;
use telemetry::{RecentTraces, SpanRecord};

use crate::storefront::{self, PageConfig};

/// The API's prefix behind CloudFront, and so here.
pub const API_PATH: &str = "/api";
/// Where the embedded issuer's OpenID endpoints are mounted.
pub const OIDC_PATH: &str = "/oidc";
/// `GET /_local/traces/{order_id}`: the spans of one order's trace that the
/// runner still remembers, as `orders trace` reads them. Only the runner
/// serves it, without a token: it runs on a developer's machine.
pub const TRACES_PATH: &str = "/_local/traces";

/// Who signs the page's customers in.
pub enum SignIn {
    /// The embedded issuer, with its endpoints served here.
    Embedded(Arc<Provider>),
    /// An OIDC issuer elsewhere (`--auth oidc`): its URL and the client id.
    External { authority: String, client_id: String },
}

pub fn router(app: App, authorizer: Arc<Authorizer>, sign_in: SignIn, traces: RecentTraces) -> axum::Router {
    let api = api::router(app).layer(from_fn_with_state(authorizer, authorize));
    let (page, oidc) = match sign_in {
        SignIn::Embedded(provider) => {
            let config = page_config(OIDC_PATH, provider.client_id());
            (config, Some(oidc::router(provider, OIDC_PATH)))
        }
        SignIn::External { authority, client_id } => (page_config(&authority, &client_id), None),
    };
    let router = axum::Router::new()
        .nest_service(API_PATH, api.clone().layer(map_response(location_under_api)))
        .nest_service(storefront::PATH, storefront::router(page))
        .route(&format!("{TRACES_PATH}/{{order_id}}"), get(order_trace).with_state(traces));
    let router = match oidc {
        Some(oidc) => router.nest_service(OIDC_PATH, oidc),
        None => router,
    };
    router.fallback_service(api)
}

async fn order_trace(State(traces): State<RecentTraces>, Path(order_id): Path<String>) -> Json<OrderTrace> {
    Json(OrderTrace { spans: traces.of_order(&order_id), order_id })
}

/// The answer of [`TRACES_PATH`].
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderTrace {
    order_id: String,
    spans: Vec<SpanRecord>,
}

/// The API names its resources from its own root (`/orders/{id}`); under
/// `/api` they are at `/api/orders/{id}`.
async fn location_under_api(mut response: Response) -> Response {
    let prefixed = response.headers().get(header::LOCATION).and_then(|location| {
        let path = location.to_str().ok().filter(|path| path.starts_with('/'))?;
        HeaderValue::from_str(&format!("{API_PATH}{path}")).ok()
    });
    if let Some(location) = prefixed {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

fn page_config(authority: &str, client_id: &str) -> PageConfig {
    PageConfig {
        api_base: API_PATH.to_owned(),
        authority: authority.to_owned(),
        client_id: client_id.to_owned(),
        scope: "openid".to_owned(),
    }
}

pub async fn serve(addr: SocketAddr, router: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "HTTP API listening");
    // The banner is for people (and the browser test, which reads the
    // storefront line to learn the port).
    println!("order platform on http://{addr}");
    println!("  storefront: http://{addr}{}/", storefront::PATH);
    println!("  API:        http://{addr}{API_PATH}/ (and at the root)");
    axum::serve(listener, router).with_graceful_shutdown(shutdown()).await?;
    Ok(())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    tracing::info!("shutting down");
}
