//! The previous-version window (`PUBLISH_PREVIOUS_VERSION_UNTIL`): after a
//! breaking change bumps an event type's `schemaVersion`, subscribers move
//! to the new version at their own pace. Until the window closes, an event
//! of a bumped type goes to the topic twice, with the same `eventId`: at its
//! current version, and down-cast to the previous one with that version's
//! `schemaVersion` attribute (and `downcastFrom`). A subscriber filtering on
//! `schemaVersion` gets exactly one of them; the platform's own consumers
//! skip the down-cast copy (`contract::subscription`).

use chrono::{DateTime, NaiveDate, Utc};
use contract::message::OutgoingMessage;

use crate::decode::DecodedEvent;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreviousVersionWindow {
    /// When the window closes; `None`: closed.
    until: Option<DateTime<Utc>>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "{} must be an RFC 3339 date (2027-03-01, the window closing at its midnight UTC) or date-time, not {value:?}",
    contract::config::PUBLISH_PREVIOUS_VERSION_UNTIL
)]
pub struct WindowError {
    value: String,
    #[source]
    source: chrono::ParseError,
}

impl PreviousVersionWindow {
    /// Only the current version of every type is published.
    pub const CLOSED: PreviousVersionWindow = PreviousVersionWindow { until: None };

    /// Open until `until`.
    pub fn until(until: DateTime<Utc>) -> Self {
        PreviousVersionWindow { until: Some(until) }
    }

    /// A date (the window closes at its midnight UTC) or a date-time;
    /// empty: closed.
    pub fn parse(value: &str) -> Result<Self, WindowError> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Self::CLOSED);
        }
        let until = match NaiveDate::parse_from_str(value, "%Y-%m-%d") {
            Ok(date) => date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc(),
            Err(_) => DateTime::parse_from_rfc3339(value)
                .map_err(|source| WindowError { value: value.to_owned(), source })?
                .with_timezone(&Utc),
        };
        Ok(Self::until(until))
    }

    /// From `PUBLISH_PREVIOUS_VERSION_UNTIL`; unset: closed.
    pub fn from_env() -> Result<Self, WindowError> {
        std::env::var(contract::config::PUBLISH_PREVIOUS_VERSION_UNTIL).map_or(Ok(Self::CLOSED), |v| Self::parse(&v))
    }

    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.until.is_some_and(|until| now < until)
    }

    /// What goes to the topic for one stored event at `now`: the current
    /// version, and while the window is open the previous one of a type
    /// whose version was bumped.
    pub fn messages(&self, event: &DecodedEvent, now: DateTime<Utc>) -> Vec<OutgoingMessage> {
        let current = event.envelope.event_type().schema_version();
        let stored = |version| {
            OutgoingMessage::at_version(
                &event.envelope,
                event.stored_json.clone(),
                event.stored_version,
                event.lane,
                version,
            )
        };
        let mut messages = vec![stored(current).expect("an envelope always writes its type's current version")];
        if self.is_open(now) && domain::upcast::downcaster_exists(event.envelope.event_type(), current) {
            messages.push(stored(current - 1).expect("a down-cast the chain has"));
        }
        messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_date_closes_the_window_at_its_midnight_utc() {
        let window = PreviousVersionWindow::parse("2027-03-01").unwrap();
        assert!(window.is_open(at("2027-02-28T23:59:59.999Z")));
        assert!(!window.is_open(at("2027-03-01T00:00:00Z")));
    }

    #[test]
    fn a_date_time_closes_it_then() {
        let window = PreviousVersionWindow::parse("2027-03-01T12:00:00+01:00").unwrap();
        assert!(window.is_open(at("2027-03-01T10:59:59Z")));
        assert!(!window.is_open(at("2027-03-01T11:00:00Z")));
    }

    #[test]
    fn empty_is_closed_and_anything_else_is_refused() {
        assert_eq!(PreviousVersionWindow::parse(" ").unwrap(), PreviousVersionWindow::CLOSED);
        assert!(!PreviousVersionWindow::CLOSED.is_open(at("2000-01-01T00:00:00Z")));
        let error = PreviousVersionWindow::parse("March 2027").unwrap_err();
        assert!(error.to_string().contains("PUBLISH_PREVIOUS_VERSION_UNTIL must be an RFC 3339 date"), "{error}");
    }
}
