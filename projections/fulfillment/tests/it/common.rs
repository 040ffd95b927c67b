//! Fixtures shared by the fulfillment tests: each scenario runs against the
//! memory adapters and against DynamoDB Local.

use contract::tables::{create_events_table, create_fulfillment_table};
use std::sync::Arc;

use commands::{CommandContext, OrderService, RetryPolicy};
use domain::ports::EventStore;
use domain::{Command, Currency, CustomerId, Envelope, OrderId, OrderLine, PlaceOrder, Sku};
use event_store::{DynamoEventStore, MemoryEventStore};
use fulfillment::{DynamoFulfillmentStore, FulfillmentProjection, FulfillmentStore, MemoryFulfillmentStore};

pub struct Fixture {
    pub store: Arc<dyn FulfillmentStore>,
    pub events: Arc<dyn EventStore>,
    pub orders: OrderService,
    pub projection: FulfillmentProjection,
}

impl Fixture {
    pub fn new(store: Arc<dyn FulfillmentStore>, events: Arc<dyn EventStore>) -> Self {
        let orders = OrderService::new(events.clone());
        let projection = FulfillmentProjection::new(store.clone(), events.clone());
        Fixture { store, events, orders, projection }
    }

    pub fn memory() -> Self {
        Fixture::new(Arc::new(MemoryFulfillmentStore::new()), Arc::new(MemoryEventStore::new()))
    }

    pub async fn dynamodb() -> Self {
        let (store, events) = dynamodb_stores().await;
        Fixture::new(Arc::new(store), Arc::new(events))
    }

    /// Places an order and runs `commands` on it; returns every event.
    pub async fn order(&self, lines: &[(&str, u32)], commands: &[Command]) -> Vec<Envelope> {
        let place = Command::Place(PlaceOrder {
            customer_id: CustomerId::parse("angler-7").unwrap(),
            basket_id: None,
            currency: Currency::parse("USD").unwrap(),
            lines: lines
                .iter()
                .map(|(s, q)| OrderLine { sku: Sku::parse(s).unwrap(), quantity: *q, unit_price_cents: 4_500 })
                .collect(),
        });
        let order_id = OrderId(uuid::Uuid::new_v4());
        let mut events = Vec::new();
        for command in std::iter::once(&place).chain(commands) {
            let outcome =
                self.orders.execute(order_id, command, &CommandContext::new("test"), RetryPolicy::NONE).await.unwrap();
            events.extend(outcome.appended);
        }
        events
    }

    /// Delivers `envelopes` as one SQS batch; returns the failed message ids.
    pub async fn deliver(&self, envelopes: &[&Envelope]) -> Vec<String> {
        let bodies: Vec<String> = envelopes.iter().map(|e| e.to_json()).collect();
        testkit::delivery::deliver_bodies(&self.projection, &bodies).await
    }
}

pub async fn dynamodb_stores() -> (DynamoFulfillmentStore, DynamoEventStore) {
    let config = testkit::dynamodb_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let fulfillment_table = testkit::unique_name("fulfillment");
    let events_table = testkit::unique_name("events");
    create_fulfillment_table(&client, &fulfillment_table).await.unwrap();
    create_events_table(&client, &events_table).await.unwrap();
    (DynamoFulfillmentStore::new(client.clone(), fulfillment_table), DynamoEventStore::new(client, events_table))
}
