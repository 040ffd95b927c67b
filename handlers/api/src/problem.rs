//! RFC 9457 problem details: the only error shape the API answers with.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use commands::CommandError;
use domain::access::Refusal;
use domain::ports::StoreError;
use domain::{CatalogError, DomainError, OrderRequest, PricingRefusal};
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// One invalid field of a request, named by its JSON path (`lines[2].sku`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldError {
    pub field: String,
    pub message: String,
    /// On `price-changed`: the catalog's price now, for the page to show
    /// and ask again with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_price_cents: Option<u64>,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { field: field.into(), message: message.into(), current_price_cents: None }
    }
}

#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// `WWW-Authenticate` of a 401.
    #[serde(skip)]
    pub challenge: Option<&'static str>,
    /// `Retry-After` of a 503, when it is known when to come back: seconds,
    /// not a `Duration`, so that a `Problem` (the `Err` of many results)
    /// stays small.
    #[serde(skip)]
    pub retry_after: Option<u32>,
}

/// How soon, in seconds, an instance that met an event of a newer build
/// asks to be asked again: the consumers deploy all at once within a
/// minute, the API shifts to its new version over its 5-minute canary
/// (docs/deploy.md, "Safe deploys"), so a retry then is likely to meet an
/// upgraded instance.
pub const NEWER_BUILD_RETRY_AFTER_SECONDS: u32 = 30;

impl Problem {
    fn new(status: StatusCode, slug: &str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            problem_type: format!("/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            challenge: None,
            retry_after: None,
        }
    }

    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        Problem { errors, ..Problem::new(StatusCode::BAD_REQUEST, "invalid-request", "Invalid request", detail) }
    }

    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Problem::invalid(vec![FieldError::new(field, message)])
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::BAD_REQUEST, "malformed-json", "Malformed JSON body", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let problem = Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail);
        Problem { challenge: Some("Bearer"), ..problem }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// A service placing an order without `customerId`: the body is what the
    /// document allows (a customer may leave it out), but a service must say
    /// whose order it is.
    pub fn customer_required() -> Self {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "customer-required",
            "Customer required",
            "customerId: a service must name the customer it places the order for",
        )
    }

    /// A path the API serves, with a method it does not (the router adds
    /// `Allow`).
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed", detail)
    }

    pub fn too_large(limit: usize) -> Self {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Request body too large",
            format!("the body must be at most {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(got: &str) -> Self {
        Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            format!("the body must be application/json, not {got:?}"),
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable", detail)
    }

    /// The order holds an event of a `schemaVersion` newer than this
    /// instance reads: a newer build wrote it during a rolling deployment,
    /// and an upgraded instance will read it. Not corruption, and not the
    /// caller's fault: retry after [`NEWER_BUILD_RETRY_AFTER_SECONDS`].
    pub fn newer_build(detail: impl Into<String>) -> Self {
        let problem =
            Problem::new(StatusCode::SERVICE_UNAVAILABLE, "deployment-in-progress", "Deployment in progress", detail);
        Problem { retry_after: Some(NEWER_BUILD_RETRY_AFTER_SECONDS), ..problem }
    }
}

impl Problem {
    /// Why the catalog refused `request` (DESIGN.md's `POST /orders`
    /// refusals), each line named by its JSON path.
    pub fn pricing(refusal: PricingRefusal, request: &OrderRequest) -> Self {
        let sku = |i: usize| request.lines[i].sku.as_str();
        let field = |i: usize, name: &str| format!("lines[{i}].{name}");
        let (status, slug, title, errors): (_, _, _, Vec<FieldError>) = match refusal {
            PricingRefusal::UnknownSku { lines } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-sku",
                "Unknown SKU",
                lines
                    .into_iter()
                    .map(|i| FieldError::new(field(i, "sku"), format!("{} is not for sale", sku(i))))
                    .collect(),
            ),
            PricingRefusal::CurrencyMismatch { currency, lines } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "currency-mismatch",
                "Currency mismatch",
                lines
                    .into_iter()
                    .map(|(i, priced_in)| {
                        let message =
                            format!("{} is priced in {}, not {}", sku(i), priced_in.as_str(), currency.as_str());
                        FieldError::new(
                            if request.currency.is_some() { "currency".to_owned() } else { field(i, "sku") },
                            message,
                        )
                    })
                    .collect(),
            ),
            PricingRefusal::LimitExceeded { lines } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "limit-exceeded",
                "Purchase limit exceeded",
                lines
                    .into_iter()
                    .map(|(i, allowed)| {
                        FieldError::new(field(i, "quantity"), format!("at most {allowed} of {} per customer", sku(i)))
                    })
                    .collect(),
            ),
            PricingRefusal::PriceChanged { lines } => (
                StatusCode::CONFLICT,
                "price-changed",
                "Price changed",
                lines
                    .into_iter()
                    .map(|(i, current)| FieldError {
                        current_price_cents: Some(current),
                        ..FieldError::new(
                            field(i, "unitPriceCents"),
                            format!("the price of {} is now {current}", sku(i)),
                        )
                    })
                    .collect(),
            ),
        };
        let detail = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; ");
        Problem { errors, ..Problem::new(status, slug, title, format!("{detail}; nothing was stored")) }
    }
}

impl From<CatalogError> for Problem {
    fn from(error: CatalogError) -> Self {
        tracing::error!(%error, "catalog error");
        match error {
            CatalogError::Corrupt(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "a catalog item could not be read",
            ),
            CatalogError::Unavailable(_) => Problem::unavailable("the catalog did not answer; retry later"),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).expect("valid status");
        let body = serde_json::to_string(&self).expect("problems serialize");
        let mut response =
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))], body).into_response();
        if let Some(challenge) = self.challenge {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(retry_after) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        response
    }
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Forbidden => Problem::forbidden("the token does not allow this"),
            Refusal::NotYours => Problem::not_found("no order with this id"),
            Refusal::NamesBasket => Problem::forbidden(refusal.to_string()),
        }
    }
}

impl From<FieldError> for Problem {
    fn from(error: FieldError) -> Self {
        Problem::invalid(vec![error])
    }
}

impl From<CommandError> for Problem {
    fn from(error: CommandError) -> Self {
        match error {
            CommandError::Domain(DomainError::NotFound) => Problem::not_found("no order with this id"),
            CommandError::Domain(e @ DomainError::AlreadyPlacedDifferently) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                "Idempotency-Key reused with another body",
                format!("{e}: this Idempotency-Key was first used with a different order"),
            ),
            CommandError::Domain(e @ DomainError::NotAllowed { .. }) => {
                Problem::new(StatusCode::CONFLICT, "not-allowed-in-state", "Not allowed in this state", e.to_string())
            }
            CommandError::Concurrency => Problem::new(
                StatusCode::CONFLICT,
                "concurrent-change",
                "Concurrent change",
                "the order was changed by another request at the same time; read it again and retry",
            ),
            e @ CommandError::VersionMismatch { .. } => Problem::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition-failed",
                "Precondition failed",
                format!("If-Match: {e}"),
            ),
            CommandError::Store(e) => e.into(),
        }
    }
}

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        tracing::error!(%error, "event store error");
        match error {
            StoreError::Corrupt(_) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the order's history could not be read",
            ),
            StoreError::Unavailable(_) | StoreError::Conflict { .. } => {
                Problem::unavailable("the event store did not answer; retry later")
            }
            StoreError::NewerThanBuild(newer) => Problem::newer_build(format!(
                "the order's history holds an event of a newer version than this instance reads ({newer}): \
                 a deployment is under way; retry later"
            )),
        }
    }
}
