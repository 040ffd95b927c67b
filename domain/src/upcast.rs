//! Every version ever written stays readable. Each event type has its own
//! `schemaVersion` ([`EventType::schema_version`]), bumped only by a
//! breaking change to its `data`. An event written at an older version is
//! read through a chain of pure steps on its `data` JSON, `v1 → v2 → … →
//! current`, when the envelope is read ([`crate::Envelope::from_json`]): the
//! event store's loads and every consumer's messages get current events,
//! and the stored log is never rewritten. The step back from a bumped type's
//! current version to the previous one is here too: the publisher sends
//! that version as well while subscribers migrate.
//!
//! A step works on JSON, not on the Rust types: the types follow the
//! current version, a step must keep meaning what it meant when it was
//! written. Fields a step does not know pass through untouched, so a field
//! added later (additive, same version) survives it.

use serde_json::{Map, Value};

use crate::event::EventType;

/// An event's `data`.
pub type Data = Map<String, Value>;

/// One step: `data` of one version to the next (or the previous) one.
type Step = fn(Data) -> Result<Data, serde_json::Error>;

/// `(type, from, step)`: the step from version `from` to `from + 1`.
const UPCASTERS: &[(EventType, u32, Step)] = &[];

/// `(type, from, step)`: the step from version `from` to `from - 1`.
const DOWNCASTERS: &[(EventType, u32, Step)] = &[];

#[derive(Debug, thiserror::Error)]
pub enum UpcastError {
    /// Written by a newer build: this one cannot know what it means. A
    /// consumer dead-letters it; redriven after the upgrade, it is read.
    #[error("schemaVersion {version} of {event_type} is newer than this build (reads up to {current})")]
    NewerThanBuild { event_type: EventType, version: u32, current: u32 },
    #[error("schemaVersion {version} of {event_type} was never written (this build reads 1 to {current})")]
    NoSuchVersion { event_type: EventType, version: u32, current: u32 },
    /// Neither the current version nor one the steps back reach.
    #[error("this build does not write schemaVersion {version} of {event_type} (its current one is {current})")]
    NotWritten { event_type: EventType, version: u32, current: u32 },
    #[error("{event_type} data of schemaVersion {from} does not convert to {to}: {source}")]
    Step {
        event_type: EventType,
        from: u32,
        to: u32,
        #[source]
        source: serde_json::Error,
    },
}

fn step(table: &[(EventType, u32, Step)], event_type: EventType, from: u32) -> Option<Step> {
    table.iter().find(|(t, f, _)| *t == event_type && *f == from).map(|(_, _, step)| *step)
}

/// Whether `event_type`'s `data` of `from_version` can be read as
/// `from_version + 1`: the compatibility gate lets a breaking change through
/// only when this holds for the previous version.
pub fn upcaster_exists(event_type: EventType, from_version: u32) -> bool {
    step(UPCASTERS, event_type, from_version).is_some()
}

/// `data` written at `version`, as the type's current version.
pub fn upcast(event_type: EventType, version: u32, mut data: Data) -> Result<Data, UpcastError> {
    let current = event_type.schema_version();
    if version > current {
        return Err(UpcastError::NewerThanBuild { event_type, version, current });
    }
    if version == 0 {
        return Err(UpcastError::NoSuchVersion { event_type, version, current });
    }
    for from in version..current {
        let up =
            step(UPCASTERS, event_type, from).ok_or(UpcastError::NoSuchVersion { event_type, version, current })?;
        data = up(data).map_err(|source| UpcastError::Step { event_type, from, to: from + 1, source })?;
    }
    Ok(data)
}

/// `data` of the type's current version, as `version`: the current one, or
/// an earlier one the steps back reach.
pub fn downcast(event_type: EventType, version: u32, mut data: Data) -> Result<Data, UpcastError> {
    let current = event_type.schema_version();
    if version > current || version == 0 {
        return Err(UpcastError::NotWritten { event_type, version, current });
    }
    for from in (version + 1..=current).rev() {
        let down =
            step(DOWNCASTERS, event_type, from).ok_or(UpcastError::NotWritten { event_type, version, current })?;
        data = down(data).map_err(|source| UpcastError::Step { event_type, from, to: from - 1, source })?;
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every version of every type reads as the current one: the chain
    /// from version 1 has no gap.
    #[test]
    fn every_version_since_the_first_has_its_step_up() {
        for event_type in EventType::ALL {
            for from in 1..event_type.schema_version() {
                assert!(upcaster_exists(event_type, from), "{event_type}: no upcaster from {from}");
            }
        }
    }

    #[test]
    fn a_version_newer_than_the_build_says_so() {
        for event_type in EventType::ALL {
            let current = event_type.schema_version();
            let error = upcast(event_type, current + 1, Data::new()).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "schemaVersion {} of {event_type} is newer than this build (reads up to {current})",
                    current + 1
                )
            );
        }
    }

    #[test]
    fn version_zero_was_never_written() {
        let error = upcast(EventType::OrderPlaced, 0, Data::new()).unwrap_err();
        assert!(matches!(error, UpcastError::NoSuchVersion { version: 0, .. }), "{error}");
    }

    /// The current version goes through untouched, unknown fields included.
    #[test]
    fn the_current_version_is_read_as_it_is() {
        for event_type in EventType::ALL {
            let data: Data = serde_json::from_str(r#"{"addedLater":{"any":"thing"}}"#).unwrap();
            assert_eq!(upcast(event_type, event_type.schema_version(), data.clone()).unwrap(), data);
            assert_eq!(downcast(event_type, event_type.schema_version(), data.clone()).unwrap(), data);
        }
    }

    #[test]
    fn no_version_newer_than_the_build_is_written() {
        let current = EventType::OrderPlaced.schema_version();
        let error = downcast(EventType::OrderPlaced, current + 1, Data::new()).unwrap_err();
        assert!(matches!(error, UpcastError::NotWritten { .. }), "{error}");
    }
}
