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
const UPCASTERS: &[(EventType, u32, Step)] = &[(EventType::OrderRejected, 1, order_rejected::v1_to_v2)];

/// `(type, from, step)`: the step from version `from` to `from - 1`.
const DOWNCASTERS: &[(EventType, u32, Step)] = &[(EventType::OrderRejected, 2, order_rejected::v2_to_v1)];

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

/// Whether `event_type`'s `data` of `from_version` can be written as
/// `from_version - 1`.
pub fn downcaster_exists(event_type: EventType, from_version: u32) -> bool {
    step(DOWNCASTERS, event_type, from_version).is_some()
}

/// The `schemaVersion` of each event type a build reads up to and writes.
/// This build's is [`SchemaVersions::current`]. An earlier build's is what
/// a test needs to run both sides of a rolling deployment in one process:
/// a publisher or consumer built with [`SchemaVersions::previous`] meets
/// this build's events exactly as the build before the last bump did
/// (newer than it can read) and writes what that build wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SchemaVersions {
    /// In the order of [`EventType::ALL`].
    versions: [u32; EventType::ALL.len()],
}

impl SchemaVersions {
    /// This build's: each type at its [`EventType::schema_version`].
    pub const fn current() -> Self {
        let mut versions = [0; EventType::ALL.len()];
        let mut i = 0;
        while i < versions.len() {
            versions[i] = EventType::ALL[i].schema_version();
            i += 1;
        }
        SchemaVersions { versions }
    }

    /// The build's before each type's last bump: a type this build still
    /// writes the previous version of (the previous-version window's
    /// down-cast) at that version, every other type at its current one.
    pub fn previous() -> Self {
        SchemaVersions {
            versions: EventType::ALL.map(|event_type| {
                let current = event_type.schema_version();
                if downcaster_exists(event_type, current) {
                    current - 1
                } else {
                    current
                }
            }),
        }
    }

    /// The version of `event_type` this build reads up to and writes.
    pub fn of(&self, event_type: EventType) -> u32 {
        let index = EventType::ALL.iter().position(|t| *t == event_type).expect("every type is in ALL");
        self.versions[index]
    }
}

impl Default for SchemaVersions {
    fn default() -> Self {
        Self::current()
    }
}

/// `data` written at `version`, as the type's current version.
pub fn upcast(event_type: EventType, version: u32, data: Data) -> Result<Data, UpcastError> {
    upcast_by(SchemaVersions::current(), event_type, version, data)
}

