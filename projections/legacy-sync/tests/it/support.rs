//! Shared by the integration tests: a throwaway legacy database on the
//! local PostgreSQL server, order histories made by the real command
//! handler, and the legacy rows the event store's view implies.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use commands::{CommandContext, OrderService, RetryPolicy};
use domain::ports::{Clock, EventStore};
use domain::{
    fold, Command, Currency, CustomerId, Envelope, OrderId, OrderLine, PlaceOrder, Reason, Sku, TrackingNumber,
};
use legacy_sync::migrations::create_legacy_tables_if_missing;
use legacy_sync::settings::{ConnectionSettings, Tls};
use legacy_sync::{connect, migrate, DatabaseSource, LegacySync};
use sqs_consumer::Delivery;
use tokio_postgres::Client;
use uuid::Uuid;

const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own for one test, with the legacy schema and the
/// sync's migrations; dropped when the value is (even when the test panics).
pub struct TestDb {
    pub name: String,
    pub settings: ConnectionSettings,
    admin: ConnectionSettings,
}

impl TestDb {
    pub async fn create() -> Self {
        let db = Self::create_legacy_only().await;
        migrate(&mut db.client().await).await.expect("migrations run");
        db
    }

    /// The legacy schema only, before the sync's migrations.
    pub async fn create_legacy_only() -> Self {
        let url = std::env::var("LEGACY_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned());
        let admin = ConnectionSettings::from_url(&url).expect("LEGACY_DATABASE_URL is a postgres:// URL");
        let client = connect(&admin).await.unwrap_or_else(|error| {
            panic!(
                "PostgreSQL is not reachable at {url}: {error}. These tests need a PostgreSQL server: \
                 127.0.0.1:5432 with user postgres (trust), or LEGACY_DATABASE_URL (`scripts/local-stack env`)."
            )
        });
        let name = format!("legacy_test_{}", Uuid::new_v4().simple());
        client.batch_execute(&format!("CREATE DATABASE {name}")).await.expect("create the test database");
        let db = TestDb { settings: admin.with_dbname(&name), admin, name };
        let created = create_legacy_tables_if_missing(&db.client().await).await.expect("legacy/schema.sql loads");
        assert!(created, "a new database has no legacy tables yet");
        db
    }

    pub async fn client(&self) -> Client {
        connect(&self.settings).await.expect("connect to the test database")
    }

    pub fn source(&self) -> DatabaseSource {
        self.settings.clone().into()
    }

    pub fn sync(&self, store: Arc<dyn EventStore>) -> LegacySync {
        LegacySync::new(self.source(), store)
    }

    /// `host:port` of the PostgreSQL server.
    pub fn server_addr(&self) -> String {
        let host = match self.settings.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
            _ => "127.0.0.1".to_owned(),
        };
        format!("{host}:{}", self.settings.config.get_ports().first().copied().unwrap_or(5432))
    }

    /// This database reached through another local port (a `faults::TcpProxy`), in plain text.
    pub fn settings_via(&self, port: u16) -> ConnectionSettings {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user(self.settings.config.get_user().unwrap_or("postgres"))
            .dbname(&self.name);
        if let Some(password) = self.settings.config.get_password() {
            config.password(password);
        }
        config.connect_timeout(std::time::Duration::from_secs(2));
        ConnectionSettings { config, tls: Tls::Off, statement_timeout: self.settings.statement_timeout }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot be blocked on: use a thread of its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(async move {
                let client = connect(&admin).await.expect("connect to drop the test database");
                client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}", self.name);
        }
    }
}

/// Products in `shop_product`: slug → id.
pub async fn add_products(client: &Client, slugs: &[&str]) -> HashMap<String, Uuid> {
    let mut products = HashMap::new();
    for slug in slugs {
        let id = Uuid::new_v4();
        client
            .execute(
                "INSERT INTO shop_product (id, title, description, slug, in_stock, price) VALUES ($1, $2, '', $3, true, 1000)",
                &[&id, &format!("Product {slug}"), slug],
            )
            .await
            .expect("insert product");
        products.insert((*slug).to_owned(), id);
    }
    products
}

pub async fn add_basket(client: &Client) -> Uuid {
    let id = Uuid::new_v4();
    client.execute("INSERT INTO shop_basket (id) VALUES ($1)", &[&id]).await.expect("insert basket");
    id
}

/// A clock that moves a second and a bit on every reading, so every event
/// has its own `occurredAt` and a wrong `updated_at` cannot pass unseen.
pub struct TickingClock(AtomicI64);

impl Clock for TickingClock {
    fn now(&self) -> DateTime<Utc> {
        let millis = self.0.fetch_add(1_001, Ordering::Relaxed);
        Utc.timestamp_millis_opt(millis).single().expect("in range")
    }
}

/// The real command handler on `store`, with a [`TickingClock`].
pub fn order_service(store: Arc<dyn EventStore>) -> OrderService {
    OrderService::with_clock(store, Arc::new(TickingClock(AtomicI64::new(1_795_000_000_000))))
}

/// What happens to an order after it is placed.
#[derive(Clone, Copy, Debug)]
pub enum Next {
    Confirm,
    Reject,
    Cancel,
    Ship,
}

pub struct NewOrder {
    pub customer_id: String,
    pub basket_id: Option<Uuid>,
    pub lines: Vec<(String, u32, u64)>,
    pub then: Vec<Next>,
}

