//! Malformed and hostile requests: each gets its documented status and a
//! problem+json body naming what is wrong, and the event store is exactly
//! as it was before.

use crate::common;

use commands::{CommandContext, RetryPolicy};
use common::{memory_app, payload, send, to_request};
use domain::ports::EventScan;
use domain::{Command, Envelope, OrderId};

struct Case {
    name: &'static str,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<String>,
    status: u16,
    /// The field `errors` must name, for 400s about one field.
    field: Option<&'static str>,
}

const JSON: (&str, &str) = ("content-type", "application/json");

fn order_body(lines: &str) -> String {
    format!(r#"{{"customerId":"c-1","currency":"USD","lines":{lines}}}"#)
}

fn line(sku: &str, quantity: &str, price: &str) -> String {
    format!(r#"{{"sku":"{sku}","quantity":{quantity},"unitPriceCents":{price}}}"#)
}

fn place(name: &'static str, body: String, status: u16, field: Option<&'static str>) -> Case {
    Case { name, method: "POST", path: "/orders".into(), headers: vec![json_header()], body: Some(body), status, field }
}

fn bad_line(name: &'static str, line_json: String, field: &'static str) -> Case {
    place(name, order_body(&format!("[{line_json}]")), 400, Some(field))
}

fn cases(placed: OrderId, shipped: OrderId) -> Vec<Case> {
    let ok_line = line("muskie-casting-rod", "1", "100");
    let many_lines = (0..101).map(|i| line(&format!("sku-{i}"), "1", "1")).collect::<Vec<_>>().join(",");
    let padding = "x".repeat(70 * 1024);
    let command = |name, path: String, headers: Vec<(&'static str, String)>, body: Option<&str>, status, field| Case {
        name,
        method: "POST",
        path,
        headers,
        body: body.map(str::to_owned),
        status,
        field,
    };
    let json = || vec![json_header()];
    vec![
        place("truncated JSON", r#"{"customerId":"c-1","#.into(), 400, None),
        place("not JSON at all", "customerId=c-1".into(), 400, None),
        place("trailing garbage", format!("{} x", order_body(&format!("[{ok_line}]"))), 400, None),
        place("array instead of object", "[]".into(), 400, Some("body")),
        place("null body", "null".into(), 400, Some("body")),
        place("empty body", String::new(), 400, None),
        place("missing currency", r#"{"customerId":"c-1","lines":[]}"#.into(), 400, Some("currency")),
        place(
            "unknown field",
            order_body("[]").replace("{\"customerId\"", "{\"admin\":true,\"customerId\""),
            400,
            Some("admin"),
        ),
        place("a service leaves out customerId", format!(r#"{{"currency":"USD","lines":[{ok_line}]}}"#), 422, None),
        place("customerId a number", r#"{"customerId":7,"currency":"USD","lines":[]}"#.into(), 400, Some("customerId")),
        place(
            "customerId null",
            format!(r#"{{"customerId":null,"currency":"USD","lines":[{ok_line}]}}"#),
            400,
            Some("customerId"),
        ),
        place(
            "basketId null",
            order_body(&format!("[{ok_line}]")).replace("{\"customerId\"", "{\"basketId\":null,\"customerId\""),
            400,
            Some("basketId"),
        ),
        place("lines an object", order_body("{}"), 400, Some("lines")),
        place("no lines", order_body("[]"), 400, Some("lines")),
        place("101 lines", order_body(&format!("[{many_lines}]")), 400, Some("lines")),
        bad_line("quantity a string", line("a", "\"2\"", "1"), "lines[0].quantity"),
        bad_line("quantity zero", line("a", "0", "1"), "lines[0].quantity"),
        bad_line("quantity negative", line("a", "-3", "1"), "lines[0].quantity"),
        bad_line("quantity 1001", line("a", "1001", "1"), "lines[0].quantity"),
        bad_line("quantity huge", line("a", "99999999999999999999999", "1"), "lines[0].quantity"),
        bad_line("quantity fractional", line("a", "1.5", "1"), "lines[0].quantity"),
        bad_line("price zero", line("a", "1", "0"), "lines[0].unitPriceCents"),
        bad_line("price negative", line("a", "1", "-100"), "lines[0].unitPriceCents"),
        bad_line("price over the limit", line("a", "1", "100000001"), "lines[0].unitPriceCents"),
        bad_line("sku with spaces", line("muskie casting rod", "1", "1"), "lines[0].sku"),
        bad_line("sku with SQL", line("x'; DROP TABLE shop_order; --", "1", "1"), "lines[0].sku"),
        bad_line("sku uppercase", line("MUSKIE", "1", "1"), "lines[0].sku"),
        bad_line("sku too long", line(&"a".repeat(65), "1", "1"), "lines[0].sku"),
        place("duplicate sku", order_body(&format!("[{ok_line},{ok_line}]")), 400, Some("lines[1].sku")),
        place("customerId empty", r#"{"customerId":"","currency":"USD","lines":[]}"#.into(), 400, Some("customerId")),
        place(
            "customerId too long",
            format!(r#"{{"customerId":"{}","currency":"USD","lines":[{ok_line}]}}"#, "c".repeat(129)),
            400,
            Some("customerId"),
        ),
        place(
            "customerId with a control character",
            format!(r#"{{"customerId":"c\u0000","currency":"USD","lines":[{ok_line}]}}"#),
            400,
            Some("customerId"),
        ),
        place(
            "customerId with a direction override",
            format!(r#"{{"customerId":"evil\u202etxt.exe","currency":"USD","lines":[{ok_line}]}}"#),
            400,
            Some("customerId"),
        ),
        place(
            "customerId with a zero-width space",
            format!(r#"{{"customerId":"ann\u200b","currency":"USD","lines":[{ok_line}]}}"#),
            400,
            Some("customerId"),
        ),
        place("currency lowercase", order_body(&format!("[{ok_line}]")).replace("USD", "usd"), 400, Some("currency")),
        place(
            "currency not ISO-4217",
            order_body(&format!("[{ok_line}]")).replace("USD", "XYZ"),
            400,
            Some("currency"),
        ),
        place(
            "basketId not a UUID",
            format!(r#"{{"customerId":"c","basketId":"basket-1","currency":"USD","lines":[{ok_line}]}}"#),
            400,
            Some("basketId"),
        ),
        place("70 KiB body", format!(r#"{{"customerId":"{padding}"}}"#), 413, None),
        Case {
            headers: vec![("content-type", "text/plain".into())],
            ..place("text/plain", order_body("[]"), 415, None)
        },
        Case { headers: vec![], ..place("no content type", order_body("[]"), 415, None) },
        Case {
            headers: vec![json_header(), ("idempotency-key", "k".repeat(300))],
            ..place("Idempotency-Key too long", order_body(&format!("[{ok_line}]")), 400, Some("idempotency-key"))
        },
        Case {
            headers: vec![json_header(), ("idempotency-key", "seeded-key".into())],
            ..place(
                "Idempotency-Key reused with another body",
                order_body(&format!("[{}]", line("lure-7", "9", "450"))),
                422,
                None,
            )
        },
        Case {
            headers: vec![json_header(), ("x-correlation-id", "c".repeat(129))],
            ..place("X-Correlation-Id too long", order_body(&format!("[{ok_line}]")), 400, Some("x-correlation-id"))
        },
        Case { method: "GET", body: None, ..place("unknown order", String::new(), 404, None) }
            .at(format!("/orders/{}", uuid::Uuid::new_v4())),
        Case { method: "GET", body: None, ..place("order id not a UUID", String::new(), 400, Some("id")) }
            .at("/orders/42".into()),
        Case { method: "GET", body: None, ..place("events of an unknown order", String::new(), 404, None) }
            .at(format!("/orders/{}/events", uuid::Uuid::new_v4())),
        Case { method: "DELETE", body: None, ..place("a method the order does not answer", String::new(), 405, None) }
            .at(format!("/orders/{placed}")),
        Case { method: "TRACE", body: None, ..place("TRACE", String::new(), 405, None) },
        Case { method: "GET", body: None, ..place("unknown route", String::new(), 404, None) }
            .at(format!("/orders/{placed}/refunds")),
        command("cancel an unknown order", format!("/orders/{}/cancel", uuid::Uuid::new_v4()), vec![], None, 404, None),
        command("cancel after ship", format!("/orders/{shipped}/cancel"), vec![], None, 409, None),
        command(
            "cancel with a null reason",
            format!("/orders/{placed}/cancel"),
            json(),
            Some(r#"{"reason":null}"#),
            400,
            Some("reason"),
        ),
        command(
            "ship with a null tracking number",
            format!("/orders/{shipped}/ship"),
            json(),
            Some(r#"{"trackingNumber":null}"#),
            400,
            Some("trackingNumber"),
        ),
        command("ship before confirmation", format!("/orders/{placed}/ship"), vec![], None, 409, None),
        command(
            "If-Match mismatch",
            format!("/orders/{placed}/cancel"),
            vec![("if-match", "\"7\"".into())],
            None,
            412,
            None,
        ),
        command(
            "If-Match malformed",
            format!("/orders/{placed}/cancel"),
            vec![("if-match", "7".into())],
            None,
            400,
            Some("if-match"),
        ),
        command(
            "cancel reason too long",
            format!("/orders/{placed}/cancel"),
            json(),
            Some(&format!(r#"{{"reason":"{}"}}"#, "r".repeat(501))),
            400,
            Some("reason"),
        ),
        command(
            "cancel body of the wrong type",
            format!("/orders/{placed}/cancel"),
            vec![("content-type", "text/plain".into())],
            Some("please"),
            415,
            None,
        ),
        command(
            "ship with a numeric tracking number",
            format!("/orders/{placed}/ship"),
            json(),
            Some(r#"{"trackingNumber":12}"#),
            400,
            Some("trackingNumber"),
        ),
        command(
            "cancel with a 70 KiB body",
            format!("/orders/{placed}/cancel"),
            json(),
            Some(&format!(r#"{{"reason":"{padding}"}}"#)),
            413,
            None,
        ),
        put_stock(
            "stock for a SKU with spaces",
            "/inventory/Muskie%20Rod",
            json(),
            "{\"available\":5}",
            400,
            Some("sku"),
        ),
        put_stock(
            "negative stock",
            "/inventory/muskie-casting-rod",
            json(),
            "{\"available\":-1}",
            400,
            Some("available"),
        ),
        put_stock(
            "stock as a string",
            "/inventory/muskie-casting-rod",
            json(),
            "{\"available\":\"ten\"}",
            400,
            Some("available"),
        ),
        put_stock(
            "stock over the limit",
            "/inventory/muskie-casting-rod",
            json(),
            "{\"available\":2000000000}",
            400,
            Some("available"),
        ),
        put_stock("stock without a body", "/inventory/muskie-casting-rod", json(), "", 400, None),
        put_stock(
            "stock as text/plain",
            "/inventory/muskie-casting-rod",
            vec![("content-type", "text/plain".into())],
            "5",
            415,
            None,
        ),
        Case { method: "GET", body: None, ..place("stock of an unknown SKU", String::new(), 404, None) }
            .at("/inventory/never-stocked".into()),
        Case { method: "GET", body: None, ..place("stock of an invalid SKU", String::new(), 400, Some("sku")) }
            .at("/inventory/DROP%20TABLE".into()),
    ]
}

fn put_stock(
    name: &'static str,
    path: &str,
    headers: Vec<(&'static str, String)>,
    body: &str,
    status: u16,
    field: Option<&'static str>,
) -> Case {
    Case { name, method: "PUT", path: path.into(), headers, body: Some(body.into()), status, field }
}

fn json_header() -> (&'static str, String) {
    (JSON.0, JSON.1.to_owned())
}

impl Case {
    fn at(mut self, path: String) -> Self {
        self.path = path;
        self
    }
}

async fn all_events(store: &dyn EventScan) -> Vec<Envelope> {
    let mut events = store.scan_page(0, 1, None).await.unwrap().events;
    events.sort_by_key(|e| (e.order_id, e.version));
    events
}

#[tokio::test]
async fn bad_requests_get_a_precise_problem_and_change_nothing() {
    let (app, store) = memory_app();
    let context = CommandContext::new("seed");
    let seed =
        |body: String, key: &'static str| payload("POST", "/orders", &[JSON, ("idempotency-key", key)], Some(&body));
    let placed =
        common::send(&app, to_request(&seed(order_body(&format!("[{}]", line("lure-7", "1", "450"))), "seeded-key")))
            .await;
    assert_eq!(placed.status, 201);
    let placed: OrderId = placed.json["orderId"].as_str().unwrap().parse().unwrap();
    let shipped = OrderId::from_idempotency_key(&format!("service:{}", common::OPERATOR), "shipped-key");
    let shipped_body = order_body(&format!("[{}]", line("lure-7", "1", "450")));
    assert_eq!(send(&app, to_request(&seed(shipped_body, "shipped-key"))).await.status, 201);
    for command in [Command::Confirm, Command::Ship { tracking_number: None }] {
        app.orders.execute(shipped, &command, &context, RetryPolicy::NONE).await.unwrap();
    }
    let hot = domain::Sku::parse("muskie-casting-rod").unwrap();
    app.inventory.set_available(&hot, 100).await.unwrap();
    let before = all_events(store.as_ref()).await;
    let stock_before = app.inventory.get(&hot).await.unwrap();

    let cases = cases(placed, shipped);
    assert!(cases.len() >= 30);
    for case in cases {
        let headers: Vec<(&str, &str)> = case.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let request = to_request(&payload(case.method, &case.path, &headers, case.body.as_deref()));
        let answer = send(&app, request).await;
        assert_eq!(answer.status, case.status, "{}: {}", case.name, answer.json);
        if let Some(field) = case.field {
            let errors = answer.json["errors"].as_array().cloned().unwrap_or_default();
            let fields: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
            assert!(fields.contains(&field), "{}: expected errors to name {field}, got {}", case.name, answer.json);
        }
        assert_eq!(all_events(store.as_ref()).await, before, "{} changed the event store", case.name);
        assert_eq!(app.inventory.get(&hot).await.unwrap(), stock_before, "{} changed the stock", case.name);
    }
}

/// JSON Schema's `integer` is any number without a fraction, and the
/// OpenAPI document says `integer`: `2.0` and `1e2` are integers.
#[tokio::test]
async fn integral_numbers_in_any_notation_are_integers() {
    let (app, _store) = memory_app();
    let body = order_body(&format!("[{}]", line("lure-7", "2.0", "4.5e2")));
    let placed = send(&app, to_request(&payload("POST", "/orders", &[JSON], Some(&body)))).await;
    assert_eq!(placed.status, 201, "{}", placed.json);
    assert_eq!(placed.json["lines"][0]["quantity"], 2);
    assert_eq!(placed.json["lines"][0]["unitPriceCents"], 450);
    let stock = payload("PUT", "/inventory/lure-7", &[JSON], Some(r#"{"available":7.0}"#));
    let set = send(&app, to_request(&stock)).await;
    assert_eq!(set.status, 200, "{}", set.json);
    assert_eq!(set.json["available"], 7);
}
