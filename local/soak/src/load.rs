//! The load: orders placed over HTTP at a steady rate, a mix of the hot
//! SKU and quiet ones, some cancelled soon after, some shipped once
//! confirmed. A request that meets a 5xx or no runner at all (it is being
//! restarted) is retried as checkout would, with the same
//! `Idempotency-Key` for a placement.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::{Context, SoakError};

pub const HOT_SKU: &str = "muskie-casting-rod";
pub const QUIET_SKUS: [&str; 8] = [
    "tourney-casting-rod",
    "braided-line",
    "spinning-reel",
    "crankbait-set",
    "fluorocarbon-leader",
    "tackle-box",
    "landing-net",
    "wading-boots",
];

/// Every soak SKU's catalog price and currency, which its orders show.
const PRICE_CENTS: u64 = 1999;
const CURRENCY: &str = "EUR";

/// How long a request is retried before the order is given up.
const GIVE_UP: Duration = Duration::from_secs(180);

/// One order of the load, by its index: what it holds and what follows.
pub struct Plan {
    pub lines: Vec<(&'static str, u32)>,
    pub cancel: bool,
    pub ship: bool,
}

pub fn plan(i: u32) -> Plan {
    let quiet = |k: u32| QUIET_SKUS[(k as usize) % QUIET_SKUS.len()];
    let lines = match i % 5 {
        0 => vec![(HOT_SKU, 1)],
        1 => vec![(quiet(i / 5), 1), (quiet(i / 5 + 3), 2)],
        _ => vec![(quiet(i), 1 + i % 3)],
    };
    Plan { lines, cancel: i % 10 == 3 || i % 20 == 5, ship: i % 4 == 2 }
}

/// Stock set before the load: the hot SKU runs out after about half of its
/// orders (so the saga rejects some), the quiet ones never do.
pub fn stock_plan(orders: u32) -> BTreeMap<&'static str, u64> {
    let mut stock: BTreeMap<&'static str, u64> = QUIET_SKUS.iter().map(|s| (*s, u64::from(orders) * 3)).collect();
    stock.insert(HOT_SKU, u64::from(orders / 10).max(1));
    stock
}

/// What happened to one order of the load.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub index: u32,
    /// Set when the placement was answered 201.
    pub order_id: Option<uuid::Uuid>,
    pub cancelled: bool,
    pub shipped: bool,
    /// Last status seen by the load, or the failure that made it give up.
    pub note: String,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    permits: Arc<Semaphore>,
    /// Requests sent again after a 5xx, 429 or no answer.
    retries: Arc<AtomicU64>,
}

