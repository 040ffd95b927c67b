//! Reading a JSON body. Size and media type were checked by the layers in
//! [`crate::layers`]; here come syntax, then types, each with its own problem.

use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use serde::de::{self, Deserialize, DeserializeOwned, Deserializer, Visitor};

use crate::problem::{FieldError, Problem};

pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The body as `T`; `None` when the body is empty and `optional`.
pub fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &Bytes,
    optional: bool,
) -> Result<Option<T>, Problem> {
    if bytes.is_empty() {
        if optional {
            return Ok(None);
        }
        let media_type = media_type(headers);
        if !is_json(media_type) {
            return Err(Problem::unsupported_media_type(media_type));
        }
        return Err(Problem::malformed_json("the body is empty; a JSON object is required"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| type_error(&e))?;
    deserializer.end().map_err(|e| Problem::malformed_json(e.to_string()))?;
    Ok(Some(value))
}

pub fn media_type(headers: &HeaderMap) -> &str {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("")
}

pub fn is_json(media_type: &str) -> bool {
    let essence = media_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are "malformed"; type errors name the field they are in.
fn type_error(error: &serde_path_to_error::Error<serde_json::Error>) -> Problem {
    let inner = error.inner();
    if inner.is_syntax() || inner.is_eof() {
        return Problem::malformed_json(inner.to_string());
    }
    let path = error.path().to_string();
    let message = inner.to_string();
    // serde reports a missing field at its parent: name the field itself.
    let field = missing_field(&message)
        .map(|name| if path == "." { name.to_owned() } else { format!("{path}.{name}") })
        .unwrap_or(if path == "." { "body".to_owned() } else { path });
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    Problem::invalid(vec![FieldError::new(field, message)])
}

fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// An integer field as JSON Schema's `integer` defines it: any number with
/// no fractional part, so `3.0` is the integer 3 (the OpenAPI document says
/// `integer`, and clients that only have floats send such numbers).
pub fn whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    deserializer.deserialize_any(WholeNumber)
}

struct WholeNumber;

impl Visitor<'_> for WholeNumber {
    type Value = i64;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i64, E> {
        Ok(value)
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i64, E> {
        // Beyond i64 is beyond every limit: saturate, and the range check
        // names the field.
        Ok(i64::try_from(value).unwrap_or(i64::MAX))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<i64, E> {
        if value.fract() != 0.0 || !value.is_finite() {
            return Err(E::invalid_type(de::Unexpected::Float(value), &self));
        }
        // `as` saturates, which the range check then reports.
        Ok(value as i64)
    }
}

/// An optional field which, when sent, must hold a value: the document does
/// not declare these fields nullable, so `null` is refused, not read as
/// "left out". Used with `#[serde(default)]`.
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// An optional [`whole_number`]: left out is `None`, `null` is refused as
/// with [`present`]. Used with `#[serde(default)]`.
pub fn optional_whole_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    whole_number(deserializer).map(Some)
}
