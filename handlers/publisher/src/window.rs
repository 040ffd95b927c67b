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
use domain::upcast::SchemaVersions;

use crate::decode::DecodedEvent;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PreviousVersionWindow {
    /// When the window closes; `None`: closed.
    until: Option<DateTime<Utc>>,
    /// The versions the publisher reads and writes: this build's, unless a
    /// test runs the publisher of an earlier build ([`Self::in_build`]).
    build: SchemaVersions,
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
    pub const CLOSED: PreviousVersionWindow = PreviousVersionWindow { until: None, build: SchemaVersions::current() };

    /// Open until `until`.
    pub fn until(until: DateTime<Utc>) -> Self {
        PreviousVersionWindow { until: Some(until), ..Self::CLOSED }
    }

    /// The same window in a publisher of the build at `build`: it reads
    /// events up to `build`'s versions and sends each at its type's version
    /// there (a test's publisher of the build before a bump).
    pub fn in_build(self, build: SchemaVersions) -> Self {
        PreviousVersionWindow { build, ..self }
    }

    /// The versions the publisher reads and writes.
    pub fn build(&self) -> SchemaVersions {
        self.build
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

    /// What goes to the topic for one stored event at `now`: the build's
    /// version, and while the window is open the previous one of a type
    /// whose version was bumped.
    pub fn messages(&self, event: &DecodedEvent, now: DateTime<Utc>) -> Vec<OutgoingMessage> {
        let current = self.build.of(event.envelope.event_type());
        let stored = |version| {
            OutgoingMessage::at_version_by(
                self.build,
                &event.envelope,
                event.stored_json.clone(),
                event.stored_version,
                event.lane,
                version,
            )
        };
        let mut messages = vec![stored(current).expect("an envelope always writes its build's version")];
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

    /// A publisher of the build before OrderRejected's bump sends it at 1
    /// only, with no `downcastFrom` (the platform's subscriptions would drop
    /// it), window or not: that build had no version to go down to.
    #[test]
    fn a_publisher_of_the_previous_build_sends_its_own_version_alone() {
        use contract::message::{DOWNCAST_FROM, SCHEMA_VERSION_ATTRIBUTE};
        use contract::MessageAttribute;

        let stored = r#"{"eventId":"0193b0a4-7c1e-7a11-9a43-2a1d3c4e5f60","eventType":"OrderRejected","schemaVersion":1,"orderId":"8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01","version":2,"occurredAt":"2026-11-27T09:00:00.123Z","correlationId":"c-1","causationId":"e-1","data":{"reason":"insufficient stock","unavailable":[]}}"#;
        let (envelope, stored_version) = domain::Envelope::read(stored).unwrap();
        let event =
            DecodedEvent { envelope, stored_json: stored.to_owned(), stored_version, lane: domain::Lane::Standard };
        let open = PreviousVersionWindow::until(at("2999-01-01T00:00:00Z"));
        let now = at("2027-01-01T00:00:00Z");

        let previous = open.in_build(SchemaVersions::previous()).messages(&event, now);
        assert_eq!(previous.len(), 1);
        assert_eq!(previous[0].body, stored, "the stored bytes");
        assert_eq!(previous[0].attributes.get(SCHEMA_VERSION_ATTRIBUTE), Some(&MessageAttribute::Number("1".into())));
        assert!(!previous[0].attributes.contains_key(DOWNCAST_FROM));

        let current = open.messages(&event, now);
        let versions: Vec<_> = current
            .iter()
            .map(|m| (m.attributes[SCHEMA_VERSION_ATTRIBUTE].string_value(), m.attributes.get(DOWNCAST_FROM).cloned()))
            .collect();
        assert_eq!(versions, [("2".into(), None), ("1".into(), Some(MessageAttribute::Number("2".into())))]);
    }

    #[test]
    fn empty_is_closed_and_anything_else_is_refused() {
        assert_eq!(PreviousVersionWindow::parse(" ").unwrap(), PreviousVersionWindow::CLOSED);
        assert!(!PreviousVersionWindow::CLOSED.is_open(at("2000-01-01T00:00:00Z")));
        let error = PreviousVersionWindow::parse("March 2027").unwrap_err();
        assert!(error.to_string().contains("PUBLISH_PREVIOUS_VERSION_UNTIL must be an RFC 3339 date"), "{error}");
    }
}
