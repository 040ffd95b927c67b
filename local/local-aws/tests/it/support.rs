//! Shared by local-aws's tests: clients for the local stack and the sample
//! payloads of `events/`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use aws_lambda_events::event::dynamodb::Event;
use aws_sdk_sqs::types::Message;
use contract::event_item::EventItem;
use contract::{MessageAttribute, OutgoingMessage};

/// A Lambda payload from the repository's `events/` directory.
pub fn sample_event(file: &str) -> Event {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events").join(file);
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Clients for the local stack, failing with instructions when it is not up.
pub struct LocalStack {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl LocalStack {
    pub async fn connect() -> Self {
        testkit::local_stack_config("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").await;
        testkit::local_stack_config("AWS_ENDPOINT_URL_SNS").await;
        let sqs = testkit::local_stack_config("AWS_ENDPOINT_URL_SQS").await;
        let config = testkit::dynamodb_config().await;
        LocalStack {
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            streams: aws_sdk_dynamodbstreams::Client::new(&config),
            sns: aws_sdk_sns::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&sqs),
        }
    }

    /// A new events table (stream NEW_IMAGE) and its stream ARN.
    pub async fn events_table(&self) -> (String, String) {
        let table = testkit::unique_name("publisher-events");
        contract::tables::create_events_table(&self.dynamodb, &table).await.unwrap();
        let stream_arn = local_aws::stream::latest_stream_arn(&self.streams, &table).await.unwrap();
        (table, stream_arn)
    }

    pub async fn topic(&self) -> String {
        let name = testkit::unique_name("order-events");
        self.sns.create_topic().name(name).send().await.unwrap().topic_arn.unwrap()
    }

    /// A queue subscribed to `topic_arn` with raw message delivery and,
    /// if given, a filter policy; returns the queue URL.
    pub async fn subscribed_queue(&self, topic_arn: &str, filter_policy: Option<&str>) -> String {
        let name = testkit::unique_name("subscriber");
        let queue_url = self.sqs.create_queue().queue_name(name).send().await.unwrap().queue_url.unwrap();
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes.unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        let mut subscribe = self
            .sns
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .attributes("RawMessageDelivery", "true");
        if let Some(policy) = filter_policy {
            subscribe = subscribe.attributes("FilterPolicy", policy);
        }
        subscribe.send().await.unwrap();
        queue_url
    }

    /// Everything the queue holds now (received and deleted), waiting up
    /// to a second for late arrivals.
    pub async fn drain_queue(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        testkit::sqs::drain(&self.sqs, queue_url).await
    }

    /// The `envelope` attribute of every event item of the table, by eventId.
    pub async fn stored_envelopes(&self, table: &str) -> HashMap<String, String> {
        let output = self.dynamodb.scan().table_name(table).consistent_read(true).send().await.unwrap();
        assert!(output.last_evaluated_key.is_none(), "test tables fit one scan page");
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                let item: EventItem = serde_dynamo::from_item(item).unwrap();
                (item.event_id, item.envelope)
            })
            .collect()
    }
}

/// The message as the topic had it, rebuilt from what SQS delivered.
pub fn as_published(message: &Message) -> OutgoingMessage {
    let attributes: BTreeMap<String, MessageAttribute> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let text = value.string_value().unwrap().to_owned();
            let attribute = match value.data_type() {
                "String" => MessageAttribute::String(text),
                "Number" => MessageAttribute::Number(text),
                "String.Array" => MessageAttribute::StringArray(serde_json::from_str(&text).unwrap()),
                other => panic!("unexpected attribute type {other}"),
            };
            (name.clone(), attribute)
        })
        .collect();
    OutgoingMessage { body: message.body().unwrap().to_owned(), attributes }
}
