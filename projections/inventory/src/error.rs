//! What can fail in a saga step. A failed step's messages, and those of the
//! order's later steps in the batch, go back to SQS for a retry.

use commands::CommandError;
use inventory_store::store::{CommitError, InventoryError};

use crate::reservation::MAX_ATTEMPTS;

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    #[error(transparent)]
    Store(#[from] InventoryError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("confirming or rejecting the order failed: {0}")]
    Command(#[from] CommandError),
    #[error("gave up after {MAX_ATTEMPTS} attempts contended by other writers")]
    Contended,
    #[error("stock is inconsistent with the reservation record: {0}")]
    Inconsistent(String),
}