impl Client {
    pub fn new(base: &str, token: String, concurrency: usize) -> Client {
        Client {
            http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap_or_default(),
            base: base.to_owned(),
            token,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Status and body; retried on 5xx, 429 and transport errors until [`GIVE_UP`].
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let answer = {
                let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
                let mut request =
                    self.http.request(method.clone(), format!("{}{path}", self.base)).bearer_auth(&self.token);
                if let Some(body) = &body {
                    request = request.json(body);
                }
                if let Some(key) = key {
                    request = request.header("Idempotency-Key", key);
                }
                match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let body = response.json::<Value>().await.unwrap_or(Value::Null);
                        (status < 500 && status != 429).then_some((status, body)).ok_or(format!("HTTP {status}"))
                    }
                    Err(error) => Err(error.to_string()),
                }
            };
            match answer {
                Ok(answer) => return Ok(answer),
                Err(error) if started.elapsed() > GIVE_UP => return Err(format!("{method} {path}: {error}")),
                Err(_) => {
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    pub async fn set_stock(&self, stock: &BTreeMap<&'static str, u64>) -> Result<(), SoakError> {
        for (sku, available) in stock {
            let (status, body) = self
                .call(reqwest::Method::PUT, &format!("/inventory/{sku}"), Some(json!({ "available": available })), None)
                .await
                .step(format!("set the stock of {sku}"))?;
            if status != 200 {
                return Err(SoakError::Setup(format!("PUT /inventory/{sku}: {status} {body}")));
            }
        }
        Ok(())
    }

    /// Puts every SKU of the plan in the catalog at the price the orders
    /// are placed at.
    pub async fn set_catalog(&self, stock: &BTreeMap<&'static str, u64>) -> Result<(), SoakError> {
        for sku in stock.keys() {
            let item = json!({ "title": format!("Soak {sku}"), "priceCents": PRICE_CENTS, "currency": CURRENCY, "active": true });
            let (status, body) = self
                .call(reqwest::Method::PUT, &format!("/catalog/{sku}"), Some(item), None)
                .await
                .step(format!("set the catalog item of {sku}"))?;
            if status != 200 {
                return Err(SoakError::Setup(format!("PUT /catalog/{sku}: {status} {body}")));
            }
        }
        Ok(())
    }

    async fn order(self, index: u32) -> Outcome {
        let plan = plan(index);
        let mut outcome = Outcome { index, ..Outcome::default() };
        let body = json!({
            "customerId": format!("soak-customer-{}", index % 50),
            "currency": CURRENCY,
            "lines": plan.lines.iter().map(|(sku, quantity)| json!({ "sku": sku, "quantity": quantity, "unitPriceCents": PRICE_CENTS })).collect::<Vec<_>>(),
        });
        let key = uuid::Uuid::new_v4().to_string();
        let id = match self.call(reqwest::Method::POST, "/orders", Some(body), Some(&key)).await {
            Ok((201, view)) => match view["orderId"].as_str().and_then(|id| id.parse().ok()) {
                Some(id) => id,
                None => return Outcome { note: format!("201 without an order id: {view}"), ..outcome },
            },
            Ok((status, body)) => return Outcome { note: format!("place: {status} {body}"), ..outcome },
            Err(error) => return Outcome { note: error, ..outcome },
        };
        outcome.order_id = Some(id);
        if plan.cancel {
            tokio::time::sleep(Duration::from_millis(500)).await;
            match self.call(reqwest::Method::POST, &format!("/orders/{id}/cancel"), Some(json!({})), None).await {
                Ok((200, _)) => outcome.cancelled = true,
                // 409: the saga rejected it first; nothing to cancel.
                Ok((status, _)) => outcome.note = format!("cancel: {status}"),
                Err(error) => outcome.note = error,
            }
        } else if plan.ship {
            outcome.note = self.ship_when_confirmed(id, &mut outcome.shipped).await;
        }
        outcome
    }

    /// Waits for the saga's decision, then ships a confirmed order.
    async fn ship_when_confirmed(&self, id: uuid::Uuid, shipped: &mut bool) -> String {
        let started = Instant::now();
        loop {
            let status = match self.call(reqwest::Method::GET, &format!("/orders/{id}"), None, None).await {
                Ok((200, view)) => view["status"].as_str().unwrap_or_default().to_owned(),
                Ok((status, _)) => return format!("get: {status}"),
                Err(error) => return error,
            };
            match status.as_str() {
                "PLACED" if started.elapsed() < GIVE_UP => tokio::time::sleep(Duration::from_secs(1)).await,
                "CONFIRMED" => {
                    return match self
                        .call(reqwest::Method::POST, &format!("/orders/{id}/ship"), Some(json!({})), None)
                        .await
                    {
                        Ok((200, _)) => {
                            *shipped = true;
                            "shipped".into()
                        }
                        Ok((status, _)) => format!("ship: {status}"),
                        Err(error) => error,
                    }
                }
                other => return other.to_owned(),
            }
        }
    }
}

/// Places `orders` orders at `rate` per second; returns every order's outcome.
pub async fn run(client: Client, orders: u32, rate: f64) -> Vec<Outcome> {
    let started = tokio::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..orders {
        tokio::time::sleep_until(started + Duration::from_secs_f64(f64::from(i) / rate)).await;
        tasks.spawn(client.clone().order(i));
    }
    let mut outcomes = Vec::with_capacity(orders as usize);
    while let Some(joined) = tasks.join_next().await {
        outcomes.push(joined.unwrap_or_else(|e| Outcome { note: format!("task: {e}"), ..Outcome::default() }));
    }
    outcomes.sort_by_key(|o| o.index);
    outcomes
}
