//! The faults, each at a fixed share of the load's duration, one at a time:
//!
//! | at | fault |
//! |---|---|
//! | 5 % | one poison message sent straight to each consumer queue |
//! | 15 % | PostgreSQL unreachable (its proxy's port closed, connections cut) |
//! | 30 % | SNS answering `InternalError` to a share of `PublishBatch` calls |
//! | 45 % | DynamoDB (and its Streams) answering throttling errors to a share of requests |
//! | 60 % | the runner killed with SIGKILL and started again |
//! | 75 % | PostgreSQL unreachable again |
//!
//! With `--long-outage` the first PostgreSQL fault lasts a third of the load
//! and DynamoDB throttles half the requests for a sixth; the faults after
//! them start when they end, if their time has passed.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use faults::{Fault, FaultCounts, HttpFaultProxy};

use crate::stack::{Runner, Stack};
use crate::{Args, Context, SoakError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    PostgresDown,
    SnsErrors,
    DynamoDbThrottling,
    RunnerKilled,
}

/// When a fault was on: for the runner, from the kill until the new process answered.
#[derive(Clone, Debug)]
pub struct Window {
    pub kind: Kind,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub windows: Vec<Window>,
    /// What the SNS proxy saw and injected during its fault.
    pub sns: FaultCounts,
    pub dynamodb: FaultCounts,
    /// Poison bodies sent: (queue URL, body).
    pub poison: Vec<(String, String)>,
    /// When the last timed fault ended.
    pub last_fault_end: Option<Instant>,
    /// CPU seconds the killed runner had used.
    pub runner_cpu_seconds: f64,
}

fn delta(after: FaultCounts, before: FaultCounts) -> FaultCounts {
    FaultCounts {
        matched: after.matched - before.matched,
        injected: after.injected - before.injected,
        forwarded: after.forwarded - before.forwarded,
    }
}

/// Injects every fault of the schedule while the load runs; returns when the last one is over.
pub async fn run(args: &Args, stack: &Stack, runner: &mut Runner) -> Result<Faults, SoakError> {
    let started = Instant::now();
    let length = args.load_duration();
    let fault = Duration::from_secs(args.fault_seconds);
    let at = |share: f64| tokio::time::sleep_until((started + length.mul_f64(share)).into());
    let mut faults = Faults::default();

    at(0.05).await;
    for (url, _) in &stack.dlqs {
        let body = serde_json::json!({ "soak": stack.id, "poison": url }).to_string();
        stack.sqs.send_message().queue_url(url).message_body(&body).send().await.step("send a poison message")?;
        faults.poison.push((url.clone(), body));
    }

    at(0.15).await;
    faults.windows.push(postgres_down(stack, args.postgres_outage()).await?);

    at(0.30).await;
    let sns = Fault::sns_publish_batch_errors(args.sns_error_share);
    let (window, counts) = http_fault(&stack.sns_proxy, sns, Kind::SnsErrors, fault).await;
    faults.windows.push(window);
    faults.sns = counts;

    at(0.45).await;
    let (throttling_length, throttle_share) = args.dynamodb_throttling();
    let throttling = Fault::dynamodb_throttling(throttle_share);
    let (window, counts) =
        http_fault(&stack.dynamodb_proxy, throttling, Kind::DynamoDbThrottling, throttling_length).await;
    faults.windows.push(window);
    faults.dynamodb = counts;

    at(0.60).await;
    faults.runner_cpu_seconds = crate::cpu::process_seconds(runner.pid()).unwrap_or(0.0);
    let from = Utc::now();
    runner.kill_and_restart(stack).await?;
    faults.windows.push(Window { kind: Kind::RunnerKilled, from, to: Utc::now() });

    at(0.75).await;
    faults.windows.push(postgres_down(stack, fault).await?);
    faults.last_fault_end = Some(Instant::now());
    Ok(faults)
}

/// `fault` on `proxy` for `length`: when, and what the proxy saw meanwhile.
async fn http_fault(proxy: &HttpFaultProxy, fault: Fault, kind: Kind, length: Duration) -> (Window, FaultCounts) {
    let before = proxy.counts();
    let from = Utc::now();
    proxy.set(fault);
    tokio::time::sleep(length).await;
    proxy.clear();
    (Window { kind, from, to: Utc::now() }, delta(proxy.counts(), before))
}

async fn postgres_down(stack: &Stack, fault: Duration) -> Result<Window, SoakError> {
    let mut proxy = stack.postgres_proxy.lock().await;
    let from = Utc::now();
    proxy.down().await;
    tokio::time::sleep(fault).await;
    proxy.up().await.step("PostgreSQL proxy back up")?;
    Ok(Window { kind: Kind::PostgresDown, from, to: Utc::now() })
}
