//! The files the gate reads and writes, under a repository's root:
//! the frozen schemas, `schemas/released/<EventType>/v<N>.json` (the first
//! release of schemaVersion N) and `v<N>.<R>.json` (its R-th additive
//! revision), and the golden events, `events/golden/<EventType>/v<N>/*.json`.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use domain::EventType;
use serde_json::Value;

use crate::CompatError;

/// Which release of an event type's schema a frozen file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    /// The `schemaVersion`.
    pub version: u32,
    /// 0 for the version's first release, then 1, 2, … for each additive change released.
    pub revision: u32,
}

impl Revision {
    /// `v1.json` → v1, `v1.2.json` → v1.2; `None` for any other name (and
    /// for `v0`, `v01`, `v1.0`: one name per revision).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let stem = name.strip_suffix(".json")?.strip_prefix('v')?;
        let number = |s: &str| -> Option<u32> {
            (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
        };
        let (version, revision) = match stem.split_once('.') {
            Some((version, revision)) => (number(version)?, number(revision)?),
            None => (number(stem)?, 0),
        };
        Some(Revision { version, revision })
    }

    pub fn file_name(self) -> String {
        format!("{self}.json")
    }
}

impl fmt::Display for Revision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.revision {
            0 => write!(f, "v{}", self.version),
            r => write!(f, "v{}.{r}", self.version),
        }
    }
}

/// A frozen schema, as committed.
#[derive(Clone, Debug)]
pub struct Frozen {
    pub revision: Revision,
    pub schema: Value,
}

/// A checkout: where its frozen schemas and golden events are.
#[derive(Clone, Debug)]
pub struct Repo {
    root: PathBuf,
}

impl Repo {
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Repo { root: root.into() }
    }

    /// The checkout this crate was built from.
    pub fn workspace() -> Self {
        Repo::at(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
    }

    /// Relative to the root, as messages name it.
    pub fn released_dir(event_type: EventType) -> String {
        format!("schemas/released/{event_type}")
    }

    /// Relative to the root, as messages name it.
    pub fn golden_dir(event_type: EventType, version: u32) -> String {
        format!("events/golden/{event_type}/v{version}/")
    }

    /// Every frozen schema of `event_type`, oldest first; none when the
    /// type has no folder yet.
    pub fn frozen(&self, event_type: EventType) -> Result<Vec<Frozen>, CompatError> {
        let dir = self.root.join(Repo::released_dir(event_type));
        let mut frozen = Vec::new();
        for path in list(&dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let revision =
                Revision::from_file_name(name).ok_or_else(|| CompatError::FileName { path: path.clone() })?;
            let text = fs::read_to_string(&path).map_err(|source| CompatError::Io { path: path.clone(), source })?;
            let schema = serde_json::from_str(&text).map_err(|source| CompatError::Json { path, source })?;
            frozen.push(Frozen { revision, schema });
        }
        frozen.sort_by_key(|f| f.revision);
        Ok(frozen)
    }

    /// Fails on a folder of `schemas/released/` that names no event type:
    /// event types are never removed (the log holds them) nor renamed, so
    /// such a folder is a typo or a type that this build lost.
    pub fn check_released_types(&self) -> Result<(), CompatError> {
        for path in list(&self.root.join("schemas/released"))? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if path.is_dir() && name.parse::<EventType>().is_err() {
                return Err(CompatError::UnknownEventType { path });
            }
        }
        Ok(())
    }

    /// Whether at least one golden event of `event_type` at `version` is committed.
    pub fn has_golden(&self, event_type: EventType, version: u32) -> Result<bool, CompatError> {
        let files = list(&self.root.join(Repo::golden_dir(event_type, version)))?;
        Ok(files.iter().any(|p| p.is_file() && p.extension().is_some_and(|e| e == "json")))
    }

    /// Writes a new frozen file; never replaces one.
    pub fn write_frozen(
        &self,
        event_type: EventType,
        revision: Revision,
        schema: &Value,
    ) -> Result<PathBuf, CompatError> {
        let relative = Path::new(&Repo::released_dir(event_type)).join(revision.file_name());
        let path = self.root.join(&relative);
        // As domain's `schemas` test writes `schemas/events/`: schemars orders
        // the keywords (`$id`, `title`, … `$defs`), so a frozen file reads as
        // the generated one it was taken from.
        let text = <&schemars::Schema>::try_from(schema)
            .and_then(serde_json::to_string_pretty)
            .map_err(|source| CompatError::Json { path: path.clone(), source })?;
        let write = || -> io::Result<()> {
            fs::create_dir_all(path.parent().expect("a frozen file has a folder"))?;
            let mut file = fs::File::options().write(true).create_new(true).open(&path)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")
        };
        write().map_err(|source| CompatError::Io { path, source })?;
        Ok(relative)
    }
}

/// The entries of a folder, sorted; none when it does not exist.
fn list(dir: &Path) -> Result<Vec<PathBuf>, CompatError> {
    let io_error = |source| CompatError::Io { path: dir.to_owned(), source };
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(e)),
    };
    let mut paths = entries.map(|e| e.map(|e| e.path())).collect::<Result<Vec<_>, _>>().map_err(io_error)?;
    paths.sort();
    Ok(paths)
}
