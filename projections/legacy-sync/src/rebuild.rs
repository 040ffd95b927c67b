//! Replays every order of the event store into empty legacy order tables.
//!
//! The store is read as a parallel scan (`EventScan`, one task and one
//! connection per segment) and each page goes through the live sync's own
//! code ([`LegacySync::apply_batch`]), so a rebuilt row is exactly what the
//! live sync would have written. After each page the segment's cursor is
//! saved in `order_sync.rebuild_segment`; running the rebuild again resumes
//! every unfinished segment at its cursor. A page applied but not yet
//! recorded (a crash in between) is applied again on resume, which changes
//! nothing: its events are no longer newer than the applied versions.
//!
//! The live sync may keep running meanwhile: both only move an order
//! forward, and an event for an order the rebuild has not reached yet is
//! folded from the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use domain::ports::{EventScan, EventStore, StoreError};
use sqs_consumer::Delivery;
use tokio::task::JoinSet;
use tokio_postgres::Client;

use crate::connection::{describe, ConnectError, DatabaseSource};
use crate::sync::LegacySync;

/// Also the command-line options of both rebuild commands
/// (`legacy-sync-admin rebuild`, `orders rebuild legacy`).
#[derive(Clone, Debug, clap::Args)]
pub struct RebuildOptions {
    /// Parallel scan segments; each uses one connection to the legacy database.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub segments: u32,
    /// Empty shop_order and shop_orderitem first (otherwise they must already be empty).
    #[arg(long)]
    pub truncate: bool,
    /// Forget an unfinished rebuild's progress and start over.
    #[arg(long)]
    pub restart: bool,
}

/// Reported after each page a segment has applied and recorded.
#[derive(Clone, Debug)]
pub struct Progress {
    pub segment: u32,
    pub segments: u32,
    pub segment_pages: u64,
    pub segment_events: u64,
    pub segment_done: bool,
    /// Events applied by every segment so far, earlier runs included.
    pub total_events: u64,
    pub elapsed: Duration,
}

#[derive(Clone, Debug)]
pub struct RebuildSummary {
    /// Events applied by this run.
    pub events: u64,
    /// Events applied by this run and the interrupted runs it resumed.
    pub total_events: u64,
    pub resumed: bool,
    /// The recorded rebuild had finished already: nothing was done.
    pub already_finished: bool,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("legacy database: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("shop_order is not empty: the rebuild fills empty order tables (pass --truncate to empty shop_order and shop_orderitem first)")]
    NotEmpty,
    #[error("a rebuild with {in_progress} segments is in progress: resume it with --segments {in_progress}, or start over with --restart")]
    SegmentsMismatch { in_progress: u32, requested: u32 },
    #[error("a rebuild is in progress: --truncate only applies to a fresh start (resume without it, or start over with --restart)")]
    TruncateWhileInProgress,
    #[error(
        "segment {segment}: {messages} events could not be applied (see the log); run the rebuild again to resume"
    )]
    Failed { segment: u32, messages: usize },
}

struct Segment {
    segment: u32,
    cursor: Option<String>,
    pages: u64,
    events: u64,
}

pub async fn rebuild(
    source: DatabaseSource,
    scan: Arc<dyn EventScan>,
    store: Arc<dyn EventStore>,
    options: RebuildOptions,
    on_progress: impl Fn(&Progress) + Send + Sync + 'static,
) -> Result<RebuildSummary, RebuildError> {
    let started = Instant::now();
    let mut admin = source.connect().await?;
    if options.restart {
        admin.execute("DELETE FROM order_sync.rebuild_segment", &[]).await?;
    }
    let (segments, earlier, resumed) = match load_segments(&admin).await? {
        None => (start(&mut admin, &options).await?, 0, false),
        Some(recorded) if recorded.segments != options.segments => {
            return Err(RebuildError::SegmentsMismatch { in_progress: recorded.segments, requested: options.segments })
        }
        Some(_) if options.truncate => return Err(RebuildError::TruncateWhileInProgress),
        Some(recorded) => (recorded.open, recorded.events, true),
    };
    let already_finished = resumed && segments.is_empty();
    let total = Arc::new(AtomicU64::new(earlier));
    let admin = Arc::new(admin);
    let on_progress = Arc::new(on_progress);
    let mut tasks = JoinSet::new();
    for segment in segments {
        let worker = Worker {
            sync: LegacySync::new(source.clone(), store.clone()),
            scan: scan.clone(),
            admin: admin.clone(),
            segments: options.segments,
            total: total.clone(),
            started,
        };
        let on_progress = on_progress.clone();
        tasks.spawn(async move { worker.run(segment, &*on_progress).await });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.expect("rebuild segments do not panic")?;
    }
    let total_events = total.load(Ordering::Relaxed);
    Ok(RebuildSummary {
        events: total_events - earlier,
        total_events,
        resumed,
        already_finished,
        elapsed: started.elapsed(),
    })
}

