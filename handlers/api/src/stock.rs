//! The stock routes: what the merchandiser sets and checkout can read.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::access::{authorize, Action};
use domain::Sku;
use inventory_store::{InventoryError, SetAvailableError, Stock, MAX_AVAILABLE};
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::body::json_body;
use crate::problem::Problem;
use crate::App;

/// The body of `PUT /inventory/{sku}`. Signed, so a negative count is
/// reported as out of range rather than as a type error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStockInput {
    #[serde(deserialize_with = "crate::body::whole_number")]
    available: i64,
}

type SkuPath = Result<Path<String>, PathRejection>;

pub async fn get(State(app): State<App>, Caller(caller): Caller, sku: SkuPath) -> Result<Response, Problem> {
    authorize(&caller, Action::ReadStock)?;
    let sku = parse_sku(sku)?;
    let stock = app.inventory.get(&sku).await.map_err(unavailable)?;
    let stock = stock.ok_or_else(|| Problem::not_found(format!("no stock was ever set for {sku}")))?;
    Ok(stock_view(&stock))
}

pub async fn set(
    State(app): State<App>,
    Caller(caller): Caller,
    sku: SkuPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    authorize(&caller, Action::SetStock)?;
    let sku = parse_sku(sku)?;
    let input: SetStockInput = json_body(&headers, &body, false)?.expect("a required body is never None");
    let out_of_range = || Problem::invalid_field("available", format!("must be an integer from 0 to {MAX_AVAILABLE}"));
    let available = u64::try_from(input.available).map_err(|_| out_of_range())?;
    match app.inventory.set_available(&sku, available).await {
        Ok(stock) => Ok(stock_view(&stock)),
        Err(SetAvailableError::OutOfRange) => Err(out_of_range()),
        Err(SetAvailableError::Store(e)) => Err(unavailable(e)),
    }
}

fn parse_sku(sku: SkuPath) -> Result<Sku, Problem> {
    let Ok(Path(sku)) = sku else { return Err(Problem::invalid_field("sku", "must be a valid path segment")) };
    Sku::parse(&sku).map_err(|m| Problem::invalid_field("sku", m))
}

fn unavailable(error: InventoryError) -> Problem {
    tracing::error!(%error, "inventory store error");
    Problem::unavailable("the inventory store did not answer; retry later")
}

fn stock_view(stock: &Stock) -> Response {
    Json(json!({ "sku": stock.sku, "available": stock.available, "reserved": stock.reserved })).into_response()
}
