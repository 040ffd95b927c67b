//! The order routes: parse, run the command, shape the order view.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use commands::{CommandContext, CommandError, Known, RetryPolicy};
use domain::access::{authorize, Action, Principal};
use domain::{fold, Catalog, Command, DomainError, Order, OrderId, OrderRequest, Sku};
use serde_json::json;

use crate::auth::Caller;
use crate::body::json_body;
use crate::headers::{etag, idempotency_key, if_match};
use crate::input::{CancelInput, PlaceOrderInput, ShipInput};
use crate::layers::CorrelationId;
use crate::problem::Problem;
use crate::App;

/// Two retries with one Idempotency-Key can race; the loser decides again,
/// finds the same order, and answers as the winner did.
const PLACE_RETRY: RetryPolicy = RetryPolicy { attempts: 3, base_delay: Duration::from_millis(2) };

type IdPath = Result<Path<String>, PathRejection>;

pub async fn place(
    State(app): State<App>,
    Caller(caller): Caller,
    Extension(CorrelationId(correlation_id)): Extension<CorrelationId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let key = idempotency_key(&headers)?;
    let input: PlaceOrderInput = json_body(&headers, &body, false)?.expect("a required body is never None");
    let own_id = match &caller {
        Principal::Customer(id) => Some(id),
        Principal::Service { .. } => None,
    };
    if own_id.is_none() && input.customer_id.is_none() {
        return Err(Problem::customer_required());
    }
    let request = input.validate(own_id).map_err(Problem::invalid)?;
    let names_basket = request.basket_id.is_some();
    authorize(&caller, Action::PlaceOrder { for_customer: &request.customer_id, names_basket })?;
    let order_id = match key.as_deref() {
        Some(key) => OrderId::from_idempotency_key(&caller.key_namespace(), key),
        None => OrderId(uuid::Uuid::new_v4()),
    };
    // From this instance's cache when warm: no request.
    let skus: Vec<Sku> = request.lines.iter().map(|line| line.sku.clone()).collect();
    let items = app.catalog.items(&skus).await?;
    let place = match request.price(&items) {
        Ok(place) => place,
        // A retry of an order placed before the catalog changed answers as
        // placed; only a retry can find one, so only a retry reads.
        Err(refusal) => match key {
            Some(_) => return retried(&app, &request, order_id, Problem::pricing(refusal, &request)).await,
            None => return Err(Problem::pricing(refusal, &request)),
        },
    };
    let context = CommandContext::new(correlation_id);
    // A new id: append version 1 without reading; a retry of the key finds it taken, reads and answers.
    let command = Command::Place(place);
    match app.orders.execute_from(order_id, &command, &context, PLACE_RETRY, Known::New).await {
        Ok(outcome) => Ok(created(&outcome.order)),
        // The same body priced anew differs from the order placed before
        // a price change: what the caller asked decides.
        Err(error @ CommandError::Domain(DomainError::AlreadyPlacedDifferently)) => {
            retried(&app, &request, order_id, error.into()).await
        }
        Err(error) => Err(error.into()),
    }
}

/// The answer to a retried `POST /orders` that the catalog, as it is now,
/// would not price as it was placed: the order placed with this key if the
/// request asked for it, else `otherwise`.
async fn retried(
    app: &App,
    request: &OrderRequest,
    order_id: OrderId,
    otherwise: Problem,
) -> Result<Response, Problem> {
    match app.orders.get(order_id).await? {
        Some(order) if request.placed_as(&order) => Ok(created(&order)),
        Some(_) => Err(CommandError::Domain(DomainError::AlreadyPlacedDifferently).into()),
        None => Err(otherwise),
    }
}

fn created(order: &Order) -> Response {
    let mut response = order_view(StatusCode::CREATED, order);
    let location = HeaderValue::from_str(&format!("/orders/{}", order.order_id)).expect("a path is a header value");
    response.headers_mut().insert(header::LOCATION, location);
    response
}

pub async fn get(State(app): State<App>, Caller(caller): Caller, id: IdPath) -> Result<Response, Problem> {
    let order = app.orders.get(parse_id(id)?).await?;
    authorize(&caller, Action::ReadOrder { owner: order.as_ref().map(|o| &o.customer_id) })?;
    Ok(order_view(StatusCode::OK, &order.ok_or_else(no_order)?))
}

pub async fn events(State(app): State<App>, Caller(caller): Caller, id: IdPath) -> Result<Response, Problem> {
    let events = app.orders.store().load(parse_id(id)?).await?;
    let order = fold(&events);
    authorize(&caller, Action::ReadOrder { owner: order.as_ref().map(|o| &o.customer_id) })?;
    if events.is_empty() {
        return Err(no_order());
    }
    Ok(Json(json!({ "events": events })).into_response())
}

pub async fn cancel(
    State(app): State<App>,
    Caller(caller): Caller,
    Extension(CorrelationId(correlation_id)): Extension<CorrelationId>,
    id: IdPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let order_id = parse_id(id)?;
    // The owner decides who may cancel: read it before deciding anything.
    let order = app.orders.get(order_id).await?;
    authorize(&caller, Action::CancelOrder { owner: order.as_ref().map(|o| &o.customer_id) })?;
    let input: CancelInput = json_body(&headers, &body, true)?.unwrap_or_default();
    let command = Command::Cancel { reason: input.reason()? };
    execute(&app, &headers, order_id, command, correlation_id).await
}

pub async fn ship(
    State(app): State<App>,
    Caller(caller): Caller,
    Extension(CorrelationId(correlation_id)): Extension<CorrelationId>,
    id: IdPath,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    authorize(&caller, Action::ShipOrder)?;
    let order_id = parse_id(id)?;
    let input: ShipInput = json_body(&headers, &body, true)?.unwrap_or_default();
    let command = Command::Ship { tracking_number: input.tracking_number()? };
    execute(&app, &headers, order_id, command, correlation_id).await
}

/// Commands from outside answer a lost race with 409 instead of retrying:
/// the caller saw a state that no longer holds.
async fn execute(
    app: &App,
    headers: &HeaderMap,
    order_id: OrderId,
    command: Command,
    correlation_id: String,
) -> Result<Response, Problem> {
    let mut context = CommandContext::new(correlation_id);
    context.expected_version = if_match(headers)?;
    // Decided on this instance's cached state if any; what the cache cannot
    // prove is decided again on a read.
    let outcome = app.orders.execute_from(order_id, &command, &context, RetryPolicy::NONE, Known::Cached).await?;
    Ok(order_view(StatusCode::OK, &outcome.order))
}

fn parse_id(id: IdPath) -> Result<OrderId, Problem> {
    let Ok(Path(id)) = id else { return Err(Problem::invalid_field("id", "must be a UUID")) };
    id.parse().map_err(|_| Problem::invalid_field("id", "must be a UUID"))
}

fn no_order() -> Problem {
    Problem::not_found("no order with this id")
}

fn order_view(status: StatusCode, order: &Order) -> Response {
    let etag = HeaderValue::from_str(&etag(order.version)).expect("digits are a header value");
    (status, [(header::ETAG, etag)], Json(order)).into_response()
}
