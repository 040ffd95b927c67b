//! Business counts as CloudWatch Embedded Metric Format (EMF) log lines: a
//! JSON object on stdout that CloudWatch Logs turns into a custom metric, so
//! a Lambda needs no agent and makes no `PutMetricData` call on its hot path.
//! The namespace and names are the ones `template.yaml`'s dashboard reads;
//! no dimensions (`[[]]`), so each count is one metric for the whole stack.
//!
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

/// The dashboard's namespace (`template.yaml`, `PipelineDashboard`).
pub const NAMESPACE: &str = "OrderPlatform";

/// One EMF line (no newline) saying `value` of `metric` happened at
/// `timestamp_ms` (milliseconds since the Unix epoch).
pub fn count_line(metric: &str, value: u64, timestamp_ms: u64) -> String {
    json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[]],
                "Metrics": [{"Name": metric, "Unit": "Count"}],
            }],
        },
        metric: value,
    })
    .to_string()
}

/// Prints the EMF line for `value` of `metric` now; nothing for 0 (a missing
/// data point sums as 0 on the dashboard, and costs no log line).
pub fn emit_count(metric: &str, value: u64) {
    if value == 0 {
        return;
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let mut line = count_line(metric, value, now_ms);
    line.push('\n');
    // One write of the whole line, so it never interleaves with a log line.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_count_line_has_the_shape_cloudwatch_extracts() {
        let line = count_line("OrdersPlaced", 3, 1_764_300_000_123);
        assert!(!line.contains('\n'), "one line");
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            parsed,
            json!({
                "_aws": {
                    "Timestamp": 1_764_300_000_123_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "OrderPlatform",
                        "Dimensions": [[]],
                        "Metrics": [{"Name": "OrdersPlaced", "Unit": "Count"}]
                    }]
                },
                "OrdersPlaced": 3
            })
        );
    }

    #[test]
    fn the_value_is_a_number_member_named_like_the_metric() {
        // EMF's rule: every metric named in a directive has a top-level
        // member of that name whose value is a number.
        let parsed: Value = serde_json::from_str(&count_line("OrdersRejected", 1, 0)).unwrap();
        let directive = &parsed["_aws"]["CloudWatchMetrics"][0];
        for metric in directive["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(parsed[name].is_u64(), "{name} is a number");
        }
        assert!(parsed["_aws"]["Timestamp"].is_u64());
    }
}
