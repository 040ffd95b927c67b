//! One order, one trace (issue 24): the runner on the local stack (DynamoDB
//! Local, moto, PostgreSQL) takes an order over HTTP, and the trace it keeps
//! for that order (`GET /_local/traces/{id}`, what `orders trace` reads)
//! holds every hop and call, in one unbroken chain: the API request, the
//! conditional PutItem, the publisher's record and its batch's PublishBatch,
//! the saga's TransactWriteItems and its ConfirmOrder PutItem, fulfillment's
//! write and the legacy sync's PostgreSQL statements.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use domain::Sku;
use inventory_store::InventoryStore;
use telemetry::SpanRecord;

const BIN: &str = env!("CARGO_BIN_EXE_order-platform");

/// A runner of its own on the local stack: its own tables, topic, queues,
/// legacy database and issuer key.
struct Runner {
    vars: Vec<(&'static str, String)>,
    child: Option<Child>,
    base: String,
}

impl Drop for Runner {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Runner {
    async fn provisioned() -> Runner {
        let id = testkit::unique_name("trace");
        let mut vars = soak::stack::resource_names(&id);
        vars.push((
            "STREAM_CHECKPOINT",
            std::env::temp_dir().join(format!("{id}.checkpoint.json")).display().to_string(),
        ));
        vars.push(("ORDER_PLATFORM_ISSUER_KEY", std::env::temp_dir().join(format!("{id}.pem")).display().to_string()));
        vars.push((contract::config::LEGACY_DATABASE_URL, legacy_database(&id).await));
        let runner = Runner { vars, child: None, base: String::new() };
        let provision = runner.command(&["provision"]).output().unwrap();
        assert!(provision.status.success(), "{}", String::from_utf8_lossy(&provision.stderr));
        runner
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.args(args).envs(self.vars.iter().map(|(k, v)| (*k, v.as_str()))).env("RUST_LOG", "warn");
        command
    }

    fn var(&self, name: &str) -> &str {
        &self.vars.iter().find(|(n, _)| *n == name).unwrap().1
    }

    fn serve(&mut self) {
        let (child, base) = crate::banner::serve(&mut self.command(&["serve", "--addr", "127.0.0.1:0"]));
        self.base = base;
        self.child = Some(child);
    }

    fn token(&self, args: &[&str]) -> String {
        let output = self.command(&[&["token"], args].concat()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }
}

/// A new, empty database on the stack's PostgreSQL: the runner creates the
/// legacy shop's tables in it.
async fn legacy_database(id: &str) -> String {
    let server = std::env::var(contract::config::LEGACY_DATABASE_URL).expect(
        "LEGACY_DATABASE_URL is not set: this test needs the local stack's PostgreSQL (`scripts/local-stack env`)",
    );
    let admin = legacy_sync::ConnectionSettings::from_url(&server).unwrap();
    let name = id.replace('-', "_");
    legacy_sync::connect(&admin).await.unwrap().batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
    let (base, _) = server.rsplit_once('/').expect("a postgres:// URL with a database");
    format!("{base}/{name}")
}

/// The spans the runner keeps for `order_id`.
async fn spans(http: &reqwest::Client, runner: &Runner, order_id: &str) -> Vec<SpanRecord> {
    let answer: serde_json::Value =
        http.get(format!("{}/_local/traces/{order_id}", runner.base)).send().await.unwrap().json().await.unwrap();
    serde_json::from_value(answer["spans"].clone()).unwrap()
}

/// What the test looks for: a span's name and, for the hops, the attribute
/// that tells it apart.
fn is(span: &SpanRecord, name: &str, attribute: Option<(&str, &str)>) -> bool {
    span.name == name && attribute.is_none_or(|(key, value)| span.attributes.get(key).is_some_and(|v| v == value))
}

#[tokio::test]
async fn one_order_is_one_trace_from_the_api_to_the_legacy_row() {
    let config = testkit::dynamodb_config().await;
    testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
    let mut runner = Runner::provisioned().await;
    let stock = inventory_store::DynamoInventoryStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        runner.var(contract::config::INVENTORY_TABLE),
    );
    stock.set_available(&Sku::parse("tourney-casting-rod").unwrap(), 10).await.unwrap();
    runner.serve();

