//! The list prices the bill is priced at: us-east-1, on-demand, no free tier,
//! the first volume tier of each. This machine cannot reach the internet, so
//! they are the prices as last known to the author, **as of 2025-06; verify
//! them before relying on the figures** (and update `AS_OF` with them):
//!
//! - Lambda: <https://aws.amazon.com/lambda/pricing/> (arm64, the
//!   template's `Architecture` default)
//! - API Gateway HTTP APIs: <https://aws.amazon.com/api-gateway/pricing/>
//! - DynamoDB on demand (Standard table class, after the November 2024
//!   price cut) and Streams: <https://aws.amazon.com/dynamodb/pricing/on-demand/>
//! - SNS standard topics: <https://aws.amazon.com/sns/pricing/>
//! - SQS standard queues: <https://aws.amazon.com/sqs/pricing/>
//! - CloudWatch (X-Ray spans through Transaction Search):
//!   <https://aws.amazon.com/cloudwatch/pricing/>

/// When these prices were last known to hold.
pub const AS_OF: &str = "2025-06 (as last known; verify before relying)";

/// US dollars.
pub struct Prices {
    /// Lambda arm64, per GB-second of billed duration (1 ms granularity).
    pub lambda_gb_second: f64,
    pub lambda_per_million_requests: f64,
    /// API Gateway HTTP API, per million requests (up to 512 KB each).
    pub http_api_per_million_requests: f64,
    pub dynamodb_per_million_write_units: f64,
    pub dynamodb_per_million_read_units: f64,
    /// Streams read request units (one per GetRecords call). GetRecords
    /// made by Lambda's event source mapping are free: listed for a reader
    /// of the stream that is not a Lambda trigger.
    pub dynamodb_streams_per_million_reads: f64,
    /// Per million publish requests, each 64 KB chunk of payload one
    /// request (a PublishBatch counts its entries' payloads together).
    /// Deliveries to SQS queues are free.
    pub sns_per_million_requests: f64,
    /// Per million requests, each 64 KB chunk of payload one request.
    pub sqs_per_million_requests: f64,
    /// Spans ingested through CloudWatch Transaction Search, per GB.
    pub spans_per_gb: f64,
}

pub const US_EAST_1: Prices = Prices {
    lambda_gb_second: 0.000_013_333_4,
    lambda_per_million_requests: 0.20,
    http_api_per_million_requests: 1.00,
    dynamodb_per_million_write_units: 0.625,
    dynamodb_per_million_read_units: 0.125,
    dynamodb_streams_per_million_reads: 0.20,
    sns_per_million_requests: 0.50,
    sqs_per_million_requests: 0.40,
    spans_per_gb: 0.50,
};

/// Every function's memory: `template.yaml`'s `Globals.Function.MemorySize`
/// (no function sets its own; `memory_is_the_templates` holds them together).
pub const LAMBDA_MEMORY_MB: u32 = 256;

#[cfg(test)]
mod tests {
    #[test]
    fn memory_is_the_templates() {
        let template = include_str!("../../../../template.yaml");
        let sizes: Vec<&str> =
            template.lines().filter_map(|line| line.trim().strip_prefix("MemorySize:")).map(str::trim).collect();
        assert_eq!(sizes, [super::LAMBDA_MEMORY_MB.to_string()], "one MemorySize, in Globals");
    }
}
