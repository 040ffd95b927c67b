//! Fixtures shared by the inventory tests: the same scenario runs against
//! the memory adapters and against DynamoDB Local.

use contract::tables::{create_events_table, create_inventory_table};
use std::sync::{Arc, Mutex};

use catalog_store::MemoryCatalog;
use commands::{CommandContext, OrderService, RetryPolicy};
use domain::ports::EventStore;
use domain::{
    Catalog, CatalogItem, Command, Currency, CustomerId, Envelope, Lane, OrderId, OrderLine, OrderStatus, PlaceOrder,
    Sku, Title,
};
use event_store::{DynamoEventStore, MemoryEventStore};
use inventory::InventoryProjection;
use inventory_store::store::ShareKey;
use inventory_store::{DynamoInventoryStore, InventoryStore, MemoryInventoryStore};
use tokio::sync::mpsc::UnboundedReceiver;

pub fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

/// The customer [`place`] orders as.
pub const CUSTOMER: &str = "angler-1";

/// A catalog item of `sku_name` with purchase limit `max_per_customer`.
pub fn catalog_item(sku_name: &str, max_per_customer: Option<u32>) -> CatalogItem {
    CatalogItem {
        sku: sku(sku_name),
        title: Title::parse(sku_name).unwrap(),
        price_cents: 12_999,
        currency: Currency::parse("EUR").unwrap(),
        active: true,
        max_per_customer,
    }
}

pub struct Fixture {
    pub inventory: Arc<dyn InventoryStore>,
    pub events: Arc<dyn EventStore>,
    pub orders: OrderService,
    /// Where the saga reads purchase limits: empty (no limits) until a test
    /// sets one.
    pub catalog: Arc<MemoryCatalog>,
    pub projection: InventoryProjection,
    lanes: StoredLanes,
}

/// Where each event's own lane is read: `load_with_lane` answers the
/// order's, which is its first event's.
enum StoredLanes {
    /// The memory store's stream of appended events with their lanes.
    Memory(Mutex<UnboundedReceiver<(Envelope, Lane)>>, Mutex<Vec<(Envelope, Lane)>>),
    Dynamo(DynamoEventStore),
}

impl Fixture {
    fn new(inventory: Arc<dyn InventoryStore>, events: Arc<dyn EventStore>, lanes: StoredLanes) -> Self {
        let orders = OrderService::new(events.clone());
        let catalog = Arc::new(MemoryCatalog::new());
        let projection = InventoryProjection::new(inventory.clone(), catalog.clone(), orders.clone());
        Fixture { inventory, events, orders, catalog, projection, lanes }
    }

    pub fn memory() -> Self {
        let events = Arc::new(MemoryEventStore::new());
        let lanes = StoredLanes::Memory(Mutex::new(events.subscribe_with_lanes()), Mutex::default());
        Fixture::new(Arc::new(MemoryInventoryStore::new()), events, lanes)
    }

    pub async fn dynamodb() -> Self {
        let (inventory, events) = dynamodb_stores().await;
        Fixture::new(Arc::new(inventory), Arc::new(events.clone()), StoredLanes::Dynamo(events))
    }

    /// On DynamoDB Local through `endpoint` (a fault proxy in front of it);
    /// the tables are made directly.
    pub async fn dynamodb_via(endpoint: String) -> Self {
        let (inventory_table, events_table) = tables().await;
        let config = aws_sdk_dynamodb::config::Builder::from(&testkit::dynamodb_config().await).endpoint_url(endpoint);
        let client = aws_sdk_dynamodb::Client::from_conf(config.build());
        let events = DynamoEventStore::new(client.clone(), events_table);
        let inventory = DynamoInventoryStore::new(client, inventory_table);
        Fixture::new(Arc::new(inventory), Arc::new(events.clone()), StoredLanes::Dynamo(events))
    }

    /// The lane each event of the order is stored in, oldest first.
    pub async fn lanes(&self, order_id: OrderId) -> Vec<Lane> {
        match &self.lanes {
            StoredLanes::Memory(stream, seen) => {
                let mut seen = seen.lock().unwrap();
                while let Ok(appended) = stream.lock().unwrap().try_recv() {
                    seen.push(appended);
                }
                let mut lanes: Vec<_> = seen.iter().filter(|(e, _)| e.order_id == order_id).collect();
                lanes.sort_by_key(|(e, _)| e.version);
                lanes.into_iter().map(|(_, lane)| *lane).collect()
            }
            StoredLanes::Dynamo(store) => {
                store.load_stored(order_id).await.unwrap().into_iter().map(|e| e.lane).collect()
            }
        }
    }

