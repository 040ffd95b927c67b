//! [`EventPublisher`] over SNS `PublishBatch`.

use async_trait::async_trait;
use aws_error::AwsError;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use aws_sdk_sns::Client;

use contract::message::OutgoingMessage;
use contract::publish::{BatchEntry, EntryFailure, EntryOutcome, EventPublisher, PublishError};

/// The header SNS reads the X-Ray trace context from; with active tracing on
/// the topic it passes it on to subscribers (SQS: the `AWSTraceHeader`
/// message system attribute). SNS has no per-entry system attribute for it.
const TRACE_HEADER: &str = "x-amzn-trace-id";

#[derive(Clone, Debug)]
pub struct SnsPublisher {
    client: Client,
    topic_arn: String,
}

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        SnsPublisher { client, topic_arn: topic_arn.into() }
    }
}

/// The SDK form of one message's attributes.
pub fn sdk_attributes(message: &OutgoingMessage) -> std::collections::HashMap<String, MessageAttributeValue> {
    message
        .attributes
        .iter()
        .map(|(name, value)| {
            let value = MessageAttributeValue::builder()
                .data_type(value.data_type())
                .string_value(value.string_value())
                .build()
                .expect("data type is set");
            (name.clone(), value)
        })
        .collect()
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish_batch(&self, entries: &[BatchEntry]) -> Result<Vec<EntryOutcome>, PublishError> {
        let request_entries = entries
            .iter()
            .map(|entry| {
                PublishBatchRequestEntry::builder()
                    .id(&entry.id)
                    .message(&entry.message.body)
                    .set_message_attributes(Some(sdk_attributes(&entry.message)))
                    .build()
                    .expect("id and message are set")
            })
            .collect();
        let mut request = self
            .client
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(request_entries))
            .customize();
        // One invocation, one trace: every entry of a request shares it.
        if let Some(trace_header) = entries.iter().find_map(|e| e.trace_header.clone()) {
            request = request.mutate_request(move |http| {
                http.headers_mut().insert(TRACE_HEADER, trace_header.clone());
            });
        }
        let output =
            request.send().await.map_err(|e| PublishError::Request(Box::new(AwsError::new("PublishBatch", e))))?;
        Ok(entries
            .iter()
            .map(|entry| {
                if let Some(ok) = output.successful().iter().find(|s| s.id() == Some(entry.id.as_str())) {
                    return Ok(ok.message_id().unwrap_or_default().to_owned());
                }
                match output.failed().iter().find(|f| f.id() == entry.id) {
                    Some(failed) => Err(EntryFailure {
                        code: failed.code().to_owned(),
                        message: failed.message().unwrap_or_default().to_owned(),
                        sender_fault: failed.sender_fault(),
                    }),
                    // Neither published nor refused: count it as not published,
                    // so it is retried rather than lost.
                    None => Err(EntryFailure {
                        code: "MissingFromResponse".to_owned(),
                        message: "PublishBatch answered neither success nor failure for this entry".to_owned(),
                        sender_fault: false,
                    }),
                }
            })
            .collect())
    }
}
