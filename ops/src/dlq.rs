//! `orders dlq list|show|redrive`: the stack's dead-letter queues.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use aws_sdk_sqs::Client;
use domain::Envelope;
use serde::Serialize;

use crate::stack::{queue_name, Error};

fn sqs_error<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &str,
    e: aws_sdk_sqs::error::SdkError<E, R>,
) -> Error {
    format!("{operation}: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)).into()
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DlqSummary {
    pub name: String,
    pub url: String,
    /// Visible messages (ApproximateNumberOfMessages).
    pub depth: u64,
    /// Received and not yet deleted or back (ApproximateNumberOfMessagesNotVisible).
    pub in_flight: u64,
    /// Age of the oldest message seen by a peek at up to 100 messages; `None` when empty.
    pub oldest_age_seconds: Option<u64>,
    /// The queues whose redrive policy names this one.
    pub sources: Vec<String>,
}

pub async fn summary(sqs: &Client, url: &str) -> Result<DlqSummary, Error> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(|e| sqs_error("GetQueueAttributes", e))?
        .attributes
        .unwrap_or_default();
    let number = |name: QueueAttributeName| attributes.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
    let depth = number(QueueAttributeName::ApproximateNumberOfMessages);
    let oldest = if depth > 0 { peek(sqs, url, 100).await?.iter().filter_map(sent_at_millis).min() } else { None };
    let now = chrono::Utc::now().timestamp_millis();
    Ok(DlqSummary {
        name: queue_name(url).to_owned(),
        url: url.to_owned(),
        depth,
        in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        oldest_age_seconds: oldest.map(|sent| u64::try_from((now - sent).max(0) / 1000).unwrap_or(0)),
        sources: source_queues(sqs, url).await?,
    })
}

pub async fn source_queues(sqs: &Client, url: &str) -> Result<Vec<String>, Error> {
    let out = sqs
        .list_dead_letter_source_queues()
        .queue_url(url)
        .send()
        .await
        .map_err(|e| sqs_error("ListDeadLetterSourceQueues", e))?;
    Ok(out.queue_urls().to_vec())
}

fn sent_at_millis(message: &Message) -> Option<i64> {
    message.attributes()?.get(&MessageSystemAttributeName::SentTimestamp)?.parse().ok()
}

/// Up to `limit` messages, each once, without taking them: they are
/// received with a short visibility timeout and made visible again at once.
pub async fn peek(sqs: &Client, url: &str, limit: usize) -> Result<Vec<Message>, Error> {
    let mut seen = HashSet::new();
    let mut messages = Vec::new();
    let mut handles = Vec::new();
    let mut empty_rounds = 0;
    while messages.len() < limit && empty_rounds < 2 {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages((limit - messages.len()).min(10) as i32)
            .visibility_timeout(30)
            .wait_time_seconds(0)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sqs_error("ReceiveMessage", e))?;
        let received = out.messages.unwrap_or_default();
        let mut new = 0;
        for message in received {
            handles.push(message.receipt_handle().unwrap_or_default().to_owned());
            if seen.insert(message.message_id().unwrap_or_default().to_owned()) {
                messages.push(message);
                new += 1;
            }
        }
        if new == 0 {
            empty_rounds += 1;
        }
    }
    for chunk in handles.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, handle)| {
                aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .expect("id and handle are set")
            })
            .collect();
        sqs.change_message_visibility_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sqs_error("ChangeMessageVisibilityBatch", e))?;
    }
    Ok(messages)
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    pub message_id: String,
    pub sent_at: Option<String>,
    pub receive_count: Option<u64>,
    pub event_type: Option<String>,
    pub order_id: Option<String>,
    pub version: Option<u32>,
    pub event_id: Option<String>,
    /// Why it failed, where that is known.
    pub reason: String,
    pub attributes: HashMap<String, String>,
    pub body: String,
}

pub fn decode(message: &Message) -> DeadLetter {
    let body = message.body().unwrap_or_default().to_owned();
    let envelope = Envelope::from_json(&body);
    let system = |name: MessageSystemAttributeName| message.attributes().and_then(|a| a.get(&name)).cloned();
    let source = system(MessageSystemAttributeName::DeadLetterQueueSourceArn);
    let reason = match &envelope {
        Err(error) => format!("poison: {error}"),
        Ok(_) => format!(
            "not recorded by SQS: a readable event that its consumer failed {} times{} (its log names message {})",
            system(MessageSystemAttributeName::ApproximateReceiveCount).unwrap_or_else(|| "several".into()),
            source.map(|s| format!(" on {}", s.rsplit(':').next().unwrap_or(&s))).unwrap_or_default(),
            message.message_id().unwrap_or_default()
        ),
    };
    let envelope = envelope.ok();
    DeadLetter {
        message_id: message.message_id().unwrap_or_default().to_owned(),
        sent_at: sent_at_millis(message)
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        receive_count: system(MessageSystemAttributeName::ApproximateReceiveCount).and_then(|c| c.parse().ok()),
        event_type: envelope.as_ref().map(|e| e.event_type().as_str().to_owned()),
        order_id: envelope.as_ref().map(|e| e.order_id.to_string()),
        version: envelope.as_ref().map(|e| e.version),
        event_id: envelope.as_ref().map(|e| e.event_id.to_string()),
        reason,
        attributes: message
            .message_attributes()
            .map(|a| a.iter().map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default(),
        body,
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    pub from: String,
    pub to: String,
    /// `message-move-task` (SQS's own) or `receive-send-delete`.
    pub method: String,
    pub moved: u64,
    /// Sent to the source queue but not deleted from the DLQ (they will show there again): duplicates, not losses.
    pub not_deleted: u64,
}

/// The DLQ's only source queue, or the one named.
pub async fn redrive_target(sqs: &Client, dlq_url: &str, to: Option<&str>) -> Result<String, Error> {
    if let Some(to) = to {
        return crate::stack::queue_url(sqs, to).await;
    }
    match source_queues(sqs, dlq_url).await?.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("no queue names {} as its dead-letter queue: pass --to <queue>", queue_name(dlq_url)).into()),
        many => Err(format!("several queues use {} ({many:?}): pass --to <queue>", queue_name(dlq_url)).into()),
    }
}

