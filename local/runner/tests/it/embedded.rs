//! The embedded runner as a user meets it: started on a free port, it
//! prints where the page is, has the demo stock (or none with `--no-seed`),
//! takes a flash sale (`demo flash-sale`) with every check held, twice in a
//! row, and holds a customer to the hot rod's purchase limit over HTTP.
//! Needs no service: the runner's AWS variables are removed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_order-platform");

struct Runner {
    child: Child,
    base: String,
    key: PathBuf,
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.key);
    }
}

fn command(key: &Path) -> Command {
    let mut command = Command::new(BIN);
    for var in ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "LEGACY_DATABASE_URL"] {
        command.env_remove(var);
    }
    command.env("ORDER_PLATFORM_ISSUER_KEY", key).env("RUST_LOG", "warn");
    command
}

/// Starts the runner on a free port; its base URL from the banner.
fn start(args: &[&str]) -> Runner {
    let key = std::env::temp_dir().join(format!("embedded-runner-{}.pem", uuid::Uuid::new_v4()));
    let (child, base) = crate::banner::serve(command(&key).args(["serve", "--addr", "127.0.0.1:0"]).args(args));
    Runner { child, base, key }
}

fn run(runner: &Runner, args: &[&str]) -> Output {
    command(&runner.key).args(args).output().unwrap()
}

async fn stock(runner: &Runner, sku: &str) -> (u16, serde_json::Value) {
    let token =
        String::from_utf8(run(runner, &["token", "--service", "merchandiser", "--scope", "inventory:read"]).stdout)
            .unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/api/inventory/{sku}", runner.base))
        .bearer_auth(token.trim())
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn starts_with_the_demo_stock_and_under_no_seed_with_none() {
    let runner = start(&[]);
    let (status, muskie) = stock(&runner, "muskie-casting-rod").await;
    assert_eq!(status, 200, "{muskie}");
    assert_eq!((muskie["available"].as_u64(), muskie["reserved"].as_u64()), (Some(100), Some(0)));
    assert_eq!(stock(&runner, "tourney-casting-rod").await.1["available"], 500);

    let empty = start(&["--no-seed"]);
    let (status, problem) = stock(&empty, "muskie-casting-rod").await;
    assert_eq!(status, 404, "no stock was ever set: {problem}");
}

/// `Location` names the new order where the request was sent: under `/api`
/// as behind CloudFront, at the root as on API Gateway; a GET of it answers
/// the order.
#[tokio::test]
async fn a_placed_orders_location_resolves_under_api_and_at_the_root() {
    let runner = start(&[]);
    let token = String::from_utf8(run(&runner, &["token", "--customer", "angler"]).stdout).unwrap();
    let http = reqwest::Client::new();
    let body = r#"{"lines":[{"sku":"muskie-casting-rod","quantity":1}]}"#;
    for prefix in ["/api", ""] {
        let placed = http
            .post(format!("{}{prefix}/orders", runner.base))
            .bearer_auth(token.trim())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(placed.status().as_u16(), 201);
        let location = placed.headers()["location"].to_str().unwrap().to_owned();
        let order: serde_json::Value = placed.json().await.unwrap();
        assert_eq!(location, format!("{prefix}/orders/{}", order["orderId"].as_str().unwrap()));
        let fetched = http.get(format!("{}{location}", runner.base)).bearer_auth(token.trim()).send().await.unwrap();
        assert_eq!(fetched.status().as_u16(), 200, "GET {location}");
        assert_eq!(fetched.json::<serde_json::Value>().await.unwrap()["orderId"], order["orderId"]);
    }
}

/// A customer's order of one muskie rod under `key`: its id.
async fn order_a_rod(http: &reqwest::Client, runner: &Runner, token: &str, key: &str) -> String {
    let placed = http
        .post(format!("{}/api/orders", runner.base))
        .bearer_auth(token)
        .header("idempotency-key", key)
        .json(&serde_json::json!({ "lines": [{ "sku": "muskie-casting-rod", "quantity": 1 }] }))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status().as_u16(), 201);
    placed.json::<serde_json::Value>().await.unwrap()["orderId"].as_str().unwrap().to_owned()
}

