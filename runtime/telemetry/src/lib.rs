//! One logging and tracing setup for every binary. Logs are filtered by
//! `RUST_LOG` (default `info`): in Lambda, and wherever stdout is not a
//! terminal, JSON lines on stdout (what CloudWatch and the Lambda JSON log
//! format expect); on a terminal tracing-subscriber's compact human format,
//! unless JSON is asked for ([`LogFormat::Json`]). Handlers add
//! `correlation_id` and `xray_trace_id` to their spans, so every line of a
//! request carries them. The same spans are OpenTelemetry traces when
//! [`trace::Exports`] says where they go. [`metrics`] prints business counts
//! as CloudWatch Embedded Metric Format lines on the same stdout.

pub mod metrics;
pub mod trace;

use std::io::IsTerminal;
use std::str::FromStr;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use trace::{
    continue_in_batch, continue_trace, current_traceparent, link, traceparent_of, Exports, RecentTraces, SpanRecord,
};

/// The log format a binary asks for (the runner's `--log-format`,
/// `LOG_FORMAT`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Compact on a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Compact,
}

impl LogFormat {
    /// The format lines are written in: JSON in Lambda whatever was asked
    /// (CloudWatch parses it), else what was asked, with `Auto` meaning
    /// compact only when a person reads stdout.
    pub fn resolve(self, in_lambda: bool, stdout_is_terminal: bool) -> LogFormat {
        match self {
            _ if in_lambda => LogFormat::Json,
            LogFormat::Auto if stdout_is_terminal => LogFormat::Compact,
            LogFormat::Auto => LogFormat::Json,
            asked => asked,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown log format {0:?}; one of auto, json, compact")]
pub struct UnknownLogFormat(String);

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "auto" => Ok(LogFormat::Auto),
            "json" => Ok(LogFormat::Json),
            "compact" => Ok(LogFormat::Compact),
            other => Err(UnknownLogFormat(other.to_owned())),
        }
    }
}

/// Logging in the format that suits where the binary runs
/// ([`LogFormat::Auto`]), traces as the `OTEL_*` variables say
/// ([`Exports::from_env`]).
pub fn init() -> Telemetry {
    init_with(LogFormat::Auto, Exports::from_env())
}

/// Logging in `format`, resolved by [`LogFormat::resolve`]; spans to `exports`.
pub fn init_with(format: LogFormat, exports: Exports) -> Telemetry {
    // The Lambda runtime (and its emulators) always set this.
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_target(true);
    let logs = match format.resolve(in_lambda, std::io::stdout().is_terminal()) {
        LogFormat::Compact => logs.compact().boxed(),
        _ => logs.json().with_current_span(true).with_span_list(false).boxed(),
    };
    let (spans, telemetry) = span_layer(&exports);
    // A second init (tests, the local runner hosting several handlers) is
    // harmless: the first one's subscriber stays.
    let _ = tracing_subscriber::registry().with(logs.with_filter(filter)).with(spans).try_init();
    telemetry
}

/// Spans, and no logs, to `exports`: for a test's own subscriber
/// (`tracing::subscriber::with_default`, or a future's `with_subscriber`).
pub fn traced(exports: &Exports) -> (impl tracing::Subscriber + Send + Sync, Telemetry) {
    let (spans, telemetry) = span_layer(exports);
    (tracing_subscriber::registry().with(spans), telemetry)
}

/// The OpenTelemetry layer of `exports`, `None` when spans go nowhere.
fn span_layer<S>(exports: &Exports) -> (Option<impl Layer<S>>, Telemetry)
where
    S: tracing::Subscriber + Send + Sync + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let provider = trace::provider(exports);
    let layer = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("order-platform"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(filter_fn(trace::exported))
    });
    (layer, Telemetry { provider })
}

/// What [`init`] set up; [`flush`](Self::flush) before the process may freeze.
#[derive(Clone, Debug, Default)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered: at the end of each Lambda invocation
    /// (the environment may freeze before the batch exporter's next round).
    pub fn flush(&self) {
        if let Some(provider) = &self.provider {
            if let Err(error) = provider.force_flush() {
                tracing::warn!(%error, "spans not flushed");
            }
        }
    }
}

#[cfg(feature = "lambda")]
impl Telemetry {
    /// The Lambda runtime's OpenTelemetry layer: a span per invocation (the
    /// request id, `faas.coldstart`, `trigger`), and the buffered spans
    /// flushed when it ends.
    pub fn lambda_layer(
        &self,
        trigger: lambda_runtime::layers::OpenTelemetryFaasTrigger,
    ) -> lambda_runtime::layers::OpenTelemetryLayer<impl Fn() + Clone> {
        let telemetry = self.clone();
        lambda_runtime::layers::OpenTelemetryLayer::new(move || telemetry.flush()).with_trigger(trigger)
    }
}

/// The X-Ray trace header of this invocation: set by the Lambda runtime
/// (`_X_AMZN_TRACE_ID`); absent locally.
pub fn xray_trace_id() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok()
}

#[cfg(test)]
mod tests {
    use super::LogFormat::{self, Auto, Compact, Json};

    #[test]
    fn a_terminal_gets_the_compact_format_and_anything_else_json() {
        assert_eq!(Auto.resolve(false, true), Compact);
        assert_eq!(Auto.resolve(false, false), Json);
    }

    #[test]
    fn an_asked_format_wins_outside_lambda() {
        assert_eq!(Json.resolve(false, true), Json);
        assert_eq!(Compact.resolve(false, false), Compact);
    }

    #[test]
    fn lambda_always_logs_json() {
        for asked in [Auto, Json, Compact] {
            for terminal in [true, false] {
                assert_eq!(asked.resolve(true, terminal), Json, "{asked:?}, terminal: {terminal}");
            }
        }
    }

    #[test]
    fn log_formats_parse_by_name_and_anything_else_is_refused() {
        assert_eq!("auto".parse::<LogFormat>().unwrap(), Auto);
        assert_eq!("json".parse::<LogFormat>().unwrap(), Json);
        assert_eq!("compact".parse::<LogFormat>().unwrap(), Compact);
        let error = "JSON".parse::<LogFormat>().unwrap_err();
        assert_eq!(error.to_string(), r#"unknown log format "JSON"; one of auto, json, compact"#);
    }
}
