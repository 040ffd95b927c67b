//! The projection: an SQS batch in, the legacy rows of its orders brought
//! to the event store's view in one transaction, the messages to retry out.
//!
//! Convergence: the sync records, per order, the event version its legacy
//! rows stand for (`order_sync.applied`) and only ever moves it forward.
//! Duplicates and stale events change nothing. An event that arrives ahead
//! of a predecessor the sync has not seen (SNS and SQS do not keep order)
//! makes the sync fold the order from the event store, which is always
//! complete and consistent, and write the rows of the store's latest
//! version; the predecessor, when it comes, is then stale. So every
//! delivery order ends in the rows of `fold(all events)`, and the rebuild
//! goes through this same code.
//!
//! Failures: when the database is unreachable or a batch's transaction fails
//! on a connection-level error, every message of the batch is reported
//! failed, transiently: it backs off and is retried. When a statement fails
//! on one order's data, the batch's transaction rolls back as a whole and
//! its orders are applied again one transaction each, so that only the
//! failing order's messages are retried instead of holding every other
//! order of the batch hostage: as poison (to the DLQ within seconds) when
//! the data is refused, transiently when the transaction lost a
//! serialization or deadlock conflict.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use domain::ports::{EventStore, StoreError};
use domain::{Envelope, OrderId};
use sqs_consumer::{failed_all, Delivery, Failed, Failure, Projection};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::connection::{describe, CachedConnection, ConnectError, DatabaseSource, Session};
use crate::plan::{self, OrderEvents, Plan};
use crate::rows::RowError;
use crate::settings::SettingsError;
use crate::writer::{self, Changes, SyncStats};

pub struct LegacySync {
    connection: CachedConnection,
    store: Arc<dyn EventStore>,
    stats: SyncStats,
}

/// What one transaction did, for the batch's log line.
#[derive(Default)]
struct Outcome {
    failed: Vec<Failed>,
    written: usize,
    advanced: usize,
    folded: usize,
}

impl LegacySync {
    /// `store` is the event store to fold orders from when a predecessor
    /// event is missing.
    pub fn new(source: DatabaseSource, store: Arc<dyn EventStore>) -> Self {
        LegacySync { connection: CachedConnection::new(source), store, stats: SyncStats::default() }
    }

    /// The Lambda's sync: from `LEGACY_DATABASE_URL` or
    /// `LEGACY_DB_SECRET_ARN`, `None` when neither is set (no legacy
    /// database to sync); a URL that would reach a remote server without
    /// `sslmode=verify-full` is refused here, at start.
    pub async fn from_env(store: Arc<dyn EventStore>) -> Result<Option<Self>, SettingsError> {
        let Some(source) = DatabaseSource::from_env().await? else { return Ok(None) };
        source.require_verified_tls()?;
        Ok(Some(LegacySync::new(source, store)))
    }

    pub fn stats(&self) -> &SyncStats {
        &self.stats
    }

    /// Opens the connection now (a Lambda's init phase) rather than on the
    /// first batch.
    pub async fn connect(&self) -> Result<(), ConnectError> {
        self.connection.session().await.map(drop)
    }

    /// Applies a batch and returns the messages to retry.
    pub async fn apply_batch(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        if batch.is_empty() {
            return Vec::new();
        }
        let events = batch.len();
        let orders = plan::group(batch);
        // One transaction writes every order of the batch: its statements
        // are in the batch's trace, and each order's span, in the order's
        // own trace, links to it.
        let batch_span = tracing::info_span!("legacy_batch", function = "legacy-sync", events, orders = orders.len());
        let batch_traceparent = telemetry::traceparent_of(&batch_span);
        let _order_spans: Vec<tracing::Span> = orders
            .iter()
            .map(|order| {
                let span = tracing::info_span!("order", function = "legacy-sync", order_id = %order.order_id, events = order.events.len());
                telemetry::continue_trace(&span, order.traceparent.as_deref());
                telemetry::link(&span, batch_traceparent.as_deref());
                span
            })
            .collect();
        self.apply_orders(orders, events).instrument(batch_span).await
    }

