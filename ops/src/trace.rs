//! `orders trace`: one order's trace as a waterfall. Every hop (the API,
//! the publisher, the inventory saga, fulfillment, the legacy sync) with its
//! calls, nested as they ran, when each started, how long it took; the
//! wait before each hop (the stream's, a queue's) is a row of its own: it is
//! where a flash sale's time goes. A span that links to another trace (a
//! record to its publisher batch, an order to its legacy-sync batch) shows
//! that trace under it.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use domain::OrderId;
use telemetry::SpanRecord;

/// The local runner's answer for one order (`GET /_local/traces/{id}`).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderTrace {
    spans: Vec<SpanRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("could not ask the runner at {url} for the trace (is it running? `cargo run`): {source}")]
    Runner {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error(
        "the runner at {url} keeps no span of order {order_id}: placed before the runner started, or too long ago"
    )]
    NotFound { url: String, order_id: OrderId },
}

/// The spans of `order_id`'s trace that the runner at `runner` remembers.
pub async fn from_runner(runner: &str, order_id: OrderId) -> Result<Vec<SpanRecord>, TraceError> {
    let url = format!("{}/_local/traces/{order_id}", runner.trim_end_matches('/'));
    let fetch = async {
        let response = reqwest::get(&url).await?.error_for_status()?;
        response.json::<OrderTrace>().await
    };
    let trace = fetch.await.map_err(|source| TraceError::Runner { url: url.clone(), source })?;
    if trace.spans.is_empty() {
        return Err(TraceError::NotFound { url, order_id });
    }
    Ok(trace.spans)
}

/// One line of the waterfall.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub depth: usize,
    /// The hop: the `function` of the span or of its nearest ancestor.
    pub function: String,
    pub label: String,
    /// Microseconds since the trace's first span started.
    pub start: u64,
    pub duration: u64,
    /// The time between a hop's cause ending and the hop starting.
    pub wait: bool,
    pub error: Option<String>,
}

/// The spans as rows, depth first, each span's children by start time.
pub fn rows(spans: &[SpanRecord]) -> Vec<Row> {
    let Some(origin) = spans.iter().map(|s| s.start_micros).min() else { return Vec::new() };
    let mut sorted: Vec<&SpanRecord> = spans.iter().collect();
    sorted.sort_by_key(|s| (s.start_micros, s.span_id.as_str()));
    let ids: HashSet<&str> = sorted.iter().map(|s| s.span_id.as_str()).collect();
    let mut children: HashMap<&str, Vec<&SpanRecord>> = HashMap::new();
    let mut roots = Vec::new();
    for span in &sorted {
        match span.parent_span_id.as_deref().filter(|parent| ids.contains(parent)) {
            Some(parent) => children.entry(parent).or_default().push(span),
            None => roots.push(*span),
        }
    }
    // A linked trace's root goes under the first span that links to it.
    let root_ids: HashSet<&str> = roots.iter().map(|s| s.span_id.as_str()).collect();
    let mut adopted: HashSet<&str> = HashSet::new();
    for span in &sorted {
        for link in &span.links {
            if root_ids.contains(link.span_id.as_str()) && adopted.insert(link.span_id.as_str()) {
                let root = sorted.iter().find(|s| s.span_id == link.span_id).expect("a root is a span");
                children.entry(span.span_id.as_str()).or_default().push(root);
            }
        }
    }
    for siblings in children.values_mut() {
        siblings.sort_by_key(|s| (s.start_micros, s.span_id.as_str()));
    }
    let mut out = Vec::new();
    for root in roots.into_iter().filter(|r| !adopted.contains(r.span_id.as_str())) {
        walk(root, None, 0, origin, &children, &mut out);
    }
    out
}

