//! Drives a [`Projection`] from a real SQS queue the way Lambda's event
//! source mapping does, for the local runner on the local stack:
//! `ReceiveMessage` (up to 10, with their message attributes and receive
//! counts), the same Lambda [`SqsEvent`] payload into the same handler body
//! as the Lambdas' ([`sqs_consumer::retries`], then each failed message's
//! visibility set by its backoff), `DeleteMessageBatch` for every message
//! not failed. Failed messages stay in the queue and come back when their
//! visibility ends, until the queue's redrive policy moves them to its
//! dead-letter queue.

use std::future::Future;
use std::time::Duration;

use aws_error::AwsError;
use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
};
use aws_sdk_sqs::Client;

use sqs_consumer::{retries, Backoff, Failure, Projection, VisibilityClient};

/// SQS's limit per receive, and Lambda's default batch size.
const MAX_MESSAGES: i32 = 10;
/// How long to wait after a failed poll before the next.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum PollError {
    #[error(transparent)]
    Sqs(#[from] AwsError),
}

fn sqs_error<E, R>(operation: &'static str) -> impl FnOnce(SdkError<E, R>) -> PollError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| PollError::Sqs(AwsError::new(operation, e))
}

/// What one poll did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollOutcome {
    pub received: usize,
    /// Left in the queue for redelivery.
    pub failed: usize,
    /// Each message received, in receive order.
    pub receipts: Vec<Receipt>,
}

/// One receive of one message and what came of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub message_id: String,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
    /// `None`: applied and deleted.
    pub failure: Option<Failure>,
}

pub struct QueuePoller {
    client: Client,
    queue_url: String,
    queue_arn: String,
    wait_seconds: i32,
    max_messages: i32,
    visibility_timeout: Option<i32>,
    backoff: Backoff,
    visibility: VisibilityClient,
}

impl QueuePoller {
    /// A poller of the queue at `queue_url` (its ARN is looked up once, for
    /// the records' `eventSourceARN`). Long polls of 1 s.
    pub async fn new(client: Client, queue_url: impl Into<String>) -> Result<Self, PollError> {
        let queue_url = queue_url.into();
        let attributes = client
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sqs_error("GetQueueAttributes"))?;
        let queue_arn =
            attributes.attributes().and_then(|a| a.get(&QueueAttributeName::QueueArn)).cloned().unwrap_or_default();
        let visibility = VisibilityClient::for_queue(client.clone(), &queue_url);
        Ok(QueuePoller {
            client,
            queue_url,
            queue_arn,
            wait_seconds: 1,
            max_messages: MAX_MESSAGES,
            visibility_timeout: None,
            backoff: Backoff::default(),
            visibility,
        })
    }

    /// Seconds a received message stays hidden, overriding the queue's:
    /// how soon a failed message is retried.
    pub fn with_visibility_timeout(mut self, seconds: i32) -> Self {
        self.visibility_timeout = Some(seconds);
        self
    }

    /// The schedule a transiently failed message backs off on (the
    /// Lambdas' [`Backoff::default`] unless a test scales it down).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Seconds a receive waits for messages when the queue is empty (0–20).
    pub fn with_wait_seconds(mut self, seconds: i32) -> Self {
        self.wait_seconds = seconds;
        self
    }

    /// Messages a receive asks for, hence the most a batch holds (1 to 10,
    /// clamped): an event source mapping's `BatchSize` below 10. The cost
    /// benchmark's naive design takes one at a time.
    pub fn with_max_messages(mut self, messages: i32) -> Self {
        self.max_messages = messages.clamp(1, MAX_MESSAGES);
        self
    }

    /// One receive, one batch through `projection`, one delete of the successes.
    pub async fn poll_once(&self, projection: &dyn Projection) -> Result<PollOutcome, PollError> {
        let received = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(self.max_messages)
            .wait_time_seconds(self.wait_seconds)
            .set_visibility_timeout(self.visibility_timeout)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(sqs_error("ReceiveMessage"))?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(PollOutcome::default());
        }
        let region = self.client.config().region().map(|r| r.to_string());
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|m| {
                let mut record = SqsMessage::default();
                record.message_id = m.message_id.clone();
                record.receipt_handle = m.receipt_handle.clone();
                record.body = m.body.clone();
                record.md5_of_body = m.md5_of_body.clone();
                record.attributes = m
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), v.clone())).collect())
                    .unwrap_or_default();
                record.message_attributes = m
                    .message_attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.clone(), lambda_attribute(v))).collect())
                    .unwrap_or_default();
                record.event_source = Some("aws:sqs".to_owned());
                record.event_source_arn = Some(self.queue_arn.clone());
                record.aws_region = region.clone();
                record
            })
            .collect();
        let retries = retries(projection, event, &self.backoff).await;
        self.visibility.set(&retries).await;
        let failed: Vec<&str> = retries.iter().map(|r| r.message_id.as_str()).collect();
        let receipts = messages
            .iter()
            .map(|m| {
                let message_id = m.message_id().unwrap_or_default();
                let receive_count = m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|count| count.parse().ok())
                    .unwrap_or(1);
                let failure = retries.iter().find(|r| r.message_id == message_id).map(|r| r.failure);
                Receipt { message_id: message_id.to_owned(), receive_count, failure }
            })
            .collect();
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
            .enumerate()
            .filter_map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle()?)
                    .build()
                    .ok()
            })
            .collect();
        if !done.is_empty() {
            let deleted = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(done))
                .send()
                .await
                .map_err(sqs_error("DeleteMessageBatch"))?;
            for failure in deleted.failed() {
                // Not deleted means delivered again: harmless to an idempotent consumer.
                tracing::warn!(queue_url = %self.queue_url, code = failure.code(), "message processed but not deleted");
            }
        }
        Ok(PollOutcome { received: messages.len(), failed: failed.len(), receipts })
    }

    /// Polls for `duration`; answers every receipt, in order.
    pub async fn poll_for(&self, projection: &dyn Projection, duration: Duration) -> Result<Vec<Receipt>, PollError> {
        let until = tokio::time::Instant::now() + duration;
        let mut receipts = Vec::new();
        while tokio::time::Instant::now() < until {
            receipts.extend(self.poll_once(projection).await?.receipts);
        }
        Ok(receipts)
    }

    /// Polls until `shutdown` completes. A failed poll is logged and retried.
    pub async fn run(&self, projection: &dyn Projection, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                result = self.poll_once(projection) => {
                    if let Err(error) = result {
                        tracing::error!(queue_url = %self.queue_url, %error, "polling the queue failed");
                        tokio::time::sleep(ERROR_PAUSE).await;
                    }
                }
            }
        }
    }
}

/// A message attribute as Lambda's SQS event carries it (the platform's
/// are all strings; binary values have no use here and are left out).
fn lambda_attribute(value: &MessageAttributeValue) -> SqsMessageAttribute {
    let mut attribute = SqsMessageAttribute::default();
    attribute.string_value = value.string_value.clone();
    attribute.data_type = Some(value.data_type.clone());
    attribute
}
