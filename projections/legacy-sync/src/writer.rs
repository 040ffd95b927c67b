//! The SQL of one batch: two round trips whatever the batch size.
//!
//! 1. `BEGIN` + lock (pipelined): one statement locks the bookkeeping row of
//!    every order in the batch, creating missing ones at version 0, and
//!    returns the applied versions. Later batches touching the same orders
//!    wait here until this transaction ends, so plans made from these
//!    versions stay true until commit.
//! 2. Writes + `COMMIT` (pipelined): whole rows (`shop_order` upsert, lines
//!    upsert with product links, basket locks and links), status advances,
//!    and the new applied versions — each one multi-row statement over
//!    `unnest` arrays.
//!
//! Statements are sent with their parameter types (`execute_typed`), so
//! each is one message with nothing prepared, and `try_join!(biased; …)`
//! sends them in order before awaiting any answer. If one fails the server
//! rejects the rest and turns the `COMMIT` into a rollback: nothing of the
//! batch is applied.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use domain::OrderId;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;
use tracing::Instrument;
use uuid::Uuid;

use crate::plan::Advance;
use crate::rows::LegacyOrder;

const LOCK_ORDERS: &str = "
INSERT INTO order_sync.applied AS a (order_id, version)
SELECT order_id, 0 FROM unnest($1::uuid[]) AS t(order_id) ORDER BY order_id
ON CONFLICT (order_id) DO UPDATE SET version = a.version
RETURNING order_id, version";

const UPSERT_ORDERS: &str = "
INSERT INTO shop_order (id, customer_id, basket_id, status, currency, total, placed_at, updated_at)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::int8[], $7::timestamptz[], $8::timestamptz[])
ON CONFLICT (id) DO UPDATE SET
    customer_id = EXCLUDED.customer_id, basket_id = EXCLUDED.basket_id, status = EXCLUDED.status,
    currency = EXCLUDED.currency, total = EXCLUDED.total,
    placed_at = EXCLUDED.placed_at, updated_at = EXCLUDED.updated_at";

/// Lines are upserted by (order, sku) so their serial ids stay put when an
/// order is written again; lines the order no longer has are deleted.
const UPSERT_LINES: &str = "
WITH line AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int4[]) AS l(order_id, sku, item_price, quantity)
), gone AS (
    DELETE FROM shop_orderitem i
    WHERE i.order_id = ANY($5::uuid[])
      AND NOT EXISTS (SELECT 1 FROM line WHERE line.order_id = i.order_id AND line.sku = i.sku)
)
INSERT INTO shop_orderitem (order_id, product_id, sku, item_price, quantity)
SELECT line.order_id, product.id, line.sku, line.item_price, line.quantity
FROM line LEFT JOIN shop_product product ON product.slug = line.sku
ON CONFLICT (order_id, sku) DO UPDATE SET
    product_id = EXCLUDED.product_id, item_price = EXCLUDED.item_price, quantity = EXCLUDED.quantity";

/// Locks the baskets about to be linked (in id order: no deadlocks), so
/// that two transactions linking one basket take turns, and the second's
/// `LINK_BASKETS`, a later statement with a later snapshot, sees the
/// first's order (READ COMMITTED).
const LOCK_BASKETS: &str = "SELECT id FROM shop_basket WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE";

/// A basket named by several orders links to the latest placed of them
/// (ties by id), whatever order they arrive in and however many consumers
/// apply them. A link the legacy shop wrote that is not an order id of
/// ours is replaced.
const LINK_BASKETS: &str = "
UPDATE shop_basket b SET order_id = l.order_id::text
FROM unnest($1::uuid[], $2::uuid[], $3::timestamptz[]) AS l(basket_id, order_id, placed_at)
WHERE b.id = l.basket_id
  AND b.order_id IS DISTINCT FROM l.order_id::text
  AND NOT EXISTS (
      SELECT 1 FROM shop_order linked
      WHERE linked.id = CASE WHEN b.order_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                             THEN b.order_id::uuid END
        AND (linked.placed_at, linked.id) > (l.placed_at, l.order_id))";

const ADVANCE_ORDERS: &str = "
UPDATE shop_order o SET status = COALESCE(c.status, o.status), updated_at = c.updated_at
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS c(id, status, updated_at)
WHERE o.id = c.id";

