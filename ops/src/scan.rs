//! A resumable parallel scan of the events table: each segment's pages in
//! table order (one order's events together, by version), each page handed
//! to a [`PageHandler`] and then recorded in the job's state file
//! ([`crate::state`]), so that a run interrupted anywhere resumes after the
//! last recorded page.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use event_store::{DynamoEventStore, StoredEvent};
use indicatif::ProgressBar;

use crate::stack::Error;
use crate::state::{self, Segments};

#[async_trait]
pub trait PageHandler: Send + Sync {
    /// Handles one page; answers how many of its events it sent or applied.
    async fn page(&self, events: Vec<StoredEvent>) -> Result<u64, Error>;
}

pub struct ScanJob {
    pub store: DynamoEventStore,
    pub segments: u32,
    /// Items read per page (`None`: DynamoDB's 1 MB pages).
    pub page_size: Option<i32>,
    pub path: PathBuf,
    /// What identifies the job; a state file for another request is ignored.
    pub request: serde_json::Value,
    /// Forget recorded progress and start over.
    pub restart: bool,
    /// Stop (as if interrupted) after this many pages in all: for tests and dry runs.
    pub stop_after_pages: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub progress: Segments,
    /// Recorded progress of an earlier run was picked up.
    pub resumed: bool,
    /// The recorded job had finished already; nothing was done.
    pub already_finished: bool,
    /// Stopped by `stop_after_pages` before the end.
    pub interrupted: bool,
    /// Events handled by this run.
    pub this_run: u64,
}

pub async fn run(job: ScanJob, handler: Arc<dyn PageHandler>, bar: &ProgressBar) -> Result<ScanOutcome, Error> {
    if job.restart {
        state::remove(&job.path);
    }
    let recorded: Option<Segments> = state::load(&job.path, &job.request)?;
    let resumed = recorded.is_some();
    let progress = recorded.unwrap_or_else(|| Segments::new(job.segments));
    if progress.cursors.len() != job.segments as usize {
        return Err(format!(
            "a run with {} segments is in progress ({}): resume it with --segments {}, or start over with --restart",
            progress.cursors.len(),
            job.path.display(),
            progress.cursors.len()
        )
        .into());
    }
    if resumed && progress.finished() {
        return Ok(ScanOutcome { progress, resumed, already_finished: true, interrupted: false, this_run: 0 });
    }
    bar.set_position(progress.events);
    let before = progress.events;
    let open: Vec<u32> = (0..job.segments).filter(|s| !progress.done[*s as usize]).collect();
    let shared = Arc::new(Shared {
        job,
        progress: Mutex::new(progress),
        pages: AtomicU64::new(0),
        interrupted: std::sync::atomic::AtomicBool::new(false),
    });
    state::save(&shared.job.path, &shared.job.request, &*shared.progress.lock().expect("progress lock"))?;
    let mut tasks = tokio::task::JoinSet::new();
    for segment in open {
        let (shared, handler, bar) = (shared.clone(), handler.clone(), bar.clone());
        tasks.spawn(async move { shared.segment(segment, handler.as_ref(), &bar).await });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined.map_err(|e| Error::from(e.to_string())).and_then(|r| r) {
            first_error.get_or_insert(error);
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    let progress = shared.progress.lock().expect("progress lock").clone();
    let this_run = progress.events - before;
    Ok(ScanOutcome {
        interrupted: shared.interrupted.load(Ordering::Relaxed),
        progress,
        resumed,
        already_finished: false,
        this_run,
    })
}

struct Shared {
    job: ScanJob,
    progress: Mutex<Segments>,
    pages: AtomicU64,
    interrupted: std::sync::atomic::AtomicBool,
}

impl Shared {
    async fn segment(&self, segment: u32, handler: &dyn PageHandler, bar: &ProgressBar) -> Result<(), Error> {
        let index = segment as usize;
        let mut cursor = self.progress.lock().expect("progress lock").cursors[index].clone();
        loop {
            if let Some(limit) = self.job.stop_after_pages {
                if self.pages.fetch_add(1, Ordering::SeqCst) >= limit {
                    self.interrupted.store(true, Ordering::Relaxed);
                    return Ok(());
                }
            }
            let page = self.job.store.scan_stored(segment, self.job.segments, cursor, self.job.page_size).await?;
            let events = page.events.len() as u64;
            let handled = handler.page(page.events).await?;
            cursor = page.cursor;
            let mut progress = self.progress.lock().expect("progress lock");
            progress.cursors[index] = cursor.clone();
            progress.done[index] = cursor.is_none();
            progress.events += events;
            progress.handled += handled;
            state::save(&self.job.path, &self.job.request, &*progress)?;
            drop(progress);
            bar.inc(events);
            if cursor.is_none() {
                return Ok(());
            }
        }
    }
}

/// The table's approximate item count, for a progress bar's length.
pub async fn approximate_events(client: &aws_sdk_dynamodb::Client, table: &str) -> Option<u64> {
    let out = client.describe_table().table_name(table).send().await.ok()?;
    out.table?.item_count.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0)
}