    pub async fn set(&self, sku_name: &str, available: u64) {
        self.inventory.set_available(&sku(sku_name), available).await.unwrap();
    }

    /// Puts `sku_name` in the catalog with purchase limit `max_per_customer`.
    pub async fn limit(&self, sku_name: &str, max_per_customer: u32) {
        self.catalog.put(&catalog_item(sku_name, Some(max_per_customer))).await.unwrap();
    }

    /// What `customer` holds of `sku_name` in its share.
    pub async fn share(&self, customer: &str, sku_name: &str) -> u64 {
        let share = ShareKey { customer_id: CustomerId::parse(customer).unwrap(), sku: sku(sku_name) };
        self.inventory.shares(std::slice::from_ref(&share)).await.unwrap().remove(&share).unwrap_or(0)
    }

    /// `(available, reserved, shipped)`; zeros for a SKU never stocked.
    pub async fn stock(&self, sku_name: &str) -> (u64, u64, u64) {
        let stock = self.inventory.stock(&[sku(sku_name)]).await.unwrap();
        stock.get(&sku(sku_name)).map_or((0, 0, 0), |s| (s.available, s.reserved, s.shipped))
    }

    /// Places an order of [`CUSTOMER`] through the order service; returns its OrderPlaced.
    pub async fn place(&self, lines: &[(&str, u32)]) -> Envelope {
        place(&self.orders, lines).await
    }

    /// Places an order of `customer`; returns its OrderPlaced.
    pub async fn place_as(&self, customer: &str, lines: &[(&str, u32)]) -> Envelope {
        place_as(&self.orders, customer, lines).await
    }

    pub async fn command(&self, order_id: OrderId, command: Command) -> Vec<Envelope> {
        let outcome =
            self.orders.execute(order_id, &command, &CommandContext::new("test"), RetryPolicy::NONE).await.unwrap();
        outcome.appended
    }

    pub async fn status(&self, order_id: OrderId) -> OrderStatus {
        self.orders.get(order_id).await.unwrap().expect("order exists").status
    }

    pub async fn history(&self, order_id: OrderId) -> Vec<Envelope> {
        self.events.load(order_id).await.unwrap()
    }

    /// Delivers `envelopes` as one SQS batch of the standard lane's queue
    /// (this fixture's orders are all standard), each message with its
    /// `lane` attribute as the topic sends it; returns the failed message ids.
    pub async fn deliver(&self, envelopes: &[&Envelope]) -> Vec<String> {
        let bodies: Vec<String> = envelopes.iter().map(|e| e.to_json()).collect();
        testkit::delivery::deliver_in_lane(&self.projection, &bodies, Lane::Standard).await
    }
}

pub async fn dynamodb_stores() -> (DynamoInventoryStore, DynamoEventStore) {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let (inventory_table, events_table) = tables().await;
    (DynamoInventoryStore::new(client.clone(), inventory_table), DynamoEventStore::new(client, events_table))
}

/// A new inventory table and events table on DynamoDB Local: their names.
async fn tables() -> (String, String) {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let inventory_table = testkit::unique_name("inventory");
    let events_table = testkit::unique_name("events");
    create_inventory_table(&client, &inventory_table).await.unwrap();
    create_events_table(&client, &events_table).await.unwrap();
    (inventory_table, events_table)
}

pub async fn place(orders: &OrderService, lines: &[(&str, u32)]) -> Envelope {
    place_as(orders, CUSTOMER, lines).await
}

pub async fn place_as(orders: &OrderService, customer: &str, lines: &[(&str, u32)]) -> Envelope {
    let command = place_command(customer, lines);
    let order_id = OrderId(uuid::Uuid::new_v4());
    let outcome = orders.execute(order_id, &command, &CommandContext::new("test"), RetryPolicy::NONE).await.unwrap();
    outcome.appended.into_iter().next().expect("OrderPlaced appended")
}

pub fn place_command(customer: &str, lines: &[(&str, u32)]) -> Command {
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse(customer).unwrap(),
        basket_id: None,
        currency: Currency::parse("EUR").unwrap(),
        lines: lines
            .iter()
            .map(|(s, quantity)| OrderLine { sku: sku(s), quantity: *quantity, unit_price_cents: 12_999 })
            .collect(),
    })
}
