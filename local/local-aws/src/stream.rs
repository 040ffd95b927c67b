//! A DynamoDB stream read the way a Lambda event source mapping reads it,
//! for the local runner and the tests: shards in lineage order (a parent to
//! its end before its children), batches of records turned into the very
//! Lambda event payload the handler gets in AWS, and on a reported failure a
//! retry from the failed record, never past it.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_error::AwsError;
use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord, UserIdentity};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::operation::get_records::GetRecordsError;
use aws_sdk_dynamodbstreams::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    /// Everything the stream still holds (the event source mapping's choice in `template.yaml`).
    TrimHorizon,
    /// Only what is written from now on.
    Latest,
}

#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Where to start in the shards that exist when reading begins; shards
    /// that appear later are always read from their start.
    pub start: StartingPosition,
    /// Records per handler call, like the mapping's `BatchSize` (1–1000).
    pub batch_size: i32,
    /// Pause after catching up with the stream.
    pub poll_interval: Duration,
    /// Pause before retrying a failed batch or a failed read.
    pub retry_delay: Duration,
    /// A file remembering, per shard, the last sequence number handed on
    /// successfully: a reader started again resumes after it instead of
    /// at `start`. No file: `start` (deleting it replays the stream).
    pub checkpoint: Option<PathBuf>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            start: StartingPosition::TrimHorizon,
            batch_size: 100,
            poll_interval: Duration::from_millis(250),
            retry_delay: Duration::from_secs(1),
            checkpoint: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(transparent)]
    Request(#[from] AwsError),
    #[error("table {0} has no stream")]
    NoStream(String),
}

fn request_error<E, R>(operation: &'static str, error: SdkError<E, R>) -> StreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StreamError::Request(AwsError::new(operation, error))
}

/// What one [`StreamReader::drain_once`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DrainReport {
    /// Handler calls.
    pub batches: usize,
    /// Records handed to the handler, retried ones counted again.
    pub records: usize,
    /// Handler calls that reported a failed record.
    pub failed_batches: usize,
}

/// The reader's checkpoint file: per shard of one stream, the sequence
/// number of the last record a handler took. Written (to a temporary file,
/// then renamed) after every batch handed on, so a reader killed at any
/// point resumes after the last batch it finished: the batch in flight is
/// handed on again (at least once), none is skipped. A checkpoint of
/// another stream (the table was created again) is ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub stream_arn: String,
    /// Shard id → last sequence number handed on.
    pub shards: BTreeMap<String, String>,
}

impl Checkpoint {
    /// The checkpoint of `stream_arn` in `path`; empty when there is none.
    pub fn load(path: &Path, stream_arn: &str) -> Checkpoint {
        let empty = Checkpoint { stream_arn: stream_arn.to_owned(), shards: BTreeMap::new() };
        match std::fs::read_to_string(path) {
            Ok(text) => match serde_json::from_str::<Checkpoint>(&text) {
                Ok(found) if found.stream_arn == stream_arn => found,
                Ok(found) => {
                    tracing::warn!(path = %path.display(), old = %found.stream_arn, "checkpoint of another stream ignored");
                    empty
                }
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "unreadable checkpoint ignored");
                    empty
                }
            },
            Err(_) => empty,
        }
    }

    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).expect("a checkpoint always serializes"))?;
        std::fs::rename(tmp, path)
    }
}

/// Where reading a shard resumes when it has no live iterator.
#[derive(Clone, Debug)]
enum Resume {
    Start(ShardIteratorType),
    /// Retry from a record the handler reported as failed.
    At(String),
    /// Go on after the last record the handler took.
    After(String),
}

#[derive(Debug)]
struct ShardState {
    id: String,
    parent: Option<String>,
    resume: Resume,
    iterator: Option<String>,
    finished: bool,
}

enum ShardOutcome {
    CaughtUp,
    Finished,
    Failed,
}

pub struct StreamReader {
    client: Client,
    stream_arn: String,
    options: StreamOptions,
    /// In discovery order, which is DescribeStream's (oldest first).
    shards: Vec<ShardState>,
    discovered: bool,
    /// Loaded from [`StreamOptions::checkpoint`], if set.
    checkpoint: Option<Checkpoint>,
}

