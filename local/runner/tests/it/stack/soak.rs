//! The short soak: the runner on the local stack under a few hundred
//! orders while PostgreSQL, SNS and DynamoDB fail for a few seconds each,
//! the runner is killed and restarted, and poison reaches every consumer
//! queue; then no event may be lost, every projection must equal its
//! rebuild from the event store, and only the poison may be in the DLQs.
//! The full-size soak is `cargo run --release -p order-bench -- soak`.

use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_under_faults_loses_nothing_and_converges() {
    short_soak(false, 120).await;
}

/// The same short soak with a long outage: PostgreSQL unreachable for a
/// third of the load (13 s, past the old 5 × 5 s visibility), DynamoDB
/// throttling half the requests for a sixth. The consumers back off (1 s
/// doubling to 5 s here); nothing healthy may reach a DLQ and every order
/// must be decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_with_a_long_outage_dead_letters_only_the_poison() {
    short_soak(true, 180).await;
}

/// 240 orders at 6/s with faults of 3 s; passes only if the soak's report does.
async fn short_soak(long_outage: bool, drain_timeout: u64) {
    testkit::dynamodb_config().await;
    testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
    let args = soak::Args {
        orders: 240,
        rate: 6.0,
        concurrency: 32,
        fault_seconds: 3,
        sns_error_share: 0.3,
        dynamodb_throttle_share: 0.3,
        visibility_timeout: 5,
        // A throttled saga step is back within seconds, not minutes.
        backoff_base_seconds: 1,
        backoff_cap_seconds: 5,
        drain_timeout,
        runner: None,
        long_outage,
        keep: false,
    };
    let report = soak::run(&args, PathBuf::from(env!("CARGO_BIN_EXE_order-platform"))).await.expect("the soak runs");
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
}
