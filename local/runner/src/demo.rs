//! `order-platform demo flash-sale`: a flash sale against a running
//! platform (the embedded runner or the runner on the local stack), over
//! its HTTP API as a shop's customers would buy. Many buyers rush the hot
//! rod while quiet orders for another product keep coming; each order is
//! followed until the saga decides it. The summary checks what a sale must
//! keep: as many confirmed as there was stock, the rest rejected, stock
//! never below zero, and every quiet order confirmed; with a legacy
//! database configured (`LEGACY_DATABASE_URL`), the legacy shop's rows of
//! the sale's orders too.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use local_aws::issuer::{LocalIssuer, TokenRequest};
use serde_json::{json, Value};

use crate::auth::{default_issuer_key, LOCAL_AUDIENCE, LOCAL_ISSUER, MERCHANDISER};
use crate::storefront;

const HOT_SKU: &str = "muskie-casting-rod";
const QUIET_SKU: &str = "tourney-casting-rod";
/// How long one order may stay PLACED before the demo gives up on it.
const DECISION_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the legacy sync may take to catch up with the decided orders.
const LEGACY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(clap::Args, Debug)]
pub struct FlashSaleArgs {
    /// The running platform's base URL (the runner's address).
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// Buyers of the hot rod, one rod each.
    #[arg(long, default_value_t = 300)]
    pub orders: u64,
    /// The hot rod's stock at the start of the sale (set by the demo).
    #[arg(long, default_value_t = 100)]
    pub stock: u64,
    /// Ordinary orders for another product during the sale, with enough
    /// stock for all of them.
    #[arg(long, default_value_t = 100)]
    pub quiet_orders: u64,
    /// Orders in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// The embedded issuer's signing key: the demo mints its buyers' and
    /// its merchandiser's tokens with it, as `token` does.
    /// [default: the checkout's .local-stack/issuer-key.pem]
    #[arg(long, env = "ORDER_PLATFORM_ISSUER_KEY", default_value_os_t = default_issuer_key(), hide_default_value = true)]
    pub issuer_key: PathBuf,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Outcome {
    sku: &'static str,
    order_id: uuid::Uuid,
    status: String,
    decided_after: Duration,
}

struct Client {
    http: reqwest::Client,
    base: String,
    issuer: LocalIssuer,
}

impl Client {
    fn customer_token(&self, customer: &str) -> String {
        self.issuer.mint(&TokenRequest::customer(customer, storefront::CLIENT_ID, Duration::from_secs(3600)))
    }

    fn service_token(&self, client_id: &str, scopes: &[&str]) -> String {
        let scopes = scopes.iter().map(|s| s.to_string()).collect();
        self.issuer.mint(&TokenRequest::service(client_id, scopes, Duration::from_secs(3600)))
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Error> {
        let response = request.send().await.map_err(|e| format!("{}: {e}", self.base))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("HTTP {status}: {body}").into());
        }
        Ok(body)
    }

    async fn set_stock(&self, merchandiser: &str, sku: &str, available: u64) -> Result<(), Error> {
        let url = format!("{}/inventory/{sku}", self.base);
        self.send(self.http.put(url).bearer_auth(merchandiser).json(&json!({ "available": available }))).await?;
        Ok(())
    }

    async fn stock(&self, merchandiser: &str, sku: &str) -> Result<(i64, i64), Error> {
        let url = format!("{}/inventory/{sku}", self.base);
        let stock = self.send(self.http.get(url).bearer_auth(merchandiser)).await?;
        Ok((stock["available"].as_i64().unwrap_or(-1), stock["reserved"].as_i64().unwrap_or(-1)))
    }

