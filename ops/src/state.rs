//! Progress of a resumable command, kept as a small JSON file in the state
//! folder (`--state-dir`, `$ORDERS_STATE_DIR`, default
//! `~/.local/state/orders`), one per job: what was asked (so a changed
//! request starts afresh) and each scan segment's cursor. It is written
//! after every page that was fully handled, by a write to a temporary file
//! and a rename, so an interruption at any point resumes at the last page
//! done: that page's work may be done again (at-least-once), never skipped.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use event_store::scan::{BoxError, Checkpoint, PageDone, Segments};
use serde::{Deserialize, Serialize};

use crate::stack::Error;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job<T> {
    /// What was asked: a different request under the same file starts afresh.
    pub request: serde_json::Value,
    pub progress: T,
}

pub fn default_dir() -> PathBuf {
    match std::env::var_os("ORDERS_STATE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
            home.join(".local/state/orders")
        }
    }
}

/// A file name for a job: its kind and a stable hash of what identifies it.
pub fn job_path(dir: &Path, kind: &str, key: &str) -> PathBuf {
    // FNV-1a: stable across builds, unlike std's hasher.
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    dir.join(format!("{kind}-{hash:016x}.json"))
}

pub fn load<T: for<'de> Deserialize<'de>>(path: &Path, request: &serde_json::Value) -> Result<Option<T>, Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display()).into()),
    };
    let job: Job<T> = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((&job.request == request).then_some(job.progress))
}

pub fn save<T: Serialize>(path: &Path, request: &serde_json::Value, progress: &T) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let job = Job { request: request.clone(), progress };
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&job)?).map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(())
}

pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// A scan job's progress in its state file.
pub struct StateFile {
    pub path: PathBuf,
    /// What identifies the job; a state file for another request is ignored.
    pub request: serde_json::Value,
}

#[async_trait]
impl Checkpoint for StateFile {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    async fn clear(&self) -> Result<(), BoxError> {
        remove(&self.path);
        Ok(())
    }

    async fn load(&self) -> Result<Option<Segments>, BoxError> {
        load(&self.path, &self.request)
    }

    async fn start(&self, progress: &Segments) -> Result<(), BoxError> {
        save(&self.path, &self.request, progress)
    }

    async fn record(&self, _segment: u32, progress: &Segments, _page: PageDone) -> Result<(), BoxError> {
        save(&self.path, &self.request, progress)
    }
}
