//! Who the runner lets in: the same three ways a deployment can be run,
//! from nothing installed to a real OIDC server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use domain::access::Scope;
use local_aws::authorizer::{Authorizer, JwtAuthorizer};
use local_aws::issuer::{LocalIssuer, TokenRequest};

/// The issuer and audience of the runner's own tokens.
pub const LOCAL_ISSUER: &str = "http://127.0.0.1/runner";
pub const LOCAL_AUDIENCE: &str = "order-platform";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// The runner is its own issuer: `token` mints what it accepts.
    Embedded,
    /// Tokens of an OIDC issuer (`--issuer`), keys from its discovery document.
    Oidc,
    /// Every request is trusted, as an operator with every scope.
    Off,
}

#[derive(clap::Args, Clone, Debug)]
pub struct AuthArgs {
    /// How requests are authenticated.
    #[arg(long = "auth", env = "ORDER_PLATFORM_AUTH", value_enum, default_value_t = AuthMode::Embedded)]
    pub mode: AuthMode,
    /// The embedded issuer's signing key (PKCS#8 PEM), made on first use
    /// [default: the checkout's .local-stack/issuer-key.pem]
    #[arg(long, env = "ORDER_PLATFORM_ISSUER_KEY", default_value_os_t = default_issuer_key(), hide_default_value = true)]
    pub issuer_key: PathBuf,
    /// With `--auth oidc`: the issuer URL, as tokens name it in `iss`.
    #[arg(long, env = "OIDC_ISSUER", required_if_eq("mode", "oidc"))]
    pub issuer: Option<String>,
    /// With `--auth oidc`: the audience (or `client_id`) tokens must name.
    #[arg(long, env = "OIDC_AUDIENCE", default_value = LOCAL_AUDIENCE)]
    pub audience: String,
}

#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    /// A customer token for this customer id.
    #[arg(long, conflicts_with = "scope", required_unless_present = "scope")]
    pub customer: Option<String>,
    /// A service token with these scopes (repeat, or separate with spaces).
    #[arg(long, num_args = 1.., value_parser = scope_name)]
    pub scope: Vec<String>,
    /// The service's subject (its client id).
    #[arg(long, default_value = "local-service")]
    pub subject: String,
    /// How long the token is valid, in minutes.
    #[arg(long, default_value_t = 60)]
    pub minutes: u64,
    #[command(flatten)]
    pub auth: AuthArgs,
}

fn scope_name(value: &str) -> Result<String, String> {
    Scope::parse(value).map(|s| s.as_str().to_owned()).ok_or_else(|| {
        let known: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
        format!("unknown scope {value:?}; one of {}", known.join(", "))
    })
}

/// The checkout's `.local-stack/issuer-key.pem` (git-ignored), as an
/// absolute path: the runner and `token` find the same key whatever
/// directory each is started from.
pub fn default_issuer_key() -> PathBuf {
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("local/runner is two levels deep");
    checkout.join(".local-stack").join("issuer-key.pem")
}

pub fn embedded_issuer(args: &AuthArgs) -> Result<LocalIssuer, Box<dyn std::error::Error>> {
    Ok(LocalIssuer::load_or_create(&args.issuer_key, LOCAL_ISSUER, LOCAL_AUDIENCE)?)
}

/// Mints a token the embedded runner accepts.
pub fn mint(args: &TokenArgs) -> Result<String, Box<dyn std::error::Error>> {
    let issuer = embedded_issuer(&args.auth)?;
    let lifetime = Duration::from_secs(args.minutes * 60);
    let request = match &args.customer {
        Some(customer) => TokenRequest { subject: customer.clone(), scopes: vec![], lifetime },
        None => TokenRequest { subject: args.subject.clone(), scopes: args.scope.clone(), lifetime },
    };
    Ok(issuer.mint(&request))
}

pub async fn authorizer(args: &AuthArgs) -> Result<Arc<Authorizer>, Box<dyn std::error::Error>> {
    let authorizer = match args.mode {
        AuthMode::Embedded => {
            let issuer = embedded_issuer(args)?;
            tracing::info!(key = %args.issuer_key.display(), "auth: the runner is its own issuer (mint tokens with `cargo run -- token`)");
            Authorizer::Jwt(JwtAuthorizer::new(issuer.issuer(), issuer.audience(), issuer.jwks().clone()))
        }
        AuthMode::Oidc => {
            let issuer = args.issuer.as_deref().expect("clap requires --issuer with --auth oidc");
            tracing::info!(issuer, audience = %args.audience, "auth: tokens of an OIDC issuer");
            Authorizer::Jwt(JwtAuthorizer::discover(issuer, &args.audience).await?)
        }
        AuthMode::Off => {
            let warning =
                "AUTH IS OFF: every request is trusted as an operator with every scope. Never expose this runner.";
            eprintln!("\n*** {warning} ***\n");
            tracing::warn!("{warning}");
            Authorizer::TrustEveryone { scopes: Scope::ALL.iter().map(|s| s.as_str().to_owned()).collect() }
        }
    };
    Ok(Arc::new(authorizer))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_default_issuer_key_is_the_checkouts_whatever_the_working_directory() {
        let key = super::default_issuer_key();
        assert!(key.is_absolute(), "{}", key.display());
        assert!(key.ends_with(".local-stack/issuer-key.pem"), "{}", key.display());
        let checkout = key.parent().and_then(Path::parent).expect("two levels up");
        assert!(checkout.join("Cargo.lock").is_file() && checkout.join("local/runner/Cargo.toml").is_file());
    }
}
