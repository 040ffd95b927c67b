//! Telling SQS when each failed message comes back: one
//! `ChangeMessageVisibilityBatch` per queue of the batch, with the receipt
//! handles Lambda (or the local poller) received them with.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry;
use aws_sdk_sqs::Client;

use crate::Retry;

/// SQS's limit of entries per batch request.
const MAX_ENTRIES: usize = 10;

/// Sets failed messages' visibility through the SQS API.
#[derive(Clone, Debug)]
pub struct VisibilityClient {
    client: Client,
    /// The one queue every message comes from; `None`: each message's
    /// queue URL is derived from its record's `eventSourceARN`.
    queue_url: Option<String>,
}

impl VisibilityClient {
    /// Each message's queue from its `eventSourceARN` (a function fed by
    /// several queues: both inventory lanes).
    pub fn new(client: Client) -> Self {
        VisibilityClient { client, queue_url: None }
    }

    /// Every message from the queue at `queue_url` (the local poller's,
    /// whose URL is not the one an ARN derives to).
    pub fn for_queue(client: Client, queue_url: impl Into<String>) -> Self {
        VisibilityClient { client, queue_url: Some(queue_url.into()) }
    }

    /// Sets each retry's visibility. A message whose change fails is logged
    /// and comes back after the queue's own visibility timeout: sooner than
    /// asked, never lost.
    pub async fn set(&self, retries: &[Retry]) {
        let mut by_queue: BTreeMap<String, Vec<&Retry>> = BTreeMap::new();
        for retry in retries {
            let url = match (&self.queue_url, retry.queue_arn.as_deref().map(queue_url_of)) {
                (Some(url), _) => url.clone(),
                (None, Some(Ok(url))) => url,
                (None, Some(Err(arn))) => {
                    tracing::warn!(message_id = %retry.message_id, %arn, "eventSourceARN is not an SQS queue ARN; visibility left as it is");
                    continue;
                }
                (None, None) => {
                    tracing::warn!(message_id = %retry.message_id, "no eventSourceARN; visibility left as it is");
                    continue;
                }
            };
            by_queue.entry(url).or_default().push(retry);
        }
        for (url, retries) in by_queue {
            for chunk in retries.chunks(MAX_ENTRIES) {
                self.set_chunk(&url, chunk).await;
            }
        }
    }

    async fn set_chunk(&self, queue_url: &str, retries: &[&Retry]) {
        let entries: Vec<_> = retries
            .iter()
            .enumerate()
            .filter_map(|(i, retry)| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(retry.receipt_handle.as_deref()?)
                    .visibility_timeout(visibility_seconds(retry.visibility))
                    .build()
                    .ok()
            })
            .collect();
        if entries.is_empty() {
            return;
        }
        match self.client.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await
        {
            Ok(output) => {
                for failure in output.failed() {
                    let message_id =
                        failure.id().parse::<usize>().ok().and_then(|i| retries.get(i)).map(|r| &r.message_id);
                    tracing::warn!(%queue_url, ?message_id, code = failure.code(), "visibility not changed; the queue's timeout applies");
                }
            }
            Err(error) => {
                tracing::warn!(%queue_url, error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "visibility not changed; the queue's timeout applies")
            }
        }
    }
}

/// A visibility in SQS's unit: whole seconds, rounded up so that a
/// transient failure is never made visible at once.
fn visibility_seconds(visibility: Duration) -> i32 {
    let seconds = visibility.as_secs() + u64::from(visibility.subsec_nanos() > 0);
    i32::try_from(seconds).unwrap_or(i32::MAX)
}

/// The queue URL an SQS queue ARN names (`arn:aws:sqs:<region>:<account>:<name>`
/// is `https://sqs.<region>.<domain>/<account>/<name>`); the ARN back when
/// it names no SQS queue.
pub fn queue_url_of(arn: &str) -> Result<String, String> {
    match arn.split(':').collect::<Vec<_>>()[..] {
        ["arn", partition, "sqs", region, account, name]
            if [partition, region, account, name].iter().all(|part| !part.is_empty()) =>
        {
            let domain = if partition == "aws-cn" { "amazonaws.com.cn" } else { "amazonaws.com" };
            Ok(format!("https://sqs.{region}.{domain}/{account}/{name}"))
        }
        _ => Err(arn.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_visibility_is_whole_seconds_rounded_up() {
        assert_eq!(visibility_seconds(Duration::ZERO), 0, "poison: visible at once");
        assert_eq!(visibility_seconds(Duration::from_millis(300)), 1);
        assert_eq!(visibility_seconds(Duration::from_millis(1200)), 2);
        assert_eq!(visibility_seconds(Duration::from_secs(900)), 900);
    }

    #[test]
    fn the_queue_url_is_derived_from_the_event_source_arn() {
        assert_eq!(
            queue_url_of("arn:aws:sqs:eu-west-1:123456789012:orders-inventory-hot").as_deref(),
            Ok("https://sqs.eu-west-1.amazonaws.com/123456789012/orders-inventory-hot")
        );
        assert_eq!(
            queue_url_of("arn:aws-cn:sqs:cn-north-1:123456789012:q").as_deref(),
            Ok("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q")
        );
        for not_a_queue in
            ["", "arn:aws:sns:eu-west-1:123456789012:topic", "arn:aws:sqs:eu-west-1::q", "arn:aws:sqs:r:a:q:x"]
        {
            assert_eq!(queue_url_of(not_a_queue), Err(not_a_queue.to_owned()));
        }
    }
}