    let http = reqwest::Client::new();
    let placed: serde_json::Value = http
        .post(format!("{}/api/orders", runner.base))
        .bearer_auth(runner.token(&["--customer", "traced-angler"]))
        .header("content-type", "application/json")
        .body(r#"{"lines":[{"sku":"tourney-casting-rod","quantity":1}]}"#)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let order_id = placed["orderId"].as_str().expect("the order was placed").to_owned();

    type Wanted = (&'static str, Option<(&'static str, &'static str)>);
    let wanted: [Wanted; 13] = [
        ("request", Some(("function", "api"))),
        ("command", Some(("command", "PlaceOrder"))),
        ("DynamoDB.PutItem", None),
        ("order_event", Some(("event_type", "OrderPlaced"))),
        ("SNS.PublishBatch", None),
        ("event", Some(("function", "inventory"))),
        ("DynamoDB.TransactWriteItems", None),
        ("command", Some(("command", "ConfirmOrder"))),
        ("order_event", Some(("event_type", "OrderConfirmed"))),
        ("event", Some(("function", "fulfillment"))),
        ("DynamoDB.UpdateItem", None),
        ("order", Some(("function", "legacy-sync"))),
        ("postgres", Some(("db.statement", "UPSERT_ORDERS"))),
    ];
    let deadline = Instant::now() + Duration::from_secs(90);
    let spans = loop {
        let spans = spans(&http, &runner, &order_id).await;
        let missing: Vec<&Wanted> =
            wanted.iter().filter(|(name, attribute)| !spans.iter().any(|s| is(s, name, *attribute))).collect();
        if missing.is_empty() {
            break spans;
        }
        assert!(Instant::now() < deadline, "after 90 s the trace of {order_id} still lacks {missing:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let by_id: HashMap<&str, &SpanRecord> = spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
    let parent = |span: &SpanRecord| span.parent_span_id.as_deref().and_then(|p| by_id.get(p).copied());
    let find = |name: &str, attribute: Option<(&str, &str)>| spans.iter().find(|s| is(s, name, attribute)).unwrap();

    // One trace from the request on; the only other roots are the batches
    // (publisher, legacy sync) that a span of the order links to.
    let request = find("request", Some(("function", "api")));
    let linked: HashSet<&str> = spans
        .iter()
        .filter(|s| s.trace_id == request.trace_id)
        .flat_map(|s| s.links.iter().map(|l| l.span_id.as_str()))
        .collect();
    for span in &spans {
        match parent(span) {
            Some(_) => {}
            None if span.span_id == request.span_id => {}
            None => assert!(
                linked.contains(span.span_id.as_str()),
                "{} is cut off from the order's trace: {span:?}",
                span.name
            ),
        }
    }
    // Each hop continues its cause, and starts after it did.
    let place = find("command", Some(("command", "PlaceOrder")));
    let placed_record = find("order_event", Some(("event_type", "OrderPlaced")));
    let reservation = find("event", Some(("function", "inventory")));
    let confirm = find("command", Some(("command", "ConfirmOrder")));
    let confirmed_record = find("order_event", Some(("event_type", "OrderConfirmed")));
    let pick = find("event", Some(("function", "fulfillment")));
    let chain = [request, place, placed_record, reservation, confirm, confirmed_record, pick];
    for pair in chain.windows(2) {
        let (cause, hop) = (pair[0], pair[1]);
        let mut ancestor = parent(hop);
        while let Some(a) = ancestor.filter(|a| a.span_id != cause.span_id) {
            ancestor = parent(a);
        }
        assert!(ancestor.is_some(), "{} ({:?}) does not descend from {}", hop.name, hop.attributes, cause.name);
        assert!(hop.start_micros >= cause.start_micros, "{} started before its cause {}", hop.name, cause.name);
        assert_eq!(hop.trace_id, request.trace_id, "{} is in the request's trace", hop.name);
    }
    // The conditional append is the Place command's own call.
    assert!(spans
        .iter()
        .any(|s| s.name == "DynamoDB.PutItem" && parent(s).is_some_and(|p| p.span_id == place.span_id)));
    let legacy = find("order", Some(("function", "legacy-sync")));
    assert_eq!(legacy.trace_id, request.trace_id);
    assert!(!legacy.links.is_empty(), "the legacy-sync order links to its batch, whose statements it ran in");
}