impl StreamReader {
    pub fn new(client: Client, stream_arn: impl Into<String>, options: StreamOptions) -> Self {
        let stream_arn = stream_arn.into();
        let checkpoint = options.checkpoint.as_deref().map(|path| Checkpoint::load(path, &stream_arn));
        StreamReader { client, stream_arn, options, shards: Vec::new(), discovered: false, checkpoint }
    }

    /// Remembers that the handler took `shard`'s records up to `sequence_number`.
    fn record_checkpoint(&mut self, shard: &str, sequence_number: &str) {
        let (Some(path), Some(checkpoint)) = (self.options.checkpoint.as_deref(), self.checkpoint.as_mut()) else {
            return;
        };
        checkpoint.shards.insert(shard.to_owned(), sequence_number.to_owned());
        if let Err(error) = checkpoint.save(path) {
            tracing::warn!(path = %path.display(), %error, "cannot write the stream checkpoint");
        }
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    /// Reads every shard up to what the stream holds now, handing batches
    /// to `handler`. A shard whose batch reports a failure stops there for
    /// this call (its children wait too); the next call retries from the
    /// failed record.
    pub async fn drain_once<F, Fut>(&mut self, handler: &F) -> Result<DrainReport, StreamError>
    where
        F: Fn(Event) -> Fut,
        Fut: Future<Output = DynamoDbEventResponse>,
    {
        self.discover_shards().await?;
        let mut report = DrainReport::default();
        let mut failed: HashSet<String> = HashSet::new();
        loop {
            let mut finished_one = false;
            for index in self.readable_shards(&failed) {
                match self.read_shard(index, handler, &mut report).await? {
                    ShardOutcome::Finished => finished_one = true,
                    ShardOutcome::Failed => {
                        failed.insert(self.shards[index].id.clone());
                    }
                    ShardOutcome::CaughtUp => {}
                }
            }
            // A finished parent lets its children go: read again.
            if !finished_one {
                return Ok(report);
            }
        }
    }

    /// Shards to read now: not finished, not failed in this pass, and
    /// whose parent (if the stream still lists it) is read to its end.
    fn readable_shards(&self, failed: &HashSet<String>) -> Vec<usize> {
        (0..self.shards.len())
            .filter(|&i| {
                let shard = &self.shards[i];
                !shard.finished && !failed.contains(&shard.id) && self.parent_finished(shard)
            })
            .collect()
    }

    fn parent_finished(&self, shard: &ShardState) -> bool {
        match &shard.parent {
            None => true,
            // A parent the stream no longer lists was trimmed: nothing to wait for.
            Some(parent) => self.shards.iter().find(|s| &s.id == parent).is_none_or(|s| s.finished),
        }
    }

    async fn discover_shards(&mut self) -> Result<(), StreamError> {
        let mut exclusive_start = None;
        loop {
            let output = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(exclusive_start)
                .send()
                .await
                .map_err(|e| request_error("DescribeStream", e))?;
            let Some(description) = output.stream_description else { return Ok(()) };
            for shard in description.shards.unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                if self.shards.iter().any(|s| s.id == id) {
                    continue;
                }
                let closed = shard.sequence_number_range.as_ref().is_some_and(|r| r.ending_sequence_number.is_some());
                let checkpointed = self.checkpoint.as_ref().and_then(|c| c.shards.get(&id)).cloned();
                let (resume, finished) = match (checkpointed, self.discovered, self.options.start) {
                    (Some(sequence_number), _, _) => (Resume::After(sequence_number), false),
                    (None, false, StartingPosition::Latest) => (Resume::Start(ShardIteratorType::Latest), closed),
                    _ => (Resume::Start(ShardIteratorType::TrimHorizon), false),
                };
                tracing::debug!(shard_id = %id, parent = ?shard.parent_shard_id, "stream shard found");
                self.shards.push(ShardState { id, parent: shard.parent_shard_id, resume, iterator: None, finished });
            }
            match description.last_evaluated_shard_id {
                Some(last) => exclusive_start = Some(last),
                None => break,
            }
        }
        self.discovered = true;
        Ok(())
    }

