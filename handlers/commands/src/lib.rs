//! Runs one command against one order: load its events, `decide`, append the
//! new events with a conditional write. The same code serves the API Lambda,
//! the inventory saga, the local runner and the tests.

pub mod backoff;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use order_domain::ports::{Clock, EventStore, StoreError};
use order_domain::{decide, fold, Command, DomainError, Envelope, HotList, Order, OrderId};
use uuid::Uuid;

/// Who asks, for tracing: carried into every event the command appends.
#[derive(Clone, Debug)]
pub struct CommandContext {
    pub command_id: Uuid,
    pub correlation_id: String,
    /// The upstream `eventId` for saga commands; the command id otherwise.
    pub causation_id: String,
    /// From `If-Match`: the version the caller last saw.
    pub expected_version: Option<u32>,
}

impl CommandContext {
    pub fn new(correlation_id: impl Into<String>) -> Self {
        let command_id = Uuid::new_v4();
        CommandContext {
            command_id,
            correlation_id: correlation_id.into(),
            causation_id: command_id.to_string(),
            expected_version: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct CommandOutcome {
    /// The order after the command (unchanged when it was a no-op).
    pub order: Order,
    /// What was appended; empty when the command changed nothing.
    pub appended: Vec<Envelope>,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// `If-Match` named a version the order is no longer (or not yet) at.
    #[error("the order is not at version {expected}")]
    VersionMismatch { expected: u32 },
    /// Another writer won the conditional write (and retries, if any, ran out).
    #[error("the order was changed concurrently")]
    Concurrency,
    #[error(transparent)]
    Store(StoreError),
}

/// How often to decide again after losing a conditional write.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
}

impl RetryPolicy {
    /// The API answers 409/412 at once: the caller decides what to do.
    pub const NONE: RetryPolicy = RetryPolicy { attempts: 1, base_delay: Duration::ZERO };
    /// Internal (saga) commands must eventually land: retry with jitter.
    pub const INTERNAL: RetryPolicy = RetryPolicy { attempts: 20, base_delay: Duration::from_millis(5) };
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Clone)]
pub struct OrderService {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    /// Decides the lane of the orders this service places (none hot by default).
    hot_list: Arc<HotList>,
}

impl OrderService {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self::with_clock(store, Arc::new(SystemClock))
    }

    pub fn with_clock(store: Arc<dyn EventStore>, clock: Arc<dyn Clock>) -> Self {
        OrderService { store, clock, hot_list: Arc::default() }
    }

    /// Orders this service places with a SKU of `hot_list` travel in the hot
    /// lane. Only placing reads the list: every later event of an order
    /// keeps the lane stored with its first, whatever the list says by then.
    pub fn with_hot_list(mut self, hot_list: HotList) -> Self {
        self.hot_list = Arc::new(hot_list);
        self
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The current state of an order, or `None` if it was never placed.
    pub async fn get(&self, order_id: OrderId) -> Result<Option<Order>, StoreError> {
        Ok(fold(&self.store.load(order_id).await?))
    }

    pub async fn execute(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
        retry: RetryPolicy,
    ) -> Result<CommandOutcome, CommandError> {
        let mut attempt = 1;
        loop {
            match self.try_execute(order_id, command, context).await {
                Err(CommandError::Concurrency) if attempt < retry.attempts => {
                    backoff::pause(retry.base_delay, attempt).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn try_execute(
        &self,
        order_id: OrderId,
        command: &Command,
        context: &CommandContext,
    ) -> Result<CommandOutcome, CommandError> {
        let (history, lane) = self.store.load_with_lane(order_id).await.map_err(CommandError::Store)?;
        let state = fold(&history);
        let current_version = state.as_ref().map_or(0, |o| o.version);
        if let Some(expected) = context.expected_version {
            if expected != current_version {
                return Err(CommandError::VersionMismatch { expected });
            }
        }
        let events = decide(state.as_ref(), command)?;
        let occurred_at = self.clock.now().trunc_subsecs(3);
        let appended: Vec<Envelope> = events
            .into_iter()
            .zip(current_version + 1..)
            .map(|(event, version)| Envelope {
                event_id: Uuid::new_v4(),
                order_id,
                version,
                occurred_at,
                correlation_id: context.correlation_id.clone(),
                causation_id: context.causation_id.clone(),
                event,
            })
            .collect();
        if appended.is_empty() {
            // `decide` only returns nothing for an existing order.
            let order = state.ok_or(CommandError::Domain(DomainError::NotFound))?;
            return Ok(CommandOutcome { order, appended });
        }
        let lane = self.hot_list.lane_for(lane, appended.iter().map(|e| &e.event));
        match self.store.append_in_lane(&appended, lane).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) if context.expected_version.is_some() => {
                // The version the caller named is gone: its precondition failed.
                return Err(CommandError::VersionMismatch { expected: current_version });
            }
            Err(StoreError::Conflict { .. }) => return Err(CommandError::Concurrency),
            Err(e) => return Err(CommandError::Store(e)),
        }
        let order = appended.iter().fold(state, order_domain::evolve).expect("a new event always yields an order");
        Ok(CommandOutcome { order, appended })
    }
}
