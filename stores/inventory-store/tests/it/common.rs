//! Fixtures shared by the inventory store tests.

use contract::tables::create_inventory_table;
use domain::Sku;
use inventory_store::DynamoInventoryStore;

pub fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

/// A store on a new table of DynamoDB Local (`scripts/local-stack up`).
pub async fn dynamodb_store() -> DynamoInventoryStore {
    let config = testkit::dynamodb_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = testkit::unique_name("inventory");
    create_inventory_table(&client, &table).await.unwrap();
    DynamoInventoryStore::new(client, table)
}
