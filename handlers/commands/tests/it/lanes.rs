//! Lanes, against both event store adapters: an order's lane is decided when
//! it is placed, against the hot list of the service that places it, and
//! every later event of the order is stored in that lane, whatever hot list
//! the service appending it holds. Each event's own stored lane is checked,
//! not only the order's (the first event's).

use std::sync::Arc;

use commands::{CommandContext, OrderService, RetryPolicy};
use contract::tables::create_events_table;
use domain::ports::EventStore;
use domain::{Command, Currency, CustomerId, HotList, Lane, OrderId, OrderLine, PlaceOrder, Sku};
use event_store::{DynamoEventStore, MemoryEventStore};
use uuid::Uuid;

fn place(skus: &[&str]) -> Command {
    let lines = skus
        .iter()
        .map(|sku| OrderLine { sku: Sku::parse(sku).unwrap(), quantity: 1, unit_price_cents: 1_999 })
        .collect();
    Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("c").unwrap(),
        basket_id: None,
        currency: Currency::parse("USD").unwrap(),
        lines,
    })
}

fn hot(skus: &str) -> HotList {
    HotList::parse(skus).unwrap()
}

async fn run(service: &OrderService, id: OrderId, command: Command) {
    service.execute(id, &command, &CommandContext::new("lanes"), RetryPolicy::NONE).await.unwrap();
}

/// An adapter, and a way to read the lane stored with each event.
#[derive(Clone)]
enum Adapter {
    Memory(Arc<MemoryEventStore>),
    Dynamo(DynamoEventStore),
}

impl Adapter {
    fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Adapter::Memory(store) => store.clone(),
            Adapter::Dynamo(store) => Arc::new(store.clone()),
        }
    }

    /// The lane each event of the order travels in, oldest first.
    async fn lanes(&self, id: OrderId) -> Vec<Lane> {
        match self {
            Adapter::Memory(store) => store.event_lanes(id),
            Adapter::Dynamo(store) => store.load_stored(id).await.unwrap().into_iter().map(|e| e.lane).collect(),
        }
    }

    /// The order's lane as the command service reads it (its first stored
    /// one), and every event's.
    async fn lane_of(&self, id: OrderId) -> (Option<Lane>, Vec<Lane>) {
        let (_, lane) = self.store().load_with_lane(id).await.unwrap();
        (lane, self.lanes(id).await)
    }
}

/// A mixed order (one hot line, one quiet) is hot, and so is every later event.
async fn a_mixed_order_and_all_its_events_travel_hot(adapter: Adapter) {
    let service = OrderService::new(adapter.store()).with_hot_list(hot("muskie-casting-rod"));
    let mixed = OrderId(Uuid::new_v4());
    run(&service, mixed, place(&["braided-line-30lb", "muskie-casting-rod"])).await;
    assert_eq!(adapter.lane_of(mixed).await, (Some(Lane::Hot), vec![Lane::Hot]));
    run(&service, mixed, Command::Confirm).await;
    run(&service, mixed, Command::Ship { tracking_number: None }).await;
    assert_eq!(adapter.lane_of(mixed).await, (Some(Lane::Hot), vec![Lane::Hot; 3]));

    let quiet = OrderId(Uuid::new_v4());
    run(&service, quiet, place(&["braided-line-30lb"])).await;
    run(&service, quiet, Command::Cancel { reason: None }).await;
    assert_eq!(adapter.lane_of(quiet).await, (Some(Lane::Standard), vec![Lane::Standard; 2]));
}

/// The hot list changes while orders are in flight: each keeps its lane.
async fn a_hot_list_change_keeps_placed_orders_in_their_lane(adapter: Adapter) {
    let before = OrderService::new(adapter.store()).with_hot_list(hot("muskie-casting-rod"));
    let was_hot = OrderId(Uuid::new_v4());
    let was_quiet = OrderId(Uuid::new_v4());
    run(&before, was_hot, place(&["muskie-casting-rod"])).await;
    run(&before, was_quiet, place(&["tourney-casting-rod"])).await;

    // Redeployed with another list: muskie is no longer hot, tourney is.
    let after = OrderService::new(adapter.store()).with_hot_list(hot("tourney-casting-rod"));
    run(&after, was_hot, Command::Confirm).await;
    run(&after, was_hot, Command::Cancel { reason: None }).await;
    run(&after, was_quiet, Command::Confirm).await;
    run(&after, was_quiet, Command::Ship { tracking_number: None }).await;
    assert_eq!(adapter.lane_of(was_hot).await, (Some(Lane::Hot), vec![Lane::Hot; 3]), "placed hot, stays hot");
    assert_eq!(
        adapter.lane_of(was_quiet).await,
        (Some(Lane::Standard), vec![Lane::Standard; 3]),
        "placed standard, stays standard"
    );

    // New orders follow the new list.
    let new_tourney = OrderId(Uuid::new_v4());
    run(&after, new_tourney, place(&["tourney-casting-rod"])).await;
    assert_eq!(adapter.lane_of(new_tourney).await, (Some(Lane::Hot), vec![Lane::Hot]));
}

/// Events stored without a lane (before lanes existed) stay standard.
async fn an_order_stored_without_a_lane_stays_standard(adapter: Adapter) {
    let store = adapter.store();
    let id = OrderId(Uuid::new_v4());
    // The OrderPlaced as a build without lanes stored it: no lane.
    let scratch = OrderService::new(Arc::new(MemoryEventStore::new()));
    let context = CommandContext::new("old");
    let placed = scratch.execute(id, &place(&["muskie-casting-rod"]), &context, RetryPolicy::NONE).await.unwrap();
    store.append(&placed.appended).await.unwrap();
    assert_eq!(adapter.lane_of(id).await, (None, vec![Lane::Standard]));
    let now = OrderService::new(store).with_hot_list(hot("muskie-casting-rod"));
    run(&now, id, Command::Confirm).await;
    assert_eq!(adapter.lane_of(id).await, (Some(Lane::Standard), vec![Lane::Standard; 2]));
}

async fn dynamodb() -> Adapter {
    let client = aws_sdk_dynamodb::Client::new(&testkit::dynamodb_config().await);
    let table = testkit::unique_name("lanes");
    create_events_table(&client, &table).await.unwrap();
    Adapter::Dynamo(DynamoEventStore::new(client, table))
}

testkit::against_both_adapters! {
    memory: super::Adapter::Memory(std::sync::Arc::new(event_store::MemoryEventStore::new())),
    dynamodb: super::dynamodb().await;
    a_mixed_order_and_all_its_events_travel_hot,
    a_hot_list_change_keeps_placed_orders_in_their_lane,
    an_order_stored_without_a_lane_stays_standard,
}
