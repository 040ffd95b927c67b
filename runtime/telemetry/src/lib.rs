//! One logging setup for every binary, filtered by `RUST_LOG` (default
//! `info`). In Lambda, and wherever stdout is not a terminal, logs are JSON
//! lines on stdout (what CloudWatch and the Lambda JSON log format expect);
//! on a terminal they are tracing-subscriber's compact human format, unless
//! JSON is asked for ([`LogFormat::Json`]). Handlers add `correlation_id`
//! and `xray_trace_id` to their spans, so every line of a request carries
//! them. [`metrics`] prints business counts as CloudWatch Embedded Metric
//! Format lines on the same stdout.

pub mod metrics;

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;

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
/// ([`LogFormat::Auto`]).
pub fn init() {
    init_with(LogFormat::Auto);
}

/// Logging in `format`, resolved by [`LogFormat::resolve`].
pub fn init_with(format: LogFormat) {
    // The Lambda runtime (and its emulators) always set this.
    let in_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(true);
    // A second init (tests, the local runner hosting several handlers) is harmless.
    let _ = match format.resolve(in_lambda, std::io::stdout().is_terminal()) {
        LogFormat::Compact => builder.compact().try_init(),
        _ => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
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
