//! Opening connections to the legacy database, and keeping one open across
//! Lambda invocations.

use std::path::PathBuf;

use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls};

use contract::config::{LEGACY_DATABASE_URL, LEGACY_DB_SECRET_ARN, LEGACY_DB_SSLROOTCERT};

use crate::settings::{ConnectionSettings, SettingsError, Tls};
use crate::tls::{self, TlsError};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("reading secret {arn}: {message}")]
    Secret { arn: String, message: String },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("connecting to the legacy database: {}", describe(.0))]
    Postgres(#[from] tokio_postgres::Error),
}

/// A PostgreSQL error with its cause: `tokio_postgres::Error` alone
/// displays only its kind ("db error").
pub fn describe(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// Where connection settings come from. A secret is read again on every
/// new connection, so a rotated password is picked up by the reconnect
/// that the old one's failure causes.
#[derive(Clone, Debug)]
pub enum DatabaseSource {
    Settings(Box<ConnectionSettings>),
    Secret { arn: String, client: aws_sdk_secretsmanager::Client, extra_roots: Option<PathBuf> },
}

impl DatabaseSource {
    /// `LEGACY_DATABASE_URL` if set, else `LEGACY_DB_SECRET_ARN` (read with
    /// the default AWS configuration), else `None`: no legacy database.
    pub async fn from_env() -> Result<Option<Self>, SettingsError> {
        if let Ok(url) = std::env::var(LEGACY_DATABASE_URL) {
            return Ok(Some(ConnectionSettings::from_url(&url)?.into()));
        }
        let Ok(arn) = std::env::var(LEGACY_DB_SECRET_ARN) else { return Ok(None) };
        let aws = sdk_config::load().await?;
        Ok(Some(DatabaseSource::Secret {
            arn,
            client: aws_sdk_secretsmanager::Client::new(&aws),
            extra_roots: std::env::var_os(LEGACY_DB_SSLROOTCERT).map(PathBuf::from),
        }))
    }

    pub async fn settings(&self) -> Result<ConnectionSettings, ConnectError> {
        match self {
            DatabaseSource::Settings(settings) => Ok(settings.as_ref().clone()),
            DatabaseSource::Secret { arn, client, extra_roots } => {
                let secret =
                    client.get_secret_value().secret_id(arn).send().await.map_err(|e| ConnectError::Secret {
                        arn: arn.clone(),
                        message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
                    })?;
                let json = secret.secret_string().ok_or_else(|| ConnectError::Secret {
                    arn: arn.clone(),
                    message: "the secret has no SecretString".into(),
                })?;
                Ok(ConnectionSettings::from_rds_secret(json, extra_roots.clone())?)
            }
        }
    }

    /// [`ConnectionSettings::require_verified_tls`] for a URL; a secret is
    /// always reached with verified TLS.
    pub fn require_verified_tls(&self) -> Result<(), SettingsError> {
        match self {
            DatabaseSource::Settings(settings) => settings.require_verified_tls(),
            DatabaseSource::Secret { .. } => Ok(()),
        }
    }

    pub async fn connect(&self) -> Result<Client, ConnectError> {
        connect(&self.settings().await?).await
    }
}

impl From<ConnectionSettings> for DatabaseSource {
    fn from(settings: ConnectionSettings) -> Self {
        DatabaseSource::Settings(Box::new(settings))
    }
}

/// Opens a connection and sets its `statement_timeout`. The connection's
/// I/O runs on a spawned task that ends when the `Client` is dropped.
pub async fn connect(settings: &ConnectionSettings) -> Result<Client, ConnectError> {
    let client = match &settings.tls {
        Tls::Off => spawn(settings.config.connect(NoTls).await?),
        Tls::Unverified { .. } => spawn(settings.config.connect(tls::unverified()?).await?),
        Tls::Verified { extra_roots } => spawn(settings.config.connect(tls::verified(extra_roots.as_deref())?).await?),
    };
    // A SET rather than a startup `options` parameter: RDS Proxy refuses the latter.
    client.batch_execute(&format!("SET statement_timeout = {}", settings.statement_timeout.as_millis())).await?;
    Ok(client)
}

fn spawn<S, T>((client, connection): (Client, tokio_postgres::Connection<S, T>)) -> Client
where
    tokio_postgres::Connection<S, T>: std::future::Future<Output = Result<(), tokio_postgres::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(error = %describe(&error), "legacy database connection ended");
        }
    });
    client
}

/// One connection, opened on first use and kept for later batches (a Lambda
/// instance handles one batch at a time). It is dropped, and reopened next
/// time, when it breaks or when a batch ended without closing its
/// transaction (an error, or the batch's future was dropped).
pub struct CachedConnection {
    source: DatabaseSource,
    slot: Mutex<Option<Session>>,
}

pub struct Session {
    pub client: Client,
    /// False from `BEGIN` until the transaction is known to be over.
    pub clean: bool,
}

impl CachedConnection {
    pub fn new(source: DatabaseSource) -> Self {
        CachedConnection { source, slot: Mutex::new(None) }
    }

    /// The open session, connecting first when there is none usable. A
    /// caller that leaves `clean` false has the session replaced next time.
    pub async fn session(&self) -> Result<MappedMutexGuard<'_, Session>, ConnectError> {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_none_or(|session| session.client.is_closed() || !session.clean) {
            *slot = None;
            let client = self.source.connect().await?;
            tracing::info!("connected to the legacy database");
            *slot = Some(Session { client, clean: true });
        }
        Ok(MutexGuard::map(slot, |slot| slot.as_mut().expect("filled above")))
    }
}