    /// One customer's order of one `sku`: placed at the catalog's price,
    /// then followed until decided. Each sale's buyers are customers of
    /// their own, so what earlier sales confirmed never counts in the hot
    /// rod's purchase limit.
    async fn buy(&self, run: &str, buyer: u64, sku: &'static str) -> Result<Outcome, Error> {
        let customer = format!("{}-buyer-{buyer}-{run}", if sku == HOT_SKU { "flash" } else { "quiet" });
        let token = self.customer_token(&customer);
        let body = json!({ "lines": [{ "sku": sku, "quantity": 1 }] });
        let placed_at = Instant::now();
        let placed = self
            .send(
                self.http
                    .post(format!("{}/orders", self.base))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", &customer)
                    .json(&body),
            )
            .await?;
        let id = placed["orderId"].as_str().ok_or("the order has no orderId")?.to_owned();
        let order_id = uuid::Uuid::parse_str(&id)?;
        let mut pause = Duration::from_millis(5);
        while placed_at.elapsed() < DECISION_TIMEOUT {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
            let order = self.send(self.http.get(format!("{}/orders/{id}", self.base)).bearer_auth(&token)).await?;
            let status = order["status"].as_str().unwrap_or_default();
            if status != "PLACED" {
                return Ok(Outcome { sku, order_id, status: status.to_owned(), decided_after: placed_at.elapsed() });
            }
        }
        Err(format!("order {id} still PLACED after {DECISION_TIMEOUT:?}").into())
    }
}

