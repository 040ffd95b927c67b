//! A resumable parallel scan of the events table, the one engine behind
//! every job that replays the store (`orders republish`, `orders rebuild`,
//! the legacy rebuild): each segment's pages in table order (one order's
//! events together, by version), each page handed to a [`PageHandler`] and
//! then recorded by a [`Checkpoint`] (a state file, a database table), so
//! that a run interrupted anywhere resumes after the last recorded page. A
//! page handled but not yet recorded is handled again on resume
//! (at-least-once), never skipped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::StoreError;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::{DynamoEventStore, StoredEvent};

/// The error a handler or a checkpoint reports; the job's owner reads it
/// back (downcasting where it needs the variant).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where every segment of a job stands.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Segments {
    /// Each segment's next page; `None` with `done` false: not started.
    pub cursors: Vec<Option<String>>,
    pub done: Vec<bool>,
    /// Events scanned, earlier runs included.
    pub events: u64,
    /// Events sent (republish) or applied (rebuild), earlier runs included.
    pub handled: u64,
}

impl Segments {
    pub fn new(segments: u32) -> Self {
        Segments { cursors: vec![None; segments as usize], done: vec![false; segments as usize], events: 0, handled: 0 }
    }

    pub fn finished(&self) -> bool {
        self.done.iter().all(|d| *d)
    }
}

#[async_trait]
pub trait PageHandler: Send + Sync {
    /// Handles one page of `segment`; answers how many of its events it
    /// sent or applied.
    async fn page(&self, segment: u32, events: Vec<StoredEvent>) -> Result<u64, BoxError>;
}

/// What one handled page added, for a checkpoint that keeps per-segment counts.
#[derive(Clone, Copy, Debug)]
pub struct PageDone {
    pub events: u64,
    pub handled: u64,
}

/// Where a job keeps its progress.
#[async_trait]
pub trait Checkpoint: Send + Sync {
    /// Where that is, for messages.
    fn location(&self) -> String;
    /// Forgets the recorded progress.
    async fn clear(&self) -> Result<(), BoxError>;
    /// What an earlier run recorded.
    async fn load(&self) -> Result<Option<Segments>, BoxError>;
    /// Records a fresh start.
    async fn start(&self, progress: &Segments) -> Result<(), BoxError>;
    /// Records that a page of `segment` was handled; `progress` includes it.
    async fn record(&self, segment: u32, progress: &Segments, page: PageDone) -> Result<(), BoxError>;
}

pub struct ScanJob {
    pub store: DynamoEventStore,
    pub segments: u32,
    /// Items read per page (`None`: DynamoDB's 1 MB pages).
    pub page_size: Option<i32>,
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
    /// Events scanned by this run.
    pub this_run: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(
        "a run with {in_progress} segments is in progress ({location}): resume it with --segments {in_progress}, \
         or start over with --restart"
    )]
    SegmentsMismatch { in_progress: u32, requested: u32, location: String },
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Checkpoint(BoxError),
    #[error(transparent)]
    Page(BoxError),
}

/// Runs `job`: resumes what `checkpoint` recorded (or starts afresh), hands
/// every page to `handler` and calls `on_progress` once at the start and
/// after every recorded page.
pub async fn run(
    job: ScanJob,
    checkpoint: Arc<dyn Checkpoint>,
    handler: Arc<dyn PageHandler>,
    on_progress: impl Fn(&Segments) + Send + Sync + 'static,
) -> Result<ScanOutcome, ScanError> {
    if job.restart {
        checkpoint.clear().await.map_err(ScanError::Checkpoint)?;
    }
    let recorded = checkpoint.load().await.map_err(ScanError::Checkpoint)?;
    let resumed = recorded.is_some();
    let progress = recorded.unwrap_or_else(|| Segments::new(job.segments));
    if progress.cursors.len() != job.segments as usize {
        return Err(ScanError::SegmentsMismatch {
            in_progress: progress.cursors.len() as u32,
            requested: job.segments,
            location: checkpoint.location(),
        });
    }
    if resumed && progress.finished() {
        return Ok(ScanOutcome { progress, resumed, already_finished: true, interrupted: false, this_run: 0 });
    }
    if !resumed {
        checkpoint.start(&progress).await.map_err(ScanError::Checkpoint)?;
    }
    on_progress(&progress);
    let before = progress.events;
    let open: Vec<u32> = (0..job.segments).filter(|s| !progress.done[*s as usize]).collect();
    let shared = Arc::new(Shared {
        job,
        checkpoint,
        handler,
        on_progress: Box::new(on_progress),
        progress: Mutex::new(progress),
        pages: AtomicU64::new(0),
        interrupted: AtomicBool::new(false),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for segment in open {
        let shared = shared.clone();
        tasks.spawn(async move { shared.segment(segment).await });
    }
    let mut first_error = None;
    while let Some(joined) = tasks.join_next().await {
        if let Err(error) = joined.expect("scan segments do not panic") {
            first_error.get_or_insert(error);
        }
    }
    if let Some(error) = first_error {
        return Err(error);
    }
    let progress = shared.progress.lock().await.clone();
    let this_run = progress.events - before;
    Ok(ScanOutcome {
        interrupted: shared.interrupted.load(Ordering::Relaxed),
        progress,
        resumed,
        already_finished: false,
        this_run,
    })
}

type OnProgress = Box<dyn Fn(&Segments) + Send + Sync>;

struct Shared {
    job: ScanJob,
    checkpoint: Arc<dyn Checkpoint>,
    handler: Arc<dyn PageHandler>,
    on_progress: OnProgress,
    progress: Mutex<Segments>,
    pages: AtomicU64,
    interrupted: AtomicBool,
}

impl Shared {
    async fn segment(&self, segment: u32) -> Result<(), ScanError> {
        let index = segment as usize;
        let mut cursor = self.progress.lock().await.cursors[index].clone();
        loop {
            if let Some(limit) = self.job.stop_after_pages {
                if self.pages.fetch_add(1, Ordering::SeqCst) >= limit {
                    self.interrupted.store(true, Ordering::Relaxed);
                    return Ok(());
                }
            }
            let page = self.job.store.scan_stored(segment, self.job.segments, cursor, self.job.page_size).await?;
            let events = page.events.len() as u64;
            let handled = self.handler.page(segment, page.events).await.map_err(ScanError::Page)?;
            cursor = page.cursor;
            // Held while recording, so that records land in the order of the progress they carry.
            let mut progress = self.progress.lock().await;
            progress.cursors[index] = cursor.clone();
            progress.done[index] = cursor.is_none();
            progress.events += events;
            progress.handled += handled;
            self.checkpoint
                .record(segment, &progress, PageDone { events, handled })
                .await
                .map_err(ScanError::Checkpoint)?;
            (self.on_progress)(&progress);
            drop(progress);
            if cursor.is_none() {
                return Ok(());
            }
        }
    }
}
