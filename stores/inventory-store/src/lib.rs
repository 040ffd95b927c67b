//! Stock per SKU and the per-order reservation records the saga keeps with
//! it: what both the HTTP API (`GET`/`PUT /inventory/{sku}`) and the
//! inventory saga (`projections/inventory`) need, and nothing of either.
//!
//! - [`store`]: the port ([`InventoryStore`]) and its types.
//! - [`DynamoInventoryStore`] / [`MemoryInventoryStore`]: the adapters,
//!   held to one contract suite (`tests/it/store_contract.rs`).
//! - [`InventoryService`]: the merchandiser's reads and writes of stock.

mod dynamo;
mod memory;
mod service;
pub mod store;

pub use dynamo::DynamoInventoryStore;
pub use memory::MemoryInventoryStore;
pub use service::{InventoryService, SetAvailableError, MAX_AVAILABLE};
pub use store::{InventoryError, InventoryStore, Reservation, ReservationState, Stock};
