//! The gate: each event type's current schema against every frozen
//! revision of it, and `freeze`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;

use domain::EventType;
use serde_json::Value;

use crate::compare::{compare, Diff};
use crate::released::{Repo, Revision};
use crate::CompatError;

/// An event type's schema as this build writes it.
#[derive(Clone, Debug)]
pub struct Current {
    pub event_type: EventType,
    pub schema_version: u32,
    pub schema: Value,
}

/// This build's event schemas, as `domain` generates them into `schemas/events/`.
pub fn current() -> Vec<Current> {
    let mut generated: BTreeMap<String, Value> =
        domain::schema::all().into_iter().map(|(path, schema)| (path, schema.to_value())).collect();
    EventType::ALL
        .into_iter()
        .map(|event_type| Current {
            event_type,
            schema_version: event_type.schema_version(),
            schema: generated
                .remove(&format!("events/{event_type}.json"))
                .expect("domain::schema::all() has every event type's schema"),
        })
        .collect()
}

/// Whether `domain::upcast` has the step `from_version → from_version + 1`
/// of a type (`domain::upcast::upcaster_exists`, or a test's stand-in).
pub type UpcasterExists<'a> = &'a dyn Fn(EventType, u32) -> bool;

/// How the current schema stands against one frozen revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing incompatible (at most new optional fields).
    Compatible,
    /// Incompatible, and let through: the type's version is above the
    /// frozen one, with the upcasters and golden events that bridge them.
    Bridged,
    /// Incompatible, and nothing lets it through.
    Broken(Vec<Missing>),
}

/// What a breaking change lacks to pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Missing {
    /// The type's `schemaVersion` is still the frozen one.
    Bump { version: u32 },
    /// No step `from → from + 1` in `domain::upcast`.
    Upcaster { from: u32 },
    /// No golden event of the frozen version.
    Golden { event_type: EventType, version: u32 },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Bump { version } => {
                write!(
                    f,
                    "the schemaVersion is still {version} (EventType::schema_version): a breaking change bumps it"
                )
            }
            Missing::Upcaster { from } => write!(f, "no upcaster from v{from} (domain::upcast::upcaster_exists)"),
            Missing::Golden { event_type, version } => {
                write!(f, "no golden events of v{version} in {}", Repo::golden_dir(*event_type, *version))
            }
        }
    }
}

/// The current schema against one frozen revision.
#[derive(Clone, Debug)]
pub struct Against {
    pub frozen: Revision,
    pub diff: Diff,
    pub verdict: Verdict,
}

/// Something wrong with a type's frozen files themselves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The current schema differs from every frozen revision of its version.
    NotFrozen { next: Revision },
    /// A version below the current one has no frozen file, so nothing
    /// holds the events of it in the log to their shape.
    VersionNotFrozen { version: u32 },
    /// A frozen version above the current one: versions never go back.
    AboveCurrent { frozen: Revision },
}

/// One event type's result.
#[derive(Clone, Debug)]
pub struct TypeReport {
    pub event_type: EventType,
    pub schema_version: u32,
    pub against: Vec<Against>,
    pub problems: Vec<Problem>,
    /// Frozen versions with no golden events yet: not a failure until a
    /// breaking change needs them, but said, so that they are added first.
    pub golden_missing: Vec<u32>,
}

impl TypeReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.against.iter().all(|a| !matches!(a.verdict, Verdict::Broken(_)))
    }

    /// What `freeze` cannot mend: anything but the current schema not being frozen yet.
    fn blocks_freeze(&self) -> bool {
        self.problems.iter().any(|p| !matches!(p, Problem::NotFrozen { .. }))
            || self.against.iter().any(|a| matches!(a.verdict, Verdict::Broken(_)))
    }
}

/// Every event type's result.
#[derive(Clone, Debug)]
pub struct Report {
    pub types: Vec<TypeReport>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.types.iter().all(TypeReport::is_ok)
    }
}

/// Holds each current schema to every frozen revision of its type. Against
/// a revision of the same `schemaVersion` it must be compatible both ways
/// (the rules of [`crate::compare`]); against an older version a breaking
/// change is let through when the upcasters from that version and its
/// golden events exist.
pub fn check(repo: &Repo, current: &[Current], upcaster_exists: UpcasterExists) -> Result<Report, CompatError> {
    repo.check_released_types()?;
    let mut types = Vec::new();
    for now in current {
        let frozen = repo.frozen(now.event_type)?;
        let mut against = Vec::new();
        let mut problems = Vec::new();
        for f in &frozen {
            if f.revision.version > now.schema_version {
                problems.push(Problem::AboveCurrent { frozen: f.revision });
                continue;
            }
            let diff = compare(&f.schema, &now.schema)?;
            let verdict = if diff.violations.is_empty() {
                Verdict::Compatible
            } else {
                let missing = missing_bridge(repo, now, f.revision.version, upcaster_exists)?;
                if missing.is_empty() {
                    Verdict::Bridged
                } else {
                    Verdict::Broken(missing)
                }
            };
            against.push(Against { frozen: f.revision, diff, verdict });
        }
        for version in 1..now.schema_version {
            if !frozen.iter().any(|f| f.revision.version == version) {
                problems.push(Problem::VersionNotFrozen { version });
            }
        }
        let broken = |a: &Against| matches!(a.verdict, Verdict::Broken(_));
        let is_frozen = against.iter().any(|a| a.frozen.version == now.schema_version && a.diff.is_identical());
        // A broken schema is never frozen: no advice to freeze it.
        if !is_frozen && !against.iter().any(broken) {
            let next = frozen
                .iter()
                .filter(|f| f.revision.version == now.schema_version)
                .map(|f| Revision { revision: f.revision.revision + 1, ..f.revision })
                .max()
                .unwrap_or(Revision { version: now.schema_version, revision: 0 });
            problems.push(Problem::NotFrozen { next });
        }
        let mut golden_missing = Vec::new();
        for version in frozen.iter().map(|f| f.revision.version).collect::<BTreeSet<_>>() {
            let said = against.iter().any(|a| {
                matches!(&a.verdict, Verdict::Broken(m) if m.contains(&Missing::Golden { event_type: now.event_type, version }))
            });
            if !said && !repo.has_golden(now.event_type, version)? {
                golden_missing.push(version);
            }
        }
        types.push(TypeReport {
            event_type: now.event_type,
            schema_version: now.schema_version,
            against,
            problems,
            golden_missing,
        });
    }
    Ok(Report { types })
}

