//! Test support for adapters that talk to the local stack
//! (`scripts/local-stack up`). Tests that need it fail loudly without it:
//! a silently skipped adapter test would prove nothing.

pub mod access;
pub mod delivery;
pub mod golden;
pub mod known_state;
pub mod requests;
pub mod sqs;
pub mod template;

use aws_config::{BehaviorVersion, SdkConfig};

/// SDK configuration for the local stack, from the same variables the
/// Lambdas read (`AWS_ENDPOINT_URL_*`).
pub async fn local_stack_config(service_endpoint_var: &str) -> SdkConfig {
    assert!(
        std::env::var_os(service_endpoint_var).is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "{service_endpoint_var} is not set: this test needs the local stack. \
         Run `scripts/test`, or `scripts/local-stack up && eval \"$(scripts/local-stack env)\"` first."
    );
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub async fn dynamodb_config() -> SdkConfig {
    local_stack_config("AWS_ENDPOINT_URL_DYNAMODB").await
}

/// DynamoDB Local's `host:port`, what a fault proxy forwards to.
pub fn dynamodb_host() -> String {
    let url = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").expect("AWS_ENDPOINT_URL_DYNAMODB is set (the local stack)");
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// A name no other test uses, so tests can run in parallel on one server.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Declares every named scenario `async fn name(subject)` as two tests,
/// `memory::name` and `dynamodb::name`, one per adapter, so that a suite
/// holds both to the same assertions. The subjects are expressions written
/// as if inside those modules (`super::…`); the dynamodb one may `.await`.
/// An optional leading attribute replaces `#[tokio::test]`.
#[macro_export]
macro_rules! against_both_adapters {
    (#[$test:meta] memory: $memory:expr, dynamodb: $dynamodb:expr; $($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[$test]
                async fn $name() {
                    super::$name($memory).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[$test]
                async fn $name() {
                    super::$name($dynamodb).await;
                }
            )*
        }
    };
    (memory: $memory:expr, dynamodb: $dynamodb:expr; $($name:ident),* $(,)?) => {
        $crate::against_both_adapters!(#[tokio::test] memory: $memory, dynamodb: $dynamodb; $($name),*);
    };
}
