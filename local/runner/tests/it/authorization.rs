//! The authorization table (`testkit::access`) over HTTP, through the
//! runner as a user starts it: embedded, with the tokens `order-platform
//! token` mints; and with `--auth oidc` trusting the local stack's OIDC
//! server, with tokens from that server's token endpoint. Every refused
//! request leaves the orders and the stock as they were.

use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use domain::OrderId;
use local_aws::issuer::{LocalIssuer, TokenRequest};
use serde_json::{json, Value};
use testkit::access::{cases, with_signature_of, Token, OWNER, PLACE_OWN, SERVICE_CLIENT, SKU, UNLISTED_CLIENT};

const OPERATOR: Token =
    Token::Service(&["orders:write", "orders:read", "orders:ship", "inventory:read", "inventory:write"]);

/// A runner process, killed when dropped.
struct Runner {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Runner {
    /// Starts `order-platform serve ARGS` embedded (whatever stack variables
    /// the test has), on a free port, and waits until it answers.
    async fn start(args: &[&str]) -> Runner {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let mut process = Process::new(env!("CARGO_BIN_EXE_order-platform"));
        process.arg("serve").arg("--addr").arg(&addr).args(args).env("RUST_LOG", "warn");
        for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("AWS_ENDPOINT_URL")) {
            process.env_remove(name);
        }
        // The runner's own defaults: the README's service clients, bare scopes.
        process.env_remove("SERVICE_CLIENT_IDS").env_remove("SCOPE_PREFIX");
        let child = process.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
        let runner = Runner { child, base: format!("http://{addr}"), http: reqwest::Client::new() };
        let deadline = Instant::now() + Duration::from_secs(30);
        while runner.http.get(&runner.base).send().await.is_err() {
            assert!(Instant::now() < deadline, "the runner did not answer on {addr} within 30 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        runner
    }

    /// Status, JSON body and whether it challenged with `WWW-Authenticate: Bearer`.
    async fn send(&self, method: &str, path: &str, body: Option<&str>, bearer: Option<String>) -> (u16, Value, bool) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenged = response.headers().get("www-authenticate").is_some_and(|v| v == "Bearer");
        (status, response.json().await.unwrap(), challenged)
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where a test gets the bearer token for each kind of caller.
trait Tokens {
    async fn bearer(&self, token: Token) -> Option<String>;
}

/// The embedded runner's tokens: `order-platform token` for callers, and
/// its key (read as the runner reads it) for the tokens it must refuse.
struct RunnerTokens {
    key: PathBuf,
    issuer: LocalIssuer,
    other: LocalIssuer,
}

impl RunnerTokens {
    fn new(key: &Path) -> Self {
        let minted = token_command(key, &["--customer", OWNER]);
        let claims = claims(&minted);
        let (iss, aud) = (claims["iss"].as_str().unwrap(), claims["aud"].as_str().unwrap());
        RunnerTokens {
            key: key.to_owned(),
            issuer: LocalIssuer::load_or_create(key, iss, aud).unwrap(),
            other: LocalIssuer::generate(iss, aud).unwrap(),
        }
    }
}

impl Tokens for RunnerTokens {
    async fn bearer(&self, token: Token) -> Option<String> {
        let now = now();
        let signed = |claims: Value| self.issuer.sign(&claims);
        Some(match token {
            Token::None => return None,
            Token::Customer(id) => token_command(&self.key, &["--customer", id]),
            Token::Service(scopes) => service_token(&self.key, SERVICE_CLIENT, scopes),
            Token::UnlistedClient(scopes) => service_token(&self.key, UNLISTED_CLIENT, scopes),
            Token::UserWithScopes(id, scopes) => {
                let scopes = scopes.iter().map(|s| s.to_string()).collect();
                let lifetime = Duration::from_secs(300);
                self.issuer.mint(&TokenRequest {
                    subject: id.into(),
                    client_id: SERVICE_CLIENT.into(),
                    scopes,
                    lifetime,
                })
            }
            Token::Expired => signed(json!({
                "iss": self.issuer.issuer(), "aud": self.issuer.audience(), "sub": OWNER, "iat": now - 600, "exp": now - 60,
            })),
            Token::WrongAudience => signed(json!({
                "iss": self.issuer.issuer(), "aud": "another-api", "sub": OWNER, "iat": now, "exp": now + 300,
            })),
            Token::BadSignature => {
                let theirs = TokenRequest::customer(OWNER, "storefront", Duration::from_secs(300));
                with_signature_of(&token_command(&self.key, &["--customer", OWNER]), &self.other.mint(&theirs))
            }
        })
    }
}

fn service_token(key: &Path, client: &str, scopes: &[&str]) -> String {
    let mut args = vec!["--service", client];
    if !scopes.is_empty() {
        args.push("--scope");
        args.extend(scopes);
    }
    token_command(key, &args)
}

fn token_command(key: &Path, args: &[&str]) -> String {
    let output = Process::new(env!("CARGO_BIN_EXE_order-platform"))
        .arg("token")
        .arg("--issuer-key")
        .arg(key)
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(output.status.success(), "token {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// A JWT's claims, unverified (the test reads its own tokens).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The local stack's OIDC server (oauth2-mock-server, Cognito-shaped
/// tokens): customers sign in with the password grant, services use client
/// credentials.
struct OidcTokens {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    other: LocalIssuer,
}

impl OidcTokens {
    async fn request(&self, form: &[(&str, &str)]) -> String {
        let response = self.http.post(format!("{}/token", self.issuer)).form(form).send().await.unwrap();
        assert!(response.status().is_success(), "token endpoint: {}", response.status());
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn customer(&self, id: &str, client_id: &str, expires_in: &str) -> String {
        let form = [
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", id),
            ("password", "local"),
            ("expires_in", expires_in),
        ];
        self.request(&form).await
    }

    async fn client_credentials(&self, client_id: &str, scopes: &[&str]) -> String {
        let scope = scopes.join(" ");
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("aud", self.audience.as_str()),
            ("scope", &scope),
        ];
        self.request(&form).await
    }
}

impl Tokens for OidcTokens {
    async fn bearer(&self, token: Token) -> Option<String> {
        let audience = self.audience.as_str();
        Some(match token {
            Token::None => return None,
            Token::Customer(id) => self.customer(id, audience, "300").await,
            Token::Service(scopes) => self.client_credentials(SERVICE_CLIENT, scopes).await,
            Token::UnlistedClient(scopes) => self.client_credentials(UNLISTED_CLIENT, scopes).await,
            // A user signed in through the service's app client, which lets
            // its users ask for scopes (`aud` names this API, as an
            // authorizer listing that client would accept).
            Token::UserWithScopes(id, scopes) => {
                let scope = scopes.join(" ");
                let form = [
                    ("grant_type", "password"),
                    ("client_id", SERVICE_CLIENT),
                    ("aud", audience),
                    ("username", id),
                    ("password", "local"),
                    ("scope", &scope),
                ];
                self.request(&form).await
            }
            Token::Expired => self.customer(OWNER, audience, "-60").await,
            Token::WrongAudience => self.customer(OWNER, "another-api", "300").await,
            Token::BadSignature => {
                let theirs = TokenRequest::customer(OWNER, audience, Duration::from_secs(300));
                with_signature_of(&self.customer(OWNER, audience, "300").await, &self.other.mint(&theirs))
            }
        })
    }
}

/// Sets up an order of [`OWNER`] and a confirmed order of another customer
/// through the API, then runs the table.
async fn every_route_refuses_what_the_token_does_not_allow(runner: &Runner, tokens: &impl Tokens) {
    let operator = tokens.bearer(OPERATOR).await;
    let stock_path = format!("/inventory/{SKU}");
    let (status, body, _) = runner.send("PUT", &stock_path, Some(r#"{"available":100}"#), operator.clone()).await;
    assert_eq!(status, 200, "{body}");
    let (status, placed, _) =
        runner.send("POST", "/orders", Some(PLACE_OWN), tokens.bearer(Token::Customer(OWNER)).await).await;
    assert_eq!((status, &placed["customerId"]), (201, &json!(OWNER)), "{placed}");
    let own: OrderId = placed["orderId"].as_str().unwrap().parse().unwrap();
    let (status, other, _) =
        runner.send("POST", "/orders", Some(PLACE_OWN), tokens.bearer(Token::Customer("customer-3")).await).await;
    assert_eq!(status, 201, "{other}");
    let confirmed: OrderId = other["orderId"].as_str().unwrap().parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, order, _) = runner.send("GET", &format!("/orders/{confirmed}"), None, operator.clone()).await;
        if order["status"] == "CONFIRMED" {
            break;
        }
        assert!(Instant::now() < deadline, "the saga did not confirm {confirmed}: {order}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let snapshot = || async {
        let mut seen = Vec::new();
        for path in [format!("/orders/{own}/events"), format!("/orders/{confirmed}/events"), stock_path.clone()] {
            seen.push(runner.send("GET", &path, None, operator.clone()).await.1);
        }
        seen
    };
    let before = snapshot().await;

    let cases = cases(own, confirmed);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for case in cases {
        let (status, body, challenged) =
            runner.send(case.method, &case.path, case.body, tokens.bearer(case.token).await).await;
        let what = format!("{} ({} {} with {:?})", case.name, case.method, case.path, case.token);
        assert_eq!(status, case.status, "{what}: {body}");
        if status >= 400 {
            assert_eq!(body["status"], status, "{what}: problem+json");
        }
        assert_eq!(status == 401, challenged, "{what}: WWW-Authenticate: Bearer exactly on a 401");
        assert_eq!(snapshot().await, before, "{what} changed an order or the stock");
    }
}

mod memory {
    use super::*;

    #[tokio::test]
    async fn embedded_runner_with_its_own_tokens() {
        let state = tempdir();
        let key = state.join("issuer-key.pem");
        let runner = Runner::start(&["--auth", "embedded", "--issuer-key", key.to_str().unwrap()]).await;
        every_route_refuses_what_the_token_does_not_allow(&runner, &RunnerTokens::new(&key)).await;
    }

    fn tempdir() -> PathBuf {
        let dir = std::env::temp_dir().join(testkit::unique_name("runner-auth"));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

/// Needs the local stack's OIDC server.
mod stack {
    use super::*;

    #[tokio::test]
    async fn runner_trusting_the_local_stacks_oidc_server() {
        let issuer = std::env::var("OIDC_ISSUER").expect(
            "OIDC_ISSUER is not set: this test needs the local stack's OIDC server. \
             Run `scripts/test`, or `scripts/local-stack up && eval \"$(scripts/local-stack env)\"` first.",
        );
        let audience = std::env::var("OIDC_AUDIENCE").unwrap_or_else(|_| "order-platform".into());
        let runner = Runner::start(&["--auth", "oidc", "--issuer", &issuer, "--audience", &audience]).await;
        let other = LocalIssuer::generate(&issuer, &audience).unwrap();
        let tokens = OidcTokens { issuer, audience, http: reqwest::Client::new(), other };
        every_route_refuses_what_the_token_does_not_allow(&runner, &tokens).await;
    }
}
