//! The AWS SDK configuration the Lambda functions load at init.
//!
//! It is `aws_config`'s defaults (region, credentials and endpoints from
//! the environment) with one change: the HTTPS client trusts the roots that
//! AWS service endpoints chain to — Amazon Trust Services' Amazon Root CA 1
//! to 4 and the Starfield Services root they cross-sign from — bundled in
//! the binary, instead of every root certificate on the machine. Reading and
//! decoding the machine's store (about 150 PEM files on Debian, a 200-cert
//! bundle on Amazon Linux) was 83% of a function's init instructions
//! (callgrind, publisher: 17.2 M of 20.6 M); see docs/benchmarks.md,
//! "Cold start". `AWS_CA_BUNDLE`, the variable every AWS SDK honours, adds a PEM
//! bundle of further roots (a TLS-inspecting proxy, say).
//!
//! The bundle is the five certificates as Debian's `ca-certificates`
//! (Mozilla's store) ships them; <https://www.amazontrust.com/repository/>
//! lists the same roots.

use aws_config::environment::EnvironmentVariableCredentialsProvider;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::rustls_provider::CryptoMode;
use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder, ConnectorBuilder};

/// Amazon Root CA 1–4 and Starfield Services Root Certificate Authority - G2.
pub const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("amazon-trust-services.pem");

/// The variable naming an extra PEM bundle of trusted roots.
pub const CA_BUNDLE_VAR: &str = "AWS_CA_BUNDLE";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{CA_BUNDLE_VAR}={path}: {source}")]
    CaBundle {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the trusted roots: {0}")]
    Tls(#[source] aws_smithy_http_client::HttpClientError),
}

/// The trust store: the bundled roots, and `AWS_CA_BUNDLE`'s when set.
pub fn trust_store() -> Result<TrustStore, ConfigError> {
    let mut store = TrustStore::empty().with_native_roots(false).with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS);
    if let Ok(path) = std::env::var(CA_BUNDLE_VAR) {
        let pem = std::fs::read(&path).map_err(|source| ConfigError::CaBundle { path, source })?;
        store.add_pem_certificate(pem);
    }
    Ok(store)
}

/// `aws_config`'s defaults, with the HTTPS client of [`trust_store`]. Built
/// as the SDK builds its default client (rustls on aws-lc, the connector
/// settings and sleep of each client, proxies from the environment).
pub async fn load() -> Result<SdkConfig, ConfigError> {
    let tls = TlsContext::builder().with_trust_store(trust_store()?).build().map_err(ConfigError::Tls)?;
    let http_client = Builder::new().build_with_connector_fn(move |settings, components| {
        let mut connector = ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.tls_context(tls.clone()).build()
    });
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http_client);
    // Lambda puts the role's credentials in the environment. Reading them
    // there skips the default chain, which builds an STS client (web
    // identity, SSO) at load, each with its own TLS set-up.
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        loader = loader.credentials_provider(EnvironmentVariableCredentialsProvider::new());
    }
    Ok(loader.load().await)
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;

    use super::*;

    #[test]
    fn the_bundle_is_the_five_roots_aws_endpoints_chain_to() {
        let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
            .collect::<Result<_, _>>()
            .expect("PEM certificates");
        let names = [
            "Amazon Root CA 1",
            "Amazon Root CA 2",
            "Amazon Root CA 3",
            "Amazon Root CA 4",
            "Starfield Services Root Certificate Authority - G2",
        ];
        assert_eq!(certs.len(), names.len());
        for (cert, name) in certs.iter().zip(names) {
            // A root's subject and issuer are the same name: it appears twice.
            let times = cert.windows(name.len()).filter(|w| *w == name.as_bytes()).count();
            assert_eq!(times, 2, "{name}: subject and issuer");
        }
    }

    #[tokio::test]
    async fn loads_with_the_bundled_roots() {
        let config = load().await.expect("the bundled roots make a TLS context");
        assert!(config.http_client().is_some());
    }
}
