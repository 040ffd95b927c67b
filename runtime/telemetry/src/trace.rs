//! Spans as OpenTelemetry traces. `tracing` spans become OpenTelemetry spans
//! (tracing-opentelemetry): every span of ours at `info` and above, and one
//! span per AWS SDK call (the SDK's own `<Service>.<Operation>` span, at
//! `debug`, which the log filter leaves out). They go over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set — in AWS, the collector layer that signs them for CloudWatch — and,
//! in the local runner, into [`RecentTraces`]. The standard `OTEL_*`
//! variables apply (`OTEL_TRACES_SAMPLER`, `OTEL_SERVICE_NAME`,
//! `OTEL_SDK_DISABLED`).
//!
//! One order is one trace across its asynchronous hops: a command's events
//! carry its W3C `traceparent` ([`current_traceparent`]), and each hop after
//! the events table continues it ([`continue_trace`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanId, Status, TraceContextExt};
use opentelemetry::Context;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;
use serde::{Deserialize, Serialize};
use tracing::{Level, Metadata};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C header, message attribute and envelope field name.
pub const TRACEPARENT: &str = "traceparent";

/// The span attribute that names an order: what [`RecentTraces::of_order`]
/// and a search in X-Ray or Transaction Search look for.
pub const ORDER_ID: &str = "order_id";

/// Where spans go.
#[derive(Clone, Debug, Default)]
pub struct Exports {
    /// Over OTLP/HTTP, to the endpoint of the `OTEL_EXPORTER_OTLP_*` variables.
    pub otlp: bool,
    /// Into this process's memory.
    pub recent: Option<RecentTraces>,
}

impl Exports {
    /// OTLP when an endpoint is configured and the SDK is not disabled.
    pub fn from_env() -> Self {
        let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.is_empty());
        let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|value| value.eq_ignore_ascii_case("true"));
        Exports {
            otlp: !disabled && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
            recent: None,
        }
    }

    pub fn with_recent(self, recent: RecentTraces) -> Self {
        Exports { recent: Some(recent), ..self }
    }
}

/// The tracer provider of `exports`, or `None` when spans go nowhere (then
/// no span is made for OpenTelemetry at all). An OTLP exporter that cannot
/// be built is logged and left out: tracing must never stop a function.
pub(crate) fn provider(exports: &Exports) -> Option<SdkTracerProvider> {
    if !exports.otlp && exports.recent.is_none() {
        return None;
    }
    let mut builder = SdkTracerProvider::builder().with_resource(resource());
    if exports.otlp {
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(error) => eprintln!("telemetry: no OTLP export of traces: {error}"),
        }
    }
    if let Some(recent) = &exports.recent {
        builder = builder.with_simple_exporter(recent.clone());
    }
    Some(builder.build())
}

/// `service.name`: `OTEL_SERVICE_NAME`, else the Lambda function's name,
/// else the executable's.
fn resource() -> Resource {
    let name = std::env::var("OTEL_SERVICE_NAME")
        .or_else(|_| std::env::var("AWS_LAMBDA_FUNCTION_NAME"))
        .ok()
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.file_stem()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "order-platform".to_owned());
    Resource::builder().with_service_name(name).build()
}

/// What becomes an OpenTelemetry span or span event: our spans (`info` and
/// above), each AWS SDK call's span (it has `rpc.system`), and warnings and
/// errors as events of their span.
pub(crate) fn exported(metadata: &Metadata<'_>) -> bool {
    if metadata.is_span() {
        *metadata.level() <= Level::INFO || metadata.fields().field("rpc.system").is_some()
    } else {
        *metadata.level() <= Level::WARN
    }
}

/// The W3C `traceparent` of the current span, when it is traced: what a
/// command's events carry.
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The W3C `traceparent` of `span`, when it is traced: what a message it
/// sends carries.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of `traceparent` (an event's, a message's), before
/// it is first entered; with none, or one that does not parse, `span`
/// stays where it is.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(parent) = traceparent.and_then(remote_context) {
        // Fails only when no OpenTelemetry layer is installed or the span
        // already started: then there is no trace to continue.
        let _ = span.set_parent(parent);
    }
}

