//! The queue poller against moto's SQS (`scripts/local-stack up`): good
//! messages are applied and deleted, a poison message is retried and ends
//! in the dead-letter queue through the queue's redrive policy; the `lane`
//! message attribute reaches the projection; a poller asked for one message
//! at a time gets one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};
use aws_sdk_sqs::Client;
use chrono::{TimeZone, Utc};
use domain::event::OrderConfirmed;
use domain::{Envelope, Lane, OrderEvent, OrderId};
use local_aws::poller::QueuePoller;
use sqs_consumer::{Delivery, Failed, Projection};

/// Records what it is given and accepts it all.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Envelope>>,
    lanes: Mutex<Vec<(uuid::Uuid, Option<Lane>)>>,
}

#[async_trait]
impl Projection for Recorder {
    async fn apply(&self, batch: Vec<Delivery>) -> Vec<Failed> {
        self.lanes.lock().unwrap().extend(batch.iter().map(|d| (d.envelope.event_id, d.lane)));
        self.seen.lock().unwrap().extend(batch.into_iter().map(|d| d.envelope));
        Vec::new()
    }
}

fn envelope() -> Envelope {
    Envelope {
        event_id: uuid::Uuid::new_v4(),
        order_id: OrderId(uuid::Uuid::new_v4()),
        version: 2,
        occurred_at: Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap(),
        correlation_id: "poller-test".into(),
        causation_id: "poller-test".into(),
        traceparent: None,
        event: OrderEvent::Confirmed(OrderConfirmed {}),
    }
}

async fn queue_with_dlq(client: &Client, name: &str) -> (String, String) {
    let dlq_url = client.create_queue().queue_name(format!("{name}-dlq")).send().await.unwrap().queue_url.unwrap();
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&QueueAttributeName::QueueArn)
        .unwrap();
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}"#);
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (url, dlq_url)
}

/// A client of moto's SQS and a new queue (its URL and its DLQ's).
async fn client_and_queue(prefix: &str) -> (Client, String, String) {
    let client = Client::new(&testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await);
    let (url, dlq_url) = queue_with_dlq(&client, &testkit::unique_name(prefix)).await;
    (client, url, dlq_url)
}

#[tokio::test]
async fn good_messages_are_deleted_and_poison_reaches_the_dlq() {
    let (client, url, dlq_url) = client_and_queue("poller").await;
    let (first, second) = (envelope(), envelope());
    for body in [first.to_json(), "not an envelope".to_owned(), second.to_json()] {
        client.send_message().queue_url(&url).message_body(body).send().await.unwrap();
    }

    let poller = QueuePoller::new(client.clone(), &url).await.unwrap().with_visibility_timeout(1).with_wait_seconds(0);
    let recorder = Recorder::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut dead = Vec::new();
    while dead.is_empty() {
        assert!(Instant::now() < deadline, "the poison message never reached the DLQ");
        poller.poll_once(&recorder).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let received = client.receive_message().queue_url(&dlq_url).send().await.unwrap();
        dead = received.messages.unwrap_or_default();
    }
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("not an envelope"));
    let mut seen: Vec<_> = recorder.seen.lock().unwrap().iter().map(|e| e.event_id).collect();
    seen.sort();
    let mut sent = vec![first.event_id, second.event_id];
    sent.sort();
    assert_eq!(seen, sent, "each good message applied once, then deleted");
    let left = poller.poll_once(&recorder).await.unwrap();
    assert_eq!(left.received, 0, "nothing left in the queue");
}

#[tokio::test]
async fn the_lane_attribute_reaches_the_projection() {
    let (client, url, _) = client_and_queue("poller-lane").await;
    let (hot, unlaned) = (envelope(), envelope());
    let lane = MessageAttributeValue::builder().data_type("String").string_value(Lane::Hot.as_str()).build().unwrap();
    client
        .send_message()
        .queue_url(&url)
        .message_body(hot.to_json())
        .message_attributes(contract::message::LANE, lane)
        .send()
        .await
        .unwrap();
    client.send_message().queue_url(&url).message_body(unlaned.to_json()).send().await.unwrap();

    let poller = QueuePoller::new(client.clone(), &url).await.unwrap().with_wait_seconds(1);
    let recorder = Recorder::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.lanes.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "the messages never arrived");
        poller.poll_once(&recorder).await.unwrap();
    }
    let mut lanes = recorder.lanes.into_inner().unwrap();
    lanes.sort();
    let mut expected = vec![(hot.event_id, Some(Lane::Hot)), (unlaned.event_id, None)];
    expected.sort();
    assert_eq!(lanes, expected);
}

#[tokio::test]
async fn a_poller_of_one_message_at_a_time_hands_on_batches_of_one() {
    let (client, url, _) = client_and_queue("poller-one").await;
    for _ in 0..3 {
        client.send_message().queue_url(&url).message_body(envelope().to_json()).send().await.unwrap();
    }
    let poller = QueuePoller::new(client.clone(), &url).await.unwrap().with_wait_seconds(1).with_max_messages(1);
    let recorder = Recorder::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    while recorder.seen.lock().unwrap().len() < 3 {
        assert!(Instant::now() < deadline, "the messages never arrived");
        let outcome = poller.poll_once(&recorder).await.unwrap();
        assert!(outcome.received <= 1, "a receive of {} messages", outcome.received);
    }
}
