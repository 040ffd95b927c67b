//! The order domain: pure logic with no AWS, no async runtime and no I/O.
//!
//! Read it in this order: [`values`] (validated value types), [`command`],
//! [`event`], [`order`] (state and `evolve`), [`decide`], [`catalog`]
//! (prices, and pricing an order), [`limit`] (purchase limits), [`envelope`]
//! (what is stored and published), [`upcast`] (reading every version ever
//! written), [`lane`] (which queue an order's events
//! travel in), [`ports`] (what adapters implement), [`access`] (who may do
//! what).

pub mod access;
pub mod catalog;
pub mod command;
pub mod decide;
pub mod envelope;
pub mod event;
pub mod lane;
pub mod limit;
pub mod order;
pub mod ports;
pub mod schema;
pub mod upcast;
pub mod values;

pub use catalog::{
    Catalog, CatalogError, CatalogItem, OrderRequest, PricingRefusal, ProductCatalog, RequestedLine, Title,
};
pub use command::{Command, LinesError, PlaceOrder};
pub use decide::{decide, DomainError};
pub use envelope::{Envelope, EnvelopeError, EventMeta};
pub use event::{EventType, OrderEvent};
pub use lane::{HotList, HotListError, Lane, DEFAULT_HOT_SKUS};
pub use order::{evolve, fold, Order, OrderStatus};
pub use values::{Currency, CustomerId, OrderId, OrderLine, Reason, Sku, TrackingNumber};