/// Links `span` to the span of `traceparent` (a batch its record belongs to).
pub fn link(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(context) = traceparent.and_then(remote_context) {
        span.add_link(context.span().span_context().clone());
    }
}

/// A record's or message's span in a batch handled at once: a child of
/// `traceparent` (its own trace), linked to the batch's span, whose calls it
/// shares; with no `traceparent` to continue it stays where it is.
pub fn continue_in_batch(span: &tracing::Span, traceparent: Option<&str>, batch_traceparent: Option<&str>) {
    if traceparent.is_some() {
        continue_trace(span, traceparent);
        link(span, batch_traceparent);
    }
}

fn remote_context(traceparent: &str) -> Option<Context> {
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

/// One finished span, as `orders trace` reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanRecord {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    pub name: String,
    /// Microseconds since the Unix epoch.
    pub start_micros: u64,
    pub duration_micros: u64,
    pub attributes: BTreeMap<String, String>,
    /// Spans of other traces this one follows from (a record's batch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<SpanLink>,
    /// The span's error status, if it ended in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpanLink {
    pub trace_id: String,
    pub span_id: String,
}

impl From<SpanData> for SpanRecord {
    fn from(span: SpanData) -> Self {
        let micros = |time: SystemTime| time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let start_micros = micros(span.start_time);
        SpanRecord {
            trace_id: span.span_context.trace_id().to_string(),
            span_id: span.span_context.span_id().to_string(),
            parent_span_id: (span.parent_span_id != SpanId::INVALID).then(|| span.parent_span_id.to_string()),
            name: span.name.into_owned(),
            start_micros,
            duration_micros: micros(span.end_time).saturating_sub(start_micros),
            attributes: span.attributes.iter().map(|kv| (kv.key.to_string(), kv.value.to_string())).collect(),
            links: span
                .links
                .iter()
                .map(|link| SpanLink {
                    trace_id: link.span_context.trace_id().to_string(),
                    span_id: link.span_context.span_id().to_string(),
                })
                .collect(),
            error: match span.status {
                Status::Error { description } => Some(description.into_owned()),
                _ => None,
            },
        }
    }
}

/// The local runner's memory of its latest spans (the oldest go first once
/// `capacity` is reached), for `orders trace` and the runner's trace page.
#[derive(Clone, Debug)]
pub struct RecentTraces {
    spans: Arc<Mutex<VecDeque<SpanRecord>>>,
    capacity: usize,
}

impl RecentTraces {
    pub fn new(capacity: usize) -> Self {
        RecentTraces { spans: Arc::new(Mutex::new(VecDeque::with_capacity(capacity.min(4096)))), capacity }
    }

    /// Every span kept, oldest first: what the cost benchmark counts a
    /// run's requests and invocations from.
    pub fn spans(&self) -> Vec<SpanRecord> {
        let spans = self.spans.lock().expect("no panic while holding the lock");
        let mut all: Vec<SpanRecord> = spans.iter().cloned().collect();
        all.sort_by_key(|span| span.start_micros);
        all
    }

    /// Every span of the traces that name `order_id` ([`ORDER_ID`]), and of
    /// the traces those spans link to (a publisher's batch), oldest first.
    pub fn of_order(&self, order_id: &str) -> Vec<SpanRecord> {
        let spans = self.spans.lock().expect("no panic while holding the lock");
        let mut traces: BTreeSet<&str> = spans
            .iter()
            .filter(|span| span.attributes.get(ORDER_ID).is_some_and(|id| id == order_id))
            .map(|span| span.trace_id.as_str())
            .collect();
        let linked: Vec<&str> = spans
            .iter()
            .filter(|span| traces.contains(span.trace_id.as_str()))
            .flat_map(|span| span.links.iter().map(|link| link.trace_id.as_str()))
            .collect();
        traces.extend(linked);
        let mut found: Vec<SpanRecord> =
            spans.iter().filter(|span| traces.contains(span.trace_id.as_str())).cloned().collect();
        found.sort_by_key(|span| span.start_micros);
        found
    }
}

