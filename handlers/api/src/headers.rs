//! The request headers the API honours.

use axum::http::HeaderMap;

use crate::problem::Problem;

pub const CORRELATION_ID: &str = "x-correlation-id";
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
pub const IF_MATCH: &str = "if-match";

/// Visible ASCII only, so the value is safe in logs and response headers.
fn token(headers: &HeaderMap, name: &str, max: usize) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    match value.to_str() {
        Ok(s) if !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(s.to_owned())),
        _ => Err(Problem::invalid_field(name, format!("must be 1 to {max} visible ASCII characters"))),
    }
}

/// `X-Correlation-Id` as sent, or a new one: echoed and carried into events.
pub fn correlation_id(headers: &HeaderMap) -> Result<String, Problem> {
    Ok(token(headers, CORRELATION_ID, 128)?.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()))
}

pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    token(headers, IDEMPOTENCY_KEY, 255)
}

/// `If-Match: "<version>"` (our ETags are strong); `*` matches any order.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u32>, Problem> {
    let Some(value) = token(headers, IF_MATCH, 64)? else { return Ok(None) };
    if value == "*" {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<u32>().ok())
        .map(Some)
        .ok_or_else(|| Problem::invalid_field(IF_MATCH, "must be an ETag of this API, such as \"3\""))
}

pub fn etag(version: u32) -> String {
    format!("\"{version}\"")
}
