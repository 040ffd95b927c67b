//! `scripts/bench-cold-start` (docs/benchmarks.md, "Cold start"): cold start of each
//! function's release `bootstrap`, against a Lambda
//! Runtime API stub on 127.0.0.1 (the lambda_runtime hello-world, built the
//! same way, is the floor, measured in the same rounds):
//!
//! - **init**: from spawning the process to its first
//!   `GET /2018-06-01/runtime/invocation/next` — what Lambda bills as the
//!   init phase (configuration, SDK clients, the legacy connection);
//! - **peak RSS** (`VmHWM`) once it has answered one invocation (a payload
//!   of `events/` against the local stack);
//! - **zipped size** of `bootstrap`, deflated alone in a zip the way `sam
//!   deploy` uploads it (the 6 MB target is on this; Lambda's limit is
//!   50 MB zipped).
//!
//! Each round starts every binary once, in a rotating order; figures are
//! medians over rounds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::error::Error;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(clap::Parser)]
#[command(
    about = "Cold start of each function's release bootstrap vs a lambda_runtime hello-world (scripts/bench-cold-start)"
)]
struct Args {
    /// `sam build` output for this machine: <dir>/<Function>/bootstrap
    /// (scripts/sam-build --arch x86_64).
    #[arg(long, default_value = ".aws-sam/build-x86_64")]
    build_dir: PathBuf,
    /// The hello-world floor's bootstrap (`cargo lambda build --release` in
    /// benches/lambda-floor).
    #[arg(long, default_value = "target/lambda/lambda-floor/bootstrap")]
    floor: PathBuf,
    /// Cold starts of each binary.
    #[arg(long, default_value_t = 20)]
    rounds: usize,
}

/// A function of `template.yaml` and the payload its one invocation gets.
struct Function {
    name: &'static str,
    bootstrap: PathBuf,
    event: &'static str,
}

const FUNCTIONS: [(&str, &str); 5] = [
    ("ApiFunction", "events/api-place-order.json"),
    ("PublisherFunction", "events/dynamodb-stream-order-events.json"),
    ("InventoryFunction", "events/sqs-inventory-order-placed.json"),
    ("FulfillmentFunction", "events/sqs-fulfillment-order-confirmed.json"),
    ("LegacySyncFunction", "events/sqs-legacy-sync-batch.json"),
];
const FLOOR: &str = "hello-world (floor)";

/// Targets: init within 3× the floor's, peak RSS and zipped size under these.
const INIT_RATIO_TARGET: f64 = 3.0;
const RSS_TARGET_MB: f64 = 20.0;
const ZIP_TARGET_MB: f64 = 6.0;

struct Sample {
    init: Duration,
    peak_rss_kb: u64,
}

