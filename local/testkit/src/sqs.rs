//! Reading what a queue of the local stack holds.

use aws_sdk_sqs::types::{Message, QueueAttributeName};
use aws_sdk_sqs::Client;

/// A client of the local stack's SQS (moto).
pub async fn client() -> Client {
    Client::new(&crate::local_stack_config("AWS_ENDPOINT_URL_SQS").await)
}

/// A new queue named `name` that dead-letters to `{name}-dlq` after
/// `max_receive_count` receives; its URL and its DLQ's.
pub async fn queue_with_dlq(sqs: &Client, name: &str, max_receive_count: u32) -> (String, String) {
    let dlq_url = sqs.create_queue().queue_name(format!("{name}-dlq")).send().await.expect("create the DLQ").queue_url;
    let dlq_url = dlq_url.expect("a created queue has a URL");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("read the DLQ's ARN")
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .expect("a queue has an ARN");
    let redrive = format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"{max_receive_count}"}}"#);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .expect("create the queue")
        .queue_url
        .expect("a created queue has a URL");
    (url, dlq_url)
}

/// Sends each body; answers the message ids, in order.
pub async fn send_all(sqs: &Client, queue_url: &str, bodies: &[String]) -> Vec<String> {
    let mut ids = Vec::with_capacity(bodies.len());
    for body in bodies {
        let sent = sqs.send_message().queue_url(queue_url).message_body(body).send().await.expect("send");
        ids.push(sent.message_id.expect("a sent message has an id"));
    }
    ids
}

/// Messages in the queue, visible or not.
pub async fn messages_held(sqs: &Client, queue_url: &str) -> u64 {
    let names =
        [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible];
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .set_attribute_names(Some(names.to_vec()))
        .send()
        .await
        .expect("read the queue's counts")
        .attributes
        .unwrap_or_default();
    names.iter().map(|n| attributes.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)).sum()
}

/// Everything the queue holds now, received and deleted (with its message
/// attributes), waiting up to a second for late arrivals.
pub async fn drain(sqs: &Client, queue_url: &str) -> Vec<Message> {
    let mut messages = Vec::new();
    loop {
        let output = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive from the queue");
        let batch = output.messages.unwrap_or_default();
        if batch.is_empty() {
            return messages;
        }
        for message in &batch {
            let receipt = message.receipt_handle().expect("a received message has a receipt handle");
            sqs.delete_message().queue_url(queue_url).receipt_handle(receipt).send().await.expect("delete");
        }
        messages.extend(batch);
    }
}
