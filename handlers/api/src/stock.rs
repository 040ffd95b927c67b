//! The stock routes: what the merchandiser sets and checkout can read.

use inventory_store::{InventoryError, SetAvailableError, Stock, MAX_AVAILABLE};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use order_domain::Sku;
use serde::Deserialize;
use serde_json::json;

use crate::orders::json_response;
use crate::problem::Problem;
use crate::request::json_body;
use crate::App;

/// The body of `PUT /inventory/{sku}`. Signed, so a negative count is
/// reported as out of range rather than as a type error.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetStockInput {
    available: i64,
}

pub async fn get(app: &App, sku: &str) -> Result<Response<Body>, Problem> {
    let sku = parse_sku(sku)?;
    let stock = app.inventory.get(&sku).await.map_err(unavailable)?;
    let stock = stock.ok_or_else(|| Problem::not_found(format!("no stock was ever set for {sku}")))?;
    Ok(stock_view(&stock))
}

pub async fn set(app: &App, request: &Request, sku: &str) -> Result<Response<Body>, Problem> {
    let sku = parse_sku(sku)?;
    let input: SetStockInput = json_body(request, false)?.expect("a required body is never None");
    let out_of_range = || Problem::invalid_field("available", format!("must be an integer from 0 to {MAX_AVAILABLE}"));
    let available = u64::try_from(input.available).map_err(|_| out_of_range())?;
    match app.inventory.set_available(&sku, available).await {
        Ok(stock) => Ok(stock_view(&stock)),
        Err(SetAvailableError::OutOfRange) => Err(out_of_range()),
        Err(SetAvailableError::Store(e)) => Err(unavailable(e)),
    }
}

fn parse_sku(sku: &str) -> Result<Sku, Problem> {
    Sku::parse(sku).map_err(|m| Problem::invalid_field("sku", m))
}

fn unavailable(error: InventoryError) -> Problem {
    tracing::error!(%error, "inventory store error");
    Problem::unavailable("the inventory store did not answer; retry later")
}

fn stock_view(stock: &Stock) -> Response<Body> {
    json_response(
        StatusCode::OK,
        &json!({ "sku": stock.sku, "available": stock.available, "reserved": stock.reserved }),
    )
}