impl SpanExporter for RecentTraces {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let mut spans = self.spans.lock().expect("no panic while holding the lock");
        for span in batch {
            if spans.len() == self.capacity {
                spans.pop_front();
            }
            spans.push_back(span.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traced(recent: &RecentTraces) -> impl tracing::Subscriber {
        crate::traced(&Exports::default().with_recent(recent.clone())).0
    }

    /// A command's span hands its context to the event; a later hop
    /// continues it, so both are one trace, parent and child.
    #[test]
    fn a_hop_that_continues_an_events_traceparent_is_in_its_trace() {
        let recent = RecentTraces::new(100);
        tracing::subscriber::with_default(traced(&recent), || {
            let traceparent = {
                let command = tracing::info_span!("command", order_id = "o-1");
                let _entered = command.enter();
                current_traceparent().expect("a traced span has a traceparent")
            };
            let hop = tracing::info_span!("event", order_id = "o-1");
            continue_trace(&hop, Some(&traceparent));
            hop.in_scope(|| tracing::debug!("applied"));
        });
        let spans = recent.of_order("o-1");
        assert_eq!(spans.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["command", "event"]);
        assert_eq!(spans[0].trace_id, spans[1].trace_id);
        assert_eq!(spans[1].parent_span_id.as_deref(), Some(spans[0].span_id.as_str()));
    }

    /// A record's span links to its batch: the order's trace brings the
    /// batch's trace along; another order's trace stays out.
    #[test]
    fn an_orders_spans_come_with_the_traces_they_link_to_and_no_other() {
        let recent = RecentTraces::new(100);
        tracing::subscriber::with_default(traced(&recent), || {
            let batch = tracing::info_span!("publish_stream_batch");
            let batch_context = traceparent_of(&batch);
            batch.in_scope(|| tracing::debug_span!("SNS.PublishBatch", "rpc.system" = "aws-api").in_scope(|| {}));
            for order in ["o-1", "o-2"] {
                let record = tracing::info_span!(parent: None, "order_event", order_id = order);
                link(&record, batch_context.as_deref());
                record.in_scope(|| {});
            }
        });
        let names: BTreeSet<String> = recent.of_order("o-1").into_iter().map(|s| s.name).collect();
        assert_eq!(
            names,
            BTreeSet::from(["publish_stream_batch", "SNS.PublishBatch", "order_event"].map(String::from))
        );
        assert_eq!(recent.of_order("o-2").iter().filter(|s| s.name == "order_event").count(), 1);
    }

    #[test]
    fn a_missing_or_unreadable_traceparent_leaves_the_span_a_root() {
        let recent = RecentTraces::new(100);
        tracing::subscriber::with_default(traced(&recent), || {
            for (order, traceparent) in [("o-1", None), ("o-2", Some("00-not-a-trace-01"))] {
                let hop = tracing::info_span!("event", order_id = order);
                continue_trace(&hop, traceparent);
                hop.in_scope(|| {});
            }
        });
        for order in ["o-1", "o-2"] {
            let spans = recent.of_order(order);
            assert_eq!(spans.len(), 1, "{order}");
            assert_eq!(spans[0].parent_span_id, None, "{order}");
        }
    }

    #[test]
    fn the_oldest_spans_go_first_once_the_memory_is_full() {
        let recent = RecentTraces::new(2);
        tracing::subscriber::with_default(traced(&recent), || {
            for order in ["o-1", "o-2", "o-3"] {
                tracing::info_span!("command", order_id = order).in_scope(|| {});
            }
        });
        assert!(recent.of_order("o-1").is_empty());
        assert_eq!(recent.of_order("o-3").len(), 1);
    }

    #[test]
    fn debug_spans_are_left_out_except_the_aws_sdks_calls() {
        let recent = RecentTraces::new(100);
        tracing::subscriber::with_default(traced(&recent), || {
            tracing::info_span!("command", order_id = "o-1").in_scope(|| {
                tracing::debug_span!("serialization").in_scope(|| {});
                tracing::debug_span!("DynamoDB.PutItem", "rpc.system" = "aws-api", "rpc.method" = "PutItem")
                    .in_scope(|| {});
            });
        });
        let names: Vec<String> = recent.of_order("o-1").into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["command", "DynamoDB.PutItem"]);
    }
}
