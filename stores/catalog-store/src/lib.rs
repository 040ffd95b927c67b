//! Catalog items per SKU (DESIGN.md "Catalog"): the adapters of
//! [`domain::Catalog`] and the cache an API instance prices orders from.
//!
//! - [`DynamoCatalog`] / [`MemoryCatalog`]: the adapters, held to one
//!   contract suite (`tests/contract.rs`).
//! - [`CachedCatalog`]: items kept per instance for a bounded time, so a
//!   warm instance prices an order without a request.

mod cached;
mod dynamo;
mod memory;

pub use cached::{CachedCatalog, MAX_ENTRIES, MAX_TTL};
pub use dynamo::DynamoCatalog;
pub use memory::MemoryCatalog;
