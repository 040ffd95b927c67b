//! `orders`, the ops CLI of the order platform, as a library: the binary
//! (`src/bin/orders.rs`) parses flags and prints; everything it does is here.
//!
//! - [`stack`]: which stack, and the names of its tables and queues.
//! - [`scan`] and [`state`]: a resumable parallel scan of the events table.
//! - [`republish`]: backfill one subscriber's queue.
//! - [`dlq`]: dead-letter queues: list, show, redrive.
//! - [`rebuild`]: projections rebuilt through their live code.
//! - [`catalog`]: the catalog import from the legacy shop.
//! - [`trace`]: one order's trace as a waterfall.
//! - [`output`]: tables, JSON, progress bars.

pub mod catalog;
pub mod dlq;
pub mod output;
pub mod rebuild;
pub mod republish;
pub mod scan;
pub mod stack;
pub mod state;
pub mod trace;