/// A function's built `bootstrap`: in its own folder, or, when functions
/// share one build (the two inventory lanes), in the first one's
/// `<Function>-Shared` folder, as `sam build` lays them out.
fn bootstrap(build_dir: &Path, name: &str) -> PathBuf {
    let own = build_dir.join(name).join("bootstrap");
    let shared = build_dir.join(format!("{name}-Shared")).join("bootstrap");
    if !own.is_file() && shared.is_file() {
        shared
    } else {
        own
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args = <Args as clap::Parser>::parse();
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_none() {
        return Err("the local stack's variables are not set: run `scripts/local-stack up && eval \"$(scripts/local-stack env)\"` first (the invocation uses it)".into());
    }
    let mut functions: Vec<Function> = FUNCTIONS
        .iter()
        .map(|(name, event)| Function { name, bootstrap: bootstrap(&args.build_dir, name), event })
        .collect();
    functions.push(Function { name: FLOOR, bootstrap: args.floor.clone(), event: "events/api-place-order.json" });
    for f in &functions {
        if !f.bootstrap.is_file() {
            return Err(format!("{}: no {} (scripts/bench-cold-start builds it)", f.name, f.bootstrap.display()).into());
        }
    }

    let mut samples: HashMap<&str, Vec<Sample>> = HashMap::new();
    for round in 0..args.rounds {
        for i in 0..functions.len() {
            let f = &functions[(round + i) % functions.len()];
            let sample = cold_start(f).await.map_err(|e| format!("{}: {e}", f.name))?;
            samples.entry(f.name).or_default().push(sample);
        }
    }

    let floor_init = median_ms(samples[FLOOR].iter().map(|s| s.init));
    println!(
        "Cold start: {} rounds, medians; init = process start to the first `invocation/next`; \
         peak RSS after one invocation (events/ payload, local stack)\n",
        args.rounds
    );
    println!("| function | init | init / floor | peak RSS | bootstrap | zipped | targets (≤ {INIT_RATIO_TARGET}× floor, ≤ {RSS_TARGET_MB} MB, ≤ {ZIP_TARGET_MB} MB) |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    let mut all_met = true;
    for f in &functions {
        let init = median_ms(samples[f.name].iter().map(|s| s.init));
        let rss_mb = median(&mut samples[f.name].iter().map(|s| s.peak_rss_kb as f64 / 1024.0).collect::<Vec<_>>());
        let size_mb = std::fs::metadata(&f.bootstrap)?.len() as f64 / MB;
        let zipped_mb = zipped_size(&f.bootstrap)? as f64 / MB;
        let ratio = init / floor_init;
        let met =
            f.name == FLOOR || (ratio <= INIT_RATIO_TARGET && rss_mb <= RSS_TARGET_MB && zipped_mb <= ZIP_TARGET_MB);
        all_met &= met;
        println!(
            "| {} | {init:.2} ms | {ratio:.2}× | {rss_mb:.1} MB | {size_mb:.2} MB | {zipped_mb:.2} MB | {} |",
            f.name,
            if f.name == FLOOR {
                ""
            } else if met {
                "met"
            } else {
                "**missed**"
            }
        );
    }
    if !all_met {
        return Err("a function missed a cold-start target".into());
    }
    Ok(())
}

const MB: f64 = 1024.0 * 1024.0;

/// The middle value; the mean of the two middle ones for an even count.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn median_ms(durations: impl Iterator<Item = Duration>) -> f64 {
    median(&mut durations.map(|d| d.as_secs_f64() * 1000.0).collect::<Vec<_>>())
}

/// What the stub saw of the function.
enum Seen {
    /// Its first `GET …/invocation/next`.
    Ready(Instant),
    /// `…/response` (true) or `…/error` (false) for the invocation, with the body.
    Answered(bool, Bytes),
    /// `POST …/init/error`.
    InitFailed(Bytes),
}

/// One cold start: a fresh stub on a free port, the process, one invocation.
async fn cold_start(f: &Function) -> Result<Sample, Box<dyn Error>> {
    let event = Bytes::from(std::fs::read(f.event)?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let stub = tokio::spawn(serve_runtime_api(listener, event, seen_tx));

    let started = Instant::now();
    let mut child = tokio::process::Command::new(&f.bootstrap)
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", f.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{}", f.name))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
        // Lambda sets no CA bundle; a shell that does (some set it to the
        // machine's whole store) would make the functions load it at init
        // (`sdk-config` adds `AWS_CA_BUNDLE` to its trusted roots).
        .env_remove("AWS_CA_BUNDLE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().ok_or("the process exited at once")?;

    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        let mut init = None;
        while let Some(seen) = seen.recv().await {
            match seen {
                Seen::Ready(at) => init = Some(at - started),
                Seen::Answered(true, _) => return Ok(init.ok_or("answered before asking")?),
                Seen::Answered(false, body) | Seen::InitFailed(body) => {
                    return Err(format!("failed: {}", String::from_utf8_lossy(&body)).into())
                }
            }
        }
        Err::<Duration, Box<dyn Error>>("the stub stopped".into())
    })
    .await
    .map_err(|_| "no answer within 30 s")?;
    // Read while it waits for its next invocation: the high-water mark so far.
    let peak_rss_kb = peak_rss_kb(pid);
    child.kill().await?;
    stub.abort();
    Ok(Sample { init: outcome?, peak_rss_kb: peak_rss_kb? })
}

/// The Runtime API, as much as lambda_runtime uses: the event on the first
/// `next`, then `next` never answers (the instance idles until killed).
async fn serve_runtime_api(listener: TcpListener, event: Bytes, seen: mpsc::UnboundedSender<Seen>) {
    let served = Arc::new(Mutex::new(false));
    loop {
        let Ok((stream, _)) = listener.accept().await else { return };
        let (event, seen, served) = (event.clone(), seen.clone(), served.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let (event, seen, served) = (event.clone(), seen.clone(), served.clone());
                async move {
                    let path = request.uri().path().to_owned();
                    if request.method() == Method::GET && path.ends_with("/runtime/invocation/next") {
                        if std::mem::replace(&mut *served.lock().unwrap(), true) {
                            std::future::pending::<()>().await;
                        }
                        let _ = seen.send(Seen::Ready(Instant::now()));
                        return Ok::<_, Infallible>(next_invocation(event));
                    }
                    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                    let _ = seen.send(if path.ends_with("/response") {
                        Seen::Answered(true, body)
                    } else if path.ends_with("/init/error") {
                        Seen::InitFailed(body)
                    } else {
                        Seen::Answered(false, body)
                    });
                    Ok(Response::builder().status(StatusCode::ACCEPTED).body(Full::new(Bytes::new())).unwrap())
                }
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

fn next_invocation(event: Bytes) -> Response<Full<Bytes>> {
    let deadline_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 30_000;
    Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", uuid::Uuid::new_v4().to_string())
        .header("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:cold-start")
        .header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1")
        .header("Content-Type", "application/json")
        .body(Full::new(event))
        .unwrap()
}

fn peak_rss_kb(pid: u32) -> Result<u64, Box<dyn Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or("no VmHWM")?;
    Ok(line.split_whitespace().nth(1).ok_or("VmHWM without a value")?.parse()?)
}

/// Bytes of a zip holding `path` alone as `bootstrap`, deflated at the
/// default level like the SAM CLI's zips: the deflated data plus the local
/// header, central directory entry and end record (30 + 46 + 22 bytes and
/// the name twice).
fn zipped_size(path: &Path) -> Result<u64, Box<dyn Error>> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&std::fs::read(path)?)?;
    let deflated = encoder.finish()?.len() as u64;
    Ok(deflated + 30 + 46 + 22 + 2 * "bootstrap".len() as u64)
}