fn walk<'a>(
    span: &'a SpanRecord,
    parent: Option<(&'a SpanRecord, &str)>,
    depth: usize,
    origin: u64,
    children: &HashMap<&str, Vec<&'a SpanRecord>>,
    out: &mut Vec<Row>,
) {
    let inherited = parent.map(|(_, function)| function).unwrap_or("");
    let function = span.attributes.get("function").map_or(inherited, String::as_str).to_owned();
    if let Some((cause, cause_function)) = parent {
        if function != cause_function && span.links.iter().all(|l| l.span_id != cause.span_id) {
            let cause_end = cause.start_micros + cause.duration_micros;
            let what = if function == "publisher" { "stream wait" } else { "queue wait" };
            out.push(Row {
                depth,
                function: function.clone(),
                label: what.to_owned(),
                start: cause_end.min(span.start_micros) - origin,
                duration: span.start_micros.saturating_sub(cause_end),
                wait: true,
                error: None,
            });
        }
    }
    out.push(Row {
        depth,
        function: function.clone(),
        label: label(span),
        start: span.start_micros - origin,
        duration: span.duration_micros,
        wait: false,
        error: span.error.clone(),
    });
    for child in children.get(span.span_id.as_str()).into_iter().flatten() {
        walk(child, Some((span, &function)), depth + 1, origin, children, out);
    }
}

/// The span's name and what tells it apart from its siblings.
fn label(span: &SpanRecord) -> String {
    let attribute = |name: &str| span.attributes.get(name).map(String::as_str);
    let detail = match span.name.as_str() {
        "request" => attribute("method").zip(attribute("path")).map(|(m, p)| format!("{m} {p}")),
        "command" => attribute("command").map(str::to_owned),
        "order_event" | "event" => attribute("event_type").map(str::to_owned),
        "postgres" => attribute("db.statement").map(str::to_owned),
        "publish_stream_batch" => attribute("records").map(|n| format!("{n} records")),
        "legacy_batch" | "order" => attribute("events").map(|n| format!("{n} events")),
        _ => None,
    };
    match detail {
        Some(detail) => format!("{} {detail}", span.name),
        None => span.name.clone(),
    }
}

fn millis(micros: u64) -> String {
    format!("{:.1}ms", micros as f64 / 1000.0)
}

/// The rows as a terminal waterfall, the bars `width` characters at most.
pub fn waterfall(rows: &[Row], width: usize) -> String {
    let end = rows.iter().map(|r| r.start + r.duration).max().unwrap_or(0).max(1);
    let labels: Vec<String> = rows.iter().map(|r| format!("{}{}", "  ".repeat(r.depth), r.label)).collect();
    let label_width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let function_width = rows.iter().map(|r| r.function.len()).max().unwrap_or(0).max("hop".len());
    let mut out =
        format!("{:>9} {:>9}  {:<function_width$}  {:<label_width$}  timeline\n", "start", "took", "hop", "span");
    for (row, label) in rows.iter().zip(&labels) {
        let from = (row.start as u128 * width as u128 / end as u128) as usize;
        let to = ((row.start + row.duration) as u128 * width as u128 / end as u128) as usize;
        let mark = if row.wait { '·' } else { '█' };
        let bar: String = " ".repeat(from) + &mark.to_string().repeat((to - from).max(1));
        let error = row.error.as_ref().map(|e| format!("  ERROR: {e}")).unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>9} {:>9}  {:<function_width$}  {label:<label_width$}  |{bar:<width$}|{error}",
            millis(row.start),
            millis(row.duration),
            row.function,
        );
    }
    out
}