const SET_VERSIONS: &str = "
UPDATE order_sync.applied a SET version = v.version, applied_at = now()
FROM unnest($1::uuid[], $2::int4[]) AS v(order_id, version)
WHERE a.order_id = v.order_id";

/// Requests sent to the legacy database, for logs and the benchmark.
#[derive(Debug, Default)]
pub struct SyncStats {
    pub batches: AtomicU64,
    pub events: AtomicU64,
    /// Waits for the server: pipelined statements share one.
    pub round_trips: AtomicU64,
    pub statements: AtomicU64,
    /// Orders folded from the event store because a predecessor was missing.
    pub store_loads: AtomicU64,
}

impl SyncStats {
    fn flight(&self, statements: u64) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
        self.statements.fetch_add(statements, Ordering::Relaxed);
    }
}

/// Flight 1: opens the transaction and locks every order of the batch.
/// Returns the applied version of each.
pub async fn begin_and_lock(
    client: &Client,
    order_ids: &[OrderId],
    stats: &SyncStats,
) -> Result<HashMap<OrderId, u32>, tokio_postgres::Error> {
    let ids: Vec<Uuid> = order_ids.iter().map(|id| id.0).collect();
    let lock_orders: [(&(dyn ToSql + Sync), Type); 1] = [(&ids, Type::UUID_ARRAY)];
    stats.flight(2);
    let ((), rows) = tokio::try_join!(
        biased;
        client.batch_execute("BEGIN").instrument(statement("BEGIN")),
        client.query_typed(LOCK_ORDERS, &lock_orders).instrument(statement("LOCK_ORDERS")),
    )?;
    Ok(rows
        .iter()
        .map(|row| (OrderId(row.get(0)), u32::try_from(row.get::<_, i32>(1)).expect("the column checks version >= 0")))
        .collect())
}

/// What a batch writes, as the column arrays of its statements.
#[derive(Default)]
pub struct Changes {
    orders: OrderColumns,
    lines: LineColumns,
    baskets: HashMap<Uuid, (Uuid, DateTime<Utc>)>,
    advances: AdvanceColumns,
    versions: (Vec<Uuid>, Vec<i32>),
}

#[derive(Default)]
struct OrderColumns {
    id: Vec<Uuid>,
    customer_id: Vec<String>,
    basket_id: Vec<Option<Uuid>>,
    status: Vec<&'static str>,
    currency: Vec<String>,
    total: Vec<i64>,
    placed_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
}

#[derive(Default)]
struct LineColumns {
    order_id: Vec<Uuid>,
    sku: Vec<String>,
    item_price: Vec<i32>,
    quantity: Vec<i32>,
}

#[derive(Default)]
struct AdvanceColumns {
    id: Vec<Uuid>,
    status: Vec<Option<&'static str>>,
    updated_at: Vec<DateTime<Utc>>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.versions.0.is_empty()
    }

    pub fn write(&mut self, row: LegacyOrder) {
        let id = row.order_id.0;
        let o = &mut self.orders;
        o.id.push(id);
        o.customer_id.push(row.customer_id);
        o.basket_id.push(row.basket_id);
        o.status.push(row.status.as_lowercase());
        o.currency.push(row.currency);
        o.total.push(row.total);
        o.placed_at.push(row.placed_at);
        o.updated_at.push(row.updated_at);
        for line in row.lines {
            self.lines.order_id.push(id);
            self.lines.sku.push(line.sku);
            self.lines.item_price.push(line.item_price);
            self.lines.quantity.push(line.quantity);
        }
        if let Some(basket) = row.basket_id {
            // One update per basket: the latest placed order of the batch.
            let candidate = (id, row.placed_at);
            let linked = self.baskets.entry(basket).or_insert(candidate);
            if (candidate.1, candidate.0) > (linked.1, linked.0) {
                *linked = candidate;
            }
        }
        self.version(id, row.version);
    }

    pub fn advance(&mut self, advance: Advance) {
        self.advances.id.push(advance.order_id.0);
        self.advances.status.push(advance.status.map(|s| s.as_lowercase()));
        self.advances.updated_at.push(advance.updated_at);
        self.version(advance.order_id.0, advance.version);
    }

    fn version(&mut self, order_id: Uuid, version: u32) {
        self.versions.0.push(order_id);
        self.versions.1.push(i32::try_from(version).expect("plans refuse versions beyond i32"));
    }
}