/// Places the order through the real command handler and runs the later
/// commands; commands the order's state does not allow are skipped, as the
/// API would refuse them. Returns the order's events.
pub async fn run_order(service: &OrderService, order_id: OrderId, order: &NewOrder) -> Vec<Envelope> {
    let place = Command::Place(PlaceOrder {
        customer_id: CustomerId::parse(&order.customer_id).expect("valid customer id"),
        basket_id: order.basket_id,
        currency: Currency::parse("EUR").expect("EUR"),
        lines: order
            .lines
            .iter()
            .map(|(sku, quantity, price)| OrderLine {
                sku: Sku::parse(sku).expect("valid sku"),
                quantity: *quantity,
                unit_price_cents: *price,
            })
            .collect(),
    });
    let context = CommandContext::new(format!("test-{order_id}"));
    let mut events = service.execute(order_id, &place, &context, RetryPolicy::NONE).await.expect("place").appended;
    for next in &order.then {
        let command = match next {
            Next::Confirm => Command::Confirm,
            Next::Reject => Command::Reject { reason: Reason::parse("out of stock").unwrap(), shortages: vec![] },
            Next::Cancel => Command::Cancel { reason: Some(Reason::parse("changed my mind").unwrap()) },
            Next::Ship => Command::Ship { tracking_number: Some(TrackingNumber::parse("TRACK-1").unwrap()) },
        };
        if let Ok(outcome) = service.execute(order_id, &command, &context, RetryPolicy::NONE).await {
            events.extend(outcome.appended);
        }
    }
    events
}

pub fn deliveries<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> Vec<Delivery> {
    events
        .into_iter()
        .map(|e| Delivery {
            message_id: format!("msg-{}", Uuid::new_v4()),
            envelope: e.clone(),
            lane: None,
            traceparent: None,
        })
        .collect()
}

/// One order's legacy rows, as read back or as expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderRows {
    pub customer_id: String,
    pub basket_id: Option<Uuid>,
    pub status: String,
    pub currency: String,
    pub total: i64,
    pub placed_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// sku → (product_id, item_price, quantity)
    pub lines: BTreeMap<String, (Option<Uuid>, i32, i32)>,
}

/// The legacy rows of `order_ids` (all orders when `None`), read in one
/// statement so that they come from one snapshot.
pub async fn read_rows(client: &Client, order_ids: Option<&[Uuid]>) -> BTreeMap<Uuid, OrderRows> {
    let ids: Option<Vec<Uuid>> = order_ids.map(<[Uuid]>::to_vec);
    let joined = client
        .query(
            "SELECT o.id, o.customer_id, o.basket_id, o.status, o.currency, o.total, o.placed_at, o.updated_at,
                    i.sku, i.product_id, i.item_price, i.quantity
             FROM shop_order o LEFT JOIN shop_orderitem i ON i.order_id = o.id
             WHERE $1::uuid[] IS NULL OR o.id = ANY($1)",
            &[&ids],
        )
        .await
        .expect("read shop_order and shop_orderitem");
    let mut rows = BTreeMap::new();
    for r in joined {
        let row = rows.entry(r.get::<_, Uuid>(0)).or_insert_with(|| OrderRows {
            customer_id: r.get(1),
            basket_id: r.get(2),
            status: r.get(3),
            currency: r.get(4),
            total: r.get(5),
            placed_at: r.get(6),
            updated_at: r.get(7),
            lines: BTreeMap::new(),
        });
        if let Some(sku) = r.get::<_, Option<String>>(8) {
            row.lines.insert(sku, (r.get(9), r.get(10), r.get(11)));
        }
    }
    rows
}

/// The rows the event store's view of each order implies.
pub async fn expected_rows(
    store: &dyn EventStore,
    order_ids: &[Uuid],
    products: &HashMap<String, Uuid>,
) -> BTreeMap<Uuid, OrderRows> {
    let mut expected = BTreeMap::new();
    for id in order_ids {
        let order = fold(&store.load(OrderId(*id)).await.expect("load")).expect("placed");
        expected.insert(
            *id,
            OrderRows {
                customer_id: order.customer_id.as_str().to_owned(),
                basket_id: order.basket_id,
                status: order.status.as_lowercase().to_owned(),
                currency: order.currency.as_str().to_owned(),
                total: order.total_cents as i64,
                placed_at: order.placed_at,
                updated_at: order.updated_at,
                lines: order
                    .lines
                    .iter()
                    .map(|l| {
                        let sku = l.sku.as_str().to_owned();
                        (sku.clone(), (products.get(&sku).copied(), l.unit_price_cents as i32, l.quantity as i32))
                    })
                    .collect(),
            },
        );
    }
    expected
}

/// `shop_basket.order_id` of each basket.
pub async fn basket_links(client: &Client, baskets: &[Uuid]) -> HashMap<Uuid, String> {
    client
        .query("SELECT id, order_id FROM shop_basket WHERE id = ANY($1)", &[&baskets])
        .await
        .expect("read baskets")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// The applied version the sync recorded for each order.
pub async fn applied_versions(client: &Client, order_ids: &[Uuid]) -> HashMap<Uuid, i32> {
    client
        .query("SELECT order_id, version FROM order_sync.applied WHERE order_id = ANY($1)", &[&order_ids])
        .await
        .expect("read applied versions")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}
