//! `orders show` and `orders events` on the golden events
//! (`events/golden/`), the items as older builds stored them: the order as
//! recorded, its events as the API serves them (upcast), and the table
//! saying which were upcast.

use testkit::golden::histories;

use super::cli::Stack;

#[tokio::test]
async fn show_and_events_read_every_golden_history() {
    let stack = Stack::connect().await;
    let table = testkit::unique_name("ops-golden");
    contract::tables::create_events_table(&stack.dynamodb, &table).await.unwrap();
    for history in histories() {
        history.put_items(&stack.dynamodb, &table).await;
        let id = history.order_id.to_string();

        let shown = stack.orders_with(&["--events-table", &table, "--json", "show", &id], &[]).json();
        assert_eq!(shown, serde_json::to_value(&history.state).unwrap(), "{}", history.name);

        let events = stack.orders_with(&["--events-table", &table, "--json", "events", &id], &[]).json();
        assert_eq!(events["events"], serde_json::to_value(history.envelopes()).unwrap(), "{}", history.name);

        let listed = stack.orders_with(&["--events-table", &table, "events", &id], &[]);
        assert_eq!(listed.code, 0, "{}", listed.stderr);
        // Below the header and its rule: version, type, schema, …
        let rows: Vec<Vec<&str>> = listed
            .stdout
            .lines()
            .skip(2)
            .map(|row| row.split("  ").map(str::trim).filter(|cell| !cell.is_empty()).collect())
            .collect();
        assert_eq!(rows.len(), history.events.len(), "{}", listed.stdout);
        for (row, golden) in rows.iter().zip(&history.events) {
            let current = golden.event_type.schema_version();
            let schema = match golden.schema_version {
                written if written == current => written.to_string(),
                written => format!("{written} → {current}"),
            };
            assert_eq!(row[1..3], [golden.event_type.as_str(), schema.as_str()], "{}", listed.stdout);
        }
    }
}
