//! What a run's spans say it asked of AWS, and what that costs.
//!
//! - Each AWS SDK call is a span named `<Service>.<Operation>` (it has
//!   `rpc.system`). One whose span has no parent was made outside every
//!   function's span: by the event source mappings' stand-ins (the stream
//!   reader's `GetRecords`, the SQS poller's receives and deletes), which in
//!   AWS Lambda makes on the function's behalf.
//! - Each Lambda invocation is an [`INVOCATION`] span (what `lambda_runtime`'s
//!   OpenTelemetry layer makes in AWS), with its `function` and the
//!   `messages` (records) it was handed; its duration is the handler's.
//! - Each PostgreSQL transaction is a `postgres` span of `BEGIN`.

use std::collections::BTreeMap;

use telemetry::SpanRecord;

use super::prices::{Prices, LAMBDA_MEMORY_MB};

/// The span of one Lambda invocation.
pub const INVOCATION: &str = "invocation";
/// The API function's name in [`INVOCATION`] spans: one per HTTP request.
pub const API: &str = "api";
/// The stream's function: its invocations' records are not SQS messages.
pub const PUBLISHER: &str = "publisher";
/// The bill's line that is priced from the handlers' durations, which here
/// are those against the local emulators, not AWS's.
pub const LAMBDA_DURATION: &str = "Lambda duration";

/// Invocations of one function.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Invocations {
    pub count: u64,
    /// Messages (records) handed to them.
    pub messages: u64,
    /// Lambda bills each invocation's duration rounded up to the millisecond.
    pub billed_ms: u64,
}

/// A run's requests and invocations, counted from its spans.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts {
    /// `<Service>.<Operation>` → requests made inside a function's span.
    pub requests: BTreeMap<String, u64>,
    /// `<Service>.<Operation>` → requests made outside every function's
    /// span: the event source mappings'.
    pub mapping_requests: BTreeMap<String, u64>,
    /// Function → its invocations.
    pub invocations: BTreeMap<String, Invocations>,
    pub postgres_transactions: u64,
    /// Spans a function would export (every span but the mappings' calls),
    /// and their size as JSON: an estimate of what CloudWatch ingests.
    pub exported_spans: u64,
    pub exported_span_bytes: u64,
}

impl Counts {
    pub fn of(spans: &[SpanRecord]) -> Counts {
        let mut counts = Counts::default();
        for span in spans {
            if span.attributes.contains_key("rpc.system") {
                let requests =
                    if span.parent_span_id.is_none() { &mut counts.mapping_requests } else { &mut counts.requests };
                *requests.entry(span.name.clone()).or_default() += 1;
                if span.parent_span_id.is_none() {
                    continue;
                }
            } else if span.name == INVOCATION {
                let function = span.attributes.get("function").cloned().unwrap_or_default();
                let invocations = counts.invocations.entry(function).or_default();
                invocations.count += 1;
                invocations.messages += span.attributes.get("messages").and_then(|m| m.parse().ok()).unwrap_or(0);
                invocations.billed_ms += span.duration_micros.div_ceil(1000);
            } else if span.name == "postgres" && span.attributes.get("db.statement").is_some_and(|s| s == "BEGIN") {
                counts.postgres_transactions += 1;
            }
            counts.exported_spans += 1;
            counts.exported_span_bytes += serde_json::to_vec(span).map_or(0, |json| json.len() as u64);
        }
        counts
    }

    /// Requests of `service` (the part of the span name before the dot).
    fn of_service<'a>(requests: &'a BTreeMap<String, u64>, service: &'a str) -> impl Iterator<Item = u64> + 'a {
        requests.iter().filter(move |(name, _)| name.split('.').next() == Some(service)).map(|(_, n)| *n)
    }

    fn invocations_where(&self, wanted: impl Fn(&str) -> bool) -> Invocations {
        self.invocations.iter().filter(|(function, _)| wanted(function)).fold(Invocations::default(), |sum, (_, i)| {
            Invocations {
                count: sum.count + i.count,
                messages: sum.messages + i.messages,
                billed_ms: sum.billed_ms + i.billed_ms,
            }
        })
    }

