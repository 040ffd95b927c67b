//! The short soak: the runner on the local stack under a few hundred
//! orders while PostgreSQL, SNS and DynamoDB fail for a few seconds each,
//! the runner is killed and restarted, and poison reaches every consumer
//! queue; then no event may be lost, every projection must equal its
//! rebuild from the event store, and only the poison may be in the DLQs.
//! The full-size soak is `cargo run --release -p order-bench -- soak`.

use std::path::PathBuf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_soak_under_faults_loses_nothing_and_converges() {
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
        drain_timeout: 120,
        runner: None,
        keep: false,
    };
    let report = soak::run(&args, PathBuf::from(env!("CARGO_BIN_EXE_order-platform"))).await.expect("the soak runs");
    eprintln!("{report}");
    assert!(report.passed(), "{report}");
}