/// What a breaking change against frozen `version` lacks: the bump, every
/// upcaster from `version` up to the current one, golden events of `version`.
fn missing_bridge(
    repo: &Repo,
    now: &Current,
    version: u32,
    upcaster_exists: UpcasterExists,
) -> Result<Vec<Missing>, CompatError> {
    let mut missing = Vec::new();
    if version == now.schema_version {
        missing.push(Missing::Bump { version });
    }
    let last_step = now.schema_version.max(version + 1);
    missing.extend(
        (version..last_step)
            .filter(|&from| !upcaster_exists(now.event_type, from))
            .map(|from| Missing::Upcaster { from }),
    );
    if !repo.has_golden(now.event_type, version)? {
        missing.push(Missing::Golden { event_type: now.event_type, version });
    }
    Ok(missing)
}

/// Freezes every current schema that is not frozen yet, as the next
/// revision of its version (`v2.json` for a bumped version's first release,
/// `v1.1.json` for an additive change to v1), and returns the files written.
/// Refuses, writing nothing, while the gate fails for any other reason: a
/// schema that breaks a frozen one is never frozen.
pub fn freeze(repo: &Repo, current: &[Current], upcaster_exists: UpcasterExists) -> Result<Vec<PathBuf>, CompatError> {
    let report = check(repo, current, upcaster_exists)?;
    if report.types.iter().any(TypeReport::blocks_freeze) {
        return Err(CompatError::Incompatible(report.to_string()));
    }
    let mut written = Vec::new();
    for (now, result) in current.iter().zip(&report.types) {
        for problem in &result.problems {
            if let Problem::NotFrozen { next } = problem {
                written.push(repo.write_frozen(now.event_type, *next, &now.schema)?);
            }
        }
    }
    Ok(written)
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for t in &self.types {
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl fmt::Display for TypeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let event_type = self.event_type;
        writeln!(f, "{event_type} (schemaVersion {})", self.schema_version)?;
        for a in &self.against {
            let added = match a.diff.added_optional.as_slice() {
                [] => String::new(),
                fields => format!(", added optional {}", fields.join(", ")),
            };
            match &a.verdict {
                Verdict::Compatible => writeln!(f, "  {}: OK{added}", a.frozen)?,
                Verdict::Bridged => writeln!(
                    f,
                    "  {}: OK, breaking but bridged (schemaVersion {}, upcasters from v{}, golden events in {})",
                    a.frozen,
                    self.schema_version,
                    a.frozen.version,
                    Repo::golden_dir(event_type, a.frozen.version)
                )?,
                Verdict::Broken(_) => writeln!(f, "  {}: BREAKING", a.frozen)?,
            }
            for v in &a.diff.violations {
                writeln!(f, "    {event_type} {} → current: {v}", a.frozen)?;
            }
            if let Verdict::Broken(missing) = &a.verdict {
                for m in missing {
                    writeln!(f, "    not allowed: {m}")?;
                }
            }
        }
        for p in &self.problems {
            match p {
                Problem::NotFrozen { next } => writeln!(
                    f,
                    "  NOT FROZEN: the current schema is in no frozen revision of v{}; \
                     `cargo run -p schema-compat -- freeze` writes {}/{}",
                    next.version,
                    Repo::released_dir(event_type),
                    next.file_name()
                )?,
                Problem::VersionNotFrozen { version } => writeln!(
                    f,
                    "  MISSING: no frozen schema of v{version} in {}/: every version below the current one must be \
                     frozen, the log holds its events",
                    Repo::released_dir(event_type)
                )?,
                Problem::AboveCurrent { frozen } => writeln!(
                    f,
                    "  {frozen}: frozen, but the current schemaVersion is {}: a version never goes back",
                    self.schema_version
                )?,
            }
        }
        for version in &self.golden_missing {
            writeln!(
                f,
                "  note: no golden events of v{version} in {} (a breaking change will need them)",
                Repo::golden_dir(event_type, *version)
            )?;
        }
        Ok(())
    }
}