    async fn read_shard<F, Fut>(
        &mut self,
        index: usize,
        handler: &F,
        report: &mut DrainReport,
    ) -> Result<ShardOutcome, StreamError>
    where
        F: Fn(Event) -> Fut,
        Fut: Future<Output = DynamoDbEventResponse>,
    {
        loop {
            let iterator = match self.shards[index].iterator.take() {
                Some(iterator) => iterator,
                None => match self.shard_iterator(index).await? {
                    Some(iterator) => iterator,
                    None => {
                        self.shards[index].finished = true;
                        return Ok(ShardOutcome::Finished);
                    }
                },
            };
            let output = match self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(self.options.batch_size)
                .send()
                .await
            {
                Ok(output) => output,
                Err(error) => match error.as_service_error() {
                    // Iterators live 15 minutes: take a new one where we were.
                    Some(GetRecordsError::ExpiredIteratorException(_)) => continue,
                    Some(GetRecordsError::TrimmedDataAccessException(_)) => {
                        tracing::warn!(shard_id = %self.shards[index].id, "stream records were trimmed before they were read");
                        self.shards[index].resume = Resume::Start(ShardIteratorType::TrimHorizon);
                        continue;
                    }
                    _ => return Err(request_error("GetRecords", error)),
                },
            };
            let records = output.records.unwrap_or_default();
            let next_iterator = output.next_shard_iterator;
            let shard = &mut self.shards[index];
            if records.is_empty() {
                return Ok(match next_iterator {
                    Some(iterator) => {
                        shard.iterator = Some(iterator);
                        ShardOutcome::CaughtUp
                    }
                    None => {
                        shard.finished = true;
                        ShardOutcome::Finished
                    }
                });
            }
            let sequence_numbers: Vec<String> = records
                .iter()
                .map(|r| r.dynamodb.as_ref().and_then(|d| d.sequence_number.clone()).unwrap_or_default())
                .collect();
            let mut event = Event::default();
            event.records = records.into_iter().map(|r| lambda_record(r, &self.stream_arn)).collect();
            report.batches += 1;
            report.records += sequence_numbers.len();
            let response = handler(event).await;
            let shard = &mut self.shards[index];
            if let Some(failure) = response.batch_item_failures.first() {
                report.failed_batches += 1;
                let failed = failure.item_identifier.clone().unwrap_or_default();
                // Like the event source mapping: an identifier that names no
                // record of the batch retries the whole batch.
                if sequence_numbers.contains(&failed) {
                    shard.resume = Resume::At(failed.clone());
                }
                tracing::warn!(shard_id = %shard.id, failed_sequence_number = %failed, "batch failed; retrying from the failed record");
                return Ok(ShardOutcome::Failed);
            }
            let last = sequence_numbers.last().cloned().unwrap_or_default();
            shard.resume = Resume::After(last.clone());
            let shard_id = shard.id.clone();
            self.record_checkpoint(&shard_id, &last);
            let shard = &mut self.shards[index];
            match next_iterator {
                Some(iterator) => shard.iterator = Some(iterator),
                None => {
                    shard.finished = true;
                    return Ok(ShardOutcome::Finished);
                }
            }
        }
    }

    /// A fresh iterator at the shard's resume point; `None` when the shard
    /// is gone (expired after the stream's 24 hours).
    async fn shard_iterator(&mut self, index: usize) -> Result<Option<String>, StreamError> {
        let shard = &self.shards[index];
        let request = self.client.get_shard_iterator().stream_arn(&self.stream_arn).shard_id(&shard.id);
        let request = match &shard.resume {
            Resume::Start(position) => request.shard_iterator_type(position.clone()),
            Resume::At(sequence_number) => {
                request.shard_iterator_type(ShardIteratorType::AtSequenceNumber).sequence_number(sequence_number)
            }
            Resume::After(sequence_number) => {
                request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(sequence_number)
            }
        };
        match request.send().await {
            Ok(output) => Ok(output.shard_iterator),
            Err(error)
                if matches!(error.as_service_error(), Some(GetShardIteratorError::ResourceNotFoundException(_))) =>
            {
                tracing::warn!(shard_id = %shard.id, "stream shard is gone");
                Ok(None)
            }
            Err(error)
                if matches!(error.as_service_error(), Some(GetShardIteratorError::TrimmedDataAccessException(_))) =>
            {
                tracing::warn!(shard_id = %shard.id, code = ?error.code(), "resume point was trimmed; reading from the oldest record");
                self.shards[index].resume = Resume::Start(ShardIteratorType::TrimHorizon);
                Box::pin(self.shard_iterator(index)).await
            }
            Err(error) => Err(request_error("GetShardIterator", error)),
        }
    }
}

