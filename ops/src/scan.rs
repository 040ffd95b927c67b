//! `orders`' resumable scans: the event store's engine
//! ([`event_store::scan`]) with its progress in a state file
//! ([`crate::state::StateFile`]) and on a progress bar.

use std::sync::Arc;

pub use event_store::scan::{PageHandler, ScanJob, ScanOutcome, Segments};
use indicatif::ProgressBar;

use crate::stack::Error;
use crate::state::StateFile;

pub async fn run(
    job: ScanJob,
    state: StateFile,
    handler: Arc<dyn PageHandler>,
    bar: &ProgressBar,
) -> Result<ScanOutcome, Error> {
    let bar = bar.clone();
    Ok(event_store::scan::run(job, Arc::new(state), handler, move |p| bar.set_position(p.events)).await?)
}

/// The table's approximate item count, for a progress bar's length.
pub async fn approximate_events(client: &aws_sdk_dynamodb::Client, table: &str) -> Option<u64> {
    let out = client.describe_table().table_name(table).send().await.ok()?;
    out.table?.item_count.and_then(|n| u64::try_from(n).ok()).filter(|n| *n > 0)
}
