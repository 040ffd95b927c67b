//! The tables, created the way `template.yaml` declares them, for the local
//! stack, the runner's `provision` and the tests. In AWS the template owns
//! them; `local/testkit`'s template test keeps the two in step.

use aws_error::AwsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
    StreamViewType,
};
use aws_sdk_dynamodb::Client;

/// A table's key: partition key, then the sort key if it has one.
struct TableKey {
    hash: (&'static str, ScalarAttributeType),
    range: Option<(&'static str, ScalarAttributeType)>,
}

/// The events table: (`orderId`, `version`), stream NEW_IMAGE for the publisher.
pub async fn create_events_table(client: &Client, table: &str) -> Result<(), AwsError> {
    let key = TableKey {
        hash: (event_item::ORDER_ID, ScalarAttributeType::S),
        range: Some((event_item::VERSION, ScalarAttributeType::N)),
    };
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .expect("complete");
    create_if_missing(client, table, key, Some(stream)).await
}

/// The inventory table: stock and reservation records under one `pk`.
pub async fn create_inventory_table(client: &Client, table: &str) -> Result<(), AwsError> {
    create_if_missing(client, table, TableKey { hash: ("pk", ScalarAttributeType::S), range: None }, None).await
}

/// The fulfillment table: one pick request per `orderId`.
pub async fn create_fulfillment_table(client: &Client, table: &str) -> Result<(), AwsError> {
    let key = TableKey { hash: ("orderId", ScalarAttributeType::S), range: None };
    create_if_missing(client, table, key, None).await
}

/// The catalog table: one item per `sku`.
pub async fn create_catalog_table(client: &Client, table: &str) -> Result<(), AwsError> {
    create_if_missing(client, table, TableKey { hash: ("sku", ScalarAttributeType::S), range: None }, None).await
}

/// Creates `table` on demand billing; a table that already exists is left
/// as it is, so provisioning can run again.
async fn create_if_missing(
    client: &Client,
    table: &str,
    key: TableKey,
    stream: Option<StreamSpecification>,
) -> Result<(), AwsError> {
    let mut request = client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest);
    for ((name, attribute_type), key_type) in
        [Some((key.hash, KeyType::Hash)), key.range.map(|r| (r, KeyType::Range))].into_iter().flatten()
    {
        request = request
            .key_schema(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build().expect("complete"))
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(attribute_type)
                    .build()
                    .expect("complete"),
            );
    }
    match request.set_stream_specification(stream).send().await {
        Ok(_) => Ok(()),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
        Err(e) => Err(AwsError::new("CreateTable", e)),
    }
}