/// The ARN of the table's current stream (the newest, if it was re-enabled).
pub async fn latest_stream_arn(client: &Client, table: &str) -> Result<String, StreamError> {
    let output = client.list_streams().table_name(table).send().await.map_err(|e| request_error("ListStreams", e))?;
    output
        .streams
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| Some((s.stream_label?, s.stream_arn?)))
        .max()
        .map(|(_, arn)| arn)
        .ok_or_else(|| StreamError::NoStream(table.to_owned()))
}

/// Reads the stream like [`StreamReader::drain_once`], over and over, until
/// `shutdown` completes. Failed batches are retried from the failed record
/// after [`StreamOptions::retry_delay`]; read errors are logged and retried.
pub async fn run_stream<F, Fut>(
    client: Client,
    stream_arn: String,
    options: StreamOptions,
    handler: F,
    shutdown: impl Future<Output = ()>,
) where
    F: Fn(Event) -> Fut,
    Fut: Future<Output = DynamoDbEventResponse>,
{
    let mut reader = StreamReader::new(client, stream_arn, options.clone());
    tokio::pin!(shutdown);
    loop {
        let pause = match reader.drain_once(&handler).await {
            Ok(report) if report.failed_batches > 0 => options.retry_delay,
            Ok(_) => options.poll_interval,
            Err(error) => {
                tracing::warn!(%error, stream_arn = %reader.stream_arn(), "reading the stream failed; retrying");
                options.retry_delay
            }
        };
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// The record as Lambda hands it to the function.
pub fn lambda_record(record: Record, stream_arn: &str) -> EventRecord {
    let mut change = StreamRecord::default();
    if let Some(stream_record) = record.dynamodb {
        if let Some(created) = stream_record.approximate_creation_date_time {
            change.approximate_creation_date_time =
                chrono::DateTime::from_timestamp(created.secs(), created.subsec_nanos()).unwrap_or_default();
        }
        change.keys = stream_record.keys.unwrap_or_default().into();
        change.new_image = stream_record.new_image.unwrap_or_default().into();
        change.old_image = stream_record.old_image.unwrap_or_default().into();
        change.sequence_number = stream_record.sequence_number;
        change.size_bytes = stream_record.size_bytes.unwrap_or_default();
        // The Lambda type spells the view type the way the API does.
        change.stream_view_type = stream_record
            .stream_view_type
            .and_then(|t| serde_json::from_value(serde_json::Value::String(t.as_str().to_owned())).ok());
    }
    let mut lambda = EventRecord::default();
    lambda.aws_region = record.aws_region.unwrap_or_default();
    lambda.change = change;
    lambda.event_id = record.event_id.unwrap_or_default();
    lambda.event_name = record.event_name.map(|n| n.as_str().to_owned()).unwrap_or_default();
    lambda.event_source = record.event_source;
    lambda.event_version = record.event_version;
    lambda.event_source_arn = Some(stream_arn.to_owned());
    lambda.user_identity = record.user_identity.map(|identity| {
        let mut user = UserIdentity::default();
        user.type_ = identity.r#type.unwrap_or_default();
        user.principal_id = identity.principal_id.unwrap_or_default();
        user
    });
    lambda
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodbstreams::primitives::DateTime;
    use aws_sdk_dynamodbstreams::types::{AttributeValue, Identity, OperationType, StreamViewType};

    use super::*;
    use domain::upcast::SchemaVersions;
    use publisher::decode::{decode_record, StreamItem};

    fn reader_with(shards: &[(&str, Option<&str>, bool)]) -> StreamReader {
        let config = aws_sdk_dynamodbstreams::Config::builder()
            .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
            .build();
        let mut reader = StreamReader::new(Client::from_conf(config), "arn:stream", StreamOptions::default());
        reader.shards = shards
            .iter()
            .map(|(id, parent, finished)| ShardState {
                id: (*id).to_owned(),
                parent: parent.map(str::to_owned),
                resume: Resume::Start(ShardIteratorType::TrimHorizon),
                iterator: None,
                finished: *finished,
            })
            .collect();
        reader
    }

    #[test]
    fn a_checkpoint_reads_back_only_for_its_own_stream() {
        let path = std::env::temp_dir().join(format!("checkpoint-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        assert_eq!(Checkpoint::load(&path, "arn:a").shards.len(), 0, "no file: start afresh");
        let mut checkpoint = Checkpoint::load(&path, "arn:a");
        checkpoint.shards.insert("shard-1".into(), "400".into());
        checkpoint.save(&path).unwrap();
        assert_eq!(Checkpoint::load(&path, "arn:a"), checkpoint);
        assert!(Checkpoint::load(&path, "arn:b").shards.is_empty(), "another stream's checkpoint is ignored");
        std::fs::write(&path, "not json").unwrap();
        assert!(Checkpoint::load(&path, "arn:a").shards.is_empty(), "an unreadable one too");
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_child_shard_waits_until_its_parent_is_read_to_its_end() {
        let mut reader = reader_with(&[("parent", None, false), ("child", Some("parent"), false)]);
        assert_eq!(reader.readable_shards(&HashSet::new()), [0]);
        reader.shards[0].finished = true;
        assert_eq!(reader.readable_shards(&HashSet::new()), [1]);
    }

    #[test]
    fn a_trimmed_parent_does_not_hold_its_child_back() {
        let reader = reader_with(&[("child", Some("trimmed-parent"), false)]);
        assert_eq!(reader.readable_shards(&HashSet::new()), [0]);
    }

    #[test]
    fn a_shard_that_failed_in_this_pass_and_its_children_wait_for_the_next() {
        let reader = reader_with(&[("a", None, false), ("b", None, false), ("a-child", Some("a"), false)]);
        assert_eq!(reader.readable_shards(&HashSet::from(["a".to_owned()])), [1]);
    }

    #[test]
    fn stream_records_become_the_lambda_payload_the_handler_reads() {
        let envelope = r#"{"eventId":"0193b0a4-8a01-7c44-9f22-5d6e7f8091a2","eventType":"OrderConfirmed","schemaVersion":1,"orderId":"8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01","version":2,"occurredAt":"2026-11-27T09:00:01.002Z","correlationId":"c","causationId":"e","data":{}}"#;
        let s = |v: &str| AttributeValue::S(v.to_owned());
        let change = aws_sdk_dynamodbstreams::types::StreamRecord::builder()
            .approximate_creation_date_time(DateTime::from_secs(1_795_770_000))
            .keys("orderId", s("8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01"))
            .keys("version", AttributeValue::N("2".into()))
            .new_image("orderId", s("8c0e5a52-3c0b-4c53-9d6e-6f1f2a8b9c01"))
            .new_image("version", AttributeValue::N("2".into()))
            .new_image("kind", s("event"))
            .new_image("envelope", s(envelope))
            .sequence_number("4000000000000000000001")
            .size_bytes(321)
            .stream_view_type(StreamViewType::NewImage)
            .build();
        let record = Record::builder()
            .event_id("e-1")
            .event_name(OperationType::Insert)
            .event_version("1.1")
            .event_source("aws:dynamodb")
            .aws_region("us-east-1")
            .dynamodb(change)
            .build();

        let lambda = lambda_record(record, "arn:stream");

        assert_eq!(lambda.event_name, "INSERT");
        assert_eq!(lambda.event_source_arn.as_deref(), Some("arn:stream"));
        assert_eq!(lambda.change.sequence_number.as_deref(), Some("4000000000000000000001"));
        assert_eq!(lambda.change.approximate_creation_date_time.timestamp(), 1_795_770_000);
        assert_eq!(lambda.change.stream_view_type, Some(aws_lambda_events::event::dynamodb::StreamViewType::NewImage));
        assert_eq!(lambda.change.keys.len(), 2);
        // The Lambda JSON of the converted record reads back as the same record.
        let json = serde_json::to_value(&lambda).unwrap();
        assert_eq!(json["dynamodb"]["NewImage"]["kind"], serde_json::json!({"S": "event"}));
        match decode_record(&lambda, SchemaVersions::current()).unwrap() {
            StreamItem::Event(decoded) => assert_eq!(decoded.stored_json, envelope),
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn a_ttl_removal_keeps_its_service_identity() {
        let record = Record::builder()
            .event_name(OperationType::Remove)
            .user_identity(Identity::builder().r#type("Service").principal_id("dynamodb.amazonaws.com").build())
            .build();
        let lambda = lambda_record(record, "arn:stream");
        let identity = lambda.user_identity.as_ref().unwrap();
        assert_eq!((identity.type_.as_str(), identity.principal_id.as_str()), ("Service", "dynamodb.amazonaws.com"));
        assert!(
            matches!(decode_record(&lambda, SchemaVersions::current()).unwrap(), StreamItem::NotAnEvent(why) if why.contains("TTL"))
        );
    }
}