/// [`upcast`] in a build that reads `build`'s versions: a version above its
/// own is [`UpcastError::NewerThanBuild`], as that build says it.
pub fn upcast_by(
    build: SchemaVersions,
    event_type: EventType,
    version: u32,
    mut data: Data,
) -> Result<Data, UpcastError> {
    let reads_up_to = build.of(event_type);
    if version > reads_up_to {
        return Err(UpcastError::NewerThanBuild { event_type, version, current: reads_up_to });
    }
    let current = event_type.schema_version();
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

/// The versions of `event_type` this build writes, newest first: the
/// current one, and the earlier ones the steps back reach.
pub fn written_versions(event_type: EventType) -> Vec<u32> {
    let current = event_type.schema_version();
    let mut versions = vec![current];
    while let Some(&oldest) = versions.last() {
        if !downcaster_exists(event_type, oldest) {
            break;
        }
        versions.push(oldest - 1);
    }
    versions
}

/// OrderRejected 1 → 2: `unavailable` (`{sku, requested, available}`) and
/// `limits` (`{sku, requested, allowed}`, additive in version 1: absent
/// when empty) become `shortages` (`{kind, sku, requested, available}`),
/// the stock lines first; a limit line's `available` is its `allowed`.
mod order_rejected {
    use serde::{Deserialize, Serialize};

    use super::Data;

    /// Version 1's line of `unavailable`.
    #[derive(Deserialize, Serialize)]
    struct Unavailable {
        sku: String,
        requested: u32,
        available: u64,
    }

    /// Version 1's line of `limits`.
    #[derive(Deserialize, Serialize)]
    struct OverLimit {
        sku: String,
        requested: u32,
        allowed: u32,
    }

    /// Version 2's line of `shortages`.
    #[derive(Deserialize, Serialize)]
    struct Shortage {
        kind: Kind,
        sku: String,
        requested: u32,
        available: u64,
    }

    #[derive(Deserialize, Serialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Stock,
        Limit,
    }

    /// The list `data` holds at `key` (absent: empty), taken out of it.
    fn take<T: serde::de::DeserializeOwned>(data: &mut Data, key: &str) -> Result<Vec<T>, serde_json::Error> {
        data.remove(key).map_or(Ok(Vec::new()), serde_json::from_value)
    }

    pub(super) fn v1_to_v2(mut data: Data) -> Result<Data, serde_json::Error> {
        if !data.contains_key("unavailable") {
            return Err(serde::de::Error::missing_field("unavailable"));
        }
        let unavailable: Vec<Unavailable> = take(&mut data, "unavailable")?;
        let limits: Vec<OverLimit> = take(&mut data, "limits")?;
        let stock = unavailable.into_iter().map(|l| Shortage {
            kind: Kind::Stock,
            sku: l.sku,
            requested: l.requested,
            available: l.available,
        });
        let limit = limits.into_iter().map(|l| Shortage {
            kind: Kind::Limit,
            sku: l.sku,
            requested: l.requested,
            available: u64::from(l.allowed),
        });
        data.insert("shortages".into(), serde_json::to_value(stock.chain(limit).collect::<Vec<_>>())?);
        Ok(data)
    }

    pub(super) fn v2_to_v1(mut data: Data) -> Result<Data, serde_json::Error> {
        if !data.contains_key("shortages") {
            return Err(serde::de::Error::missing_field("shortages"));
        }
        let (stock, limit): (Vec<Shortage>, Vec<Shortage>) =
            take(&mut data, "shortages")?.into_iter().partition(|s: &Shortage| s.kind == Kind::Stock);
        let unavailable: Vec<Unavailable> = stock
            .into_iter()
            .map(|s| Unavailable { sku: s.sku, requested: s.requested, available: s.available })
            .collect();
        let limits = limit
            .into_iter()
            .map(|s| {
                let allowed = u32::try_from(s.available).map_err(serde::ser::Error::custom)?;
                Ok(OverLimit { sku: s.sku, requested: s.requested, allowed })
            })
            .collect::<Result<Vec<_>, serde_json::Error>>()?;
        data.insert("unavailable".into(), serde_json::to_value(unavailable)?);
        if !limits.is_empty() {
            data.insert("limits".into(), serde_json::to_value(limits)?);
        }
        Ok(data)
    }
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

    fn data(json: serde_json::Value) -> Data {
        match json {
            Value::Object(data) => data,
            other => panic!("not an object: {other}"),
        }
    }

    /// Both shapes of version 1: without `limits` (before purchase limits)
    /// and with them.
    #[test]
    fn order_rejected_v1_reads_as_one_list_of_shortages() {
        let short = data(serde_json::json!({"reason": "insufficient stock",
            "unavailable": [{"sku": "muskie-casting-rod", "requested": 2, "available": 1}]}));
        assert_eq!(
            Value::Object(upcast(EventType::OrderRejected, 1, short).unwrap()),
            serde_json::json!({"reason": "insufficient stock", "shortages": [
                {"kind": "stock", "sku": "muskie-casting-rod", "requested": 2, "available": 1}]})
        );
        let over = data(serde_json::json!({"reason": "limit-exceeded",
            "unavailable": [{"sku": "braided-line", "requested": 5, "available": 0}],
            "limits": [{"sku": "muskie-casting-rod", "requested": 3, "allowed": 2}]}));
        assert_eq!(
            Value::Object(upcast(EventType::OrderRejected, 1, over).unwrap()),
            serde_json::json!({"reason": "limit-exceeded", "shortages": [
                {"kind": "stock", "sku": "braided-line", "requested": 5, "available": 0},
                {"kind": "limit", "sku": "muskie-casting-rod", "requested": 3, "available": 2}]})
        );
    }

    /// What a subscriber still on version 1 reads is what version 1 wrote,
    /// `limits` absent when empty; fields the steps do not know go through.
    #[test]
    fn order_rejected_goes_down_to_v1_and_back_unchanged() {
        for v1 in [
            serde_json::json!({"reason": "insufficient stock",
                "unavailable": [{"sku": "muskie-casting-rod", "requested": 2, "available": 1}]}),
            serde_json::json!({"reason": "limit-exceeded", "unavailable": [],
                "limits": [{"sku": "muskie-casting-rod", "requested": 3, "allowed": 2}], "addedLater": [1]}),
        ] {
            let v2 = upcast(EventType::OrderRejected, 1, data(v1.clone())).unwrap();
            let down = downcast(EventType::OrderRejected, 1, v2.clone()).unwrap();
            assert_eq!(Value::Object(down.clone()), v1);
            assert_eq!(upcast(EventType::OrderRejected, 1, down).unwrap(), v2);
        }
    }

    #[test]
    fn order_rejected_of_a_wrong_shape_says_what_is_wrong() {
        let error = upcast(EventType::OrderRejected, 1, data(serde_json::json!({"reason": "r"}))).unwrap_err();
        assert_eq!(
            error.to_string(),
            "OrderRejected data of schemaVersion 1 does not convert to 2: missing field `unavailable`"
        );
        let huge = data(serde_json::json!({"reason": "r", "shortages": [
            {"kind": "limit", "sku": "s", "requested": 1, "available": 5_000_000_000u64}]}));
        let error = downcast(EventType::OrderRejected, 1, huge).unwrap_err();
        assert!(matches!(error, UpcastError::Step { from: 2, to: 1, .. }), "{error}");
    }

    #[test]
    fn only_a_bumped_type_has_a_previous_version_to_write() {
        for event_type in EventType::ALL {
            let expected = match event_type {
                EventType::OrderRejected => vec![2, 1],
                _ => vec![1],
            };
            assert_eq!(written_versions(event_type), expected, "{event_type}");
        }
    }

    /// The build before the last bump reads and writes OrderRejected at 1
    /// and every other type as this build does; it meets version 2 as that
    /// build did, and reads version 1 as this build reads it.
    #[test]
    fn the_previous_build_reads_up_to_the_version_before_each_bump() {
        let previous = SchemaVersions::previous();
        for event_type in EventType::ALL {
            assert_eq!(SchemaVersions::current().of(event_type), event_type.schema_version(), "{event_type}");
            let written = written_versions(event_type);
            assert_eq!(previous.of(event_type), *written.get(1).unwrap_or(&written[0]), "{event_type}");
        }
        assert_eq!(previous.of(EventType::OrderRejected), 1);
        let v2 = data(serde_json::json!({"reason": "insufficient stock", "shortages": []}));
        let error = upcast_by(previous, EventType::OrderRejected, 2, v2).unwrap_err();
        assert_eq!(error.to_string(), "schemaVersion 2 of OrderRejected is newer than this build (reads up to 1)");
        let v1 = data(serde_json::json!({"reason": "insufficient stock", "unavailable": []}));
        assert_eq!(
            upcast_by(previous, EventType::OrderRejected, 1, v1.clone()).unwrap(),
            upcast(EventType::OrderRejected, 1, v1).unwrap()
        );
    }

    #[test]
    fn no_version_newer_than_the_build_is_written() {
        let current = EventType::OrderPlaced.schema_version();
        let error = downcast(EventType::OrderPlaced, current + 1, Data::new()).unwrap_err();
        assert!(matches!(error, UpcastError::NotWritten { .. }), "{error}");
    }
}