/// Flight 2: every write of the batch, then `COMMIT`.
pub async fn write_and_commit(
    client: &Client,
    changes: &Changes,
    stats: &SyncStats,
) -> Result<(), tokio_postgres::Error> {
    if changes.is_empty() {
        stats.flight(1);
        return client.batch_execute("COMMIT").instrument(statement("COMMIT")).await;
    }
    let o = &changes.orders;
    let l = &changes.lines;
    let a = &changes.advances;
    let basket_ids: Vec<Uuid> = changes.baskets.keys().copied().collect();
    let basket_orders: Vec<Uuid> = basket_ids.iter().map(|b| changes.baskets[b].0).collect();
    let basket_placed: Vec<DateTime<Utc>> = basket_ids.iter().map(|b| changes.baskets[b].1).collect();
    let (uuids, texts, int8s, int4s, times) =
        (Type::UUID_ARRAY, Type::TEXT_ARRAY, Type::INT8_ARRAY, Type::INT4_ARRAY, Type::TIMESTAMPTZ_ARRAY);
    let upsert_orders: [(&(dyn ToSql + Sync), Type); 8] = [
        (&o.id, uuids.clone()),
        (&o.customer_id, texts.clone()),
        (&o.basket_id, uuids.clone()),
        (&o.status, texts.clone()),
        (&o.currency, texts.clone()),
        (&o.total, int8s),
        (&o.placed_at, times.clone()),
        (&o.updated_at, times.clone()),
    ];
    let upsert_lines: [(&(dyn ToSql + Sync), Type); 5] = [
        (&l.order_id, uuids.clone()),
        (&l.sku, texts.clone()),
        (&l.item_price, int4s.clone()),
        (&l.quantity, int4s.clone()),
        (&o.id, uuids.clone()),
    ];
    let lock_baskets: [(&(dyn ToSql + Sync), Type); 1] = [(&basket_ids, uuids.clone())];
    let link_baskets: [(&(dyn ToSql + Sync), Type); 3] =
        [(&basket_ids, uuids.clone()), (&basket_orders, uuids.clone()), (&basket_placed, times.clone())];
    let advance_orders: [(&(dyn ToSql + Sync), Type); 3] =
        [(&a.id, uuids.clone()), (&a.status, texts), (&a.updated_at, times)];
    let set_versions: [(&(dyn ToSql + Sync), Type); 2] = [(&changes.versions.0, uuids), (&changes.versions.1, int4s)];
    stats.flight(7);
    tokio::try_join!(
        biased;
        client.execute_typed(UPSERT_ORDERS, &upsert_orders).instrument(statement("UPSERT_ORDERS")),
        client.execute_typed(UPSERT_LINES, &upsert_lines).instrument(statement("UPSERT_LINES")),
        client.execute_typed(LOCK_BASKETS, &lock_baskets).instrument(statement("LOCK_BASKETS")),
        client.execute_typed(LINK_BASKETS, &link_baskets).instrument(statement("LINK_BASKETS")),
        client.execute_typed(ADVANCE_ORDERS, &advance_orders).instrument(statement("ADVANCE_ORDERS")),
        client.execute_typed(SET_VERSIONS, &set_versions).instrument(statement("SET_VERSIONS")),
        client.batch_execute("COMMIT").instrument(statement("COMMIT")),
    )?;
    Ok(())
}

/// Ends a transaction an error left open (a no-op, with a server warning,
/// when the pipelined `COMMIT` already ended it).
pub async fn rollback(client: &Client, stats: &SyncStats) -> Result<(), tokio_postgres::Error> {
    stats.flight(1);
    client.batch_execute("ROLLBACK").instrument(statement("ROLLBACK")).await
}

/// One statement's span (pipelined statements overlap): named by the
/// constant that holds its SQL, which stays out of the trace.
fn statement(name: &'static str) -> tracing::Span {
    tracing::info_span!("postgres", "db.system" = "postgresql", "db.statement" = name)
}