/// What `GET /api{path}` answers a customer.
async fn get(http: &reqwest::Client, runner: &Runner, token: &str, path: &str) -> serde_json::Value {
    http.get(format!("{}/api{path}", runner.base)).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// The order's status once the saga decided it.
async fn decided(http: &reqwest::Client, runner: &Runner, token: &str, id: &str) -> String {
    for _ in 0..200 {
        let order = get(http, runner, token, &format!("/orders/{id}")).await;
        if order["status"] != "PLACED" {
            return order["status"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("order {id} still PLACED");
}

/// The demo catalog limits the muskie rod to 2 per customer: 16 requests at
/// once for 5 orders (retries of one Idempotency-Key included) confirm 2
/// and reject 3 as `limit-exceeded`; another customer is unaffected; a
/// cancel frees one rod for the next order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_gets_the_hot_rods_limit_of_five_orders_sent_at_once() {
    let runner = Arc::new(start(&[]));
    let http = reqwest::Client::new();
    let customer = format!("limit-angler-{}", uuid::Uuid::new_v4().simple());
    let token = String::from_utf8(run(&runner, &["token", "--customer", &customer]).stdout).unwrap();
    let token = token.trim().to_owned();
    let keys: Vec<String> = (0..5).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let requests: Vec<_> = (0..16)
        .map(|i| {
            let (http, runner, token, key) = (http.clone(), runner.clone(), token.clone(), keys[i % 5].clone());
            tokio::spawn(async move { order_a_rod(&http, &runner, &token, &key).await })
        })
        .collect();
    let mut ids = Vec::new();
    for request in requests {
        ids.push(request.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "one order per Idempotency-Key");
    let (mut confirmed, mut rejected) = (Vec::new(), Vec::new());
    for id in &ids {
        match decided(&http, &runner, &token, id).await.as_str() {
            "CONFIRMED" => confirmed.push(id.clone()),
            "REJECTED" => rejected.push(id.clone()),
            other => panic!("order {id} is {other}"),
        }
    }
    assert_eq!((confirmed.len(), rejected.len()), (2, 3));
    for id in &rejected {
        let events = get(&http, &runner, &token, &format!("/orders/{id}/events")).await;
        let rejection = &events["events"][1];
        assert_eq!((&rejection["eventType"], &rejection["schemaVersion"]), (&"OrderRejected".into(), &2.into()));
        assert_eq!(
            rejection["data"],
            serde_json::json!({"reason": "limit-exceeded",
                "shortages": [{"kind": "limit", "sku": "muskie-casting-rod", "requested": 1, "available": 0}]})
        );
    }

    let other = String::from_utf8(run(&runner, &["token", "--customer", "limit-other-angler"]).stdout).unwrap();
    let theirs = order_a_rod(&http, &runner, other.trim(), &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(decided(&http, &runner, other.trim(), &theirs).await, "CONFIRMED", "another customer is unaffected");

    let (_, before) = stock(&runner, "muskie-casting-rod").await;
    let cancel = http
        .post(format!("{}/api/orders/{}/cancel", runner.base, confirmed[0]))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status().as_u16(), 200);
    // The saga gives the stock and the customer's share back in one transaction.
    let reserved = before["reserved"].as_u64().unwrap();
    for _ in 0..200 {
        if stock(&runner, "muskie-casting-rod").await.1["reserved"].as_u64() == Some(reserved - 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let next = order_a_rod(&http, &runner, &token, &uuid::Uuid::new_v4().to_string()).await;
    assert_eq!(decided(&http, &runner, &token, &next).await, "CONFIRMED", "cancelling freed one");
}

#[test]
fn a_flash_sale_keeps_every_check_twice_in_a_row() {
    let runner = start(&[]);
    for _ in 0..2 {
        let output = run(
            &runner,
            &[
                "demo",
                "flash-sale",
                "--url",
                &runner.base,
                "--orders",
                "60",
                "--stock",
                "20",
                "--quiet-orders",
                "20",
                "--concurrency",
                "8",
            ],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("ok   confirmed muskie-casting-rod = min(stock, buyers) = 20"), "{stdout}");
        assert!(stdout.contains("ok   every quiet order (tourney-casting-rod) confirmed"), "{stdout}");
        assert!(!stdout.contains("FAIL"), "{stdout}");
    }
}