/// What an earlier rebuild recorded.
struct Recorded {
    /// Segments not finished yet, each with its cursor.
    open: Vec<Segment>,
    segments: u32,
    /// Events applied by every segment, finished or not.
    events: u64,
}

async fn load_segments(admin: &Client) -> Result<Option<Recorded>, tokio_postgres::Error> {
    let rows = admin
        .query(
            "SELECT segment, segments, cursor, done, pages, events FROM order_sync.rebuild_segment ORDER BY segment",
            &[],
        )
        .await?;
    let Some(first) = rows.first() else { return Ok(None) };
    let count = |row: &tokio_postgres::Row, column: usize| u64::try_from(row.get::<_, i64>(column)).unwrap_or(0);
    Ok(Some(Recorded {
        segments: u32::try_from(first.get::<_, i32>(1)).unwrap_or(0),
        events: rows.iter().map(|row| count(row, 5)).sum(),
        open: rows
            .iter()
            .filter(|row| !row.get::<_, bool>(3))
            .map(|row| Segment {
                segment: u32::try_from(row.get::<_, i32>(0)).unwrap_or(0),
                cursor: row.get(2),
                pages: count(row, 4),
                events: count(row, 5),
            })
            .collect(),
    }))
}

/// A fresh start: empty tables (or refuse), no applied versions, one
/// progress row per segment.
async fn start(admin: &mut Client, options: &RebuildOptions) -> Result<Vec<Segment>, RebuildError> {
    let tx = admin.transaction().await?;
    if options.truncate {
        tx.batch_execute("TRUNCATE shop_orderitem, shop_order").await?;
    }
    if tx.query_one("SELECT EXISTS (SELECT 1 FROM shop_order)", &[]).await?.get::<_, bool>(0) {
        return Err(RebuildError::NotEmpty);
    }
    let segments = options.segments as i32;
    tx.batch_execute("DELETE FROM order_sync.applied").await?;
    tx.execute(
        "INSERT INTO order_sync.rebuild_segment (segment, segments) SELECT s, $1 FROM generate_series(0, $1 - 1) AS s",
        &[&segments],
    )
    .await?;
    tx.commit().await?;
    Ok((0..options.segments).map(|segment| Segment { segment, cursor: None, pages: 0, events: 0 }).collect())
}

struct Worker {
    sync: LegacySync,
    scan: Arc<dyn EventScan>,
    admin: Arc<Client>,
    segments: u32,
    total: Arc<AtomicU64>,
    started: Instant,
}

impl Worker {
    async fn run(
        self,
        mut segment: Segment,
        on_progress: &(dyn Fn(&Progress) + Send + Sync),
    ) -> Result<(), RebuildError> {
        loop {
            let page = self.scan.scan_page(segment.segment, self.segments, segment.cursor.clone()).await?;
            let events = page.events.len() as u64;
            if events > 0 {
                let batch = page
                    .events
                    .into_iter()
                    .map(|e| Delivery { message_id: e.event_id.to_string(), envelope: e, lane: None })
                    .collect();
                let failed = self.sync.apply_batch(batch).await;
                if !failed.is_empty() {
                    return Err(RebuildError::Failed { segment: segment.segment, messages: failed.len() });
                }
            }
            segment.cursor = page.cursor;
            segment.pages += 1;
            segment.events += events;
            let done = segment.cursor.is_none();
            self.admin
                .execute(
                    "UPDATE order_sync.rebuild_segment SET cursor = $2, done = $3, pages = $4, events = $5, updated_at = now()
                     WHERE segment = $1",
                    &[&(segment.segment as i32), &segment.cursor, &done, &(segment.pages as i64), &(segment.events as i64)],
                )
                .await?;
            let total_events = self.total.fetch_add(events, Ordering::Relaxed) + events;
            on_progress(&Progress {
                segment: segment.segment,
                segments: self.segments,
                segment_pages: segment.pages,
                segment_events: segment.events,
                segment_done: done,
                total_events,
                elapsed: self.started.elapsed(),
            });
            if done {
                return Ok(());
            }
        }
    }
}