async fn queue_arn(sqs: &Client, url: &str) -> Result<String, Error> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| sqs_error("GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| format!("queue {url} has no ARN").into())
}

/// Moves up to `limit` messages (all without a limit) back to `to`. SQS's
/// message-move task when there is no limit and the endpoint has it;
/// otherwise receive, send, and only then delete, so an interruption leaves
/// a duplicate at worst, never a loss.
pub async fn redrive(
    sqs: &Client,
    dlq_url: &str,
    to_url: &str,
    limit: Option<u64>,
    bar: &indicatif::ProgressBar,
) -> Result<RedriveReport, Error> {
    let mut report = RedriveReport {
        from: dlq_url.to_owned(),
        to: to_url.to_owned(),
        method: "receive-send-delete".into(),
        moved: 0,
        not_deleted: 0,
    };
    if limit.is_none() {
        if let Some(moved) = move_task(sqs, dlq_url, to_url, bar).await? {
            report.method = "message-move-task".into();
            report.moved = moved;
            return Ok(report);
        }
    }
    let limit = limit.unwrap_or(u64::MAX);
    let mut empty_rounds = 0;
    while report.moved < limit && empty_rounds < 2 {
        let out = sqs
            .receive_message()
            .queue_url(dlq_url)
            .max_number_of_messages((limit - report.moved).min(10) as i32)
            .visibility_timeout(60)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| sqs_error("ReceiveMessage", e))?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            empty_rounds += 1;
            continue;
        }
        empty_rounds = 0;
        let entries = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(m.body().unwrap_or_default())
                    .set_message_attributes(m.message_attributes().cloned())
                    .build()
                    .expect("id and body are set")
            })
            .collect();
        let sent = sqs
            .send_message_batch()
            .queue_url(to_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| sqs_error("SendMessageBatch", e))?;
        // Only what the source queue took is deleted; the rest shows again in the DLQ.
        let deletes: Vec<_> = sent
            .successful()
            .iter()
            .filter_map(|s| s.id().parse::<usize>().ok())
            .map(|i| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(messages[i].receipt_handle().unwrap_or_default())
                    .build()
                    .expect("id and handle are set")
            })
            .collect();
        let sent_count = sent.successful().len() as u64;
        if sent_count == 0 {
            return Err(format!(
                "the source queue refused every message: {:?}",
                sent.failed().iter().map(|f| f.code()).collect::<Vec<_>>()
            )
            .into());
        }
        let deleted = sqs
            .delete_message_batch()
            .queue_url(dlq_url)
            .set_entries(Some(deletes))
            .send()
            .await
            .map_err(|e| sqs_error("DeleteMessageBatch", e))?;
        report.moved += sent_count;
        report.not_deleted += deleted.failed().len() as u64;
        bar.inc(sent_count);
    }
    Ok(report)
}

/// SQS's StartMessageMoveTask, followed to its end; `None` when the endpoint
/// does not offer it (moto, at the time of writing).
async fn move_task(
    sqs: &Client,
    dlq_url: &str,
    to_url: &str,
    bar: &indicatif::ProgressBar,
) -> Result<Option<u64>, Error> {
    let (source_arn, destination_arn) = (queue_arn(sqs, dlq_url).await?, queue_arn(sqs, to_url).await?);
    let started = sqs.start_message_move_task().source_arn(&source_arn).destination_arn(&destination_arn).send().await;
    let handle = match started {
        Ok(out) => out.task_handle.unwrap_or_default(),
        Err(e) => {
            tracing::info!(error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "no message-move task here; moving message by message");
            return Ok(None);
        }
    };
    tracing::info!(%handle, "message-move task started");
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let tasks = sqs
            .list_message_move_tasks()
            .source_arn(&source_arn)
            .max_results(1)
            .send()
            .await
            .map_err(|e| sqs_error("ListMessageMoveTasks", e))?;
        let Some(task) = tasks.results().first() else { continue };
        if let Some(total) = task.approximate_number_of_messages_to_move() {
            bar.set_length(total as u64);
        }
        bar.set_position(task.approximate_number_of_messages_moved() as u64);
        match task.status() {
            Some("COMPLETED") => return Ok(Some(task.approximate_number_of_messages_moved() as u64)),
            Some("FAILED") | Some("CANCELLED") => {
                return Err(format!(
                    "message-move task {}: {}",
                    task.status().unwrap_or_default(),
                    task.failure_reason().unwrap_or("no reason given")
                )
                .into())
            }
            _ => {}
        }
    }
}
