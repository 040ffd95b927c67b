//! CPU time of the local stack's processes and the runner, from
//! `/proc/<pid>/stat`, to name the component that bounds the pipeline.
//! Other users of the shared stack count too: read the figures as approximate.

use std::collections::BTreeMap;
use std::time::Instant;

/// Clock ticks per second of `utime`/`stime`: 100 on every Linux this runs on.
const TICKS_PER_SECOND: f64 = 100.0;

/// Which processes make up each component: a part of their command line.
const COMPONENTS: [(&str, &str); 3] =
    [("moto (SNS, SQS)", "moto_server"), ("DynamoDB Local", "DynamoDBLocal"), ("PostgreSQL", "postgres")];
pub const RUNNER: &str = "runner";

/// User and system CPU seconds `pid` and its ended children have used
/// (PostgreSQL's postmaster collects its ended backends' time so).
pub fn process_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces), from field 3:
    // utime, stime, cutime, cstime are fields 14 to 17.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11..15)?.iter().filter_map(|f| f.parse::<f64>().ok()).sum();
    Some(ticks / TICKS_PER_SECOND)
}

fn command_line(pid: &str) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

#[derive(Clone, Debug)]
pub struct Sample {
    at: Instant,
    seconds: BTreeMap<&'static str, f64>,
}

impl Sample {
    pub fn take(runner_pids: &[u32]) -> Sample {
        let mut seconds: BTreeMap<&'static str, f64> = BTreeMap::new();
        let pids: Vec<String> = std::fs::read_dir("/proc")
            .map(|dir| dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        for pid in pids.iter().filter(|p| p.chars().all(|c| c.is_ascii_digit())) {
            let line = command_line(pid);
            if let Some((name, _)) = COMPONENTS.iter().find(|(_, part)| line.contains(part)) {
                let used = pid.parse().ok().and_then(process_seconds).unwrap_or(0.0);
                *seconds.entry(name).or_default() += used;
            }
        }
        let runner: f64 = runner_pids.iter().filter_map(|pid| process_seconds(*pid)).sum();
        seconds.insert(RUNNER, runner);
        Sample { at: Instant::now(), seconds }
    }

    /// Each component's share of one core since `before`, in percent,
    /// busiest first; `killed_runner` adds the seconds of a runner process
    /// that ended in between.
    pub fn since(&self, before: &Sample, killed_runner: f64) -> Vec<(String, f64)> {
        let wall = self.at.duration_since(before.at).as_secs_f64().max(1e-9);
        let mut shares: Vec<(String, f64)> = self
            .seconds
            .iter()
            .map(|(name, now)| {
                let mut used = now - before.seconds.get(name).copied().unwrap_or(0.0);
                if *name == RUNNER {
                    used += killed_runner;
                }
                ((*name).to_owned(), 100.0 * used.max(0.0) / wall)
            })
            .collect();
        shares.sort_by(|a, b| b.1.total_cmp(&a.1));
        shares
    }
}
