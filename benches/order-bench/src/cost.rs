//! The AWS bill of an order: `--orders` orders placed, published, reserved
//! and confirmed by the saga, picked by fulfillment and synced into the
//! legacy PostgreSQL, through the whole pipeline in this process on the
//! local stack ([`pipeline`]), for this design and for a naive one, one after
//! the other in the same process. Every AWS request, Lambda invocation and
//! PostgreSQL transaction is counted from the run's spans ([`bill::Counts`]);
//! DynamoDB capacity is what DynamoDB Local's answers report
//! (`testkit::requests::RequestCounter::asking_for_capacity`); both are priced at a dated table of list prices
//! ([`prices`]).

use std::collections::BTreeSet;

use telemetry::{Exports, RecentTraces};

use crate::EVENTS_TABLE;

mod bill;
mod pipeline;
mod prices;

use bill::{Counts, Line, LAMBDA_DURATION};
use pipeline::{Arrival, Design, Phase, Stack};

/// Spans kept in memory: far more than a run makes (about 60 per order in
/// the naive design); a run that fills it is refused rather than miscounted.
const SPAN_MEMORY: usize = 2_000_000;
/// Orders of the untimed warm-up phase (DynamoDB Local's JVM, the pools).
const WARM_UP_ORDERS: usize = 20;

#[derive(clap::Args)]
pub struct Args {
    /// Orders per design (about 80 s for both, warm-up included, in a debug build on 2 cores).
    #[arg(long, default_value_t = 60)]
    orders: usize,
    /// Orders placed at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Each order placed once the one before is synced (a quiet shop: every
    /// batch holds one order's events), instead of --concurrency at once.
    #[arg(long)]
    one_at_a_time: bool,
    /// The PostgreSQL server; the benchmark creates (and drops) a database of its own there.
    #[arg(long, env = contract::config::LEGACY_DATABASE_URL, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
}

