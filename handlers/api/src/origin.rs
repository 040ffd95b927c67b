//! The origin check: behind the storefront's CloudFront distribution, a
//! request that did not come through it is refused.
//!
//! An HTTP API cannot take a WAF web ACL, and its execute-api endpoint
//! stays reachable while CloudFront uses it as its origin: calling it
//! directly would skip the distribution's WAF rules. So the distribution
//! adds a secret header ([`ORIGIN_VERIFY`]) to every request it forwards,
//! and the function answers 403 to a request without it or with another
//! value. The value is a Secrets Manager secret (docs/deploy.md, "Rotating
//! the origin-verify secret"): an instance accepts the secret's current and
//! previous values and reads them again every [`REFRESH_EVERY`], so while
//! CloudFront moves from the old value to the new one both are admitted.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use aws_error::AwsError;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;
use tokio::time::Instant;

use crate::problem::Problem;
use crate::App;

/// The header CloudFront adds to each request it forwards to the API
/// (`OriginCustomHeaders` of the `orders-api` origin).
pub const ORIGIN_VERIFY: &str = "x-origin-verify";

/// How long an instance keeps the accepted values: after a rotation, wait
/// at least this long before CloudFront sends the new value.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);

/// After a failed read, the next try: soon, but not on every request.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Where the accepted values come from: Secrets Manager in Lambda
/// ([`SecretsManagerOriginSecret`]), whatever a test injects.
#[async_trait]
pub trait OriginSecret: Send + Sync {
    /// The values a request may carry: the secret's current value and,
    /// during a rotation, its previous one.
    async fn accepted(&self) -> Result<Vec<String>, OriginSecretError>;
}

#[derive(Debug, thiserror::Error)]
pub enum OriginSecretError {
    #[error("reading the origin-verify secret {arn} ({stage}): {source}")]
    Read {
        arn: String,
        stage: &'static str,
        #[source]
        source: AwsError,
    },
    #[error("the origin-verify secret {arn} ({stage}) has no SecretString")]
    NotAString { arn: String, stage: &'static str },
    #[error("the origin-verify secret {0} does not exist or has no AWSCURRENT version")]
    NoCurrent(String),
}

/// Why a request was refused: it did not come through the distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotThroughCloudFront {
    /// No [`ORIGIN_VERIFY`] header.
    Missing,
    /// A value that is neither the current nor the previous one.
    Wrong,
}

struct Accepted {
    values: Vec<String>,
    next_read: Instant,
}

/// The accepted values of one instance, read again when they are older
/// than the refresh interval.
pub struct OriginCheck {
    secret: Arc<dyn OriginSecret>,
    refresh_every: Duration,
    accepted: RwLock<Accepted>,
    /// One read at a time; requests meanwhile use the values they have.
    reading: tokio::sync::Mutex<()>,
}

impl OriginCheck {
    /// Reads the accepted values now: an instance that cannot read them
    /// fails at start rather than refusing every request.
    pub async fn new(secret: Arc<dyn OriginSecret>, refresh_every: Duration) -> Result<Self, OriginSecretError> {
        let values = secret.accepted().await?;
        let accepted = RwLock::new(Accepted { values, next_read: Instant::now() + refresh_every });
        Ok(OriginCheck { secret, refresh_every, accepted, reading: tokio::sync::Mutex::new(()) })
    }

    /// Whether `headers` carry an accepted [`ORIGIN_VERIFY`] value.
    pub async fn admits(&self, headers: &HeaderMap) -> Result<(), NotThroughCloudFront> {
        let sent = headers.get(ORIGIN_VERIFY).ok_or(NotThroughCloudFront::Missing)?;
        let values = self.values().await;
        match values.iter().any(|value| same(value.as_bytes(), sent.as_bytes())) {
            true => Ok(()),
            false => Err(NotThroughCloudFront::Wrong),
        }
    }

    async fn values(&self) -> Vec<String> {
        if Instant::now() >= self.accepted.read().expect("accepted values lock").next_read {
            if let Ok(_reading) = self.reading.try_lock() {
                self.read_again().await;
            }
        }
        self.accepted.read().expect("accepted values lock").values.clone()
    }

    /// A failed read keeps the values this instance has: the secret did
    /// not change because Secrets Manager did not answer.
    async fn read_again(&self) {
        let read = self.secret.accepted().await;
        let mut accepted = self.accepted.write().expect("accepted values lock");
        match read {
            Ok(values) => *accepted = Accepted { values, next_read: Instant::now() + self.refresh_every },
            Err(error) => {
                tracing::error!(%error, "the origin-verify secret could not be read; the values read before still apply");
                accepted.next_read = Instant::now() + self.refresh_every.min(RETRY_AFTER_FAILURE);
            }
        }
    }
}

/// Compares in time independent of where the values differ, so the
/// answer's timing does not reveal how much of a guess was right.
fn same(expected: &[u8], sent: &[u8]) -> bool {
    expected.len() == sent.len() && expected.iter().zip(sent).fold(0u8, |differ, (a, b)| differ | (a ^ b)) == 0
}

/// The layer: without an origin check (locally, or the API not behind
/// CloudFront) every request passes; with one, a request that did not come
/// through the distribution gets a 403 and a log line.
pub async fn check_origin(State(app): State<App>, request: Request, next: Next) -> Response {
    let Some(check) = &app.origin else { return next.run(request).await };
    match check.admits(request.headers()).await {
        Ok(()) => next.run(request).await,
        Err(refused) => {
            let source_ip = match request.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(context)) => context.http.source_ip.clone(),
                _ => None,
            };
            tracing::warn!(?refused, source_ip = source_ip.as_deref().unwrap_or(""), "refused: not through CloudFront");
            Problem::forbidden("requests to this API must come through the shop's CloudFront distribution")
                .into_response()
        }
    }
}

/// The secret's `AWSCURRENT` and `AWSPREVIOUS` values (a secret never
/// rotated has no previous one).
pub struct SecretsManagerOriginSecret {
    client: aws_sdk_secretsmanager::Client,
    arn: String,
}

impl SecretsManagerOriginSecret {
    pub fn new(client: aws_sdk_secretsmanager::Client, arn: String) -> Self {
        SecretsManagerOriginSecret { client, arn }
    }

    /// The value in `stage`; `None` when the secret has no version there.
    async fn stage(&self, stage: &'static str) -> Result<Option<String>, OriginSecretError> {
        let read = self.client.get_secret_value().secret_id(&self.arn).version_stage(stage).send().await;
        match read {
            Ok(output) => match output.secret_string {
                Some(value) => Ok(Some(value)),
                None => Err(OriginSecretError::NotAString { arn: self.arn.clone(), stage }),
            },
            Err(error) if error.as_service_error().is_some_and(|e| e.is_resource_not_found_exception()) => Ok(None),
            Err(error) => Err(OriginSecretError::Read {
                arn: self.arn.clone(),
                stage,
                source: AwsError::new("GetSecretValue", error),
            }),
        }
    }
}

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";

#[async_trait]
impl OriginSecret for SecretsManagerOriginSecret {
    async fn accepted(&self) -> Result<Vec<String>, OriginSecretError> {
        let (current, previous) = tokio::join!(self.stage(CURRENT), self.stage(PREVIOUS));
        let current = current?.ok_or_else(|| OriginSecretError::NoCurrent(self.arn.clone()))?;
        Ok(std::iter::once(current).chain(previous?).collect())
    }
}
