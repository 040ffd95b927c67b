//! What DynamoDB Local itself serves, with no platform code: the commands
//! benchmark's two requests (`bare_put`, `bare_query`), each kind alone, at
//! concurrency 1, 2, 4 and 8, on the benchmarks' events table.
//!
//! It tells how far any path can get on this emulator: every command
//! appends exactly one event, so a command path can run no faster than
//! DynamoDB Local accepts conditional `PutItem`s at the same concurrency.
//! With the server's process id (the local stack's pid file by default) it
//! also counts the server's CPU per request and the cores both processes
//! kept busy: a request kind that leaves cores idle while its rate stops
//! growing with concurrency is being served one at a time.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use contract::tables::create_events_table;

use crate::commands::{bare_put, bare_query};
use crate::stats::median;
use crate::EVENTS_TABLE;

#[derive(clap::Args)]
pub struct Args {
    /// Requests per measurement.
    #[arg(long, default_value_t = 4000)]
    requests: usize,
    /// Measured rounds; each measures every concurrency, PutItem then Query.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// DynamoDB Local's process id, for its CPU time (from /proc).
    #[arg(long, default_value_os_t = PathBuf::from(".local-stack/dynamodb.pid"), value_name = "PID_FILE")]
    server_pid_file: PathBuf,
}

const CONCURRENCIES: [usize; 4] = [1, 2, 4, 8];

#[derive(Clone, Copy)]
enum Request {
    /// A conditional PutItem of a new event (version 1 of a new order).
    Put,
    /// A strongly consistent Query of an order written by the Put phase.
    Query,
}

struct Measurement {
    per_second: f64,
    /// Server CPU per request, when its process is known.
    server_cpu: Option<Duration>,
    client_cpu: Duration,
    /// Cores kept busy by the server and this process together.
    cores_busy: f64,
}

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = Client::new(&config);
    let table = EVENTS_TABLE.to_owned();
    create_events_table(&client, &table).await?;
    let server = std::fs::read_to_string(&args.server_pid_file).ok().and_then(|pid| pid.trim().parse::<u32>().ok());
    if server.is_none() {
        eprintln!("no server pid in {}: server CPU not counted", args.server_pid_file.display());
    }
    // [concurrency][request kind] → one measurement per round.
    let mut results: Vec<[Vec<Measurement>; 2]> = CONCURRENCIES.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    for _ in 0..args.rounds {
        for (k, &concurrency) in CONCURRENCIES.iter().enumerate() {
            let orders: Arc<Vec<String>> =
                Arc::new((0..args.requests).map(|_| uuid::Uuid::new_v4().to_string()).collect());
            for (r, request) in [Request::Put, Request::Query].into_iter().enumerate() {
                let measured = measure(&client, &table, &orders, request, concurrency, server).await;
                results[k][r].push(measured);
            }
        }
    }
    report(&args, server.is_some(), results);
    Ok(())
}

async fn measure(
    client: &Client,
    table: &str,
    orders: &Arc<Vec<String>>,
    request: Request,
    concurrency: usize,
    server: Option<u32>,
) -> Measurement {
    let next = Arc::new(AtomicUsize::new(0));
    let server_before = server.map(cpu_time);
    let client_before = cpu_time_of("self");
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, table, orders, next) = (client.clone(), table.to_owned(), orders.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(order_id) = orders.get(i) else { return };
                    match request {
                        Request::Put => bare_put(&client, &table, order_id, 1, format!("{i}-1")).await,
                        Request::Query => bare_query(&client, &table, order_id).await,
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker panicked");
    }
    let elapsed = started.elapsed();
    let client_cpu = cpu_time_of("self") - client_before;
    let server_cpu = server.zip(server_before).map(|(pid, before)| cpu_time(pid) - before);
    let n = orders.len() as u32;
    Measurement {
        per_second: f64::from(n) / elapsed.as_secs_f64(),
        server_cpu: server_cpu.map(|cpu| cpu / n),
        client_cpu: client_cpu / n,
        cores_busy: (client_cpu + server_cpu.unwrap_or_default()).as_secs_f64() / elapsed.as_secs_f64(),
    }
}

fn cpu_time(pid: u32) -> Duration {
    cpu_time_of(&pid.to_string())
}

/// User plus system CPU time of a process, from `/proc/<pid>/stat` (fields
/// 14 and 15, in clock ticks; Linux's USER_HZ is 100 on every architecture
/// it reports to user space in).
fn cpu_time_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: count from after it.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks = |field: usize| fields.get(field - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Duration::from_millis((ticks(14) + ticks(15)) * 10)
}

fn report(args: &Args, server_known: bool, results: Vec<[Vec<Measurement>; 2]>) {
    println!(
        "DynamoDB Local alone: {} requests per measurement, {} rounds; medians of the rounds\n",
        args.requests, args.rounds
    );
    println!("| concurrency | PutItem/s | Query/s | server CPU per PutItem | per Query | client CPU per PutItem | per Query | cores busy: PutItem | Query |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let ms = |d: f64| format!("{:.2} ms", d * 1000.0);
    for (concurrency, [puts, queries]) in CONCURRENCIES.iter().zip(&results) {
        let of = |rounds: &[Measurement], f: &dyn Fn(&Measurement) -> f64| {
            median(&mut rounds.iter().map(f).collect::<Vec<_>>())
        };
        let server = |m: &[Measurement]| {
            if server_known {
                ms(of(m, &|m| m.server_cpu.unwrap_or_default().as_secs_f64()))
            } else {
                "–".to_owned()
            }
        };
        println!(
            "| {concurrency} | {:.0} | {:.0} | {} | {} | {} | {} | {:.2} | {:.2} |",
            of(puts, &|m| m.per_second),
            of(queries, &|m| m.per_second),
            server(puts),
            server(queries),
            ms(of(puts, &|m| m.client_cpu.as_secs_f64())),
            ms(of(queries, &|m| m.client_cpu.as_secs_f64())),
            of(puts, &|m| m.cores_busy),
            of(queries, &|m| m.cores_busy),
        );
    }
    if !server_known {
        println!("\n(cores busy counts this process only: the server's pid was not found)");
    }
}