pub async fn run(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    for variable in ["AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"] {
        if std::env::var_os(variable).is_none() {
            return Err(format!(
                "{variable} is not set: run `scripts/local-stack up && eval \"$(scripts/local-stack env)\"` first"
            )
            .into());
        }
    }
    let recent = RecentTraces::new(SPAN_MEMORY);
    // The provider lives as long as `_telemetry`: the whole run.
    let (subscriber, _telemetry) = telemetry::traced(&Exports::default().with_recent(recent.clone()));
    tracing::subscriber::set_global_default(subscriber)?;
    let stack = Stack::create(EVENTS_TABLE, &args.database_url).await?;
    let arrival =
        if args.one_at_a_time { Arrival::OneAtATime } else { Arrival::Busy { concurrency: args.concurrency } };
    let result = async {
        pipeline::run_phase(&stack, Design::Batched, WARM_UP_ORDERS, arrival, &recent).await?;
        let mut phases = Vec::new();
        for design in [Design::Batched, Design::Naive] {
            let phase = pipeline::run_phase(&stack, design, args.orders, arrival, &recent).await?;
            eprintln!(
                "cost: {} — {} orders in {:.1} s",
                design.name(),
                phase.orders.len(),
                phase.elapsed.as_secs_f64()
            );
            phases.push((design, phase));
        }
        if recent.spans().len() >= SPAN_MEMORY {
            return Err("the span memory filled up: run fewer --orders".into());
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(phases)
    }
    .await;
    stack.remove().await?;
    report(&args, &result?);
    Ok(())
}

fn report(args: &Args, phases: &[(Design, Phase)]) {
    let priced: Vec<(Design, u64, Counts, Vec<Line>)> = phases
        .iter()
        .map(|(design, phase)| {
            let orders = phase.orders.len() as u64;
            let counts = Counts::of(&phase.spans);
            let lines = bill::bill(
                &counts,
                orders,
                phase.capacity.write_units(),
                phase.capacity.read_units(),
                &prices::US_EAST_1,
            );
            (*design, orders, counts, lines)
        })
        .collect();
    println!(
        "Cost of an order: {} orders per design (placed over the API's code path, published, reserved and confirmed \
         by the saga, picked by fulfillment, synced into PostgreSQL), {}, on the local stack; \
         us-east-1 list prices as of {}, Lambda arm64 at {} MB.\n",
        args.orders,
        if args.one_at_a_time { "one at a time".to_owned() } else { format!("{} placed at once", args.concurrency) },
        prices::AS_OF,
        prices::LAMBDA_MEMORY_MB
    );
    let header: Vec<String> =
        priced.iter().map(|(d, ..)| format!("{} per order | per million orders", d.name())).collect();
    println!("| service | {} |", header.join(" | "));
    println!("|---|{}", "---:|---:|".repeat(priced.len()));
    let services: Vec<&str> = priced[0].3.iter().map(|l| l.service).collect();
    let per_order = |lines: &[Line], service: &str, orders: u64| {
        lines.iter().find(|l| l.service == service).map_or(0.0, |l| l.dollars / orders as f64)
    };
    for service in &services {
        let cells: Vec<String> =
            priced.iter().map(|(_, orders, _, lines)| money(per_order(lines, service, *orders))).collect();
        println!("| {service} | {} |", cells.join(" | "));
    }
    let totals: Vec<String> = priced
        .iter()
        .map(|(_, orders, _, lines)| {
            let total: f64 = lines.iter().map(|l| l.dollars).sum::<f64>() / *orders as f64;
            let [order, million] = [total, total * 1e6].map(|d| format!("**{}**", dollars(d)));
            format!("{order} | {million}")
        })
        .collect();
    println!("| **total** | {} |", totals.join(" | "));
    let totals: Vec<String> = priced
        .iter()
        .map(|(_, orders, _, lines)| {
            let total: f64 =
                lines.iter().filter(|l| l.service != LAMBDA_DURATION).map(|l| l.dollars).sum::<f64>() / *orders as f64;
            money(total)
        })
        .collect();
    println!("| total without Lambda duration | {} |", totals.join(" | "));
    println!(
        "\n{LAMBDA_DURATION}: the handlers' time here, against DynamoDB Local, moto and PostgreSQL sharing this \
         machine's cores with them, not their time against AWS."
    );

    println!("\nWhat was counted, per order:\n");
    println!("| service | {} |", priced.iter().map(|(d, ..)| d.name()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(priced.len()));
    for service in &services {
        let cells: Vec<String> = priced
            .iter()
            .map(|(_, _, _, lines)| {
                lines.iter().find(|l| l.service == *service).map_or(String::new(), |l| l.basis.clone())
            })
            .collect();
        println!("| {service} | {} |", cells.join(" | "));
    }

    println!(
        "\nRequests per order, from the spans (\"mapping\": made by the event source mapping, outside the function):\n"
    );
    println!("| request | {} |", priced.iter().map(|(d, ..)| d.name()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---:|".repeat(priced.len()));
    let names: BTreeSet<(bool, &String)> = priced
        .iter()
        .flat_map(|(_, _, c, _)| {
            c.requests.keys().map(|n| (false, n)).chain(c.mapping_requests.keys().map(|n| (true, n)))
        })
        .collect();
    for (mapping, name) in names {
        let cells: Vec<String> = priced
            .iter()
            .map(|(_, orders, c, _)| {
                let requests = if mapping { &c.mapping_requests } else { &c.requests };
                format!("{:.2}", requests.get(name).copied().unwrap_or(0) as f64 / *orders as f64)
            })
            .collect();
        let label = if mapping { format!("{name} (mapping)") } else { name.clone() };
        println!("| {label} | {} |", cells.join(" | "));
    }
    let cells = |f: &dyn Fn(u64, &Counts) -> String| -> String {
        priced.iter().map(|(_, orders, c, _)| f(*orders, c)).collect::<Vec<_>>().join(" | ")
    };
    println!(
        "| of which empty receives (not billed per order) | {} |",
        cells(&|orders, c| format!("{:.2}", c.empty_receives() as f64 / orders as f64))
    );
    println!(
        "| PostgreSQL transactions | {} |",
        cells(&|orders, c| format!("{:.2}", c.postgres_transactions as f64 / orders as f64))
    );

    println!("\nLambda invocations per order (messages per invocation, handler ms per invocation):\n");
    println!("| function | {} |", priced.iter().map(|(d, ..)| d.name()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---|".repeat(priced.len()));
    let functions: BTreeSet<&String> = priced.iter().flat_map(|(_, _, c, _)| c.invocations.keys()).collect();
    for function in functions {
        let cells: Vec<String> = priced
            .iter()
            .map(|(_, orders, c, _)| match c.invocations.get(function) {
                Some(i) if i.count > 0 && function.as_str() == bill::API => {
                    format!("{:.2} ({:.1} ms)", i.count as f64 / *orders as f64, i.billed_ms as f64 / i.count as f64)
                }
                Some(i) if i.count > 0 => format!(
                    "{:.2} ({:.1} messages, {:.1} ms)",
                    i.count as f64 / *orders as f64,
                    i.messages as f64 / i.count as f64,
                    i.billed_ms as f64 / i.count as f64
                ),
                _ => "0".to_owned(),
            })
            .collect();
        println!("| {function} | {} |", cells.join(" | "));
    }
}

/// Dollars per order: tiny, so in millionths of a dollar too.
fn money(per_order: f64) -> String {
    format!("{} | {}", dollars(per_order), dollars(per_order * 1e6))
}

fn dollars(amount: f64) -> String {
    match amount {
        a if a >= 1.0 => format!("${a:.2}"),
        a if a >= 0.01 => format!("${a:.4}"),
        a => format!("${a:.8}"),
    }
}

/// The bench's counting agrees with the trace of each order.
#[cfg(test)]
mod stack {
    use std::collections::BTreeMap;

    use super::*;

    /// Orders placed one at a time, so no batch holds two orders' events:
    /// every request a function makes then belongs to exactly one order's
    /// trace, and the requests the bench counts over the run are the sum of
    /// what the orders' traces show, in both designs.
    #[tokio::test]
    async fn the_requests_counted_per_order_are_those_the_orders_traces_show() {
        testkit::dynamodb_config().await;
        testkit::local_stack_config("AWS_ENDPOINT_URL_SNS").await;
        testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
        let database_url = std::env::var(contract::config::LEGACY_DATABASE_URL).expect(
            "LEGACY_DATABASE_URL is not set: this test needs the local stack's PostgreSQL (`scripts/local-stack env`)",
        );
        let recent = RecentTraces::new(100_000);
        let (subscriber, _telemetry) = telemetry::traced(&Exports::default().with_recent(recent.clone()));
        tracing::subscriber::set_global_default(subscriber).unwrap();
        let stack = Stack::create(&testkit::unique_name("cost-events"), &database_url).await.unwrap();

        for (design, publish) in [(Design::Batched, "SNS.PublishBatch"), (Design::Naive, "SNS.Publish")] {
            let phase = pipeline::run_phase(&stack, design, 3, Arrival::OneAtATime, &recent).await.unwrap();
            let counted = Counts::of(&phase.spans);
            let mut traced: BTreeMap<String, u64> = BTreeMap::new();
            for order in &phase.orders {
                let trace = Counts::of(&recent.of_order(&order.to_string()));
                for wanted in ["DynamoDB.PutItem", "DynamoDB.TransactWriteItems", "DynamoDB.UpdateItem", publish] {
                    assert!(trace.requests.contains_key(wanted), "{design:?}: {order}'s trace has no {wanted}");
                }
                assert!(trace.postgres_transactions > 0, "{design:?}: {order}'s trace has no PostgreSQL transaction");
                for (name, n) in trace.requests {
                    *traced.entry(name).or_default() += n;
                }
            }
            assert_eq!(counted.requests, traced, "{design:?}: counted requests vs the orders' traces");
            assert_eq!(counted.invocations["api"].count, 3, "{design:?}");
            // Each order's two events (PutItem) and its pick request
            // (UpdateItem) at least, and only this phase's.
            assert!(phase.capacity.write_units() >= 9.0, "{design:?}: {:?}", phase.capacity);
            assert!(phase.capacity.write_units() < 40.0, "{design:?}: {:?} is not this phase's alone", phase.capacity);
        }
        stack.remove().await.unwrap();
    }
}
