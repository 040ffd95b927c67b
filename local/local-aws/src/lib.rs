//! What AWS does for the platform in the cloud, done in a process for the
//! local runner and the tests. Nothing here is deployed: the Lambda crates
//! neither depend on it nor link the SDK clients it uses.
//!
//! - [`stream`]: a DynamoDB stream read the way an event source mapping
//!   reads it, handing the publisher the very Lambda payload it gets in AWS.
//! - [`poller`]: an SQS queue polled the way an event source mapping polls
//!   it, with partial batch failures honoured.
//! - [`topic`] and [`filter`]: the SNS topic in memory, with subscription
//!   filter policies evaluated as SNS evaluates them (the embedded runner).
//! - [`authorizer`]: the HTTP API's JWT authorizer; [`issuer`]: an OpenID
//!   issuer whose tokens it accepts (the embedded runner's sign-in).

pub mod authorizer;
pub mod filter;
pub mod issuer;
pub mod poller;
pub mod stream;
pub mod topic;

pub use filter::{FilterPolicy, FilterPolicyError};
pub use topic::{Delivered, InMemoryTopic};
