//! Which adapters the runner uses: in-memory (embedded) or the local stack.

use std::sync::Arc;

use event_store::{DynamoEventStore, MemoryEventStore};
use order_api::App;
use order_commands::OrderService;

/// Resource names, from the same variables the Lambdas read.
pub struct Names {
    pub events_table: String,
}

impl Names {
    pub fn from_env() -> Self {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Names { events_table: var("EVENTS_TABLE", "order-events") }
    }
}

pub fn is_configured() -> bool {
    ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"].iter().any(|v| std::env::var_os(v).is_some())
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

pub async fn app(names: &Names) -> App {
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk_config().await);
    let store = DynamoEventStore::new(dynamodb, &names.events_table);
    App::new(OrderService::new(Arc::new(store)))
}

pub fn embedded_app() -> App {
    App::new(OrderService::new(Arc::new(MemoryEventStore::new())))
}
