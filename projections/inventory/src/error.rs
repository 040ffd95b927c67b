//! What can fail in a saga step. A failed step's messages, and those of the
//! order's later steps in the batch, go back to SQS for a retry.

use std::sync::Arc;

use commands::CommandError;
use inventory_store::store::{CommitError, InventoryError};

use domain::ports::StoreError;
use domain::CatalogError;
use sqs_consumer::Failure;

use crate::reservation::MAX_ATTEMPTS;

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    #[error(transparent)]
    Store(#[from] InventoryError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("confirming or rejecting the order failed: {0}")]
    Command(#[from] CommandError),
    /// The purchase limits could not be read; shared by every order that
    /// waited on the read.
    #[error("reading the purchase limits failed: {0}")]
    Catalog(#[source] Arc<CatalogError>),
    #[error("gave up after {MAX_ATTEMPTS} attempts contended by other writers")]
    Contended,
    #[error("stock is inconsistent with the reservation record: {0}")]
    Inconsistent(String),
}

impl SagaError {
    /// Transient when a store did not answer or writers contended past the
    /// in-process retries; poison when the data itself is refused (a
    /// corrupt item, a change no retry makes fit, a rule of the order) or
    /// is of a newer build (redriven after the upgrade, as a newer message).
    pub fn failure(&self) -> Failure {
        match self {
            SagaError::Store(e) | SagaError::Commit(CommitError::Store(e)) => inventory_failure(e),
            SagaError::Commit(CommitError::Contended) | SagaError::Contended => Failure::Transient,
            SagaError::Commit(CommitError::Refused { .. } | CommitError::TooLarge(_)) => Failure::Poison,
            SagaError::Command(
                CommandError::Store(StoreError::Corrupt(_) | StoreError::NewerThanBuild(_)) | CommandError::Domain(_),
            ) => Failure::Poison,
            SagaError::Command(
                CommandError::Store(StoreError::Unavailable(_) | StoreError::Conflict { .. })
                | CommandError::Concurrency
                | CommandError::VersionMismatch { .. },
            ) => Failure::Transient,
            SagaError::Catalog(e) => match e.as_ref() {
                CatalogError::Unavailable(_) => Failure::Transient,
                CatalogError::Corrupt(_) => Failure::Poison,
            },
            SagaError::Inconsistent(_) => Failure::Poison,
        }
    }
}

pub(crate) fn inventory_failure(error: &InventoryError) -> Failure {
    match error {
        InventoryError::Unavailable(_) => Failure::Transient,
        InventoryError::Corrupt(_) => Failure::Poison,
    }
}
