//! The tables as `template.yaml` declares them: key attributes and stream.
//! In AWS the template owns them; `local/testkit`'s template test holds it
//! to these definitions, and with the feature `create` [`create_table`]
//! makes the same tables for the local stack, the runner's `provision`, the
//! ops rebuilds and the tests. None of the tables has a TTL.

use crate::event_item;

/// A key attribute's DynamoDB scalar type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeType {
    /// `S`
    String,
    /// `N`
    Number,
}

impl AttributeType {
    /// The type's name in `AttributeDefinitions`.
    pub fn as_str(self) -> &'static str {
        match self {
            AttributeType::String => "S",
            AttributeType::Number => "N",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAttribute {
    pub name: &'static str,
    pub attribute_type: AttributeType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableDefinition {
    /// The table's resource in `template.yaml`.
    pub logical_id: &'static str,
    pub partition_key: KeyAttribute,
    pub sort_key: Option<KeyAttribute>,
    /// Whether the table has a stream of new images (`NEW_IMAGE`).
    pub new_image_stream: bool,
}

impl TableDefinition {
    /// The key attributes: partition key, then the sort key if any.
    pub fn key_attributes(&self) -> impl Iterator<Item = KeyAttribute> {
        std::iter::once(self.partition_key).chain(self.sort_key)
    }
}

/// One item per event, key (`orderId`, `version`); its stream feeds the
/// publisher.
pub const EVENTS: TableDefinition = TableDefinition {
    logical_id: "EventsTable",
    partition_key: KeyAttribute { name: event_item::ORDER_ID, attribute_type: AttributeType::String },
    sort_key: Some(KeyAttribute { name: event_item::VERSION, attribute_type: AttributeType::Number }),
    new_image_stream: true,
};

/// Stock per SKU and reservation records per order, under one `pk`.
pub const INVENTORY: TableDefinition = TableDefinition {
    logical_id: "InventoryTable",
    partition_key: KeyAttribute { name: "pk", attribute_type: AttributeType::String },
    sort_key: None,
    new_image_stream: false,
};

/// One pick request per `orderId`.
pub const FULFILLMENT: TableDefinition = TableDefinition {
    logical_id: "FulfillmentTable",
    partition_key: KeyAttribute { name: "orderId", attribute_type: AttributeType::String },
    sort_key: None,
    new_image_stream: false,
};

/// One catalog item per `sku` (title, price, purchase limit).
pub const CATALOG: TableDefinition = TableDefinition {
    logical_id: "CatalogTable",
    partition_key: KeyAttribute { name: "sku", attribute_type: AttributeType::String },
    sort_key: None,
    new_image_stream: false,
};

/// Every table of the template.
pub const ALL: [TableDefinition; 4] = [EVENTS, INVENTORY, FULFILLMENT, CATALOG];

#[cfg(feature = "create")]
pub use create::{
    create_catalog_table, create_events_table, create_fulfillment_table, create_inventory_table, create_table,
};

#[cfg(feature = "create")]
mod create {
    use aws_error::AwsError;
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, StreamSpecification,
        StreamViewType,
    };
    use aws_sdk_dynamodb::Client;

    use super::{AttributeType, TableDefinition, CATALOG, EVENTS, FULFILLMENT, INVENTORY};

    /// The events table, named `table`.
    pub async fn create_events_table(client: &Client, table: &str) -> Result<(), AwsError> {
        create_table(client, &EVENTS, table).await
    }

    /// The inventory table, named `table`.
    pub async fn create_inventory_table(client: &Client, table: &str) -> Result<(), AwsError> {
        create_table(client, &INVENTORY, table).await
    }

    /// The fulfillment table, named `table`.
    pub async fn create_fulfillment_table(client: &Client, table: &str) -> Result<(), AwsError> {
        create_table(client, &FULFILLMENT, table).await
    }

    /// The catalog table, named `table`.
    pub async fn create_catalog_table(client: &Client, table: &str) -> Result<(), AwsError> {
        create_table(client, &CATALOG, table).await
    }

    /// Creates `table` as `definition` declares it, on demand billing; a
    /// table that already exists is left as it is, so provisioning can run
    /// again.
    pub async fn create_table(client: &Client, definition: &TableDefinition, table: &str) -> Result<(), AwsError> {
        let mut request = client.create_table().table_name(table).billing_mode(BillingMode::PayPerRequest);
        let key_types = [KeyType::Hash, KeyType::Range];
        for (key, key_type) in definition.key_attributes().zip(key_types) {
            let attribute_type = match key.attribute_type {
                AttributeType::String => ScalarAttributeType::S,
                AttributeType::Number => ScalarAttributeType::N,
            };
            request = request
                .key_schema(
                    KeySchemaElement::builder().attribute_name(key.name).key_type(key_type).build().expect("complete"),
                )
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name(key.name)
                        .attribute_type(attribute_type)
                        .build()
                        .expect("complete"),
                );
        }
        let stream = definition.new_image_stream.then(|| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewImage)
                .build()
                .expect("complete")
        });
        match request.set_stream_specification(stream).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => Ok(()),
            Err(e) => Err(AwsError::new("CreateTable", e)),
        }
    }
}
