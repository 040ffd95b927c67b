//! Creates on the local stack what `template.yaml` creates in AWS, from the
//! same definitions the code and tests use. Idempotent.

use std::collections::HashMap;

use aws_sdk_sns::Client as Sns;
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client as Sqs;

use crate::stack::{sdk_config, Names, MAX_RECEIVES};

type Error = Box<dyn std::error::Error>;

pub async fn run(names: &Names) -> Result<(), Error> {
    let config = sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    contract::tables::create_events_table(&dynamodb, &names.events_table).await?;
    contract::tables::create_inventory_table(&dynamodb, &names.inventory_table).await?;
    contract::tables::create_fulfillment_table(&dynamodb, &names.fulfillment_table).await?;
    contract::tables::create_catalog_table(&dynamodb, &names.catalog_table).await?;
    tracing::info!(events = %names.events_table, inventory = %names.inventory_table, fulfillment = %names.fulfillment_table, catalog = %names.catalog_table, "tables ready");

    let (sns, sqs) = (Sns::new(&config), Sqs::new(&config));
    let topic_name = names.topic_arn.rsplit(':').next().unwrap_or("order-events");
    let topic_arn = sns.create_topic().name(topic_name).send().await?.topic_arn.unwrap_or_default();
    if topic_arn != names.topic_arn {
        return Err(format!("created {topic_arn}, but ORDER_EVENTS_TOPIC_ARN is {}", names.topic_arn).into());
    }
    let events: std::sync::Arc<dyn domain::ports::EventStore> =
        std::sync::Arc::new(event_store::DynamoEventStore::new(dynamodb.clone(), &names.events_table));
    crate::legacy::sync(events).await?;
    let catalog = catalog_store::DynamoCatalog::new(dynamodb, &names.catalog_table);
    let counts = crate::legacy::import_catalog(&catalog).await?;
    tracing::info!(?counts, "catalog imported from the legacy shop_product rows");
    let [hot_lane, standard_lane] = names.inventory_lanes();
    for (queue, filter_policy) in [
        hot_lane,
        standard_lane,
        (&names.fulfillment_queue, contract::subscription::FULFILLMENT),
        (&names.legacy_sync_queue, contract::subscription::LEGACY_SYNC),
    ] {
        let queue_arn = queue_with_dlq(&sqs, queue).await?;
        subscribe(&sns, &topic_arn, &queue_arn, filter_policy).await?;
        tracing::info!(%queue, %filter_policy, "queue subscribed");
    }
    Ok(())
}

/// The queue, with a dead-letter queue after `MAX_RECEIVES` receives; its ARN.
async fn queue_with_dlq(sqs: &Sqs, name: &str) -> Result<String, Error> {
    let dlq_arn = queue_arn(sqs, &format!("{name}-dlq"), HashMap::new()).await?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES }).to_string();
    let attributes = HashMap::from([
        (QueueAttributeName::RedrivePolicy, redrive),
        (QueueAttributeName::VisibilityTimeout, "30".to_owned()),
    ]);
    queue_arn(sqs, name, attributes).await
}

async fn queue_arn(sqs: &Sqs, name: &str, attributes: HashMap<QueueAttributeName, String>) -> Result<String, Error> {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .set_attributes(Some(attributes))
        .send()
        .await?
        .queue_url
        .unwrap_or_default();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| format!("queue {name} has no ARN"))?;
    Ok(arn)
}

/// Raw delivery, so consumers get the envelope itself as the body.
async fn subscribe(sns: &Sns, topic_arn: &str, queue_arn: &str, filter_policy: &str) -> Result<(), Error> {
    let existing = sns.list_subscriptions_by_topic().topic_arn(topic_arn).send().await?;
    if let Some(subscription) = existing.subscriptions().iter().find(|s| s.endpoint() == Some(queue_arn)) {
        // Keep an existing subscription's policy in step with the code (the
        // inventory queue gained its `lane` condition this way).
        sns.set_subscription_attributes()
            .subscription_arn(subscription.subscription_arn().unwrap_or_default())
            .attribute_name("FilterPolicy")
            .attribute_value(filter_policy)
            .send()
            .await?;
        return Ok(());
    }
    sns.subscribe()
        .topic_arn(topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .attributes("RawMessageDelivery", "true")
        .attributes("FilterPolicy", filter_policy)
        .send()
        .await?;
    Ok(())
}