    async fn apply_orders(&self, orders: Vec<OrderEvents>, events: usize) -> Vec<Failed> {
        let started = Instant::now();
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.events.fetch_add(events as u64, Ordering::Relaxed);
        let all_messages = |failure| failed_all(orders.iter().flat_map(|o| o.message_ids.iter().cloned()), failure);
        let mut session = match self.connection.session().await {
            Ok(session) => session,
            Err(error) => {
                tracing::error!(%error, events, "legacy database unavailable: the whole batch will be retried");
                return all_messages(Failure::Transient);
            }
        };
        let outcome = match self.apply_in_transaction(&mut session, &orders).await {
            Ok(outcome) => outcome,
            Err(error) if unavailable(&error) => {
                session.clean = false;
                tracing::error!(error = %describe(&error), events, "legacy database failed: the whole batch will be retried");
                return all_messages(Failure::Transient);
            }
            Err(error) if orders.len() > 1 => {
                tracing::warn!(error = %describe(&error), orders = orders.len(), "batch transaction failed: applying its orders one by one");
                self.apply_one_by_one(&mut session, &orders).await
            }
            Err(error) => {
                let failure = failure_of(&error);
                tracing::error!(error = %describe(&error), order_id = %orders[0].order_id, ?failure, "order could not be applied: its messages will be retried");
                return all_messages(failure);
            }
        };
        tracing::info!(
            events,
            orders = orders.len(),
            written = outcome.written,
            advanced = outcome.advanced,
            folded = outcome.folded,
            failed = outcome.failed.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "applied batch to the legacy database"
        );
        outcome.failed
    }

    async fn apply_one_by_one(&self, session: &mut Session, orders: &[OrderEvents]) -> Outcome {
        let mut total = Outcome::default();
        for (i, order) in orders.iter().enumerate() {
            match self.apply_in_transaction(session, std::slice::from_ref(order)).await {
                Ok(outcome) => {
                    total.failed.extend(outcome.failed);
                    total.written += outcome.written;
                    total.advanced += outcome.advanced;
                    total.folded += outcome.folded;
                }
                Err(error) if unavailable(&error) => {
                    session.clean = false;
                    tracing::error!(error = %describe(&error), "legacy database failed: the rest of the batch will be retried");
                    total.failed.extend(failed_all(
                        orders[i..].iter().flat_map(|o| o.message_ids.iter().cloned()),
                        Failure::Transient,
                    ));
                    break;
                }
                Err(error) => {
                    let failure = failure_of(&error);
                    tracing::error!(error = %describe(&error), order_id = %order.order_id, ?failure, "order could not be applied: its messages will be retried");
                    total.failed.extend(failed_all(order.message_ids.iter().cloned(), failure));
                }
            }
        }
        total
    }

    /// One transaction for `orders`. On error nothing was applied and the
    /// session is clean again if the rollback went through.
    async fn apply_in_transaction(
        &self,
        session: &mut Session,
        orders: &[OrderEvents],
    ) -> Result<Outcome, tokio_postgres::Error> {
        session.clean = false;
        let client = &session.client;
        let result = self.lock_plan_and_write(client, orders).await;
        match &result {
            Ok(_) => session.clean = true,
            Err(_) => session.clean = !client.is_closed() && writer::rollback(client, &self.stats).await.is_ok(),
        }
        result
    }

