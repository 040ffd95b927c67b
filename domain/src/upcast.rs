//! The upcasting chain: how an event's `data` written at an older
//! `schemaVersion` is read as the current one (`v1 → v2 → … → current`),
//! one pure step per version, applied on read and never to the stored log.
//! The schema compatibility gate (`local/schema-compat`) lets a breaking
//! change through only when the step from the previous version is here.

use crate::event::EventType;

/// Whether this build can upcast `event_type`'s `data` from `from_version`
/// to `from_version + 1`. No type has been bumped yet, so there is no step.
pub fn upcaster_exists(_event_type: EventType, _from_version: u32) -> bool {
    false
}
