//! Every route the API serves, declared once: the router is built from this
//! list, and the tests read the same list to check that the OpenAPI document
//! has each route and each status it can answer.

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::layers::{correlate, limit_body, not_stored, require_json};
use crate::origin::check_origin;
use crate::problem::Problem;
use crate::{catalog, orders, stock, App};

pub struct Route {
    pub method: Method,
    /// The path template, in OpenAPI's (and axum's) `{param}` syntax.
    pub path: &'static str,
    pub statuses: &'static [u16],
}

const READ: &[u16] = &[200, 400, 401, 403, 404, 500, 503];
const COMMAND: &[u16] = &[200, 400, 401, 403, 404, 409, 412, 413, 415, 500, 503];

fn routes() -> Vec<(Route, MethodRouter<App>)> {
    vec![
        route(Method::POST, "/orders", &[201, 400, 401, 403, 409, 413, 415, 422, 500, 503], orders::place),
        route(Method::GET, "/orders/{id}", READ, orders::get),
        route(Method::GET, "/orders/{id}/events", READ, orders::events),
        route(Method::POST, "/orders/{id}/cancel", COMMAND, orders::cancel),
        route(Method::POST, "/orders/{id}/ship", COMMAND, orders::ship),
        route(Method::GET, "/inventory/{sku}", READ, stock::get),
        route(Method::PUT, "/inventory/{sku}", &[200, 400, 401, 403, 413, 415, 500, 503], stock::set),
        route(Method::GET, "/catalog/{sku}", &[200, 400, 403, 404, 500, 503], catalog::get),
        route(Method::PUT, "/catalog/{sku}", &[200, 400, 401, 403, 413, 415, 500, 503], catalog::set),
    ]
}

fn route<H, T>(method: Method, path: &'static str, statuses: &'static [u16], handler: H) -> (Route, MethodRouter<App>)
where
    H: Handler<T, App>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method the router can filter on");
    (Route { method, path, statuses }, on(filter, handler))
}

/// The routes, for the tests and the OpenAPI check.
pub fn table() -> Vec<Route> {
    routes().into_iter().map(|(route, _)| route).collect()
}

/// The whole API: the same router answers API Gateway's requests in Lambda
/// (through `lambda_http`) and plain HTTP in the local runner.
pub fn router(app: App) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (route, handler)| router.route(route.path, handler))
        .fallback(no_route)
        .method_not_allowed_fallback(no_method)
        .layer(from_fn(require_json))
        .layer(from_fn(limit_body))
        .layer(from_fn_with_state(app.clone(), check_origin))
        .layer(from_fn(correlate))
        .layer(from_fn(not_stored))
        .with_state(app)
}

async fn no_route(State(_): State<App>, request: Request) -> Problem {
    Problem::not_found(format!("no route {} {}", request.method(), request.uri().path()))
}

async fn no_method(State(_): State<App>, request: Request) -> Problem {
    Problem::method_not_allowed(format!("{} does not answer {}", request.uri().path(), request.method()))
}
