//! What the API does for the CloudFront edge in front of it: the origin
//! check (`api::origin`: behind the distribution, a request without its
//! `X-Origin-Verify` value is refused, and during a rotation the previous
//! value still passes) and the caching headers (no cache keeps a caller's
//! answer; the public catalog item is shareable). In-process: the accepted
//! values are injected, no AWS.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api::origin::{OriginCheck, OriginSecret, OriginSecretError, ORIGIN_VERIFY};
use api::App;
use async_trait::async_trait;
use common::{memory_app, payload, send, to_request, Answer};
use domain::ports::EventScan;

const CURRENT: &str = "kq0CwZ3v8Yb1Tn5Lr7Hs2Jd4Fg6Xp9Mc";
const NEXT: &str = "Ue3Wy5Ai7Oq9Sk1Gm2Bn4Dv6Fh8Jl0Zx";
const AFTER_NEXT: &str = "Pt6Rr8Ce0Nw2Ly4Ib6Vo8Ka1Qf3Hj5Ds";

/// The secret as Secrets Manager would answer: its current value and,
/// after a rotation, the previous one; or no answer at all.
struct InjectedSecret {
    values: Mutex<Option<Vec<&'static str>>>,
    reads: AtomicUsize,
}

impl InjectedSecret {
    fn new(values: &[&'static str]) -> Arc<Self> {
        Arc::new(InjectedSecret { values: Mutex::new(Some(values.to_vec())), reads: AtomicUsize::new(0) })
    }

    /// A rotation: `new` becomes the current value, the current the previous.
    fn rotate_to(&self, new: &'static str) {
        let mut values = self.values.lock().unwrap();
        let current = values.as_ref().expect("a readable secret")[0];
        *values = Some(vec![new, current]);
    }

    fn stop_answering(&self) {
        *self.values.lock().unwrap() = None;
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl OriginSecret for InjectedSecret {
    async fn accepted(&self) -> Result<Vec<String>, OriginSecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        let values = self.values.lock().unwrap().clone();
        let values = values.ok_or_else(|| OriginSecretError::NoCurrent("arn:injected".into()))?;
        Ok(values.into_iter().map(str::to_owned).collect())
    }
}

async fn behind_cloudfront(secret: &Arc<InjectedSecret>, refresh_every: Duration) -> App {
    let check = OriginCheck::new(secret.clone(), refresh_every).await.expect("the secret is readable");
    memory_app().0.with_origin_check(check)
}

/// `GET /catalog/{sku}` as a signed-out viewer sends it, with this
/// `X-Origin-Verify` (or none).
async fn read_catalog(app: &App, origin_verify: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = origin_verify.map(|value| (ORIGIN_VERIFY, value)).into_iter().collect();
    let mut request = payload("GET", "/catalog/muskie-casting-rod", &headers, None);
    request["requestContext"].as_object_mut().unwrap().remove("authorizer");
    send(app, to_request(&request)).await
}

fn assert_refused(answer: &Answer, case: &str) {
    assert_eq!(answer.status, 403, "{case}: {}", answer.json);
    assert_eq!(answer.json["type"], "/problems/forbidden", "{case}");
    assert!(answer.json["detail"].as_str().unwrap().contains("CloudFront"), "{case}: {}", answer.json);
    assert_eq!(answer.headers["cache-control"], "no-store", "{case}: a refusal is not cached");
}

#[tokio::test]
async fn without_an_origin_check_every_request_is_served() {
    let (app, _) = memory_app();
    assert_eq!(read_catalog(&app, None).await.status, 200);
    assert_eq!(read_catalog(&app, Some("anything")).await.status, 200);
}

#[tokio::test]
async fn a_request_without_the_distributions_value_is_refused_and_changes_nothing() {
    let secret = InjectedSecret::new(&[CURRENT]);
    let (app, events) = memory_app();
    let app = app.with_origin_check(OriginCheck::new(secret, Duration::from_secs(3600)).await.unwrap());
    let longer = format!("{CURRENT}x");
    let lower = CURRENT.to_lowercase();
    let cases: [(&str, Option<&str>); 6] = [
        ("no header", None),
        ("empty", Some("")),
        ("another value", Some(NEXT)),
        ("a prefix of the value", Some(&CURRENT[..CURRENT.len() - 1])),
        ("the value and more", Some(&longer)),
        ("the value in lower case", Some(&lower)),
    ];
    let body = r#"{"customerId":"customer-1842","lines":[{"sku":"muskie-casting-rod","quantity":1}]}"#;
    let place = |origin_verify: Option<&str>| {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(origin_verify.map(|value| (ORIGIN_VERIFY, value)));
        to_request(&payload("POST", "/orders", &headers, Some(body)))
    };
    for (case, origin_verify) in cases {
        assert_refused(&read_catalog(&app, origin_verify).await, case);
        assert_refused(&send(&app, place(origin_verify)).await, case);
        assert!(events.scan_page(0, 1, None).await.unwrap().events.is_empty(), "{case}: nothing stored");
    }
    assert_eq!(read_catalog(&app, Some(CURRENT)).await.status, 200);
    let placed = send(&app, place(Some(CURRENT))).await;
    assert_eq!(placed.status, 201, "{}", placed.json);
    assert_eq!(events.scan_page(0, 1, None).await.unwrap().events.len(), 1, "the order placed");
}

#[tokio::test]
async fn during_a_rotation_the_previous_value_is_accepted_until_the_next_one() {
    let secret = InjectedSecret::new(&[CURRENT]);
    // Read on every request, so each step shows at once.
    let app = behind_cloudfront(&secret, Duration::ZERO).await;
    assert_eq!(read_catalog(&app, Some(CURRENT)).await.status, 200);
    assert_refused(&read_catalog(&app, Some(NEXT)).await, "the next value before the rotation");

    // NEXT is AWSCURRENT: CloudFront still sends CURRENT until the stack is updated, then NEXT.
    secret.rotate_to(NEXT);
    assert_eq!(read_catalog(&app, Some(CURRENT)).await.status, 200, "the previous value still passes");
    assert_eq!(read_catalog(&app, Some(NEXT)).await.status, 200, "the new value passes");

    secret.rotate_to(AFTER_NEXT);
    assert_refused(&read_catalog(&app, Some(CURRENT)).await, "two rotations ago");
    assert_eq!(read_catalog(&app, Some(NEXT)).await.status, 200);
    assert_eq!(read_catalog(&app, Some(AFTER_NEXT)).await.status, 200);
}

#[tokio::test]
async fn the_values_are_read_at_start_and_kept_for_the_refresh_interval() {
    let secret = InjectedSecret::new(&[CURRENT]);
    let app = behind_cloudfront(&secret, Duration::from_secs(3600)).await;
    assert_eq!(secret.reads(), 1, "read once, at start");
    secret.rotate_to(NEXT);
    for _ in 0..5 {
        assert_eq!(read_catalog(&app, Some(CURRENT)).await.status, 200);
    }
    assert_refused(&read_catalog(&app, Some(NEXT)).await, "a value newer than the instance's");
    assert_eq!(secret.reads(), 1, "no read per request");
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_keeps_the_values_read_before() {
    let secret = InjectedSecret::new(&[CURRENT]);
    let app = behind_cloudfront(&secret, Duration::ZERO).await;
    secret.stop_answering();
    assert_eq!(read_catalog(&app, Some(CURRENT)).await.status, 200);
    assert_refused(&read_catalog(&app, None).await, "still checked");
    assert!(secret.reads() > 1, "read again, and failed");
}

#[tokio::test]
async fn an_instance_that_cannot_read_the_secret_does_not_start() {
    let secret = InjectedSecret::new(&[]);
    secret.stop_answering();
    let refused = OriginCheck::new(secret, Duration::from_secs(300)).await.err().expect("no check without values");
    assert!(refused.to_string().contains("arn:injected"), "{refused}");
}

#[tokio::test]
async fn a_callers_answers_are_not_stored_and_the_public_catalog_item_is_shareable() {
    let (app, _) = memory_app();
    assert_eq!(read_catalog(&app, None).await.headers["cache-control"], "public, max-age=30");
    let body = r#"{"customerId":"customer-1842","lines":[{"sku":"muskie-casting-rod","quantity":1}]}"#;
    let json = [("content-type", "application/json")];
    let placed = send(&app, to_request(&payload("POST", "/orders", &json, Some(body)))).await;
    assert_eq!(placed.status, 201, "{}", placed.json);
    let order = format!("/orders/{}", placed.json["orderId"].as_str().unwrap());
    let answers = [
        placed,
        send(&app, to_request(&payload("GET", &order, &[], None))).await,
        send(&app, to_request(&payload("GET", &format!("{order}/events"), &[], None))).await,
        send(&app, to_request(&payload("GET", "/inventory/muskie-casting-rod", &[], None))).await,
        send(&app, to_request(&payload("GET", "/orders/not-a-uuid", &[], None))).await,
    ];
    for answer in answers {
        assert_eq!(answer.headers["cache-control"], "no-store", "{} {}", answer.status, answer.json);
    }
}

/// Who sets an event's `traceparent`: the API's own span, never the caller.
/// A request that names a trace of its choosing (`traceparent`, as a W3C
/// client would send it, or an X-Ray header) gets an order whose events
/// carry the API's trace context, in a trace the API started; the caller
/// cannot join its order to someone else's trace.
#[tokio::test]
async fn a_caller_cannot_choose_the_trace_its_orders_events_carry() {
    use domain::ports::EventStore;
    use tracing::instrument::WithSubscriber;
    let (app, store) = memory_app();
    let (subscriber, _) =
        telemetry::traced(&telemetry::Exports::default().with_recent(telemetry::RecentTraces::new(100)));
    let chosen = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let headers = [
        ("content-type", "application/json"),
        ("traceparent", chosen),
        ("x-amzn-trace-id", "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"),
    ];
    let body = r#"{"customerId":"customer-1842","lines":[{"sku":"muskie-casting-rod","quantity":1}]}"#;
    let placed =
        send(&app, to_request(&payload("POST", "/orders", &headers, Some(body)))).with_subscriber(subscriber).await;
    assert_eq!(placed.status, 201, "{}", placed.json);
    let order_id = domain::OrderId(placed.json["orderId"].as_str().unwrap().parse().unwrap());
    let events = store.load(order_id).await.unwrap();
    let traceparent = events[0].traceparent.as_deref().expect("a traced command's event carries its context");
    assert!(!traceparent.contains("4bf92f3577b34da6a3ce929d0e0e4736"), "{traceparent}");
}
