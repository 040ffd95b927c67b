//! Where the legacy database is and how to reach it.
//!
//! - Locally: `LEGACY_DATABASE_URL`, a `postgres://` URL. Its `sslmode`
//!   follows libpq: `disable`; `allow`/`prefer` (the default: TLS when the
//!   server offers it, certificate not checked); `require` (TLS, certificate
//!   not checked); `verify-ca`/`verify-full` (TLS, chain and host name
//!   checked — `verify-ca` is held to `verify-full`). `sslrootcert=<path>`
//!   adds a PEM CA bundle to the public web roots.
//! - In AWS: `LEGACY_DB_SECRET_ARN`, a Secrets Manager secret in the standard
//!   RDS shape `{username, password, host, port, dbname}`, always reached
//!   with `verify-full`. RDS Proxy presents a public (ACM) certificate, which
//!   the built-in roots trust; a direct RDS endpoint needs the RDS CA bundle
//!   shipped with the function and named by `LEGACY_DB_SSLROOTCERT`.

use std::path::PathBuf;
use std::time::Duration;

use contract::config::{LEGACY_DATABASE_URL, LEGACY_DB_SECRET_ARN};
use serde::Deserialize;
use tokio_postgres::config::SslMode;

/// Long enough for a batch of 100 orders, short enough that a stuck lock
/// fails the batch (for a retry) well inside the Lambda timeout.
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const APPLICATION_NAME: &str = "legacy-sync";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{LEGACY_DATABASE_URL} must be a postgres:// URL")]
    NotAUrl,
    #[error("unsupported sslmode {0:?} (disable, allow, prefer, require, verify-ca or verify-full)")]
    SslMode(String),
    #[error("invalid legacy database URL: {0}")]
    Url(tokio_postgres::Error),
    #[error("the legacy database secret is not RDS credentials JSON {{username, password, host, port, dbname}}: {0}")]
    Secret(serde_json::Error),
    #[error("AWS SDK configuration (to read the secret): {0}")]
    AwsConfig(#[from] sdk_config::ConfigError),
    #[error(
        "{LEGACY_DATABASE_URL} reaches {host} without a verified certificate: add sslmode=verify-full (and sslrootcert=<CA bundle> for a private CA), or use {LEGACY_DB_SECRET_ARN}"
    )]
    UnverifiedTls { host: String },
}

/// How TLS is used on the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tls {
    Off,
    /// Encrypted, but any certificate is accepted (libpq's `prefer`/`require`).
    Unverified {
        required: bool,
    },
    /// Encrypted, certificate chain and host name checked against the public
    /// web roots plus `extra_roots` (a PEM file).
    Verified {
        extra_roots: Option<PathBuf>,
    },
}

#[derive(Clone, Debug)]
pub struct ConnectionSettings {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
    pub statement_timeout: Duration,
}

impl ConnectionSettings {
    pub fn from_url(url: &str) -> Result<Self, SettingsError> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        if !(base.starts_with("postgres://") || base.starts_with("postgresql://")) {
            return Err(SettingsError::NotAUrl);
        }
        let mut sslmode = "prefer".to_owned();
        let mut root_cert = None;
        let mut passed_on = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", mode)) => sslmode = mode.to_owned(),
                Some(("sslrootcert", path)) => root_cert = Some(PathBuf::from(path)),
                _ => passed_on.push(pair),
            }
        }
        let tls = match sslmode.as_str() {
            "disable" => Tls::Off,
            "allow" | "prefer" => Tls::Unverified { required: false },
            "require" => Tls::Unverified { required: true },
            "verify-ca" | "verify-full" => Tls::Verified { extra_roots: root_cert },
            other => return Err(SettingsError::SslMode(other.to_owned())),
        };
        let url = if passed_on.is_empty() { base.to_owned() } else { format!("{base}?{}", passed_on.join("&")) };
        let config = url.parse().map_err(SettingsError::Url)?;
        Ok(Self::new(config, tls))
    }

    /// Settings from the standard RDS secret JSON.
    pub fn from_rds_secret(secret_json: &str, extra_roots: Option<PathBuf>) -> Result<Self, SettingsError> {
        let secret: RdsSecret = serde_json::from_str(secret_json).map_err(SettingsError::Secret)?;
        let mut config = tokio_postgres::Config::new();
        config
            .user(&secret.username)
            .password(&secret.password)
            .host(&secret.host)
            .port(secret.port.0)
            .dbname(secret.dbname.as_deref().unwrap_or("postgres"));
        Ok(Self::new(config, Tls::Verified { extra_roots }))
    }

    fn new(mut config: tokio_postgres::Config, tls: Tls) -> Self {
        config.ssl_mode(match tls {
            Tls::Off => SslMode::Disable,
            Tls::Unverified { required: false } => SslMode::Prefer,
            Tls::Unverified { required: true } | Tls::Verified { .. } => SslMode::Require,
        });
        config.connect_timeout(CONNECT_TIMEOUT).application_name(APPLICATION_NAME);
        ConnectionSettings { config, tls, statement_timeout: DEFAULT_STATEMENT_TIMEOUT }
    }

    /// Refuses settings that would send the shop's data and password over a
    /// network without checking whose server answers (the Lambda's rule:
    /// `sslmode=verify-full`). A server on this machine (loopback or a Unix
    /// socket: the local stack, `sam local invoke`) is no network hop, and
    /// a Lambda has none.
    pub fn require_verified_tls(&self) -> Result<(), SettingsError> {
        use tokio_postgres::config::Host;
        if matches!(self.tls, Tls::Verified { .. }) {
            return Ok(());
        }
        let remote = self.config.get_hosts().iter().find_map(|host| match host {
            Host::Tcp(name) if !is_loopback(name) => Some(name.clone()),
            _ => None,
        });
        match remote {
            Some(host) => Err(SettingsError::UnverifiedTls { host }),
            None => Ok(()),
        }
    }

    /// The same server and credentials, another database (tests, benchmarks).
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut settings = self.clone();
        settings.config.dbname(dbname);
        settings
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || bare.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[derive(Deserialize)]
struct RdsSecret {
    username: String,
    password: String,
    host: String,
    #[serde(default)]
    port: Port,
    dbname: Option<String>,
}

