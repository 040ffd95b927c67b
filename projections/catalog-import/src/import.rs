//! The import: `shop_product` read a page at a time in slug order (keyset
//! pagination: `slug` is unique), each product compared with the catalog's
//! item, and only the differences written, through
//! [`ProductCatalog::put_product`] (the merchandiser's limit is kept).
//!
//! Idempotent: a second run over an unchanged shop writes nothing.
//! Resumable: after each page the [`Checkpoint`] (the last slug done and
//! the counts so far) says where to continue; a page that failed part-way
//! is compared and written again, which changes only what is still
//! different. Each page is one short query, so the shop's database never
//! holds a long transaction for the import.

use domain::{Currency, ProductCatalog, Sku};
use futures_util::{StreamExt, TryStreamExt};
use legacy_sync::{ConnectError, DatabaseSource};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::product::{difference, Change, Difference, InvalidProduct, ShopProduct};

/// Products read per query: one page's catalog reads are this many keys
/// (`BatchGetItem`s of 100).
pub const DEFAULT_PAGE_SIZE: u32 = 500;

/// Catalog writes in flight at once.
const WRITES_AT_ONCE: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("reading shop_product: {}", legacy_sync::connection::describe(.0))]
    Postgres(#[source] tokio_postgres::Error),
    #[error(transparent)]
    Catalog(#[from] domain::CatalogError),
}

impl From<tokio_postgres::Error> for ImportError {
    fn from(error: tokio_postgres::Error) -> Self {
        ImportError::Postgres(error)
    }
}

/// What an import is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// The currency of the shop's prices ([`crate::shop_currency`]).
    pub currency: Currency,
    pub page_size: u32,
    /// Compare and report, write nothing.
    pub dry_run: bool,
    /// The purchase limit of an item the import creates (an existing item
    /// keeps its own): none, but for the local runner's demo catalog.
    pub new_item_limit: fn(&Sku) -> Option<u32>,
}

impl Options {
    pub fn new(currency: Currency) -> Self {
        Options { currency, page_size: DEFAULT_PAGE_SIZE, dry_run: false, new_item_limit: |_| None }
    }
}

/// How many products the import read and what it did with them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Rows of `shop_product` read.
    pub products: u64,
    pub unchanged: u64,
    pub created: u64,
    pub updated: u64,
    pub deactivated: u64,
    /// Rows that are no valid catalog item (logged, not imported).
    pub skipped: u64,
}

impl Counts {
    /// Items created, updated or deactivated (in a dry run: that would be).
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.deactivated
    }

    fn count(&mut self, change: Change) {
        match change {
            Change::Created => self.created += 1,
            Change::Updated => self.updated += 1,
            Change::Deactivated => self.deactivated += 1,
        }
    }
}

/// Where an import stands: every product up to `after` (in slug order) is
/// done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The last slug done; none before the first page.
    pub after: Option<String>,
    pub counts: Counts,
}

/// What one page did.
#[derive(Debug, Default)]
pub struct Page {
    pub products: usize,
    /// Written, or in a dry run to be written.
    pub differences: Vec<Difference>,
    pub skipped: Vec<InvalidProduct>,
}

/// Connects to the shop's database and imports every product (the
/// scheduled Lambda's and the runner's one-shot import).
pub async fn import_all(
    source: &DatabaseSource,
    catalog: &dyn ProductCatalog,
    options: Options,
) -> Result<Counts, ImportError> {
    let client = source.connect().await?;
    Import::new(&client, catalog, options).run().await
}

/// How many products the shop has (a progress bar's length).
pub async fn count_products(client: &Client) -> Result<u64, ImportError> {
    let count: i64 = client.query_one("SELECT count(*) FROM shop_product", &[]).await?.get(0);
    Ok(u64::try_from(count).unwrap_or_default())
}

/// An import under way, a page at a time ([`Import::next_page`]) or to the
/// end ([`Import::run`]).
pub struct Import<'a> {
    client: &'a Client,
    catalog: &'a dyn ProductCatalog,
    options: Options,
    checkpoint: Checkpoint,
    finished: bool,
}

impl<'a> Import<'a> {
    /// From the first product on; [`Import::resume`] continues a checkpoint.
    pub fn new(client: &'a Client, catalog: &'a dyn ProductCatalog, options: Options) -> Self {
        Import { client, catalog, options, checkpoint: Checkpoint::default(), finished: false }
    }

    /// Continues after `checkpoint.after`, adding to its counts.
    pub fn resume(self, checkpoint: Checkpoint) -> Self {
        Import { checkpoint, ..self }
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// Imports the next page of products; `None` once every product was read.
    pub async fn next_page(&mut self) -> Result<Option<Page>, ImportError> {
        if self.finished {
            return Ok(None);
        }
        let rows = self.read_page().await?;
        let Some(last) = rows.last().map(|row| row.slug.clone()) else {
            self.finished = true;
            return Ok(None);
        };
        self.finished = rows.len() < self.options.page_size as usize;
        let mut page = Page { products: rows.len(), ..Page::default() };
        let mut products = Vec::new();
        for row in &rows {
            match row.to_item(&self.options.currency) {
                Ok(item) => products.push(item),
                Err(invalid) => {
                    tracing::warn!(%invalid, "shop_product row is no valid catalog item: skipped");
                    page.skipped.push(invalid);
                }
            }
        }
        let skus: Vec<Sku> = products.iter().map(|item| item.sku.clone()).collect();
        let current = self.catalog.items(&skus).await?;
        let mut writes = Vec::new();
        for product in products {
            match difference(current.get(&product.sku), &product) {
                Some(difference) => {
                    let limit = (self.options.new_item_limit)(&product.sku);
                    writes.push(domain::CatalogItem { max_per_customer: limit, ..product });
                    page.differences.push(difference);
                }
                None => self.checkpoint.counts.unchanged += 1,
            }
        }
        if !self.options.dry_run {
            futures_util::stream::iter(&writes)
                .map(|item| self.catalog.put_product(item))
                .buffer_unordered(WRITES_AT_ONCE)
                .try_collect::<Vec<()>>()
                .await?;
            for difference in &page.differences {
                tracing::info!(%difference, "catalog item written");
            }
        }
        let counts = &mut self.checkpoint.counts;
        counts.products += page.products as u64;
        counts.skipped += page.skipped.len() as u64;
        page.differences.iter().for_each(|d| counts.count(d.change));
        self.checkpoint.after = Some(last);
        Ok(Some(page))
    }

    /// Imports every remaining page.
    pub async fn run(mut self) -> Result<Counts, ImportError> {
        while self.next_page().await?.is_some() {}
        Ok(self.checkpoint.counts)
    }

    async fn read_page(&self) -> Result<Vec<ShopProduct>, ImportError> {
        const COLUMNS: &str = "SELECT slug, title, price, deleted_at IS NOT NULL FROM shop_product";
        let limit = i64::from(self.options.page_size);
        let rows = match &self.checkpoint.after {
            None => self.client.query(&format!("{COLUMNS} ORDER BY slug LIMIT $1"), &[&limit]).await?,
            Some(after) => {
                let sql = format!("{COLUMNS} WHERE slug > $1 ORDER BY slug LIMIT $2");
                self.client.query(&sql, &[after, &limit]).await?
            }
        };
        Ok(rows
            .iter()
            .map(|row| ShopProduct { slug: row.get(0), title: row.get(1), price: row.get(2), withdrawn: row.get(3) })
            .collect())
    }
}