/// Runs the sale and prints the summary; an error if a check fails.
pub async fn flash_sale(args: &FlashSaleArgs) -> Result<(), Error> {
    let issuer = LocalIssuer::load_or_create(&args.issuer_key, LOCAL_ISSUER, LOCAL_AUDIENCE)?;
    let client =
        Arc::new(Client { http: reqwest::Client::new(), base: args.url.trim_end_matches('/').to_owned(), issuer });
    let merchandiser = client.service_token(MERCHANDISER, &["inventory:read", "inventory:write"]);
    client.set_stock(&merchandiser, HOT_SKU, args.stock).await?;
    // Orders of earlier sales still hold their reservations.
    let (_, reserved_before) = client.stock(&merchandiser, HOT_SKU).await?;
    client.set_stock(&merchandiser, QUIET_SKU, args.quiet_orders).await?;
    println!(
        "flash sale on {}: {} buyers of {HOT_SKU} (stock set to {}), {} quiet orders of {QUIET_SKU} (stock set to {}), {} at once",
        client.base, args.orders, args.stock, args.quiet_orders, args.quiet_orders, args.concurrency
    );

    // Watches the hot rod's stock while the sale runs: the lowest it shows.
    let lowest = Arc::new(AtomicI64::new(args.stock as i64));
    let selling = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (client, merchandiser, lowest, selling) =
            (client.clone(), merchandiser.clone(), lowest.clone(), selling.clone());
        tokio::spawn(async move {
            while selling.load(Ordering::Relaxed) {
                if let Ok((available, _)) = client.stock(&merchandiser, HOT_SKU).await {
                    lowest.fetch_min(available, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let run = uuid::Uuid::new_v4().simple().to_string();
    // Hot and quiet orders interleaved, as they arrive in a real sale.
    let total = args.orders + args.quiet_orders;
    let jobs: Vec<(u64, &'static str)> = (0..total)
        .map(|i| {
            let quiet_share = i * args.quiet_orders / total.max(1);
            let is_quiet = (i + 1) * args.quiet_orders / total.max(1) > quiet_share;
            if is_quiet {
                (quiet_share, QUIET_SKU)
            } else {
                (i - quiet_share, HOT_SKU)
            }
        })
        .collect();
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{spinner} orders decided [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let outcomes: Vec<Result<Outcome, Error>> = stream::iter(jobs)
        .map(|(buyer, sku)| {
            let (client, run, bar) = (client.clone(), run.clone(), bar.clone());
            async move {
                let outcome = client.buy(&run, buyer, sku).await;
                bar.inc(1);
                outcome
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    selling.store(false, Ordering::Relaxed);
    watcher.await?;

    let mut failures = Vec::new();
    let mut decided = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(outcome) => decided.push(outcome),
            Err(error) => failures.push(error.to_string()),
        }
    }
    let (hot_left, hot_reserved) = client.stock(&merchandiser, HOT_SKU).await?;
    let (quiet_left, _) = client.stock(&merchandiser, QUIET_SKU).await?;
    let lowest = lowest.load(Ordering::Relaxed).min(hot_left);

    println!(
        "{} orders decided in {:.1} s ({:.0} orders/s)",
        decided.len(),
        elapsed.as_secs_f64(),
        decided.len() as f64 / elapsed.as_secs_f64()
    );
    println!();
    println!(
        "{:<22} {:>7} {:>10} {:>9} {:>11} {:>12} {:>9} {:>9}",
        "sku", "orders", "confirmed", "rejected", "stock left", "lowest seen", "p50", "p99"
    );
    let mut counts = Vec::new();
    for (sku, orders, left, lowest) in
        [(HOT_SKU, args.orders, hot_left, lowest), (QUIET_SKU, args.quiet_orders, quiet_left, quiet_left)]
    {
        let mine: Vec<&Outcome> = decided.iter().filter(|o| o.sku == sku).collect();
        let confirmed = mine.iter().filter(|o| o.status == "CONFIRMED").count() as u64;
        let rejected = mine.iter().filter(|o| o.status == "REJECTED").count() as u64;
        let mut latencies: Vec<Duration> = mine.iter().map(|o| o.decided_after).collect();
        latencies.sort();
        println!(
            "{sku:<22} {orders:>7} {confirmed:>10} {rejected:>9} {left:>11} {lowest:>12} {:>9} {:>9}",
            percentile(&latencies, 50),
            percentile(&latencies, 99)
        );
        counts.push((confirmed, rejected));
    }
    println!("(p50/p99: from placing an order to its CONFIRMED or REJECTED)");
    println!();

    let [(hot_confirmed, hot_rejected), (quiet_confirmed, _)] = [counts[0], counts[1]];
    let sold = args.stock.min(args.orders);
    let mut checks = vec![
        (format!("confirmed {HOT_SKU} = min(stock, buyers) = {sold}"), hot_confirmed == sold),
        (format!("the other {} buyers rejected", args.orders - sold), hot_rejected == args.orders - sold),
        ("stock never below zero".to_owned(), lowest >= 0),
        (
            format!("stock left = {} - confirmed, and as many more reserved", args.stock),
            hot_left == args.stock as i64 - hot_confirmed as i64
                && hot_reserved == reserved_before + hot_confirmed as i64,
        ),
        (format!("every quiet order ({QUIET_SKU}) confirmed"), quiet_confirmed == args.quiet_orders),
        ("every order placed and decided".to_owned(), failures.is_empty()),
    ];
    if let Some(source) = legacy_sync::DatabaseSource::from_env().await? {
        let rows = legacy_rows(&source, &decided).await?;
        let expected = [("confirmed", hot_confirmed + quiet_confirmed), ("rejected", hot_rejected)];
        let shown: Vec<String> = rows.iter().map(|(status, count)| format!("{count} {status}")).collect();
        println!(
            "legacy shop_order rows of this sale: {}",
            if shown.is_empty() { "none".to_owned() } else { shown.join(", ") }
        );
        let matches = expected.iter().all(|(status, n)| rows.iter().any(|(s, c)| s == status && *c == *n as i64))
            && rows.iter().map(|(_, c)| c).sum::<i64>() == decided.len() as i64;
        checks.push(("the legacy shop has every order with its status".to_owned(), matches));
    }
    for (check, held) in &checks {
        println!("  {} {check}", if *held { "ok  " } else { "FAIL" });
    }
    for failure in failures.iter().take(5) {
        println!("  error: {failure}");
    }
    if checks.iter().all(|(_, held)| *held) {
        Ok(())
    } else {
        Err("the flash sale broke a check (above)".into())
    }
}

/// The legacy shop's `shop_order` rows of the decided orders, per status,
/// once the sync has written them all with their decision (or after
/// [`LEGACY_TIMEOUT`], as they are then).
async fn legacy_rows(source: &legacy_sync::DatabaseSource, decided: &[Outcome]) -> Result<Vec<(String, i64)>, Error> {
    let client = source.connect().await?;
    let ids: Vec<uuid::Uuid> = decided.iter().map(|o| o.order_id).collect();
    let started = Instant::now();
    loop {
        let rows = client
            .query(
                "SELECT status, count(*) FROM shop_order WHERE id = ANY($1) GROUP BY status ORDER BY status",
                &[&ids],
            )
            .await?;
        let rows: Vec<(String, i64)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let written: i64 = rows.iter().filter(|(status, _)| status != "placed").map(|(_, n)| n).sum();
        if written == ids.len() as i64 || started.elapsed() > LEGACY_TIMEOUT {
            return Ok(rows);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn percentile(sorted: &[Duration], p: usize) -> String {
    match sorted.len() {
        0 => "-".to_owned(),
        n => format!("{} ms", sorted[((n * p).div_ceil(100)).clamp(1, n) - 1].as_millis()),
    }
}