    /// Invocations of the SQS consumers.
    pub fn consumer_invocations(&self) -> Invocations {
        self.invocations_where(|f| f != API && f != PUBLISHER)
    }

    /// SQS receives that returned nothing: every receive but those that
    /// started an invocation. In AWS the mappings' long polls make them
    /// whatever the load (a cost per queue and hour, not per order).
    pub fn empty_receives(&self) -> u64 {
        let receives = self.mapping_requests.get("SQS.ReceiveMessage").copied().unwrap_or(0);
        receives.saturating_sub(self.consumer_invocations().count)
    }
}

/// One service's line of the bill, in US dollars for the whole run.
#[derive(Clone, Debug)]
pub struct Line {
    pub service: &'static str,
    pub dollars: f64,
    /// What was counted, per order.
    pub basis: String,
}

/// The bill of a run of `orders` orders: its counts priced at `prices`;
/// `write_units`/`read_units`: the DynamoDB capacity the run consumed.
pub fn bill(counts: &Counts, orders: u64, write_units: f64, read_units: f64, prices: &Prices) -> Vec<Line> {
    let per_order = |n: f64| n / orders as f64;
    let million = 1e6;
    let all = counts.invocations_where(|_| true);
    let gb_seconds = all.billed_ms as f64 / 1000.0 * f64::from(LAMBDA_MEMORY_MB) / 1024.0;
    let api = counts.invocations.get(API).cloned().unwrap_or_default();
    let sns: u64 = Counts::of_service(&counts.requests, "SNS").sum();
    // Every SQS request the functions and the mappings made, but the empty
    // receives; and one per message SNS delivered to a queue.
    let consumers = counts.consumer_invocations();
    let sqs: u64 = Counts::of_service(&counts.requests, "SQS")
        .chain(Counts::of_service(&counts.mapping_requests, "SQS"))
        .sum::<u64>()
        - counts.empty_receives()
        + consumers.messages;
    let stream_reads: u64 = Counts::of_service(&counts.mapping_requests, "DynamoDB Streams").sum();
    let gb = counts.exported_span_bytes as f64 / 1e9;
    vec![
        Line {
            service: "Lambda requests",
            dollars: all.count as f64 * prices.lambda_per_million_requests / million,
            basis: format!("{:.2} invocations", per_order(all.count as f64)),
        },
        Line {
            service: LAMBDA_DURATION,
            dollars: gb_seconds * prices.lambda_gb_second,
            basis: format!(
                "{:.1} ms of handlers at {LAMBDA_MEMORY_MB} MB, as timed here",
                per_order(all.billed_ms as f64)
            ),
        },
        Line {
            service: "API Gateway",
            dollars: api.count as f64 * prices.http_api_per_million_requests / million,
            basis: format!("{:.2} requests", per_order(api.count as f64)),
        },
        Line {
            service: "DynamoDB",
            dollars: write_units * prices.dynamodb_per_million_write_units / million
                + read_units * prices.dynamodb_per_million_read_units / million,
            basis: format!(
                "{:.2} WRU, {:.2} RRU ({:.2} requests); {:.2} stream reads, free to Lambda \
                 (${:.2} per million otherwise)",
                per_order(write_units),
                per_order(read_units),
                per_order(Counts::of_service(&counts.requests, "DynamoDB").sum::<u64>() as f64),
                per_order(stream_reads as f64),
                prices.dynamodb_streams_per_million_reads
            ),
        },
        Line {
            service: "SNS",
            dollars: sns as f64 * prices.sns_per_million_requests / million,
            basis: format!("{:.2} publish requests", per_order(sns as f64)),
        },
        Line {
            service: "SQS",
            dollars: sqs as f64 * prices.sqs_per_million_requests / million,
            basis: format!(
                "{:.2} requests ({:.2} deliveries from SNS)",
                per_order(sqs as f64),
                per_order(consumers.messages as f64)
            ),
        },
        Line {
            service: "CloudWatch (spans)",
            dollars: gb * prices.spans_per_gb,
            basis: format!(
                "{:.1} spans, {:.1} KB",
                per_order(counts.exported_spans as f64),
                per_order(counts.exported_span_bytes as f64 / 1000.0)
            ),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, name: &str, attributes: &[(&str, &str)], micros: u64) -> SpanRecord {
        SpanRecord {
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.map(str::to_owned),
            name: name.into(),
            start_micros: 0,
            duration_micros: micros,
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            links: Vec::new(),
            error: None,
        }
    }

    #[test]
    fn requests_in_a_functions_span_are_its_own_and_root_requests_the_mappings() {
        let aws = [("rpc.system", "aws-api")];
        let spans = [
            span("1", None, INVOCATION, &[("function", "inventory"), ("messages", "3")], 1_200),
            span("2", Some("1"), "DynamoDB.TransactWriteItems", &aws, 500),
            span("3", None, "SQS.ReceiveMessage", &aws, 10),
            span("4", None, "SQS.ReceiveMessage", &aws, 1_000_000),
            span("5", None, "SQS.DeleteMessageBatch", &aws, 10),
            span("6", None, INVOCATION, &[("function", "legacy-sync"), ("messages", "1")], 2_000),
            span("7", Some("6"), "postgres", &[("db.statement", "BEGIN")], 10),
            span("8", Some("6"), "postgres", &[("db.statement", "COMMIT")], 10),
        ];
        let counts = Counts::of(&spans);
        assert_eq!(counts.requests, BTreeMap::from([("DynamoDB.TransactWriteItems".to_owned(), 1)]));
        assert_eq!(
            counts.mapping_requests,
            BTreeMap::from([("SQS.DeleteMessageBatch".to_owned(), 1), ("SQS.ReceiveMessage".to_owned(), 2)])
        );
        assert_eq!(counts.invocations["inventory"], Invocations { count: 1, messages: 3, billed_ms: 2 });
        assert_eq!(counts.consumer_invocations().count, 2);
        assert_eq!(counts.empty_receives(), 0);
        assert_eq!(counts.postgres_transactions, 1);
        assert_eq!(counts.exported_spans, 5, "every span but the mappings' three calls");
    }

    #[test]
    fn the_bill_prices_each_service_from_its_counts() {
        let prices = Prices {
            lambda_gb_second: 1.0,
            lambda_per_million_requests: 1e6,
            http_api_per_million_requests: 1e6,
            dynamodb_per_million_write_units: 1e6,
            dynamodb_per_million_read_units: 2e6,
            dynamodb_streams_per_million_reads: 1e6,
            sns_per_million_requests: 1e6,
            sqs_per_million_requests: 1e6,
            spans_per_gb: 0.0,
        };
        let aws = [("rpc.system", "aws-api")];
        let spans = [
            span("1", None, INVOCATION, &[("function", API)], 4_000_000),
            span("2", None, INVOCATION, &[("function", PUBLISHER), ("messages", "2")], 0),
            span("3", Some("2"), "SNS.PublishBatch", &aws, 0),
            span("4", None, INVOCATION, &[("function", "fulfillment"), ("messages", "2")], 0),
            span("5", None, "SQS.ReceiveMessage", &aws, 0),
            span("6", None, "SQS.ReceiveMessage", &aws, 0),
            span("7", None, "SQS.DeleteMessageBatch", &aws, 0),
            span("8", None, "DynamoDB Streams.GetRecords", &aws, 0),
        ];
        let lines = bill(&Counts::of(&spans), 1, 3.0, 0.5, &prices);
        let dollars: BTreeMap<&str, f64> = lines.iter().map(|l| (l.service, l.dollars)).collect();
        // 3 invocations; 4 s at 256 MB = 1 GB-s.
        assert_eq!(dollars["Lambda requests"], 3.0);
        assert_eq!(dollars[LAMBDA_DURATION], 1.0);
        assert_eq!(dollars["API Gateway"], 1.0);
        assert_eq!(dollars["DynamoDB"], 3.0 + 1.0, "stream reads are free to Lambda");
        assert_eq!(dollars["SNS"], 1.0);
        // One receive with messages, one delete, two deliveries; the empty receive is left out.
        assert_eq!(dollars["SQS"], 4.0);
    }
}
