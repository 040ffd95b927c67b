//! Stream records to SNS against moto: the publisher (`PublishBatch`, at most
//! 10 entries a request) vs the naive publisher (one `Publish` per record),
//! on the same stream batches, in the same run, alternating per round.
//!
//! The records are the events of DESIGN.md's workload (PlaceOrder with two
//! lines, ConfirmOrder, ShipOrder per order) as the events table's stream
//! delivers them. The topic has one raw-delivery SQS subscriber; after each
//! batch (outside the timing) the queue is drained and must hold every
//! record of the batch exactly once. Draining per batch also keeps moto's
//! queue short: moto's SNS-to-SQS delivery slows down linearly with the
//! number of messages waiting in the queue, which would otherwise dominate.
//!
//! Then the SNS cost of the previous-version window: the publisher on
//! orders that are placed and rejected (half the events OrderRejected, the
//! type bumped to schemaVersion 2), with the window closed and open (each
//! OrderRejected also sent at version 1), alternating per round.

use contract::event_item::EventItem;
use std::error::Error;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use chrono::SubsecRound;
use chrono::Utc;
use contract::OutgoingMessage;
use domain::event::{OrderConfirmed, OrderPlaced, OrderRejected, OrderShipped, UnavailableLine};
use domain::upcast::SchemaVersions;
use domain::{Currency, CustomerId, Envelope, OrderEvent, OrderId, OrderLine, Sku};
use publisher::decode::{decode_record, StreamItem};
use publisher::sns::sdk_attributes;
use publisher::{publish_stream_batch, PreviousVersionWindow, SnsPublisher};

