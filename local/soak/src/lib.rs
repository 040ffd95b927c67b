//! The soak under faults: the runner (`order-platform`) on the local stack,
//! as a child process whose AWS endpoints and PostgreSQL go through fault
//! proxies, takes a steady load of orders over HTTP while faults are
//! injected on a schedule; then, once the pipeline has drained, the soak
//! proves that nothing was lost and every projection converged.
//!
//! - [`stack`]: unique resource names, provisioning, the legacy databases,
//!   the runner process, the downstream test queue;
//! - [`load`]: the orders, over HTTP;
//! - [`schedule`]: the faults and when they happen;
//! - [`check`]: draining and the checks;
//! - [`report`]: the table.

use std::error::Error as StdError;
use std::path::PathBuf;
use std::time::Duration;

pub mod check;
pub mod cpu;
pub mod load;
pub mod report;
pub mod schedule;
pub mod stack;

pub use report::Report;

/// The soak's sizes and knobs.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// Orders to place. With --rate, ten minutes of load: what the local stack keeps up with on a
    /// 2-core machine (docs/benchmarks.md, "Soak under faults").
    #[arg(long, default_value_t = 2_400)]
    pub orders: u32,
    /// Orders placed per second (open loop: fewer when --concurrency requests are already waiting).
    #[arg(long, default_value_t = 4.0)]
    pub rate: f64,
    /// HTTP requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long each timed fault lasts (PostgreSQL unreachable, SNS errors, DynamoDB throttling), in seconds.
    #[arg(long, default_value_t = 10)]
    pub fault_seconds: u64,
    /// Share of SNS PublishBatch calls answered with InternalError (HTTP 500) during the SNS fault.
    #[arg(long, default_value_t = 0.3)]
    pub sns_error_share: f64,
    /// Share of DynamoDB and DynamoDB Streams requests answered with ThrottlingException /
    /// ProvisionedThroughputExceededException during the DynamoDB fault.
    #[arg(long, default_value_t = 0.3)]
    pub dynamodb_throttle_share: f64,
    /// Visibility timeout of the consumer queues, in seconds: how soon a message comes back when
    /// the runner died holding it (a failed message's visibility is its backoff; poison's is 0).
    #[arg(long, default_value_t = 30)]
    pub visibility_timeout: u32,
    /// The consumers' backoff, scaled down from the Lambdas' 30 s doubling to 15 min: its first
    /// ceiling, in seconds.
    #[arg(long, default_value_t = 2)]
    pub backoff_base_seconds: u64,
    /// The consumers' backoff: its cap, in seconds.
    #[arg(long, default_value_t = 30)]
    pub backoff_cap_seconds: u64,
    /// How long the pipeline may take to drain after the load, in seconds, before the soak fails.
    #[arg(long, default_value_t = 900)]
    pub drain_timeout: u64,
    /// The runner binary [default: what `cargo build --release -p runner` builds, built now].
    #[arg(long)]
    pub runner: Option<PathBuf>,
    /// A long outage instead of the first timed faults: PostgreSQL unreachable for a third of the
    /// load, then DynamoDB throttling half the requests for a sixth (docs/operations.md, "Outages
    /// and backoff"). Nothing healthy may reach a DLQ. On a 2-core machine give it `--rate 2`: at
    /// 4/s the outage's backlog drains slower than moto hands it back (docs/benchmarks.md).
    #[arg(long)]
    pub long_outage: bool,
    /// Keep the soak's tables, queues, topic and databases afterwards (they are deleted otherwise).
    #[arg(long)]
    pub keep: bool,
}

impl Args {
    /// How long the load lasts.
    pub fn load_duration(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.orders) / self.rate)
    }

    /// How long the first PostgreSQL fault lasts: a third of the load in a long outage.
    pub fn postgres_outage(&self) -> Duration {
        match self.long_outage {
            true => self.load_duration() / 3,
            false => Duration::from_secs(self.fault_seconds),
        }
    }

    /// How long DynamoDB throttles, and the share of requests it throttles: half of them for a
    /// sixth of the load in a long outage.
    pub fn dynamodb_throttling(&self) -> (Duration, f64) {
        match self.long_outage {
            true => (self.load_duration() / 6, 0.5),
            false => (Duration::from_secs(self.fault_seconds), self.dynamodb_throttle_share),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("{step}")]
    Step {
        step: String,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("{0}")]
    Setup(String),
}

/// Names the step a failure happened in, keeping the failure as the source.
pub trait Context<T> {
    fn step(self, step: impl Into<String>) -> Result<T, SoakError>;
}

impl<T, E: Into<Box<dyn StdError + Send + Sync>>> Context<T> for Result<T, E> {
    fn step(self, step: impl Into<String>) -> Result<T, SoakError> {
        self.map_err(|source| SoakError::Step { step: step.into(), source: source.into() })
    }
}

/// Runs the soak with the runner binary at `runner` and reports. The
/// report says whether it passed: an error here means the soak itself
/// could not run.
pub async fn run(args: &Args, runner: PathBuf) -> Result<Report, SoakError> {
    let stack = stack::Stack::provision(args, runner).await?;
    let outcome = soak(args, &stack).await;
    let passed = matches!(&outcome, Ok(report) if report.passed());
    if !passed {
        eprintln!("the runner's logs are kept in {}", stack.dir.display());
    }
    if !args.keep {
        // The runner's logs stay when something went wrong.
        stack.clean_up(passed).await;
    }
    outcome
}

async fn soak(args: &Args, stack: &stack::Stack) -> Result<Report, SoakError> {
    let mut runner = stack.start_runner().await?;
    let (stop_reading, stop) = tokio::sync::oneshot::channel();
    let reading = tokio::spawn(stack.downstream_reader().follow(stop));
    let client = load::Client::new(&runner.base, stack.token().await?, args.concurrency);
    let stock = load::stock_plan(args.orders);
    client.set_stock(&stock).await?;
    client.set_catalog(&stock).await?;
    let mut queues = Vec::new();
    for (var, (url, _)) in stack::CONSUMER_QUEUES.iter().zip(&stack.dlqs) {
        queues.push((stack.var(var).trim_start_matches(&format!("{}-", stack.id)).to_owned(), url.clone()));
    }
    let (stop_sampling, stop) = tokio::sync::oneshot::channel();
    let sampling = tokio::spawn(check::peak_depths(stack.sqs.clone(), queues, stop));
    let cpu_before = cpu::Sample::take(&[runner.pid()]);
    let started = std::time::Instant::now();
    let loading = tokio::spawn(load::run(client.clone(), args.orders, args.rate));
    let faults = schedule::run(args, stack, &mut runner).await?;
    let orders = loading.await.step("the load")?;
    let load_ended = std::time::Instant::now();
    let _ = stop_reading.send(());
    let downstream = reading.await.step("the downstream reader")??;
    let drained = check::wait_for_drain(args, stack, downstream).await?;
    let _ = stop_sampling.send(());
    let peaks = sampling.await.step("the queue sampler")?;
    let cpu = cpu::Sample::take(&[runner.pid()]).since(&cpu_before, faults.runner_cpu_seconds);
    runner.stop();
    let verdicts = check::verify(stack, &orders, &drained, &stock, &faults.poison).await?;
    let measured = report::Measured {
        started,
        load_ended,
        drained: drained.at,
        retries: client.retries(),
        cpu,
        peaks,
        log: report::runner_log(&stack.dir),
    };
    Ok(Report::new(args, &orders, &faults, &drained, verdicts, measured))
}
