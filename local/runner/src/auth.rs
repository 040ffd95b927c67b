//! Who the runner lets in: the same three ways a deployment can be run,
//! from nothing installed to a real OIDC server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use domain::access::{Scope, ServiceRule};
use local_aws::authorizer::{Authorizer, JwtAuthorizer, OPERATOR_CLIENT_ID};
use local_aws::issuer::{LocalIssuer, TokenRequest};

use crate::storefront;

/// The issuer and audience of the runner's own tokens.
pub const LOCAL_ISSUER: &str = "http://127.0.0.1/runner";
pub const LOCAL_AUDIENCE: &str = "order-platform";
/// The service clients of the README's roles, services locally unless
/// `SERVICE_CLIENT_IDS` says otherwise.
const DEFAULT_SERVICE_CLIENT_IDS: &str = "checkout-backend,warehouse,merchandiser";
/// The client the flash-sale demo sets stock as.
pub const MERCHANDISER: &str = "merchandiser";

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
    /// The clients whose client-credentials tokens are services'
    /// (comma-separated); every other token is a customer's.
    #[arg(long, env = contract::config::SERVICE_CLIENT_IDS, default_value = DEFAULT_SERVICE_CLIENT_IDS)]
    pub service_client_ids: String,
    /// The resource server's scope prefix: with `orders-api`, a service's
    /// ship scope is `orders-api/orders:ship`. Empty: bare scopes.
    #[arg(long, env = contract::config::SCOPE_PREFIX, default_value = "")]
    pub scope_prefix: String,
}

impl AuthArgs {
    /// Who is a service. With `--auth off` the trusted operator is one too.
    pub fn service_rule(&self) -> ServiceRule {
        let listed = self.service_client_ids.split(',').map(str::trim);
        let operator = (self.mode == AuthMode::Off).then_some(OPERATOR_CLIENT_ID);
        ServiceRule::new(listed.chain(operator), &self.scope_prefix)
    }
}

#[derive(clap::Args, Debug)]
#[group(id = "caller", required = true, args = ["customer", "service"])]
pub struct TokenArgs {
    /// A customer's token (signed in through the storefront's client).
    #[arg(long, value_name = "CUSTOMER_ID")]
    pub customer: Option<String>,
    /// A service's client-credentials token for this client (one of
    /// SERVICE_CLIENT_IDS: checkout-backend, warehouse, merchandiser).
    #[arg(long, value_name = "CLIENT_ID", conflicts_with = "customer")]
    pub service: Option<String>,
    /// The service's scopes (repeat, or separate with spaces), without
    /// SCOPE_PREFIX: the token carries them with it.
    #[arg(long, num_args = 1.., value_parser = scope_name, conflicts_with = "customer")]
    pub scope: Vec<Scope>,
    /// How long the token is valid, in minutes.
    #[arg(long, default_value_t = 60)]
    pub minutes: u64,
    #[command(flatten)]
    pub auth: AuthArgs,
}

fn scope_name(value: &str) -> Result<Scope, String> {
    Scope::parse(value).ok_or_else(|| {
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

/// Mints a token the embedded runner accepts, and says on stderr when a
/// `--service` token will be taken for a customer's.
pub fn mint(args: &TokenArgs) -> Result<String, Box<dyn std::error::Error>> {
    let issuer = embedded_issuer(&args.auth)?;
    let lifetime = Duration::from_secs(args.minutes * 60);
    let rule = args.auth.service_rule();
    if let Some(customer) = &args.customer {
        return Ok(issuer.mint(&TokenRequest::customer(customer, storefront::CLIENT_ID, lifetime)));
    }
    let client = args.service.as_deref().expect("clap requires --customer or --service");
    if !rule.is_service(client) {
        let listed: Vec<&str> = rule.client_ids().collect();
        eprintln!(
            "note: {client:?} is not one of SERVICE_CLIENT_IDS ({}): the runner takes this token for customer {client:?}'s",
            listed.join(",")
        );
    }
    let scopes = args.scope.iter().map(|s| rule.scope_name(*s)).collect();
    Ok(issuer.mint(&TokenRequest::service(client, scopes, lifetime)))
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

    use clap::Parser;

    #[derive(Parser)]
    struct Token {
        #[command(flatten)]
        args: super::TokenArgs,
    }

    #[test]
    fn a_token_is_a_customers_or_a_services_and_only_a_service_has_scopes() {
        let parse = |args: &[&str]| Token::try_parse_from([&["token"][..], args].concat()).map(|t| t.args);
        let service = parse(&["--service", "warehouse", "--scope", "orders:ship", "orders:read"]).unwrap();
        assert_eq!(service.service.as_deref(), Some("warehouse"));
        assert_eq!(service.scope.len(), 2);
        assert_eq!(parse(&["--customer", "c-1"]).unwrap().customer.as_deref(), Some("c-1"));
        for refused in
            [&["--customer", "c-1", "--scope", "orders:read"][..], &[], &["--service", "w", "--scope", "orders:fly"]]
        {
            assert!(parse(refused).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn the_default_issuer_key_is_the_checkouts_whatever_the_working_directory() {
        let key = super::default_issuer_key();
        assert!(key.is_absolute(), "{}", key.display());
        assert!(key.ends_with(".local-stack/issuer-key.pem"), "{}", key.display());
        let checkout = key.parent().and_then(Path::parent).expect("two levels up");
        assert!(checkout.join("Cargo.lock").is_file() && checkout.join("local/runner/Cargo.toml").is_file());
    }
}
