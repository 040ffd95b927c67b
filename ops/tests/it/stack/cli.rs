//! The `orders` binary against the local stack (`scripts/local-stack up`),
//! each test on its own tables and queues.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command as Process;
use std::sync::Arc;

use aws_sdk_sqs::types::{Message, MessageAttributeValue, QueueAttributeName};
use commands::{CommandContext, OrderService, RetryPolicy};
use contract::{BatchEntry, EventPublisher, OutgoingMessage};
use domain::{Command, Currency, CustomerId, EventType, OrderId, OrderLine, PlaceOrder, Reason, Sku};
use event_store::DynamoEventStore;
use fulfillment::{DynamoFulfillmentStore, FulfillmentProjection, FulfillmentStore};
use inventory::InventoryProjection;
use inventory_store::{DynamoInventoryStore, InventoryStore};
use publisher::SnsPublisher;
use serde_json::Value;
use testkit::delivery::deliver_bodies;
use uuid::Uuid;

pub(super) struct Stack {
    pub(super) dynamodb: aws_sdk_dynamodb::Client,
    sqs: aws_sdk_sqs::Client,
    pub(super) sns: aws_sdk_sns::Client,
    pub(super) state_dir: std::path::PathBuf,
}

pub(super) struct Run {
    pub(super) code: i32,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

impl Run {
    pub(super) fn json(&self) -> Value {
        assert_eq!(self.code, 0, "stderr: {}", self.stderr);
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }
}

impl Stack {
    pub(super) async fn connect() -> Self {
        testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
        let config = testkit::dynamodb_config().await;
        Stack {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            state_dir: std::env::temp_dir().join(testkit::unique_name("orders-state")),
        }
    }

    fn orders(&self, args: &[&str]) -> Run {
        self.orders_with(args, &[])
    }

    /// `orders` with `env` set besides.
    pub(super) fn orders_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Process::new(env!("CARGO_BIN_EXE_orders"))
            .args(args)
            .envs(env.iter().copied())
            .env("ORDERS_STATE_DIR", &self.state_dir)
            .env_remove("ORDERS_STACK_NAME")
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    async fn events_table(&self) -> (String, Arc<DynamoEventStore>) {
        let table = testkit::unique_name("ops-events");
        contract::tables::create_events_table(&self.dynamodb, &table).await.unwrap();
        (table.clone(), Arc::new(DynamoEventStore::new(self.dynamodb.clone(), table)))
    }

    pub(super) async fn queue(&self, name: &str, attributes: HashMap<QueueAttributeName, String>) -> String {
        let out = self.sqs.create_queue().queue_name(name).set_attributes(Some(attributes)).send().await.unwrap();
        out.queue_url.unwrap()
    }

    pub(super) async fn arn(&self, url: &str) -> String {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        out.attributes.unwrap()[&QueueAttributeName::QueueArn].clone()
    }

    /// Everything the queue holds (received and deleted).
    pub(super) async fn drain(&self, url: &str) -> Vec<Message> {
        testkit::sqs::drain(&self.sqs, url).await
    }
}

fn line(sku: &str, quantity: u32) -> OrderLine {
    OrderLine { sku: Sku::parse(sku).unwrap(), quantity, unit_price_cents: 1_000 }
}

async fn place(orders: &OrderService, lines: Vec<OrderLine>, correlation: &str) -> OrderId {
    let id = OrderId(Uuid::new_v4());
    let command = Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("customer-1").unwrap(),
        basket_id: None,
        currency: Currency::parse("USD").unwrap(),
        lines,
    });
    orders.execute(id, &command, &CommandContext::new(correlation), RetryPolicy::NONE).await.unwrap();
    id
}

async fn run(orders: &OrderService, id: OrderId, command: Command) {
    orders.execute(id, &command, &CommandContext::new("ops-test"), RetryPolicy::INTERNAL).await.unwrap();
}

/// A store with `n` orders in every state: placed, confirmed, shipped, cancelled.
async fn history(orders: &OrderService, n: usize) -> Vec<OrderId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = place(orders, vec![line("muskie-casting-rod", 1), line("braided-line", 2)], &format!("c-{i}")).await;
        if i % 4 != 0 {
            run(orders, id, Command::Confirm).await;
        }
        if i % 4 == 2 {
            run(orders, id, Command::Ship { tracking_number: None }).await;
        }
        if i % 4 == 3 {
            run(orders, id, Command::Cancel { reason: Some(Reason::parse("changed mind").unwrap()) }).await;
        }
        ids.push(id);
    }
    ids
}

