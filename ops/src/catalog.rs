//! `orders catalog import`: the catalog import from the legacy shop's
//! `shop_product` ([`catalog_import`], the code the scheduled Lambda and
//! the local runner run too), resumable from a checkpoint file.
//!
//! The checkpoint (the last slug done and the counts so far) is written to
//! the state folder after every page, one file per database, catalog table
//! and currency. An interrupted import resumes after the last page done
//! when the same command runs again; a finished one removes its file, so
//! the next run is a whole import again (which writes only what changed).
//! A dry run reads from the first product, records nothing and writes
//! nothing.

use std::io::IsTerminal;
use std::path::PathBuf;

use catalog_import::{count_products, Checkpoint, Counts, Difference, Import, InvalidProduct, Options};
use domain::ProductCatalog;
use indicatif::ProgressBar;
use legacy_sync::DatabaseSource;

use crate::output::bar;
use crate::stack::Error;
use crate::state;

pub struct ImportOptions {
    pub import: Options,
    /// Names the checkpoint: the catalog table.
    pub catalog_table: String,
    pub state_dir: PathBuf,
    /// Forget an interrupted import's checkpoint and start from the first product.
    pub restart: bool,
    /// Stop (as if interrupted) after this many pages.
    pub stop_after_pages: Option<u64>,
}

/// What `orders catalog import` did.
pub struct Outcome {
    /// Over the whole import, the resumed part included.
    pub counts: Counts,
    pub resumed: bool,
    /// Stopped before the last product: run again to resume.
    pub interrupted: bool,
    /// This run's differences: written, or in a dry run to be written.
    pub differences: Vec<Difference>,
    pub skipped: Vec<InvalidProduct>,
}

/// How progress is shown: a bar on a terminal, a line per page otherwise
/// (a log, CI).
pub enum Progress {
    Bar(ProgressBar),
    Lines { total: u64 },
}

impl Progress {
    /// On stderr, for `total` products.
    pub fn on_stderr(total: u64) -> Self {
        match std::io::stderr().is_terminal() {
            true => Progress::Bar(bar(Some(total), "products")),
            false => Progress::Lines { total },
        }
    }

    fn show(&self, checkpoint: &Checkpoint) {
        let counts = &checkpoint.counts;
        match self {
            Progress::Bar(bar) => bar.set_position(counts.products),
            Progress::Lines { total } => eprintln!(
                "catalog import: {}/{total} products, {} to write, up to {:?}",
                counts.products,
                counts.written(),
                checkpoint.after.as_deref().unwrap_or_default()
            ),
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// A checkpoint file's identity: the database (host, port, name), the
/// catalog table and the currency. A different one starts afresh.
async fn request(source: &DatabaseSource, options: &ImportOptions) -> Result<serde_json::Value, Error> {
    let settings = source.settings().await?;
    let config = &settings.config;
    Ok(serde_json::json!({
        "kind": "catalog-import",
        "database": format!("{:?}:{:?}/{}", config.get_hosts(), config.get_ports(), config.get_dbname().unwrap_or_default()),
        "catalogTable": options.catalog_table,
        "currency": options.import.currency.as_str(),
    }))
}

/// The shop's product count (the progress bar's length).
pub async fn products(source: &DatabaseSource) -> Result<u64, Error> {
    Ok(count_products(&source.connect().await?).await?)
}

/// Imports `source`'s products into `catalog`, resuming a recorded
/// checkpoint (unless `restart` or a dry run).
pub async fn import(
    source: &DatabaseSource,
    catalog: &dyn ProductCatalog,
    options: ImportOptions,
    progress: &Progress,
) -> Result<Outcome, Error> {
    let dry_run = options.import.dry_run;
    let request = request(source, &options).await?;
    let path = state::job_path(&options.state_dir, "catalog-import", &request.to_string());
    if options.restart {
        state::remove(&path);
    }
    let recorded: Option<Checkpoint> = if dry_run { None } else { state::load(&path, &request)? };
    let resumed = recorded.is_some();
    let client = source.connect().await?;
    let mut import = Import::new(&client, catalog, options.import);
    if let Some(checkpoint) = recorded {
        import = import.resume(checkpoint);
        progress.show(import.checkpoint());
    }
    let (mut differences, mut skipped, mut pages) = (Vec::new(), Vec::new(), 0);
    loop {
        if options.stop_after_pages.is_some_and(|stop| pages >= stop) {
            return Ok(Outcome {
                counts: import.checkpoint().counts,
                resumed,
                interrupted: true,
                differences,
                skipped,
            });
        }
        let page = import.next_page().await.map_err(|e| match dry_run {
            true => e.to_string(),
            false => format!("{e} (the checkpoint is kept: run the same command again to resume)"),
        })?;
        let Some(page) = page else { break };
        pages += 1;
        if !dry_run {
            state::save(&path, &request, import.checkpoint())?;
        }
        progress.show(import.checkpoint());
        differences.extend(page.differences);
        skipped.extend(page.skipped);
    }
    if !dry_run {
        state::remove(&path);
    }
    Ok(Outcome { counts: import.checkpoint().counts, resumed, interrupted: false, differences, skipped })
}