#[derive(clap::Args)]
pub struct Args {
    /// Stream records per round.
    #[arg(long, default_value_t = 1000)]
    records: usize,
    /// Records per stream batch (the event source mapping's BatchSize).
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Rounds of each method; figures are medians over rounds.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

pub async fn run(args: Args) -> Result<(), Box<dyn Error>> {
    for variable in ["AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL_SQS"] {
        if std::env::var_os(variable).is_none() {
            return Err(format!(
                "{variable} is not set: run `scripts/local-stack up && eval \"$(scripts/local-stack env)\"` first"
            )
            .into());
        }
    }
    let config = aws_config::load_from_env().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic_arn = sns
        .create_topic()
        .name(format!("bench-order-events-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await?
        .topic_arn
        .ok_or("CreateTopic returned no ARN")?;
    let name = format!("bench-subscriber-{}", uuid::Uuid::new_v4().simple());
    let queue_url = subscribed_queue(&sns, &sqs, &topic_arn, &name, None).await.map_err(|e| e as Box<dyn Error>)?;
    let batches = stream_batches(args.records, args.batch_size, Workload::Fulfilled);
    let rejections = stream_batches(args.records, args.batch_size, Workload::Rejected);
    let publisher = SnsPublisher::new(sns.clone(), &topic_arn);
    let open = PreviousVersionWindow::until(Utc::now() + chrono::Duration::days(1));

    let subscriber = Subscriber { sqs: sqs.clone(), queue_url: queue_url.clone() };
    let mut batched = Vec::new();
    let mut naive = Vec::new();
    let (mut window_closed, mut window_open) = (Vec::new(), Vec::new());
    for _ in 0..args.rounds {
        batched.push(run_publisher(&publisher, PreviousVersionWindow::CLOSED, &batches, &subscriber).await?);
        naive.push(run_naive(&sns, &topic_arn, &batches, &subscriber).await?);
        window_closed.push(run_publisher(&publisher, PreviousVersionWindow::CLOSED, &rejections, &subscriber).await?);
        window_open.push(run_publisher(&publisher, open, &rejections, &subscriber).await?);
    }
    sns.delete_topic().topic_arn(&topic_arn).send().await?;
    sqs.delete_queue().queue_url(&queue_url).send().await?;

    let batched = Summary::of(&batched);
    let naive = Summary::of(&naive);
    println!(
        "Publisher benchmark: {} stream records in batches of {} against moto SNS (one raw SQS subscriber), {} rounds each, medians\n",
        args.records, args.batch_size, args.rounds
    );
    println!("| method | SNS requests per batch | records/s | batch p50 | batch p99 |");
    println!("|---|---:|---:|---:|---:|");
    for (name, summary) in [("publisher (PublishBatch)", &batched), ("naive (one Publish per record)", &naive)] {
        println!(
            "| {name} | {:.1} | {:.0} | {:.1} ms | {:.1} ms |",
            summary.requests_per_batch, summary.records_per_second, summary.batch_p50_ms, summary.batch_p99_ms
        );
    }
    println!(
        "\nRatio publisher/naive: {:.1}x records/s, {:.2}x SNS requests.",
        batched.records_per_second / naive.records_per_second,
        batched.requests_per_batch / naive.requests_per_batch
    );

    let (closed, open) = (Summary::of(&window_closed), Summary::of(&window_open));
    println!(
        "\nPrevious-version window: the same {} records as placed-then-rejected orders (half of them OrderRejected, at schemaVersion 2), medians\n",
        args.records
    );
    println!("| publisher | messages per record | SNS requests per batch | records/s | batch p50 | batch p99 |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, summary) in [("window closed", &closed), ("window open (OrderRejected also at 1)", &open)] {
        println!(
            "| {name} | {:.2} | {:.1} | {:.0} | {:.1} ms | {:.1} ms |",
            summary.messages_per_record,
            summary.requests_per_batch,
            summary.records_per_second,
            summary.batch_p50_ms,
            summary.batch_p99_ms
        );
    }
    println!(
        "\nThe open window: {:.2}x the SNS requests (each under 64 KiB: one billed request apiece), {:.2}x the records/s.",
        open.requests_per_batch / closed.requests_per_batch,
        open.records_per_second / closed.records_per_second
    );
    Ok(())
}

/// One round of one method.
#[derive(Default)]
struct Round {
    /// Time spent publishing (the batches' latencies added up).
    elapsed: Duration,
    records: usize,
    /// Messages the topic accepted.
    messages: usize,
    requests: usize,
    batch_latencies: Vec<Duration>,
}

struct Summary {
    messages_per_record: f64,
    requests_per_batch: f64,
    records_per_second: f64,
    batch_p50_ms: f64,
    batch_p99_ms: f64,
}

impl Summary {
    fn of(rounds: &[Round]) -> Summary {
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        let percentile = |round: &Round, p: f64| {
            let mut latencies = round.batch_latencies.clone();
            latencies.sort();
            let index = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
            latencies[index].as_secs_f64() * 1000.0
        };
        Summary {
            messages_per_record: median(rounds.iter().map(|r| r.messages as f64 / r.records as f64).collect()),
            requests_per_batch: median(
                rounds.iter().map(|r| r.requests as f64 / r.batch_latencies.len() as f64).collect(),
            ),
            records_per_second: median(rounds.iter().map(|r| r.records as f64 / r.elapsed.as_secs_f64()).collect()),
            batch_p50_ms: median(rounds.iter().map(|r| percentile(r, 0.50)).collect()),
            batch_p99_ms: median(rounds.iter().map(|r| percentile(r, 0.99)).collect()),
        }
    }
}

async fn run_publisher(
    publisher: &SnsPublisher,
    window: PreviousVersionWindow,
    batches: &[Event],
    subscriber: &Subscriber,
) -> Result<Round, Box<dyn Error>> {
    let mut round = Round::default();
    for batch in batches {
        let started = Instant::now();
        let report = publish_stream_batch(publisher, window, batch.clone(), None).await;
        round.add_batch(started.elapsed());
        if let Some(failed) = report.first_failed {
            return Err(format!("the publisher failed at record {failed}").into());
        }
        round.records += report.published;
        round.messages += report.messages;
        round.requests += report.requests;
        subscriber.expect_delivered(expected_messages(batch, window)?).await?;
    }
    Ok(round)
}

/// A batch's records, and in the window a second message for each event of
/// a bumped type.
fn expected_messages(batch: &Event, window: PreviousVersionWindow) -> Result<usize, Box<dyn Error>> {
    let mut expected = 0;
    for record in &batch.records {
        let StreamItem::Event(event) = decode_record(record, SchemaVersions::current())? else { continue };
        let event_type = event.envelope.event_type();
        let bumped = domain::upcast::downcaster_exists(event_type, event_type.schema_version());
        expected += if bumped && window.is_open(Utc::now()) { 2 } else { 1 };
    }
    Ok(expected)
}

/// The baseline: the same records decoded the same way, each sent with its
/// own `Publish` through the bare SDK.
async fn run_naive(
    sns: &aws_sdk_sns::Client,
    topic_arn: &str,
    batches: &[Event],
    subscriber: &Subscriber,
) -> Result<Round, Box<dyn Error>> {
    let mut round = Round::default();
    for batch in batches {
        let started = Instant::now();
        for record in &batch.records {
            let StreamItem::Event(event) = decode_record(record, SchemaVersions::current())? else { continue };
            let message =
                OutgoingMessage::from_stored(&event.envelope, event.stored_json, event.stored_version, event.lane);
            sns.publish()
                .topic_arn(topic_arn)
                .message(&message.body)
                .set_message_attributes(Some(sdk_attributes(&message)))
                .send()
                .await?;
            round.requests += 1;
            round.records += 1;
            round.messages += 1;
        }
        round.add_batch(started.elapsed());
        subscriber.expect_delivered(batch.records.len()).await?;
    }
    Ok(round)
}

impl Round {
    fn add_batch(&mut self, latency: Duration) {
        self.elapsed += latency;
        self.batch_latencies.push(latency);
    }
}

/// A new queue `queue_name`, subscribed to `topic_arn` with raw delivery
/// (and `filter_policy`, if any): its URL.
pub(crate) async fn subscribed_queue(
    sns: &aws_sdk_sns::Client,
    sqs: &aws_sdk_sqs::Client,
    topic_arn: &str,
    queue_name: &str,
    filter_policy: Option<&str>,
) -> Result<String, Box<dyn Error + Send + Sync>> {
    let queue_url =
        sqs.create_queue().queue_name(queue_name).send().await?.queue_url.ok_or("CreateQueue returned no URL")?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or("the queue has no ARN")?;
    let subscribe = sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn);
    let subscribe = subscribe.attributes("RawMessageDelivery", "true");
    match filter_policy {
        Some(policy) => subscribe.attributes("FilterPolicy", policy),
        None => subscribe,
    }
    .send()
    .await?;
    Ok(queue_url)
}

/// The topic's raw-delivery SQS subscriber.
struct Subscriber {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Subscriber {
    /// Receives (and deletes) everything in the queue; fails unless it is
    /// exactly `expected` messages with distinct bodies.
    async fn expect_delivered(&self, expected: usize) -> Result<(), Box<dyn Error>> {
        let mut bodies = std::collections::HashSet::new();
        let mut received = 0;
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(if received < expected { 1 } else { 0 })
                .send()
                .await?;
            let messages = output.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut delete = self.sqs.delete_message_batch().queue_url(&self.queue_url);
            for (i, message) in messages.iter().enumerate() {
                received += 1;
                bodies.insert(message.body().unwrap_or_default().to_owned());
                delete = delete.entries(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(message.receipt_handle().unwrap_or_default())
                        .build()?,
                );
            }
            delete.send().await?;
        }
        if received != expected || bodies.len() != expected {
            let distinct = bodies.len();
            return Err(format!("expected {expected} distinct deliveries, got {received} ({distinct} distinct)").into());
        }
        Ok(())
    }
}

/// What each order of a stream does.
#[derive(Clone, Copy)]
enum Workload {
    /// DESIGN.md's workload: placed, confirmed, shipped.
    Fulfilled,
    /// Placed, then rejected short of stock (a sale's losers).
    Rejected,
}

/// `records` events of `workload` as stream batches of `batch_size`.
fn stream_batches(records: usize, batch_size: usize, workload: Workload) -> Vec<Event> {
    let mut envelopes = Vec::with_capacity(records);
    while envelopes.len() < records {
        let order_id = OrderId(uuid::Uuid::new_v4());
        let line = |sku: &str, unit_price_cents| OrderLine {
            sku: Sku::parse(sku).expect("valid"),
            quantity: 1,
            unit_price_cents,
        };
        let placed = OrderEvent::Placed(OrderPlaced {
            customer_id: CustomerId::parse("bench-customer").expect("valid"),
            basket_id: None,
            currency: Currency::parse("EUR").expect("valid"),
            lines: vec![line("muskie-casting-rod", 24900), line("braided-line-30lb", 1999)],
            total_cents: 26899,
        });
        let events = match workload {
            Workload::Fulfilled => vec![
                placed,
                OrderEvent::Confirmed(OrderConfirmed {}),
                OrderEvent::Shipped(OrderShipped { tracking_number: Some("1Z999AA10123456784".into()) }),
            ],
            Workload::Rejected => {
                let short = UnavailableLine {
                    sku: Sku::parse("muskie-casting-rod").expect("valid"),
                    requested: 1,
                    available: 0,
                };
                vec![
                    placed,
                    OrderEvent::Rejected(OrderRejected {
                        reason: "insufficient stock".into(),
                        shortages: vec![short.into()],
                    }),
                ]
            }
        };
        for (event, version) in events.into_iter().zip(1..) {
            envelopes.push(Envelope {
                event_id: uuid::Uuid::new_v4(),
                order_id,
                version,
                occurred_at: chrono::Utc::now().trunc_subsecs(3),
                correlation_id: format!("bench-{order_id}"),
                causation_id: uuid::Uuid::new_v4().to_string(),
                traceparent: None,
                event,
            });
        }
    }
    envelopes.truncate(records);
    let records: Vec<EventRecord> =
        envelopes.iter().enumerate().map(|(i, envelope)| stream_record(envelope, i)).collect();
    records
        .chunks(batch_size)
        .map(|chunk| {
            let mut event = Event::default();
            event.records = chunk.to_vec();
            event
        })
        .collect()
}

/// The stream record of the event store's INSERT of `envelope`.
fn stream_record(envelope: &Envelope, position: usize) -> EventRecord {
    let order_id = envelope.order_id.to_string();
    let version = envelope.version.to_string();
    serde_json::from_value(serde_json::json!({
        "eventID": format!("bench-{position}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"orderId": {"S": order_id}, "version": {"N": version}},
            "NewImage": serde_dynamo::to_item::<_, serde_dynamo::Item>(EventItem::new(envelope)).expect("an item"),
            "SequenceNumber": format!("{}", 100_000_000 + position),
            "SizeBytes": 400,
            "StreamViewType": "NEW_IMAGE",
        },
    }))
    .expect("a valid stream record")
}