pub(super) fn attributes(message: &Message) -> BTreeMap<String, (String, String)> {
    message
        .message_attributes()
        .unwrap_or(&HashMap::new())
        .iter()
        .map(|(k, v): (&String, &MessageAttributeValue)| {
            (k.clone(), (v.data_type().to_owned(), v.string_value().unwrap_or_default().to_owned()))
        })
        .collect()
}

fn event_id(message: &Message) -> String {
    let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
    body["eventId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn show_and_events_read_a_known_order() {
    let stack = Stack::connect().await;
    let (table, store) = stack.events_table().await;
    let orders = OrderService::new(store.clone());
    let id = place(&orders, vec![line("muskie-casting-rod", 2)], "corr-show").await;
    run(&orders, id, Command::Confirm).await;

    let shown = stack.orders(&["--events-table", &table, "--json", "show", &id.to_string()]).json();
    assert_eq!(shown["status"], "CONFIRMED");
    assert_eq!(shown["version"], 2);
    assert_eq!(shown["totalCents"], 2_000);

    let events = stack.orders(&["--events-table", &table, "--json", "events", &id.to_string()]).json();
    let stored = store.load_stored(id).await.unwrap();
    let listed = events["events"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    for (listed, stored) in listed.iter().zip(&stored) {
        assert_eq!(listed, &serde_json::from_str::<Value>(&stored.json).unwrap());
    }
    assert_eq!(listed[1]["causationId"], stored[1].envelope.causation_id.as_str());

    let table_out = stack.orders(&["--events-table", &table, "events", &id.to_string()]);
    assert_eq!(table_out.code, 0, "{}", table_out.stderr);
    for header in ["version", "type", "occurred at", "correlation id", "causation id"] {
        assert!(table_out.stdout.contains(header), "{}", table_out.stdout);
    }
    assert!(table_out.stdout.contains("corr-show") && table_out.stdout.contains("OrderConfirmed"));
    let shown = stack.orders(&["--events-table", &table, "show", &id.to_string()]);
    assert!(shown.stdout.contains("confirmed"), "{}", shown.stdout);

    let missing = stack.orders(&["--events-table", &table, "show", &Uuid::new_v4().to_string()]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("not found"));
}

#[tokio::test]
async fn republish_sends_exactly_what_the_topic_sends_for_the_filter_and_resumes_without_a_gap() {
    let stack = Stack::connect().await;
    let (table, store) = stack.events_table().await;
    let orders = OrderService::new(store.clone());
    history(&orders, 16).await;
    let all = {
        let mut all = Vec::new();
        for segment in 0..1 {
            let mut cursor = None;
            loop {
                let page = store.scan_stored(segment, 1, cursor, None).await.unwrap();
                all.extend(page.events);
                cursor = page.cursor;
                if cursor.is_none() {
                    break;
                }
            }
        }
        all
    };
    assert_eq!(all.len(), 16 + 12 + 8);

    // What the topic delivers to a raw-delivery subscription, for reference.
    let topic =
        stack.sns.create_topic().name(testkit::unique_name("ops-topic")).send().await.unwrap().topic_arn.unwrap();
    let reference = stack.queue(&testkit::unique_name("ops-reference"), HashMap::new()).await;
    stack
        .sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(stack.arn(&reference).await)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let publisher = SnsPublisher::new(stack.sns.clone(), &topic);
    for chunk in all.chunks(10) {
        let entries: Vec<BatchEntry> = chunk
            .iter()
            .enumerate()
            .map(|(i, e)| BatchEntry {
                id: i.to_string(),
                message: OutgoingMessage::from_stored(&e.envelope, e.json.clone(), e.schema_version, e.lane),
                trace_header: None,
            })
            .collect();
        assert!(publisher.publish_batch(&entries).await.unwrap().iter().all(Result::is_ok));
    }
    let from_topic: HashMap<String, Message> =
        stack.drain(&reference).await.into_iter().map(|m| (event_id(&m), m)).collect();
    assert_eq!(from_topic.len(), all.len());

    // A filtered backfill into a fresh queue: exactly the matching events, same bytes, same attributes.
    let fresh = stack.queue(&testkit::unique_name("ops-fresh"), HashMap::new()).await;
    let run = stack.orders(&[
        "--events-table",
        &table,
        "--json",
        "republish",
        "--to-queue",
        &fresh,
        "--event-type",
        "OrderPlaced,OrderShipped",
    ]);
    let report = run.json();
    let expected: HashSet<String> = all
        .iter()
        .filter(|e| matches!(e.envelope.event_type(), EventType::OrderPlaced | EventType::OrderShipped))
        .map(|e| e.envelope.event_id.to_string())
        .collect();
    assert_eq!(report["sent"], expected.len());
    let received = stack.drain(&fresh).await;
    assert_eq!(received.len(), expected.len(), "no duplicates in an uninterrupted run");
    assert_eq!(received.iter().map(event_id).collect::<HashSet<_>>(), expected);
    for message in &received {
        let reference = &from_topic[&event_id(message)];
        assert_eq!(message.body(), reference.body(), "the same bytes");
        assert_eq!(attributes(message), attributes(reference), "the same attributes");
    }
    // Per order, in version order.
    let mut last: HashMap<String, u64> = HashMap::new();
    for message in &received {
        let body: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let version = body["version"].as_u64().unwrap();
        let previous = last.insert(body["orderId"].as_str().unwrap().to_owned(), version);
        assert!(previous.is_none_or(|p| p < version));
    }

    // Interrupted after two pages, then resumed: every event, none missing.
    let resumed = stack.queue(&testkit::unique_name("ops-resumed"), HashMap::new()).await;
    let args = [
        "--events-table",
        &table,
        "--json",
        "republish",
        "--to-queue",
        &resumed,
        "--page-size",
        "5",
        "--segments",
        "2",
    ];
    let mut first = args.to_vec();
    first.extend(["--stop-after-pages", "2"]);
    let interrupted = stack.orders(&first);
    assert_eq!(interrupted.code, 3, "{}", interrupted.stderr);
    let partial: Value = serde_json::from_str(&interrupted.stdout).unwrap();
    assert_eq!(partial["finished"], false);
    let done = stack.orders(&args).json();
    assert_eq!(done["finished"], true);
    assert_eq!(done["resumed"], true);
    let received = stack.drain(&resumed).await;
    let unique: HashSet<String> = received.iter().map(event_id).collect();
    assert_eq!(unique, all.iter().map(|e| e.envelope.event_id.to_string()).collect::<HashSet<_>>(), "no gap");
    eprintln!(
        "resumed republish: {} messages for {} events ({} duplicates)",
        received.len(),
        unique.len(),
        received.len() - unique.len()
    );
    // Run again: already finished, nothing sent.
    let again = stack.orders(&args).json();
    assert_eq!(again["status"].as_str().unwrap().split(' ').next(), Some("already"));

    // --order: one order's events only.
    let one = all[0].envelope.order_id;
    let by_order = stack.queue(&testkit::unique_name("ops-by-order"), HashMap::new()).await;
    stack
        .orders(&[
            "--events-table",
            &table,
            "--json",
            "republish",
            "--to-queue",
            &by_order,
            "--order",
            &one.to_string(),
        ])
        .json();
    let received = stack.drain(&by_order).await;
    let expected: Vec<String> =
        all.iter().filter(|e| e.envelope.order_id == one).map(|e| e.envelope.event_id.to_string()).collect();
    assert_eq!(received.iter().map(event_id).collect::<Vec<_>>(), expected);
}

#[tokio::test]
async fn dlq_list_show_and_redrive_move_every_message_back_and_lose_none() {
    let stack = Stack::connect().await;
    let prefix = testkit::unique_name("ops-dlq");
    let dlq = stack.queue(&format!("{prefix}-work-dlq"), HashMap::new()).await;
    let redrive = serde_json::json!({ "deadLetterTargetArn": stack.arn(&dlq).await, "maxReceiveCount": 1 }).to_string();
    let source =
        stack.queue(&format!("{prefix}-work"), HashMap::from([(QueueAttributeName::RedrivePolicy, redrive)])).await;

    // 23 messages, 3 of them poison, dead-lettered the way the consumers' queues do it.
    let (table, store) = stack.events_table().await;
    let orders = OrderService::new(store.clone());
    let mut bodies = Vec::new();
    for i in 0..20 {
        let id = place(&orders, vec![line("muskie-casting-rod", 1)], &format!("dlq-{i}")).await;
        bodies.push(store.load_stored(id).await.unwrap().remove(0).json);
    }
    bodies.extend(["not json".to_owned(), "{\"eventType\":\"Nope\"}".to_owned(), String::new() + "{}"]);
    for body in &bodies {
        stack
            .sqs
            .send_message()
            .queue_url(&source)
            .message_body(body)
            .message_attributes(
                "kind",
                MessageAttributeValue::builder().data_type("String").string_value("test").build().unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    // First receive takes each once; the next receive dead-letters them (maxReceiveCount 1).
    let mut taken = 0;
    while taken < bodies.len() {
        let out = stack
            .sqs
            .receive_message()
            .queue_url(&source)
            .max_number_of_messages(10)
            .visibility_timeout(1)
            .send()
            .await
            .unwrap();
        taken += out.messages.unwrap_or_default().len();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let out = stack.sqs.receive_message().queue_url(&source).max_number_of_messages(10).send().await.unwrap();
    assert!(out.messages.unwrap_or_default().is_empty());

    let list = stack.orders(&["--queue-prefix", &prefix, "--json", "dlq", "list"]).json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["depth"], bodies.len());
    assert_eq!(list[0]["sources"][0], source.as_str());
    assert!(list[0]["oldestAgeSeconds"].as_u64().is_some());
    let human = stack.orders(&["--queue-prefix", &prefix, "dlq", "list"]);
    assert!(human.stdout.contains(&format!("{prefix}-work-dlq")), "{}", human.stdout);

    let shown = stack.orders(&["--json", "dlq", "show", &dlq, "--limit", "100"]).json();
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), bodies.len());
    let poison: Vec<_> = shown.iter().filter(|l| l["reason"].as_str().unwrap().starts_with("poison")).collect();
    assert_eq!(poison.len(), 3);
    assert!(shown.iter().filter(|l| l["eventType"] == "OrderPlaced").count() == 20);
    let _ = table;

    // Show only peeks: a limited redrive moves 5, a full one the rest.
    let partial = stack.orders(&["--json", "dlq", "redrive", &dlq, "--limit", "5"]).json();
    assert_eq!(partial["moved"], 5);
    let rest = stack.orders(&["--json", "dlq", "redrive", &dlq]).json();
    assert_eq!(rest["moved"], bodies.len() - 5);
    let back = stack.drain(&source).await;
    let mut got: Vec<String> = back.iter().map(|m| m.body().unwrap().to_owned()).collect();
    let mut want = bodies.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every message back, none lost, none doubled");
    assert!(back.iter().all(|m| attributes(m).get("kind").is_some_and(|(_, v)| v == "test")), "attributes kept");
    assert!(stack.drain(&dlq).await.is_empty());
}

/// Delivers the orders' events not delivered yet to both live projections.
async fn deliver(
    store: &DynamoEventStore,
    ids: &[OrderId],
    delivered: &mut HashSet<Uuid>,
    saga: &InventoryProjection,
    fulfillment: &FulfillmentProjection,
) {
    // Round k: the k-th new event of each order, so that no batch holds two
    // events of one order (fulfillment applies a batch's events side by side,
    // and the outcome of a race between an order's OrderConfirmed and its
    // OrderShipped in one batch depends on timing).
    let mut rounds: Vec<Vec<String>> = Vec::new();
    for id in ids {
        let new = store.load_stored(*id).await.unwrap().into_iter().filter(|e| delivered.insert(e.envelope.event_id));
        for (k, e) in new.enumerate() {
            if rounds.len() <= k {
                rounds.push(Vec::new());
            }
            rounds[k].push(e.json);
        }
    }
    for bodies in rounds {
        for chunk in bodies.chunks(10) {
            assert!(deliver_bodies(saga, chunk).await.is_empty());
            assert!(deliver_bodies(fulfillment, chunk).await.is_empty());
        }
    }
}

#[tokio::test]
async fn rebuilt_inventory_and_fulfillment_equal_the_live_projections() {
    let stack = Stack::connect().await;
    let (events_table, store) = stack.events_table().await;
    let orders = OrderService::new(store.clone());
    let live_stock = testkit::unique_name("ops-inventory");
    let live_picks = testkit::unique_name("ops-fulfillment");
    contract::tables::create_inventory_table(&stack.dynamodb, &live_stock).await.unwrap();
    contract::tables::create_fulfillment_table(&stack.dynamodb, &live_picks).await.unwrap();
    let stock = Arc::new(DynamoInventoryStore::new(stack.dynamodb.clone(), &live_stock));
    let skus = ["muskie-casting-rod", "tourney-casting-rod", "braided-line", "never-ordered"];
    for (sku, count) in skus.iter().zip([5u64, 40, 100, 7]) {
        stock.set_available(&Sku::parse(sku).unwrap(), count).await.unwrap();
    }
    let saga = InventoryProjection::new(stock.clone(), Arc::new(catalog_store::MemoryCatalog::new()), orders.clone());
    let picks = Arc::new(DynamoFulfillmentStore::new(stack.dynamodb.clone(), &live_picks));
    let fulfillment = FulfillmentProjection::new(picks.clone(), store.clone());

    // 24 orders; muskie runs out, so some are rejected; the saga decides live.
    let mut ids = Vec::new();
    for i in 0..24u32 {
        let lines = match i % 3 {
            0 => vec![line("muskie-casting-rod", 1), line("braided-line", 2)],
            1 => vec![line("tourney-casting-rod", 2)],
            _ => vec![line("muskie-casting-rod", 1), line("tourney-casting-rod", 1)],
        };
        ids.push(place(&orders, lines, &format!("rebuild-{i}")).await);
    }
    let mut delivered: HashSet<Uuid> = HashSet::new();
    deliver(&store, &ids, &mut delivered, &saga, &fulfillment).await;
    // Now settled: ship some, cancel some (confirmed or rejected), then deliver those too.
    for (i, id) in ids.iter().enumerate() {
        let status = orders.get(*id).await.unwrap().unwrap().status;
        if i % 5 == 0 && status == domain::OrderStatus::Confirmed {
            run(&orders, *id, Command::Ship { tracking_number: None }).await;
        } else if i % 5 == 1 && status == domain::OrderStatus::Confirmed {
            run(&orders, *id, Command::Cancel { reason: None }).await;
        }
    }
    deliver(&store, &ids, &mut delivered, &saga, &fulfillment).await;
    let statuses: Vec<_> = {
        let mut s = Vec::new();
        for id in &ids {
            s.push(orders.get(*id).await.unwrap().unwrap().status);
        }
        s
    };
    assert!(statuses.contains(&domain::OrderStatus::Rejected), "{statuses:?}");
    assert!(statuses.contains(&domain::OrderStatus::Shipped), "{statuses:?}");
    assert!(statuses.contains(&domain::OrderStatus::Cancelled), "{statuses:?}");

    // Rebuild both into fresh tables, interrupted once and resumed.
    let rebuilt_stock = testkit::unique_name("ops-inventory-rebuilt");
    let rebuilt_picks = testkit::unique_name("ops-fulfillment-rebuilt");
    let common =
        ["--events-table", events_table.as_str(), "--inventory-table", live_stock.as_str(), "--json", "rebuild"];
    let mut inv: Vec<&str> = common.to_vec();
    inv.extend(["inventory", "--into", &rebuilt_stock, "--page-size", "7", "--segments", "2"]);
    let mut interrupted = inv.clone();
    interrupted.extend(["--stop-after-pages", "3"]);
    assert_eq!(stack.orders(&interrupted).code, 3);
    let report = stack.orders(&inv).json();
    assert_eq!(report["finished"], true);
    assert_eq!(report["short"].as_array().unwrap().len(), 0);
    let mut ful: Vec<&str> = common.to_vec();
    ful.extend(["fulfillment", "--into", &rebuilt_picks, "--page-size", "7"]);
    assert_eq!(stack.orders(&ful).json()["finished"], true);

    let rebuilt = DynamoInventoryStore::new(stack.dynamodb.clone(), &rebuilt_stock);
    let skus: Vec<Sku> = skus.iter().map(|s| Sku::parse(s).unwrap()).collect();
    let live = stock.stock(&skus).await.unwrap();
    let again = rebuilt.stock(&skus).await.unwrap();
    for sku in &skus {
        assert_eq!(again.get(sku), live.get(sku), "stock of {}", sku.as_str());
    }
    eprintln!("live stock: {live:?}");
    let rebuilt_picks = DynamoFulfillmentStore::new(stack.dynamodb.clone(), &rebuilt_picks);
    for id in &ids {
        assert_eq!(rebuilt_picks.get(*id).await.unwrap(), picks.get(*id).await.unwrap(), "pick request of {id}");
    }
    // The live table is refused as a target.
    let mut live_target: Vec<&str> = common.to_vec();
    live_target.extend(["inventory", "--into", &live_stock]);
    assert_ne!(stack.orders(&live_target).code, 0);
}

/// A database of its own on the local PostgreSQL server (no tables yet), as a URL for LEGACY_DATABASE_URL.
pub(super) async fn legacy_database() -> (String, tokio_postgres::Client) {
    let server = std::env::var("LEGACY_DATABASE_URL").expect(
        "LEGACY_DATABASE_URL is not set: this test needs the local stack's PostgreSQL (`scripts/local-stack env`)",
    );
    let admin = legacy_sync::ConnectionSettings::from_url(&server).unwrap();
    let name = format!("ops_legacy_{}", Uuid::new_v4().simple());
    legacy_sync::connect(&admin).await.unwrap().batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = server.rsplit_once('/').expect("a postgres:// URL with a database");
    let client = legacy_sync::connect(&admin.with_dbname(&name)).await.unwrap();
    (format!("{base}/{name}"), client)
}

#[tokio::test]
async fn legacy_migrate_then_rebuild_fills_the_shop_tables_with_every_order_and_refuses_a_changed_rebuild() {
    let stack = Stack::connect().await;
    let (events_table, store) = stack.events_table().await;
    let orders = OrderService::new(store.clone());
    let ids = history(&orders, 6).await;
    let (url, db) = legacy_database().await;
    let legacy = |args: &[&str]| {
        let mut all = vec!["--events-table", events_table.as_str(), "legacy"];
        all.extend(args);
        stack.orders_with(&all, &[("LEGACY_DATABASE_URL", url.as_str())])
    };

    let migrated = legacy(&["migrate", "--create-legacy-tables"]);
    assert_eq!(migrated.code, 0, "{}", migrated.stderr);
    assert!(migrated.stderr.contains("created the legacy shop tables"), "{}", migrated.stderr);
    assert!(migrated.stderr.contains("applied migrations [1]"), "{}", migrated.stderr);
    assert!(legacy(&["migrate"]).stderr.contains("order_sync schema is up to date"));
    for sku in ["muskie-casting-rod", "braided-line"] {
        let product: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&Uuid::new_v4(), &sku];
        db.execute(
            "INSERT INTO shop_product (id, title, description, slug, in_stock, price) VALUES ($1, $2, '', $2, true, 1000)",
            &product,
        )
        .await
        .unwrap();
    }

    let rebuilt = legacy(&["--json", "rebuild", "--segments", "2"]).json();
    assert_eq!(rebuilt["status"], "finished");
    // history(6): orders of 1, 2, 3, 3, 1 and 2 events.
    assert_eq!(rebuilt["totalEvents"], 12, "every event of the six orders");
    let rows: Vec<Uuid> =
        db.query("SELECT id FROM shop_order ORDER BY id", &[]).await.unwrap().iter().map(|row| row.get(0)).collect();
    let mut expected: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    expected.sort();
    assert_eq!(rows, expected);

    let again = legacy(&["--json", "rebuild", "--segments", "2"]).json();
    assert_eq!(again["status"], "already finished (--restart --truncate rebuilds again)");
    let other_segments = legacy(&["rebuild", "--segments", "3"]);
    assert_ne!(other_segments.code, 0);
    assert!(other_segments.stderr.contains("a rebuild with 2 segments is in progress"), "{}", other_segments.stderr);
    let not_empty = legacy(&["rebuild", "--restart"]);
    assert_ne!(not_empty.code, 0);
    assert!(not_empty.stderr.contains("shop_order is not empty"), "{}", not_empty.stderr);
    let from_scratch = legacy(&["--json", "rebuild", "--restart", "--truncate", "--segments", "3"]).json();
    assert_eq!(from_scratch["status"], "finished");
    let count: i64 = db.query_one("SELECT count(*) FROM shop_order", &[]).await.unwrap().get(0);
    assert_eq!(count, 6);
}