    async fn lock_plan_and_write(
        &self,
        client: &tokio_postgres::Client,
        orders: &[OrderEvents],
    ) -> Result<Outcome, tokio_postgres::Error> {
        let ids: Vec<OrderId> = orders.iter().map(|o| o.order_id).collect();
        let applied = writer::begin_and_lock(client, &ids, &self.stats).await?;
        let mut changes = Changes::default();
        let mut outcome = Outcome::default();
        let mut to_fold = Vec::new();
        for order in orders {
            let applied = applied.get(&order.order_id).copied().unwrap_or(0);
            match plan::plan(applied, &order.events) {
                Plan::Fold => to_fold.push((order.clone(), applied)),
                planned => add(planned, order, &mut changes, &mut outcome),
            }
        }
        outcome.folded = to_fold.len();
        for (mut order, applied, loaded) in self.load(to_fold).await {
            match loaded {
                Ok(history) => {
                    order.merge(history);
                    match plan::plan(applied, &order.events) {
                        Plan::Fold => add(Plan::Invalid(RowError::Gap), &order, &mut changes, &mut outcome),
                        planned => add(planned, &order, &mut changes, &mut outcome),
                    }
                }
                Err(error) => {
                    let failure = match error {
                        // A newer build's event, as a newer message: redriven after the upgrade.
                        StoreError::Corrupt(_) | StoreError::NewerThanBuild(_) => Failure::Poison,
                        StoreError::Unavailable(_) | StoreError::Conflict { .. } => Failure::Transient,
                    };
                    tracing::warn!(%error, order_id = %order.order_id, ?failure, "cannot fold the order from the event store: its messages will be retried");
                    outcome.failed.extend(failed_all(order.message_ids, failure));
                }
            }
        }
        writer::write_and_commit(client, &changes, &self.stats).await?;
        Ok(outcome)
    }

    /// Loads the history of every order to fold, concurrently.
    async fn load(
        &self,
        orders: Vec<(OrderEvents, u32)>,
    ) -> Vec<(OrderEvents, u32, Result<Vec<Envelope>, StoreError>)> {
        self.stats.store_loads.fetch_add(orders.len() as u64, Ordering::Relaxed);
        let mut loads = JoinSet::new();
        for (i, (order, _)) in orders.iter().enumerate() {
            let (store, order_id) = (self.store.clone(), order.order_id);
            loads.spawn(async move { (i, store.load(order_id).await) });
        }
        let mut histories: HashMap<usize, Result<Vec<Envelope>, StoreError>> = HashMap::new();
        while let Some(joined) = loads.join_next().await {
            let (i, history) = joined.expect("event store loads do not panic");
            histories.insert(i, history);
        }
        orders
            .into_iter()
            .enumerate()
            .map(|(i, (order, applied))| (order, applied, histories.remove(&i).expect("one result per order")))
            .collect()
    }
}

fn add(planned: Plan, order: &OrderEvents, changes: &mut Changes, outcome: &mut Outcome) {
    match planned {
        Plan::UpToDate => {}
        Plan::Write(row) => {
            outcome.written += 1;
            changes.write(row);
        }
        Plan::Advance(advance) => {
            outcome.advanced += 1;
            changes.advance(advance);
        }
        Plan::Fold => unreachable!("folds are planned again after loading"),
        Plan::Invalid(error) => {
            tracing::error!(%error, order_id = %order.order_id, "events cannot become legacy rows: poison, dead-lettered");
            outcome.failed.extend(failed_all(order.message_ids.iter().cloned(), Failure::Poison));
        }
    }
}

/// Errors that say nothing about the batch's data: no answer, a broken
/// connection, a cancelled statement (timeout), server resources or state.
/// Retrying the batch later is the only remedy.
fn unavailable(error: &tokio_postgres::Error) -> bool {
    match error.code() {
        None => true,
        Some(code) => matches!(&code.code()[..2], "08" | "53" | "57" | "58" | "XX"),
    }
}

/// An order's own transaction failed: transient when the database was
/// unavailable, the transaction lost a serialization or deadlock conflict
/// (class 40) or waited for a lock in vain (55P03), which a later try can
/// win; poison when a statement refused the order's data.
fn failure_of(error: &tokio_postgres::Error) -> Failure {
    match error.code() {
        Some(code) if !unavailable(error) && !code.code().starts_with("40") && code.code() != "55P03" => {
            Failure::Poison
        }
        _ => Failure::Transient,
    }
}

#[async_trait]
impl Projection for LegacySync {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        self.apply_batch(batch).await
    }
}
