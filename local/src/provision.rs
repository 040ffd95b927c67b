//! Creates on the local stack what `template.yaml` creates in AWS, from the
//! same definitions the tests use. Idempotent.

use crate::stack::{sdk_config, Names};

pub async fn run(names: &Names) -> Result<(), Box<dyn std::error::Error>> {
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    event_store::create_events_table(&dynamodb, &names.events_table).await?;
    tracing::info!(table = %names.events_table, "events table ready");
    Ok(())
}
