//! The order routes: parse, run the command, shape the order view.

use std::time::Duration;

use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Request, Response};
use order_commands::{CommandContext, Known, RetryPolicy};
use order_domain::validation::{
    validate_text, CancelInput, PlaceOrderInput, ShipInput, MAX_REASON_CHARS, MAX_TRACKING_NUMBER_CHARS,
};
use order_domain::{Command, Order, OrderId};
use serde_json::json;

use crate::headers::{etag, idempotency_key, if_match};
use crate::problem::Problem;
use crate::request::json_body;
use crate::App;

/// Two retries with one Idempotency-Key can race; the loser decides again,
/// finds the same order, and answers as the winner did.
const PLACE_RETRY: RetryPolicy = RetryPolicy { attempts: 3, base_delay: Duration::from_millis(2) };

pub async fn place(app: &App, request: &Request, correlation_id: &str) -> Result<Response<Body>, Problem> {
    let key = idempotency_key(request)?;
    let input: PlaceOrderInput = json_body(request, false)?.expect("a required body is never None");
    let command = Command::Place(input.validate()?);
    let order_id = key.as_deref().map_or_else(|| OrderId(uuid::Uuid::new_v4()), OrderId::from_idempotency_key);
    let context = CommandContext::new(correlation_id);
    // A new id: append version 1 without reading; a retry of the key finds it taken, reads and answers.
    let outcome = app.orders.execute_from(order_id, &command, &context, PLACE_RETRY, Known::New).await?;
    let mut response = order_view(StatusCode::CREATED, &outcome.order);
    let location = format!("/orders/{order_id}").parse().expect("a path is a header value");
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

pub async fn get(app: &App, id: &str) -> Result<Response<Body>, Problem> {
    let order = app.orders.get(parse_id(id)?).await?.ok_or_else(no_order)?;
    Ok(order_view(StatusCode::OK, &order))
}

pub async fn events(app: &App, id: &str) -> Result<Response<Body>, Problem> {
    let events = app.orders.store().load(parse_id(id)?).await?;
    if events.is_empty() {
        return Err(no_order());
    }
    Ok(json_response(StatusCode::OK, &json!({ "events": events })))
}

pub async fn cancel(app: &App, request: &Request, id: &str, correlation_id: &str) -> Result<Response<Body>, Problem> {
    let order_id = parse_id(id)?;
    let input: CancelInput = json_body(request, true)?.unwrap_or_default();
    let reason = validate_text("reason", input.reason, MAX_REASON_CHARS)?;
    command(app, request, order_id, Command::Cancel { reason }, correlation_id).await
}

pub async fn ship(app: &App, request: &Request, id: &str, correlation_id: &str) -> Result<Response<Body>, Problem> {
    let order_id = parse_id(id)?;
    let input: ShipInput = json_body(request, true)?.unwrap_or_default();
    let tracking_number = validate_text("trackingNumber", input.tracking_number, MAX_TRACKING_NUMBER_CHARS)?;
    command(app, request, order_id, Command::Ship { tracking_number }, correlation_id).await
}

/// Commands from outside answer a lost race with 409 instead of retrying:
/// the caller saw a state that no longer holds.
async fn command(
    app: &App,
    request: &Request,
    order_id: OrderId,
    command: Command,
    correlation_id: &str,
) -> Result<Response<Body>, Problem> {
    let mut context = CommandContext::new(correlation_id);
    context.expected_version = if_match(request)?;
    // Decided on this instance's cached state if any; what the cache cannot prove is decided again on a read.
    let outcome = app.orders.execute_from(order_id, &command, &context, RetryPolicy::NONE, Known::Cached).await?;
    Ok(order_view(StatusCode::OK, &outcome.order))
}

fn parse_id(id: &str) -> Result<OrderId, Problem> {
    id.parse().map_err(|_| Problem::invalid_field("id", "must be a UUID"))
}

fn no_order() -> Problem {
    Problem::not_found("no order with this id")
}

fn order_view(status: StatusCode, order: &Order) -> Response<Body> {
    let mut response = json_response(status, order);
    response.headers_mut().insert(header::ETAG, etag(order.version).parse().expect("digits are a header value"));
    response
}

pub(crate) fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<Body> {
    let mut response = Response::new(Body::Text(serde_json::to_string(body).expect("views serialize")));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, "application/json".parse().expect("static"));
    response
}
