//! One logging setup for every binary: JSON lines on stdout (what CloudWatch
//! and the Lambda JSON log format expect), filtered by `RUST_LOG` (default
//! `info`). Handlers add `correlation_id` and `xray_trace_id` to their spans,
//! so every line of a request carries them. [`metrics`] prints business
//! counts as CloudWatch Embedded Metric Format lines on the same stdout.

pub mod metrics;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests, the local runner hosting several handlers) is harmless.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(true)
        .try_init();
}

/// The X-Ray trace header of this invocation: set by the Lambda runtime
/// (`_X_AMZN_TRACE_ID`); absent locally.
pub fn xray_trace_id() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok()
}
