//! The port: pick requests, each written only by an event newer than the
//! one it last applied, so duplicates and reordering change nothing.

use async_trait::async_trait;
use aws_error::AwsError;
use chrono::{DateTime, Utc};
use domain::{OrderId, Sku};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PickStatus {
    /// To be picked: the order is confirmed.
    Open,
    /// Not to be picked: the order was cancelled.
    Cancelled,
    /// Picked and gone: the order shipped.
    Closed,
}

impl PickStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PickStatus::Open => "open",
            PickStatus::Cancelled => "cancelled",
            PickStatus::Closed => "closed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [PickStatus::Open, PickStatus::Cancelled, PickStatus::Closed].into_iter().find(|s| s.as_str() == value)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PickLine {
    pub sku: Sku,
    pub quantity: u32,
}

/// What the warehouse is asked to pick for one order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PickRequest {
    pub order_id: OrderId,
    pub status: PickStatus,
    /// The order's lines; empty when the order was cancelled before it was
    /// confirmed: nothing is to be picked.
    pub lines: Vec<PickLine>,
    /// When the first event of the request happened (OrderConfirmed's `occurredAt`).
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The order version of the last event applied.
    pub version: u32,
}

/// One event's effect on a pick request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PickUpdate {
    pub order_id: OrderId,
    pub version: u32,
    pub status: PickStatus,
    /// Set by OrderConfirmed; the other events leave the lines as they are.
    pub lines: Option<Vec<PickLine>>,
    /// The request's `created_at` if this update creates it.
    pub created_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum FulfillmentError {
    /// The store did not answer; the SDK error is kept as the source.
    #[error("fulfillment store unavailable: {0}")]
    Unavailable(#[source] AwsError),
    #[error("corrupt pick request: {0}")]
    Corrupt(String),
}

#[async_trait]
pub trait FulfillmentStore: Send + Sync {
    /// Applies `update` if the order has no pick request yet or its request
    /// was last written by an older version; answers whether it applied.
    async fn apply(&self, update: &PickUpdate) -> Result<bool, FulfillmentError>;

    async fn get(&self, order_id: OrderId) -> Result<Option<PickRequest>, FulfillmentError>;
}
