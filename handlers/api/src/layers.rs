//! The layers every route runs behind, outermost first: [`not_stored`]
//! (no cache keeps an answer the handler did not mark as shareable),
//! [`correlate`] (the correlation id, the request's span and log line),
//! [`check_origin`](crate::origin::check_origin) (only through CloudFront,
//! when the API is behind it), [`limit_body`] (413) and [`require_json`]
//! (415). The handlers then read a body that is known to be small enough and
//! JSON by its media type.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::RequestExt;
use tracing::Instrument;

use crate::body::{is_json, media_type, MAX_BODY_BYTES};
use crate::headers::{self, CORRELATION_ID};
use crate::problem::Problem;

/// Answers are a caller's own (an order, its stock, a refusal), so no
/// browser or CloudFront cache may keep one: `Cache-Control: no-store`
/// unless the handler set its own (the public catalog's).
pub async fn not_stored(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.headers().contains_key(header::CACHE_CONTROL) {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The request's correlation id, as the handlers read it.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

/// Takes `X-Correlation-Id` (or makes one), runs the request in a span with
/// it and the X-Ray trace id, and echoes it on every answer.
pub async fn correlate(mut request: Request, next: Next) -> Response {
    let correlation_id = match headers::correlation_id(request.headers()) {
        Ok(id) => id,
        Err(problem) => return with_correlation_id(problem.into_response(), &uuid::Uuid::new_v4().to_string()),
    };
    let xray_trace_id = request
        .lambda_context_ref()
        .and_then(|c| c.xray_trace_id.clone())
        .or_else(telemetry::xray_trace_id)
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        function = "api",
        %correlation_id,
        %xray_trace_id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    request.extensions_mut().insert(CorrelationId(correlation_id.clone()));
    async move {
        let response = next.run(request).await;
        tracing::info!(status = response.status().as_u16(), "served");
        with_correlation_id(response, &correlation_id)
    }
    .instrument(span)
    .await
}

fn with_correlation_id(mut response: Response, correlation_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(correlation_id) {
        response.headers_mut().insert(CORRELATION_ID, value);
    }
    response
}

/// Reads the whole body, refusing one over [`MAX_BODY_BYTES`] with a 413.
pub async fn limit_body(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(error) if is_length_limit(&error) => Problem::too_large(MAX_BODY_BYTES).into_response(),
        Err(_) => Problem::malformed_json("the request body could not be read").into_response(),
    }
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = e.source();
    }
    false
}

/// A body sent with a command must say it is JSON (an empty one may not:
/// the routes whose body is optional take none).
pub async fn require_json(request: Request, next: Next) -> Response {
    let sends_body = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH);
    let empty = http_body::Body::size_hint(request.body()).exact() == Some(0);
    let media_type = media_type(request.headers());
    if sends_body && !empty && !is_json(media_type) {
        return Problem::unsupported_media_type(media_type).into_response();
    }
    next.run(request).await
}
