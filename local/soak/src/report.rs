//! The soak's table.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use domain::OrderEvent;

use crate::check::{Drained, Verdicts};
use crate::load::Outcome;
use crate::schedule::{Faults, Kind, Window};
use crate::Args;

/// What the runner logged at WARN and ERROR, from its log files in `dir`:
/// the faults that got past the SDK's retries to the code (a consumer
/// batch left for redelivery, a stream batch retried), most frequent first.
pub fn runner_log(dir: &std::path::Path) -> String {
    let mut counts: std::collections::BTreeMap<(String, String), u64> = std::collections::BTreeMap::new();
    let files = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>()).unwrap_or_default();
    for file in files.iter().filter(|p| p.extension().is_some_and(|e| e == "log")) {
        for line in std::fs::read_to_string(file).unwrap_or_default().lines() {
            let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else { continue };
            let level = entry["level"].as_str().unwrap_or_default().to_owned();
            if level != "WARN" && level != "ERROR" {
                continue;
            }
            let message = entry["fields"]["message"].as_str().unwrap_or_default().to_owned();
            *counts.entry((level, message)).or_default() += 1;
        }
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    if counts.is_empty() {
        return "none".into();
    }
    counts
        .iter()
        .take(6)
        .map(|((level, message), n)| format!("{n} × {level} \"{message}\""))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the soak measured besides the checks.
pub struct Measured {
    pub started: Instant,
    pub load_ended: Instant,
    pub drained: Instant,
    /// HTTP requests the load sent again after a 5xx, 429 or no answer.
    pub retries: u64,
    /// Each component's share of one core, busiest first.
    pub cpu: Vec<(String, f64)>,
    /// Each consumer queue's peak depth (visible and in flight), sampled every 5 s.
    pub peaks: Vec<(String, u64)>,
    /// [`runner_log`].
    pub log: String,
}

pub struct Report {
    pub verdicts: Verdicts,
    pub timed_out: bool,
    rows: Vec<(String, String)>,
}

fn yes(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

fn percentile(sorted: &[Duration], p: f64) -> String {
    if sorted.is_empty() {
        return "–".into();
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    format!("{:.2} s", sorted[i].as_secs_f64())
}

fn overlaps(windows: &[Window], from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    windows.iter().any(|w| w.from <= to && from <= w.to)
}

fn example(list: &[String]) -> String {
    match list.first() {
        Some(first) => format!("**{}** (e.g. {first})", list.len()),
        None => "0".into(),
    }
}

impl Report {
    pub fn new(
        args: &Args,
        outcomes: &[Outcome],
        faults: &Faults,
        drained: &Drained,
        verdicts: Verdicts,
        timing: Measured,
    ) -> Report {
        let accepted = outcomes.iter().filter(|o| o.order_id.is_some()).count();
        let cancelled = outcomes.iter().filter(|o| o.cancelled).count();
        let shipped = outcomes.iter().filter(|o| o.shipped).count();
        let given_up: Vec<String> =
            outcomes.iter().filter(|o| o.order_id.is_none()).map(|o| format!("#{}: {}", o.index, o.note)).collect();
        let (mut calm, mut faulty) = (Vec::new(), Vec::new());
        let mut confirmed = 0;
        let mut rejected = 0;
        for events in drained.orders.values() {
            let placed = events.iter().find(|e| matches!(e.event, OrderEvent::Placed(_)));
            let decided = events.iter().find(|e| matches!(e.event, OrderEvent::Confirmed(_)));
            rejected += usize::from(events.iter().any(|e| matches!(e.event, OrderEvent::Rejected(_))));
            if let (Some(placed), Some(decided)) = (placed, decided) {
                confirmed += 1;
                let latency = (decided.occurred_at - placed.occurred_at).to_std().unwrap_or_default();
                if overlaps(&faults.windows, placed.occurred_at, decided.occurred_at) {
                    faulty.push(latency);
                } else {
                    calm.push(latency);
                }
            }
        }
        calm.sort();
        faulty.sort();
        let load = timing.load_ended.duration_since(timing.started).as_secs_f64();
        let end_to_end = timing.drained.duration_since(timing.started).as_secs_f64();
        let windows = |kind: Kind| faults.windows.iter().filter(|w| w.kind == kind).collect::<Vec<_>>();
        let seconds = |w: &Window| (w.to - w.from).num_milliseconds() as f64 / 1000.0;
        let postgres: Vec<String> =
            windows(Kind::PostgresDown).iter().map(|w| format!("{:.1} s", seconds(w))).collect();
        let restart = windows(Kind::RunnerKilled).first().map_or(0.0, |w| seconds(w));
        // The load goes on after the last fault (at 75 % of it), so the time
        // to drain after the last fault includes the rest of the load.
        let converge = faults.last_fault_end.map_or("–".into(), |end| {
            format!(
                "{:.1} s, of which the load ran on for {:.1} s",
                timing.drained.duration_since(end).as_secs_f64(),
                timing.load_ended.saturating_duration_since(end).as_secs_f64()
            )
        });
        let rows = vec![
            ("orders accepted (201)".into(), format!(
                "{accepted} of {}, offered at {}/s over {:.0} s ({cancelled} cancelled, {shipped} shipped by the load, which ended after {load:.0} s; {} HTTP requests retried after a 5xx or no answer{})",
                outcomes.len(), args.rate, args.load_duration().as_secs_f64(), timing.retries,
                if given_up.is_empty() { String::new() } else { format!("; **given up: {}**", example(&given_up)) },
            )),
            ("fault: PostgreSQL unreachable".into(), format!("{} × ({})", postgres.len(), postgres.join(", "))),
            ("fault: SNS PublishBatch errors".into(), format!(
                "{} of {} PublishBatch calls answered InternalError in {} s (share {})",
                faults.sns.injected, faults.sns.matched, args.fault_seconds, args.sns_error_share)),
            ("fault: DynamoDB throttling".into(), format!(
                "{} of {} requests answered ThrottlingException / ProvisionedThroughputExceededException in {:.0} s (share {})",
                faults.dynamodb.injected, faults.dynamodb.matched, args.dynamodb_throttling().0.as_secs_f64(),
                args.dynamodb_throttling().1)),
            ("fault: runner SIGKILL and restart".into(), format!("1 (answering again after {restart:.1} s)")),
            ("fault: poison messages".into(), format!("{} (one per consumer queue)", faults.poison.len())),
            ("runner log, WARN and ERROR (faults the SDK's retries did not absorb)".into(), timing.log.clone()),
            ("events stored".into(), format!(
                "{} for {} orders ({confirmed} confirmed, {rejected} rejected)", drained.events(), drained.orders.len())),
            ("accepted orders missing or with a wrong history".into(), format!(
                "{} / {}", example(&verdicts.accepted_missing), example(&verdicts.wrong_history))),
            ("events delivered downstream (unique / duplicates)".into(), format!(
                "{} / {} (missing {}, unknown {})", verdicts.delivered_unique, verdicts.delivered_duplicates,
                verdicts.delivered_missing, verdicts.delivered_unknown)),
            ("orders left undecided".into(), verdicts.unsettled.to_string()),
            ("inventory converged".into(), format!(
                "{} ({} SKUs; differences {})", yes(verdicts.inventory_diff.is_empty()), verdicts.inventory_skus,
                example(&verdicts.inventory_diff))),
            ("fulfillment converged".into(), format!(
                "{} ({} orders' pick requests; differences {})", yes(verdicts.fulfillment_diff.is_empty()),
                verdicts.fulfillment_requests, example(&verdicts.fulfillment_diff))),
            ("legacy rows converged".into(), format!(
                "{} ({} orders; differences {})", yes(verdicts.legacy_diff.is_empty()), verdicts.legacy_orders,
                example(&verdicts.legacy_diff))),
            ("only the injected poison in the DLQs".into(), format!(
                "{} ({} poison found; other {})", yes(verdicts.dlq_diff.is_empty()), verdicts.dlq_poison,
                example(&verdicts.dlq_diff))),
            ("time to converge after the last fault".into(), if drained.timed_out {
                format!("**not drained within {} s**", args.drain_timeout)
            } else {
                format!("{converge} (drained {:.1} s after the load ended)", timing.drained.duration_since(timing.load_ended).as_secs_f64())
            }),
            ("throughput end to end".into(), format!(
                "{:.1} orders/s, {:.1} events/s (first placement to drained)",
                drained.orders.len() as f64 / end_to_end.max(1e-9), drained.events() as f64 / end_to_end.max(1e-9))),
            ("place→confirmed p50 / p99, outside faults".into(), format!(
                "{} / {} ({} orders)", percentile(&calm, 0.5), percentile(&calm, 0.99), calm.len())),
            ("place→confirmed p50 / p99, during faults".into(), format!(
                "{} / {} ({} orders)", percentile(&faulty, 0.5), percentile(&faulty, 0.99), faulty.len())),
            ("peak depth of the consumer queues (sampled every 5 s)".into(), timing.peaks.iter().map(|(name, peak)| format!("{name} {peak}")).collect::<Vec<_>>().join(", ")),
            ("CPU, share of one core over the run".into(), timing.cpu.iter().map(|(name, share)| format!("{name} {share:.0} %")).collect::<Vec<_>>().join(", ")),
        ];
        Report { timed_out: drained.timed_out, verdicts, rows }
    }

    /// Nothing lost, everything converged, only the poison dead-lettered.
    pub fn passed(&self) -> bool {
        !self.timed_out && self.verdicts.passed()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "| soak under faults | |")?;
        writeln!(f, "|---|---|")?;
        for (name, value) in &self.rows {
            writeln!(f, "| {name} | {value} |")?;
        }
        writeln!(
            f,
            "\n{}",
            if self.passed() {
                "PASSED: nothing lost, every projection converged, only the injected poison dead-lettered."
            } else {
                "FAILED: see the rows in bold."
            }
        )
    }
}
