//! The runner on the local stack, killed with SIGKILL mid-load and started
//! again: its stream checkpoint makes it resume, so a downstream queue
//! subscribed to the topic gets every stored event (at least once) and few
//! duplicates; the duplicates are measured and printed.

use std::collections::HashSet;
use std::process::{Child, Command as Process, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use commands::{CommandContext, OrderService, RetryPolicy};
use domain::{Command, Currency, CustomerId, OrderId, OrderLine, PlaceOrder, Sku};
use event_store::DynamoEventStore;
use inventory_store::InventoryStore;
use soak::stack::Downstream;

/// The runner's resource names, unique to this test, as its variables.
struct Names {
    vars: Vec<(&'static str, String)>,
}

impl Names {
    fn new() -> Self {
        let id = testkit::unique_name("restart");
        let checkpoint = std::env::temp_dir().join(format!("{id}.checkpoint.json"));
        let mut vars = soak::stack::resource_names(&id);
        vars.push(("STREAM_CHECKPOINT", checkpoint.display().to_string()));
        Names { vars }
    }

    fn get(&self, name: &str) -> &str {
        &self.vars.iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn runner(&self, args: &[&str]) -> Process {
        let mut process = Process::new(env!("CARGO_BIN_EXE_order-platform"));
        process.args(args).envs(self.vars.iter().map(|(k, v)| (*k, v.as_str()))).env_remove("LEGACY_DATABASE_URL");
        process
    }

    fn start(&self) -> Child {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        self.runner(&["serve", "--addr", &format!("127.0.0.1:{port}")])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }
}

async fn place(orders: &OrderService) {
    let command = Command::Place(PlaceOrder {
        customer_id: CustomerId::parse("cust-restart").unwrap(),
        basket_id: None,
        currency: Currency::parse("USD").unwrap(),
        lines: vec![OrderLine { sku: Sku::parse("quiet-sku").unwrap(), quantity: 1, unit_price_cents: 500 }],
    });
    let id = OrderId(uuid::Uuid::new_v4());
    orders.execute(id, &command, &CommandContext::new("restart"), RetryPolicy::NONE).await.unwrap();
}

async fn stored_event_ids(store: &DynamoEventStore) -> HashSet<String> {
    let mut stored = HashSet::new();
    let mut cursor = None;
    loop {
        let page = store.scan_stored(0, 1, cursor, None).await.unwrap();
        stored.extend(page.events.iter().map(|e| e.envelope.event_id.to_string()));
        cursor = page.cursor;
        if cursor.is_none() {
            return stored;
        }
    }
}

#[tokio::test]
async fn the_runner_killed_mid_load_resumes_from_its_checkpoint_and_loses_no_event() {
    let config = testkit::dynamodb_config().await;
    testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
    let names = Names::new();
    let provision = names.runner(&["provision"]).output().unwrap();
    assert!(provision.status.success(), "{}", String::from_utf8_lossy(&provision.stderr));
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    // The downstream team's queue: raw delivery, no filter.
    let name = format!("{}-downstream", names.get("INVENTORY_QUEUE"));
    let mut downstream = Downstream::subscribe(sqs, &sns, names.get("ORDER_EVENTS_TOPIC_ARN"), &name).await.unwrap();
    let store = Arc::new(DynamoEventStore::new(dynamodb.clone(), names.get("EVENTS_TABLE")));
    let orders = OrderService::new(store.clone());
    // Stock, so the saga confirms every order: it appends too while the runner restarts.
    let stock = inventory_store::DynamoInventoryStore::new(dynamodb.clone(), names.get("INVENTORY_TABLE"));
    stock.set_available(&Sku::parse("quiet-sku").unwrap(), 10_000).await.unwrap();

    let mut runner = names.start();
    // Load: 40 orders; after 20 the runner is killed (SIGKILL) mid-load and started again.
    for i in 0..40 {
        place(&orders).await;
        if i == 19 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            runner.kill().unwrap();
            runner.wait().unwrap();
            runner = names.start();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Until every stored event (40 placed, 40 confirmed) reached the downstream queue.
    let deadline = Instant::now() + Duration::from_secs(240);
    let stored = loop {
        downstream.drain().await.unwrap();
        let received = &downstream.received;
        let stored = stored_event_ids(&store).await;
        if stored.len() >= 80 && stored.iter().all(|id| received.contains_key(id)) {
            break stored;
        }
        assert!(Instant::now() < deadline, "{} of {} stored events delivered", received.len(), stored.len());
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    downstream.drain().await.unwrap();
    let received = downstream.received;
    runner.kill().unwrap();
    runner.wait().unwrap();
    let delivered: usize = received.values().map(|n| *n as usize).sum();
    let duplicates = delivered - received.len();
    eprintln!(
        "runner killed mid-load and restarted: {} events stored, {} unique delivered, {duplicates} duplicates",
        stored.len(),
        received.len()
    );
    assert_eq!(received.keys().cloned().collect::<HashSet<_>>(), stored, "no event lost, none invented");
    // Without the checkpoint the restart publishes the whole stream again (20+ duplicates).
    assert!(duplicates < 20, "{duplicates} duplicates: the restart did not resume from its checkpoint");
    let _ = std::fs::remove_file(names.get("STREAM_CHECKPOINT"));
}
