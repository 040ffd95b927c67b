//! The route table: every route the API serves and every status it can
//! answer. Tests check that the OpenAPI document has each of them, and that
//! every status a test observes is listed here.

use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};

use crate::problem::Problem;
use crate::{orders, stock, App};

pub struct Route {
    pub method: Method,
    /// OpenAPI path template.
    pub path: &'static str,
    pub statuses: &'static [u16],
}

const READ: &[u16] = &[200, 400, 404, 500, 503];
const COMMAND: &[u16] = &[200, 400, 404, 409, 412, 413, 415, 500, 503];

pub fn table() -> Vec<Route> {
    vec![
        Route { method: Method::POST, path: "/orders", statuses: &[201, 400, 409, 413, 415, 422, 500, 503] },
        Route { method: Method::GET, path: "/orders/{id}", statuses: READ },
        Route { method: Method::GET, path: "/orders/{id}/events", statuses: READ },
        Route { method: Method::POST, path: "/orders/{id}/cancel", statuses: COMMAND },
        Route { method: Method::POST, path: "/orders/{id}/ship", statuses: COMMAND },
        Route { method: Method::GET, path: "/inventory/{sku}", statuses: READ },
        Route { method: Method::PUT, path: "/inventory/{sku}", statuses: &[200, 400, 413, 415, 500, 503] },
    ]
}

/// The route a method and path match, with the path's `{id}` or `{sku}`.
pub fn find<'p>(method: &Method, path: &'p str) -> Option<(Route, Option<&'p str>)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let (template, id) = match segments.as_slice() {
        ["orders"] => ("/orders", None),
        ["orders", id] => ("/orders/{id}", Some(*id)),
        ["orders", id, "events"] => ("/orders/{id}/events", Some(*id)),
        ["orders", id, "cancel"] => ("/orders/{id}/cancel", Some(*id)),
        ["orders", id, "ship"] => ("/orders/{id}/ship", Some(*id)),
        ["inventory", sku] => ("/inventory/{sku}", Some(*sku)),
        _ => return None,
    };
    let route = table().into_iter().find(|r| r.path == template && r.method == method)?;
    Some((route, id))
}

pub async fn route(app: &App, request: Request, correlation_id: &str) -> Result<Response<Body>, Problem> {
    let path = request.uri().path().to_owned();
    let Some((route, id)) = find(request.method(), &path) else {
        return Err(Problem::not_found(format!("no route {} {path}", request.method())));
    };
    let response = match (route.path, id) {
        ("/orders", _) => orders::place(app, &request, correlation_id).await?,
        ("/orders/{id}", Some(id)) => orders::get(app, id).await?,
        ("/orders/{id}/events", Some(id)) => orders::events(app, id).await?,
        ("/orders/{id}/cancel", Some(id)) => orders::cancel(app, &request, id, correlation_id).await?,
        ("/orders/{id}/ship", Some(id)) => orders::ship(app, &request, id, correlation_id).await?,
        ("/inventory/{sku}", Some(sku)) if route.method == Method::GET => stock::get(app, sku).await?,
        ("/inventory/{sku}", Some(sku)) => stock::set(app, &request, sku).await?,
        _ => unreachable!("find returns only the routes above"),
    };
    Ok(with_correlation_id(response, correlation_id))
}

fn with_correlation_id(mut response: Response<Body>, correlation_id: &str) -> Response<Body> {
    if let Ok(value) = correlation_id.parse() {
        response.headers_mut().insert(crate::headers::CORRELATION_ID, value);
    }
    response
}
