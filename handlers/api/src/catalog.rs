//! The catalog routes: anyone reads an item (the storefront shows price and
//! title signed out), the merchandiser sets one.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::access::{authorize, Action};
use domain::{Catalog, CatalogItem, Sku};

use crate::auth::Caller;
use crate::body::json_body;
use crate::input::CatalogItemInput;
use crate::problem::Problem;
use crate::App;

/// Browsers and CloudFront may keep an item as long as an instance may
/// (DESIGN.md): a price is at most this much older than the catalog's.
const CACHE_CONTROL: &str = "public, max-age=30";

type SkuPath = Result<Path<String>, PathRejection>;

/// No token needed: the catalog is public, and so is this route.
pub async fn get(State(app): State<App>, sku: SkuPath) -> Result<Response, Problem> {
    let sku = parse_sku(sku)?;
    let item = app.catalog.items(std::slice::from_ref(&sku)).await?.remove(&sku);
    let item = item.ok_or_else(|| Problem::not_found(format!("{sku} is not in the catalog")))?;
    let mut response = item_view(&item);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    Ok(response)
}

pub async fn set(
    State(app): State<App>,
    Caller(caller): Caller,
    sku: SkuPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    authorize(&caller, Action::SetCatalogItem)?;
    let sku = parse_sku(sku)?;
    let input: CatalogItemInput = json_body(&headers, &body, false)?.expect("a required body is never None");
    let item = input.validate(sku).map_err(Problem::invalid)?;
    app.catalog.put(&item).await?;
    tracing::info!(sku = %item.sku, price_cents = item.price_cents, active = item.active, "catalog item set");
    Ok(item_view(&item))
}

fn parse_sku(sku: SkuPath) -> Result<Sku, Problem> {
    let Ok(Path(sku)) = sku else { return Err(Problem::invalid_field("sku", "must be a valid path segment")) };
    Sku::parse(&sku).map_err(|m| Problem::invalid_field("sku", m))
}

fn item_view(item: &CatalogItem) -> Response {
    Json(item).into_response()
}