/// The same waterfall as an SVG picture, one bar per row, queue waits hatched grey.
pub fn svg(rows: &[Row]) -> String {
    const ROW: usize = 18;
    const LABEL: usize = 460;
    const BARS: usize = 640;
    let end = rows.iter().map(|r| r.start + r.duration).max().unwrap_or(0).max(1);
    let height = (rows.len() + 2) * ROW;
    let width = LABEL + BARS + 100;
    let x = |micros: u64| LABEL as f64 + micros as f64 * BARS as f64 / end as f64;
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"monospace\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"4\" y=\"{ROW}\" font-weight=\"bold\">hop / span</text>\
         <text x=\"{LABEL}\" y=\"{ROW}\" font-weight=\"bold\">0 … {}</text>\n",
        millis(end)
    );
    for (i, row) in rows.iter().enumerate() {
        let y = (i + 2) * ROW;
        let colour = match (row.wait, row.error.is_some(), row.function.as_str()) {
            (true, _, _) => "#bbbbbb",
            (_, true, _) => "#d62728",
            (_, _, "api") => "#1f77b4",
            (_, _, "publisher") => "#9467bd",
            (_, _, "inventory") => "#2ca02c",
            (_, _, "fulfillment") => "#ff7f0e",
            (_, _, "legacy-sync") => "#8c564b",
            _ => "#7f7f7f",
        };
        let (from, to) = (x(row.start), x(row.start + row.duration));
        let _ = writeln!(
            out,
            "<text x=\"{}\" y=\"{}\">{} {}</text><rect x=\"{from:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
            4 + row.depth * 8,
            y - 4,
            escape(&row.function),
            escape(&row.label),
            y - ROW + 4,
            (to - from).max(1.0),
            ROW - 6,
            to + 4.0,
            y - 4,
            millis(row.duration),
        );
    }
    out + "</svg>\n"
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use telemetry::trace::SpanLink;

    use super::*;

    fn span(
        id: &str,
        parent: Option<&str>,
        name: &str,
        start: u64,
        duration: u64,
        attributes: &[(&str, &str)],
    ) -> SpanRecord {
        SpanRecord {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_owned),
            name: name.into(),
            start_micros: start,
            duration_micros: duration,
            attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
            links: Vec::new(),
            error: None,
        }
    }

    /// An order placed, published, reserved: each hop nested under its
    /// cause, with the stream's and the queue's wait before it, and the
    /// publisher's batch (another trace, linked) under the record.
    #[test]
    fn hops_nest_under_their_cause_with_the_wait_before_each() {
        let mut record = span(
            "rec",
            Some("cmd"),
            "order_event",
            9_000,
            2_000,
            &[("function", "publisher"), ("event_type", "OrderPlaced")],
        );
        record.links.push(SpanLink { trace_id: "b".into(), span_id: "batch".into() });
        let mut batch = span("batch", None, "publish_stream_batch", 8_500, 3_000, &[("records", "1")]);
        batch.trace_id = "b".into();
        let spans = vec![
            span("req", None, "request", 1_000, 5_000, &[("function", "api"), ("method", "POST"), ("path", "/orders")]),
            span("cmd", Some("req"), "command", 2_000, 3_000, &[("command", "Place")]),
            span("put", Some("cmd"), "DynamoDB.PutItem", 3_000, 1_000, &[]),
            record,
            batch,
            span("sns", Some("batch"), "SNS.PublishBatch", 9_500, 1_000, &[]),
            span(
                "inv",
                Some("rec"),
                "event",
                15_000,
                4_000,
                &[("function", "inventory"), ("event_type", "OrderPlaced")],
            ),
        ];
        let rows = rows(&spans);
        let summary: Vec<(usize, &str, &str, u64, u64)> =
            rows.iter().map(|r| (r.depth, r.function.as_str(), r.label.as_str(), r.start, r.duration)).collect();
        assert_eq!(
            summary,
            [
                (0, "api", "request POST /orders", 0, 5_000),
                (1, "api", "command Place", 1_000, 3_000),
                (2, "api", "DynamoDB.PutItem", 2_000, 1_000),
                (2, "publisher", "stream wait", 4_000, 4_000),
                (2, "publisher", "order_event OrderPlaced", 8_000, 2_000),
                (3, "publisher", "publish_stream_batch 1 records", 7_500, 3_000),
                (4, "publisher", "SNS.PublishBatch", 8_500, 1_000),
                (3, "inventory", "queue wait", 10_000, 4_000),
                (3, "inventory", "event OrderPlaced", 14_000, 4_000),
            ]
        );
        let text = waterfall(&rows, 20);
        assert!(text.lines().nth(8).unwrap().contains("queue wait"), "{text}");
        assert!(svg(&rows).starts_with("<svg"));
    }

    /// A hop that started before its cause ended (the consumer got the
    /// message before the publisher's span closed) waits zero, not less.
    #[test]
    fn a_hop_that_overlaps_its_cause_waits_zero() {
        let spans = vec![
            span("rec", None, "order_event", 0, 5_000, &[("function", "publisher")]),
            span("inv", Some("rec"), "event", 4_000, 1_000, &[("function", "inventory")]),
        ];
        let wait = rows(&spans).into_iter().find(|r| r.wait).unwrap();
        assert_eq!((wait.start, wait.duration), (4_000, 0));
    }
}
