//! Replays every order of the event store into empty legacy order tables.
//!
//! The store is read by the event store's resumable parallel scan
//! ([`event_store::scan`], one task and one connection per segment) and
//! each page goes through the live sync's own code
//! ([`LegacySync::apply_batch`]), so a rebuilt row is exactly what the live
//! sync would have written. After each page the segment's cursor is saved
//! in `order_sync.rebuild_segment`; running the rebuild again resumes every
//! unfinished segment at its cursor. A page applied but not yet recorded (a
//! crash in between) is applied again on resume, which changes nothing: its
//! events are no longer newer than the applied versions.
//!
//! The live sync may keep running meanwhile: both only move an order
//! forward, and an event for an order the rebuild has not reached yet is
//! folded from the store.

use std::sync::Arc;

use async_trait::async_trait;
use domain::ports::{EventStore, StoreError};
use event_store::scan::{self, BoxError, Checkpoint, PageDone, PageHandler, ScanError, ScanJob, ScanOutcome, Segments};
use event_store::{DynamoEventStore, StoredEvent};
use sqs_consumer::Delivery;
use tokio::sync::Mutex;
use tokio_postgres::Client;

use crate::connection::{describe, ConnectError, DatabaseSource};
use crate::sync::LegacySync;

/// The command-line options of `orders legacy rebuild`.
#[derive(Clone, Debug)]
pub struct RebuildOptions {
    /// Parallel scan segments; each uses one connection to the legacy database.
    pub segments: u32,
    /// Empty shop_order and shop_orderitem first (otherwise they must already be empty).
    pub truncate: bool,
    /// Forget an unfinished rebuild's progress and start over.
    pub restart: bool,
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

impl From<ScanError> for RebuildError {
    fn from(error: ScanError) -> Self {
        match error {
            ScanError::SegmentsMismatch { in_progress, requested, .. } => {
                RebuildError::SegmentsMismatch { in_progress, requested }
            }
            ScanError::Store(error) => RebuildError::Store(error),
            // Only this module's checkpoint and handler report them, always as a RebuildError.
            ScanError::Checkpoint(error) | ScanError::Page(error) => {
                *error.downcast::<RebuildError>().expect("the legacy rebuild's errors are RebuildErrors")
            }
        }
    }
}

/// Rebuilds the legacy rows from `store`'s events table, folding orders
/// from `events` where the live sync would; `on_progress` sees the scan's
/// progress at the start and after every recorded page.
pub async fn rebuild(
    source: DatabaseSource,
    store: DynamoEventStore,
    events: Arc<dyn EventStore>,
    options: RebuildOptions,
    on_progress: impl Fn(&Segments) + Send + Sync + 'static,
) -> Result<ScanOutcome, RebuildError> {
    let checkpoint = Arc::new(SegmentTable { admin: Mutex::new(source.connect().await?), truncate: options.truncate });
    let handler = Arc::new(Apply {
        syncs: (0..options.segments).map(|_| LegacySync::new(source.clone(), events.clone())).collect(),
    });
    let job = ScanJob {
        store,
        segments: options.segments,
        page_size: None,
        restart: options.restart,
        stop_after_pages: None,
    };
    Ok(scan::run(job, checkpoint, handler, on_progress).await?)
}

/// One live sync per segment, each with its own connection.
struct Apply {
    syncs: Vec<LegacySync>,
}

#[async_trait]
impl PageHandler for Apply {
    async fn page(&self, segment: u32, events: Vec<StoredEvent>) -> Result<u64, BoxError> {
        let count = events.len() as u64;
        let batch = events
            .into_iter()
            .map(|e| Delivery {
                message_id: e.envelope.event_id.to_string(),
                envelope: e.envelope,
                lane: None,
                traceparent: None,
            })
            .collect();
        let failed = self.syncs[segment as usize].apply_batch(batch).await;
        if !failed.is_empty() {
            return Err(RebuildError::Failed { segment, messages: failed.len() }.into());
        }
        Ok(count)
    }
}

/// The progress in `order_sync.rebuild_segment`, one row per segment.
struct SegmentTable {
    /// Locked for the fresh start's transaction, which needs the client to itself.
    admin: Mutex<Client>,
    /// `--truncate`: empty the order tables on a fresh start.
    truncate: bool,
}

#[async_trait]
impl Checkpoint for SegmentTable {
    fn location(&self) -> String {
        "order_sync.rebuild_segment".to_owned()
    }

    async fn clear(&self) -> Result<(), BoxError> {
        let admin = self.admin.lock().await;
        admin.execute("DELETE FROM order_sync.rebuild_segment", &[]).await.map_err(RebuildError::from)?;
        Ok(())
    }

    async fn load(&self) -> Result<Option<Segments>, BoxError> {
        let rows = self
            .admin
            .lock()
            .await
            .query("SELECT cursor, done, events FROM order_sync.rebuild_segment ORDER BY segment", &[])
            .await
            .map_err(RebuildError::from)?;
        if rows.is_empty() {
            return Ok(None);
        }
        if self.truncate {
            return Err(RebuildError::TruncateWhileInProgress.into());
        }
        // Every segment's events count as applied: the sync applies every event it is given.
        let events: u64 = rows.iter().map(|row| u64::try_from(row.get::<_, i64>(2)).unwrap_or(0)).sum();
        Ok(Some(Segments {
            cursors: rows.iter().map(|row| row.get(0)).collect(),
            done: rows.iter().map(|row| row.get(1)).collect(),
            events,
            handled: events,
        }))
    }

    /// A fresh start: empty tables (or refuse), no applied versions, one
    /// progress row per segment.
    async fn start(&self, progress: &Segments) -> Result<(), BoxError> {
        Ok(self.start_rows(progress.cursors.len() as i32).await?)
    }

    async fn record(&self, segment: u32, progress: &Segments, page: PageDone) -> Result<(), BoxError> {
        let index = segment as usize;
        self.admin
            .lock()
            .await
            .execute(
                "UPDATE order_sync.rebuild_segment
                 SET cursor = $2, done = $3, pages = pages + 1, events = events + $4, updated_at = now()
                 WHERE segment = $1",
                &[&(segment as i32), &progress.cursors[index], &progress.done[index], &(page.events as i64)],
            )
            .await
            .map_err(RebuildError::from)?;
        Ok(())
    }
}

impl SegmentTable {
    async fn start_rows(&self, segments: i32) -> Result<(), RebuildError> {
        let mut admin = self.admin.lock().await;
        let tx = admin.transaction().await?;
        if self.truncate {
            tx.batch_execute("TRUNCATE shop_orderitem, shop_order").await?;
        }
        if tx.query_one("SELECT EXISTS (SELECT 1 FROM shop_order)", &[]).await?.get::<_, bool>(0) {
            return Err(RebuildError::NotEmpty);
        }
        tx.batch_execute("DELETE FROM order_sync.applied").await?;
        tx.execute(
            "INSERT INTO order_sync.rebuild_segment (segment, segments) SELECT s, $1 FROM generate_series(0, $1 - 1) AS s",
            &[&segments],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
