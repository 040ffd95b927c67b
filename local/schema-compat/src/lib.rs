//! The schema compatibility gate. Events live forever in the log and on
//! other teams' queues, so an event type's `data` schema may change in one
//! way only without a new `schemaVersion`: a new optional field. Everything
//! else (a removed, renamed or retyped field, a new required one, a
//! narrowed or widened enum or range) is a breaking change, and passes only
//! with a bumped version, an upcaster from the previous one and golden
//! events of it.
//!
//! - [`compare`]: one frozen schema against the current one, by rule.
//! - [`released`]: the frozen schemas (`schemas/released/`) and golden
//!   events (`events/golden/`) of a checkout.
//! - [`gate`]: every type against every frozen revision, and `freeze`.
//!
//! `cargo run -p schema-compat -- --help` for the command; the workspace
//! test `schema-compat::repo` runs the gate on every `scripts/test`.

pub mod compare;
pub mod gate;
pub mod released;

use std::path::PathBuf;

pub use compare::{compare, Diff, Rule, Violation};
pub use gate::{check, current, freeze, Current, Report};
pub use released::{Repo, Revision};

#[derive(Debug, thiserror::Error)]
pub enum CompatError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("a schema json-schema-diff cannot read: {0}")]
    Unreadable(#[from] json_schema_diff::Error),
    #[error("$ref {0}: the gate follows only references into the schema's own $defs (#/$defs/<name>)")]
    UnresolvedRef(String),
    #[error("{path}: not a frozen schema's name (v<N>.json, or v<N>.<R>.json for an additive revision)")]
    FileName { path: PathBuf },
    #[error("{path}: names no event type (event types are never removed or renamed: the log holds them)")]
    UnknownEventType { path: PathBuf },
    #[error("nothing frozen: the gate fails\n{0}")]
    Incompatible(String),
}
