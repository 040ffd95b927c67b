//! Reading what a queue of the local stack holds.

use aws_sdk_sqs::types::Message;
use aws_sdk_sqs::Client;

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
