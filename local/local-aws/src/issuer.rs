//! An OpenID issuer in a process, for the embedded runner and the tests: it
//! signs tokens with an RSA key (RS256, as Cognito does and as API Gateway's
//! JWT authorizer requires) and publishes the key as a JWKS, so tokens it
//! mints are validated exactly as a real issuer's would be.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde::Serialize;

/// What a minted token says: its subject, the app client it was issued
/// to, scopes and lifetime. As Cognito's: a customer's token names the
/// customer in `sub` and the storefront's client in `client_id`; a
/// service's (client credentials) names its client in both.
#[derive(Clone, Debug)]
pub struct TokenRequest {
    pub subject: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub lifetime: Duration,
}

impl TokenRequest {
    /// A customer signed in through the app client `client_id`.
    pub fn customer(customer: &str, client_id: &str, lifetime: Duration) -> Self {
        TokenRequest { subject: customer.to_owned(), client_id: client_id.to_owned(), scopes: vec![], lifetime }
    }

    /// A service's client-credentials token.
    pub fn service(client_id: &str, scopes: Vec<String>, lifetime: Duration) -> Self {
        TokenRequest { subject: client_id.to_owned(), client_id: client_id.to_owned(), scopes, lifetime }
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    client_id: &'a str,
    #[serde(skip_serializing_if = "String::is_empty")]
    scope: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("issuer key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("issuer key: {0}")]
    Key(String),
}

pub struct LocalIssuer {
    issuer: String,
    audience: String,
    key_id: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl LocalIssuer {
    /// The issuer whose key is kept in `key_file` (PKCS#8 PEM), made on
    /// first use, so tokens minted earlier stay valid across restarts.
    pub fn load_or_create(key_file: &Path, issuer: &str, audience: &str) -> Result<Self, IssuerError> {
        let io = |source| IssuerError::KeyFile { path: key_file.display().to_string(), source };
        let key = match std::fs::read_to_string(key_file) {
            Ok(pem) => RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| IssuerError::Key(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = new_key()?;
                let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| IssuerError::Key(e.to_string()))?;
                if let Some(dir) = key_file.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                // Two processes starting at once (the runner and `token`)
                // must end with one key: the first link wins, the other
                // reads it.
                let draft = key_file.with_extension(format!("{}.tmp", std::process::id()));
                write_private(&draft, pem.as_bytes()).map_err(io)?;
                let linked = std::fs::hard_link(&draft, key_file);
                std::fs::remove_file(&draft).map_err(io)?;
                match linked {
                    Ok(()) => key,
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        return Self::load_or_create(key_file, issuer, audience)
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) => return Err(io(e)),
        };
        Self::with_key(key, issuer, audience)
    }

    /// An issuer with a new key that lives as long as the value (tests).
    pub fn generate(issuer: &str, audience: &str) -> Result<Self, IssuerError> {
        Self::with_key(new_key()?, issuer, audience)
    }

    fn with_key(key: RsaPrivateKey, issuer: &str, audience: &str) -> Result<Self, IssuerError> {
        let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| IssuerError::Key(e.to_string()))?;
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|e| IssuerError::Key(e.to_string()))?;
        let (n, e) = (key.n().to_bytes_be(), key.e().to_bytes_be());
        // The key's own thumbprint-like id: stable for one key, new for another.
        let key_id = URL_SAFE_NO_PAD.encode(&n[..12]);
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_id: Some(key_id.clone()),
                key_algorithm: Some(KeyAlgorithm::RS256),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(n),
                e: URL_SAFE_NO_PAD.encode(e),
            }),
        };
        Ok(LocalIssuer {
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            key_id,
            encoding,
            jwks: JwkSet { keys: vec![jwk] },
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// The public keys, as the issuer's `jwks_uri` serves them.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// A signed access token for this issuer and audience.
    pub fn mint(&self, request: &TokenRequest) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: &request.subject,
            client_id: &request.client_id,
            scope: request.scopes.join(" "),
            iat: now,
            nbf: now,
            exp: now + request.lifetime.as_secs(),
        };
        self.sign(&claims)
    }

    /// Signs any claims with this issuer's key (tests make tokens that are
    /// wrong on purpose with it).
    pub fn sign(&self, claims: &impl Serialize) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("RS256 signing with a valid key")
    }
}

/// Writes a new file that only its owner can read (0600 on Unix): it holds
/// a private key. A draft left by a crashed process of the same id goes first,
/// so the mode is always this one's.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents)
}

fn new_key() -> Result<RsaPrivateKey, IssuerError> {
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(|e| IssuerError::Key(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_made_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("issuer-key-{}", uuid::Uuid::new_v4()));
        let key_file = dir.join("issuer-key.pem");
        let made = LocalIssuer::load_or_create(&key_file, "http://issuer.test", "orders").unwrap();
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        let reloaded = LocalIssuer::load_or_create(&key_file, "http://issuer.test", "orders").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        assert_eq!(made.jwks().keys[0].common.key_id, reloaded.jwks().keys[0].common.key_id, "the same key, read back");
    }
}