/// RDS writes the port as a number; hand-made secrets often as a string.
struct Port(u16);

impl Default for Port {
    fn default() -> Self {
        Port(5432)
    }
}

impl<'de> Deserialize<'de> for Port {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum NumberOrString {
            Number(u16),
            String(String),
        }
        match NumberOrString::deserialize(deserializer)? {
            NumberOrString::Number(port) => Ok(Port(port)),
            NumberOrString::String(port) => port.parse().map(Port).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_sslmode_and_root_cert_are_read_and_the_rest_passed_on() {
        let settings = ConnectionSettings::from_url(
            "postgres://app:pw@db.example:6432/shop?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=9",
        )
        .unwrap();
        assert_eq!(settings.tls, Tls::Verified { extra_roots: Some("/ca.pem".into()) });
        assert_eq!(settings.config.get_dbname(), Some("shop"));
        assert_eq!(settings.config.get_ports(), &[6432]);
        assert_eq!(settings.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(settings.statement_timeout, DEFAULT_STATEMENT_TIMEOUT);
    }

    #[test]
    fn url_without_sslmode_prefers_tls_like_libpq() {
        let settings = ConnectionSettings::from_url("postgres://postgres@127.0.0.1:5432/legacy").unwrap();
        assert_eq!(settings.tls, Tls::Unverified { required: false });
        assert_eq!(settings.config.get_ssl_mode(), SslMode::Prefer);
    }

    #[test]
    fn bad_urls_and_modes_are_refused() {
        assert!(matches!(ConnectionSettings::from_url("host=x user=y"), Err(SettingsError::NotAUrl)));
        assert!(matches!(
            ConnectionSettings::from_url("postgres://x/y?sslmode=sometimes"),
            Err(SettingsError::SslMode(_))
        ));
    }

    #[test]
    fn only_verified_tls_may_reach_a_database_over_the_network() {
        for url in [
            "postgres://u@db.example/shop",
            "postgres://u@10.0.0.5/shop?sslmode=require",
            "postgres://u@db.example/shop?sslmode=prefer",
            "postgres://u@db.example/shop?sslmode=disable",
        ] {
            let refused = ConnectionSettings::from_url(url).unwrap().require_verified_tls().unwrap_err();
            assert!(
                matches!(&refused, SettingsError::UnverifiedTls { host } if host == "db.example" || host == "10.0.0.5"),
                "{url}: {refused}"
            );
            assert!(refused.to_string().contains("sslmode=verify-full"), "{refused}");
        }
        for url in [
            "postgres://u@db.example/shop?sslmode=verify-full",
            "postgres://u@db.example/shop?sslmode=verify-full&sslrootcert=/ca.pem",
            "postgres://postgres@127.0.0.1:5432/legacy_shop",
            "postgres://postgres@localhost/legacy_shop?sslmode=disable",
            "postgres://postgres@[::1]:5432/legacy_shop",
        ] {
            let settings = ConnectionSettings::from_url(url).unwrap();
            assert!(settings.require_verified_tls().is_ok(), "{url}");
        }
        let secret = r#"{"username":"u","password":"p","host":"db.example"}"#;
        assert!(ConnectionSettings::from_rds_secret(secret, None).unwrap().require_verified_tls().is_ok());
    }

    #[test]
    fn rds_secret_is_verified_tls_with_port_as_number_or_string() {
        let json = r#"{"username":"sync","password":"p'w","engine":"postgres","host":"legacy.proxy-abc.eu-west-1.rds.amazonaws.com","port":5432,"dbname":"shop"}"#;
        let settings = ConnectionSettings::from_rds_secret(json, None).unwrap();
        assert_eq!(settings.tls, Tls::Verified { extra_roots: None });
        assert_eq!(settings.config.get_user(), Some("sync"));
        assert_eq!(settings.config.get_password(), Some(&b"p'w"[..]));
        assert_eq!(settings.config.get_ports(), &[5432]);
        let json = r#"{"username":"u","password":"p","host":"h","port":"6543"}"#;
        let settings = ConnectionSettings::from_rds_secret(json, None).unwrap();
        assert_eq!((settings.config.get_ports(), settings.config.get_dbname()), (&[6543][..], Some("postgres")));
        assert!(matches!(
            ConnectionSettings::from_rds_secret(r#"{"username":"u"}"#, None),
            Err(SettingsError::Secret(_))
        ));
    }
}
