//! `orders show`, `orders events` and `orders republish --schema-version`
//! on the golden events (`events/golden/`), the items as older builds
//! stored them: the order as recorded, its events as the API serves them
//! (upcast), the table saying which were upcast, and a backfill at either
//! version of OrderRejected.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_sqs::types::Message;
use chrono::{Duration, Utc};
use publisher::{publish_stream_batch, PreviousVersionWindow, SnsPublisher};
use testkit::golden::{histories, stream_event};

use super::cli::{attributes, Stack};

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

/// `orders republish --schema-version N` sends a queue exactly what a
/// subscription filtering `schemaVersion: [N]` gets from the publisher
/// during the previous-version window, for events stored at any version:
/// the same events, bodies and attributes.
#[tokio::test]
async fn republish_at_either_version_sends_what_a_subscription_of_that_version_gets() {
    let stack = Stack::connect().await;
    let table = testkit::unique_name("ops-golden");
    contract::tables::create_events_table(&stack.dynamodb, &table).await.unwrap();
    let histories = histories();
    for history in &histories {
        history.put_items(&stack.dynamodb, &table).await;
    }

    let topic =
        stack.sns.create_topic().name(testkit::unique_name("ops-topic")).send().await.unwrap().topic_arn.unwrap();
    let mut subscribed = Vec::new();
    for version in [1, 2] {
        let queue = stack.queue(&testkit::unique_name(&format!("ops-v{version}")), HashMap::new()).await;
        stack
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(stack.arn(&queue).await)
            .attributes("RawMessageDelivery", "true")
            .attributes("FilterPolicy", format!(r#"{{"schemaVersion":[{version}]}}"#))
            .send()
            .await
            .unwrap();
        subscribed.push((version, queue));
    }
    let open = PreviousVersionWindow::until(Utc::now() + Duration::days(1));
    let stream = stream_event(histories.iter().flat_map(|h| &h.events));
    let report = publish_stream_batch(&SnsPublisher::new(stack.sns.clone(), &topic), open, stream, None).await;
    assert_eq!(report.first_failed, None);

    for (version, queue) in subscribed {
        let from_topic = by_event(stack.drain(&queue).await);
        assert!(!from_topic.is_empty());
        let backfilled = stack.queue(&testkit::unique_name(&format!("ops-backfill-v{version}")), HashMap::new()).await;
        let args = ["--events-table", &table, "--json", "republish", "--to-queue", &backfilled, "--schema-version"];
        let run = stack.orders_with(&[&args[..], &[version.to_string().as_str()]].concat(), &[]).json();
        assert_eq!(run["sent"], from_topic.len(), "schemaVersion {version}");
        assert_eq!(by_event(stack.drain(&backfilled).await), from_topic, "schemaVersion {version}");
    }
}

/// eventId → (body, attributes) of each message.
type ByEvent = BTreeMap<String, (String, BTreeMap<String, (String, String)>)>;

fn by_event(messages: Vec<Message>) -> ByEvent {
    messages
        .iter()
        .map(|m| {
            let body: serde_json::Value = serde_json::from_str(m.body().unwrap()).unwrap();
            (body["eventId"].as_str().unwrap().to_owned(), (m.body().unwrap().to_owned(), attributes(m)))
        })
        .collect()
}
