//! The authorization code flow with PKCE (RFC 6749 §4.1, RFC 7636 S256),
//! without HTTP: what an authorization request must say, the one-time codes
//! it is answered with, and the exchange of a code for tokens. The tokens
//! are the [`LocalIssuer`]'s, so the API accepts them exactly as it accepts
//! `order-platform token --customer …`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use domain::access::Scope;
use domain::CustomerId;
use local_aws::issuer::{LocalIssuer, TokenRequest};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;

/// How long a code may wait for its exchange (RFC 6749 advises at most ten
/// minutes; a browser redirect takes a second).
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// How long the access and ID tokens are valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// How long the issuer remembers who signed in on a browser, as Cognito's
/// sign-in session does: within it, an authorization request is answered
/// without the form (a page reloaded after sign-in gets new tokens at once).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(3600);

/// The query (and the sign-in form) of `GET /authorize`, as the client sent it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub scope: String,
    pub state: Option<String>,
    #[serde(default)]
    pub code_challenge: String,
    #[serde(default)]
    pub code_challenge_method: String,
    pub nonce: Option<String>,
    /// OpenID Connect's `prompt`: `none` (answer from the session or with
    /// `login_required`, never the form) or `login` (the form, session or not).
    pub prompt: Option<String>,
}

/// Why an authorization request is refused. Each is shown to the person
/// on a page rather than sent to `redirect_uri`: a stand-in for local use
/// tells the developer plainly what their client got wrong.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizeError {
    #[error("unknown client_id {0:?}: this issuer knows only {1:?}")]
    UnknownClient(String, String),
    #[error("redirect_uri {0:?} is not allowed: it must be an http(s) URL on this machine (127.0.0.1, localhost or [::1]) without a fragment")]
    RedirectUri(String),
    #[error("response_type must be \"code\" (the authorization code flow), not {0:?}")]
    ResponseType(String),
    #[error("code_challenge_method must be \"S256\" (PKCE), not {0:?}")]
    ChallengeMethod(String),
    #[error("code_challenge must be 43 characters of base64url (a SHA-256 digest), got {0:?}")]
    Challenge(String),
    #[error("scope must include \"openid\" and no service scope (a customer signs in here), got {0:?}")]
    Scope(String),
    #[error("customer id: {0}")]
    Customer(&'static str),
}

/// Why a code was not exchanged: RFC 6749 §5.2's `error` and a description.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("grant_type must be authorization_code, not {0:?}")]
    UnsupportedGrantType(String),
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("the code is unknown or was already used")]
    UnknownCode,
    #[error("the code has expired")]
    Expired,
    #[error("the code was issued to another client")]
    Client,
    #[error("redirect_uri differs from the authorization request's")]
    RedirectUri,
    #[error("code_verifier does not match the code_challenge")]
    Verifier,
}

impl TokenError {
    /// The `error` member of the JSON answer.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::UnsupportedGrantType(_) => "unsupported_grant_type",
            TokenError::Missing(_) => "invalid_request",
            _ => "invalid_grant",
        }
    }
}

/// The form of `POST /token`.
#[derive(Debug, Default, Deserialize)]
pub struct TokenParams {
    #[serde(default)]
    pub grant_type: String,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
}

/// The JSON answer of `POST /token`.
#[derive(Debug, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub id_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub scope: String,
}

struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    subject: String,
    nonce: Option<String>,
    scope: String,
    expires: Instant,
}

#[derive(Serialize)]
struct IdClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    iat: u64,
    auth_time: u64,
    exp: u64,
}

struct Session {
    customer: String,
    expires: Instant,
}

/// The issuer's sign-in for one public client (the storefront).
pub struct Provider {
    issuer: LocalIssuer,
    client_id: String,
    codes: Mutex<HashMap<String, Grant>>,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Provider {
    pub fn new(issuer: LocalIssuer, client_id: impl Into<String>) -> Self {
        Provider {
            issuer,
            client_id: client_id.into(),
            codes: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    pub fn issuer(&self) -> &LocalIssuer {
        &self.issuer
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Checks an authorization request before the sign-in form is shown.
    pub fn check(&self, params: &AuthorizeParams) -> Result<(), AuthorizeError> {
        if params.client_id != self.client_id {
            return Err(AuthorizeError::UnknownClient(params.client_id.clone(), self.client_id.clone()));
        }
        if !is_loopback_redirect(&params.redirect_uri) {
            return Err(AuthorizeError::RedirectUri(params.redirect_uri.clone()));
        }
        if params.response_type != "code" {
            return Err(AuthorizeError::ResponseType(params.response_type.clone()));
        }
        if params.code_challenge_method != "S256" {
            return Err(AuthorizeError::ChallengeMethod(params.code_challenge_method.clone()));
        }
        let challenge = &params.code_challenge;
        if challenge.len() != 43 || URL_SAFE_NO_PAD.decode(challenge).is_err() {
            return Err(AuthorizeError::Challenge(challenge.clone()));
        }
        let scopes: Vec<&str> = params.scope.split_whitespace().collect();
        if !scopes.contains(&"openid") || scopes.iter().any(|s| Scope::parse(s).is_some()) {
            return Err(AuthorizeError::Scope(params.scope.clone()));
        }
        Ok(())
    }

    /// Signs `customer` in: a one-time code for the request, and the URL
    /// that takes the browser back to the client with it.
    pub fn authorize(&self, params: &AuthorizeParams, customer: &str, now: Instant) -> Result<Url, AuthorizeError> {
        self.check(params)?;
        let customer = CustomerId::parse(customer.trim()).map_err(AuthorizeError::Customer)?;
        let code = random_token();
        let grant = Grant {
            client_id: params.client_id.clone(),
            redirect_uri: params.redirect_uri.clone(),
            code_challenge: params.code_challenge.clone(),
            subject: customer.as_str().to_owned(),
            nonce: params.nonce.clone(),
            scope: params.scope.clone(),
            expires: now + CODE_LIFETIME,
        };
        let mut codes = self.codes.lock().expect("codes lock");
        codes.retain(|_, grant| grant.expires > now);
        codes.insert(code.clone(), grant);
        back_to_client(params, "code", &code)
    }

    /// The URL that takes the browser back to the client with an OAuth
    /// `error` (`login_required`: `prompt=none` and no session).
    pub fn refuse(&self, params: &AuthorizeParams, error: &str) -> Result<Url, AuthorizeError> {
        self.check(params)?;
        back_to_client(params, "error", error)
    }

    /// Remembers that `customer` signed in on a browser, for
    /// [`SESSION_LIFETIME`]: the id its session cookie carries.
    pub fn start_session(&self, customer: &str, now: Instant) -> String {
        let id = random_token();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, session| session.expires > now);
        sessions.insert(id.clone(), Session { customer: customer.trim().to_owned(), expires: now + SESSION_LIFETIME });
        id
    }

    /// Who is signed in on the session `id`, while it lasts.
    pub fn session(&self, id: &str, now: Instant) -> Option<String> {
        let sessions = self.sessions.lock().expect("sessions lock");
        sessions.get(id).filter(|session| session.expires > now).map(|session| session.customer.clone())
    }

    /// Exchanges a code for tokens. A code is taken out on its first
    /// exchange, whatever the outcome, so it never works twice.
    pub fn exchange(&self, params: &TokenParams, now: Instant) -> Result<Tokens, TokenError> {
        if params.grant_type != "authorization_code" {
            return Err(TokenError::UnsupportedGrantType(params.grant_type.clone()));
        }
        let code = params.code.as_deref().ok_or(TokenError::Missing("code"))?;
        let verifier = params.code_verifier.as_deref().ok_or(TokenError::Missing("code_verifier"))?;
        let grant = self.codes.lock().expect("codes lock").remove(code).ok_or(TokenError::UnknownCode)?;
        if grant.expires <= now {
            return Err(TokenError::Expired);
        }
        if params.client_id.as_deref() != Some(grant.client_id.as_str()) {
            return Err(TokenError::Client);
        }
        if params.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Err(TokenError::RedirectUri);
        }
        if s256(verifier) != grant.code_challenge {
            return Err(TokenError::Verifier);
        }
        let access_token = self.issuer.mint(&TokenRequest::customer(&grant.subject, &grant.client_id, TOKEN_LIFETIME));
        let issued = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        let id_token = self.issuer.sign(&IdClaims {
            iss: self.issuer.issuer(),
            aud: &grant.client_id,
            sub: &grant.subject,
            nonce: grant.nonce.as_deref(),
            iat: issued,
            auth_time: issued,
            exp: issued + TOKEN_LIFETIME.as_secs(),
        });
        Ok(Tokens {
            access_token,
            id_token,
            token_type: "Bearer",
            expires_in: TOKEN_LIFETIME.as_secs(),
            scope: grant.scope,
        })
    }
}

/// 32 random bytes, base64url: a code or a session id.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `redirect_uri` with `name=value` and the request's `state`.
fn back_to_client(params: &AuthorizeParams, name: &str, value: &str) -> Result<Url, AuthorizeError> {
    let mut back =
        Url::parse(&params.redirect_uri).map_err(|_| AuthorizeError::RedirectUri(params.redirect_uri.clone()))?;
    back.query_pairs_mut().append_pair(name, value);
    if let Some(state) = &params.state {
        back.query_pairs_mut().append_pair("state", state);
    }
    Ok(back)
}

/// PKCE's S256: BASE64URL(SHA-256(verifier)).
pub fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 8252 §7.3's loopback redirect: a browser on this machine only, so no
/// other site can receive a code this issuer hands out.
fn is_loopback_redirect(redirect_uri: &str) -> bool {
    let Ok(url) = Url::parse(redirect_uri) else { return false };
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    matches!(url.scheme(), "http" | "https") && loopback && url.fragment().is_none()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const REDIRECT: &str = "http://127.0.0.1:3000/shop/rods/muskie-casting-rod/";

    /// A JWT's claims, unverified (the signature is the authorizer's to check).
    fn claims(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).expect("a JWT");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    fn provider() -> Provider {
        let issuer = LocalIssuer::generate("http://127.0.0.1/runner", "order-platform").unwrap();
        Provider::new(issuer, "storefront")
    }

    fn request() -> AuthorizeParams {
        AuthorizeParams {
            response_type: "code".into(),
            client_id: "storefront".into(),
            redirect_uri: REDIRECT.into(),
            scope: "openid".into(),
            state: Some("st-1".into()),
            code_challenge: s256(VERIFIER),
            code_challenge_method: "S256".into(),
            nonce: Some("n-1".into()),
            prompt: None,
        }
    }

    fn code_of(url: &Url) -> String {
        let query: HashMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query.get("state").map(String::as_str), Some("st-1"), "{url}");
        query["code"].clone()
    }

    fn exchange_params(code: &str) -> TokenParams {
        TokenParams {
            grant_type: "authorization_code".into(),
            code: Some(code.into()),
            redirect_uri: Some(REDIRECT.into()),
            client_id: Some("storefront".into()),
            code_verifier: Some(VERIFIER.into()),
        }
    }

    #[test]
    fn s256_is_rfc_7636_appendix_b() {
        assert_eq!(s256(VERIFIER), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn a_code_exchanged_with_its_verifier_gives_the_tokens_the_api_accepts() {
        let provider = provider();
        let now = Instant::now();
        let back = provider.authorize(&request(), " angler-7 ", now).unwrap();
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        let tokens = provider.exchange(&exchange_params(&code_of(&back)), now).unwrap();

        let authorizer = local_aws::authorizer::JwtAuthorizer::new(
            provider.issuer().issuer(),
            provider.issuer().audience(),
            provider.issuer().jwks().clone(),
        );
        let accepted = authorizer.claims(Some(&format!("Bearer {}", tokens.access_token))).unwrap();
        assert_eq!(accepted["sub"], "angler-7");
        assert_eq!(accepted["aud"], "order-platform");
        assert_eq!(accepted["client_id"], "storefront", "a customer signed in through the storefront's client");
        assert!(!accepted.contains_key("scope"), "a customer's token has no service scope: {accepted:?}");

        let id = claims(&tokens.id_token);
        assert_eq!(
            (id["sub"].as_str(), id["aud"].as_str(), id["nonce"].as_str()),
            (Some("angler-7"), Some("storefront"), Some("n-1"))
        );
        assert_eq!(id["iss"], "http://127.0.0.1/runner");
        assert_eq!((tokens.token_type, tokens.expires_in, tokens.scope.as_str()), ("Bearer", 3600, "openid"));
    }

    #[test]
    fn a_wrong_verifier_is_refused_and_burns_the_code() {
        let provider = provider();
        let now = Instant::now();
        let code = code_of(&provider.authorize(&request(), "angler-7", now).unwrap());
        let wrong = TokenParams { code_verifier: Some(format!("{VERIFIER}x")), ..exchange_params(&code) };
        assert_eq!(provider.exchange(&wrong, now).unwrap_err(), TokenError::Verifier);
        assert_eq!(provider.exchange(&exchange_params(&code), now).unwrap_err(), TokenError::UnknownCode);
    }

    #[test]
    fn a_code_works_once() {
        let provider = provider();
        let now = Instant::now();
        let code = code_of(&provider.authorize(&request(), "angler-7", now).unwrap());
        provider.exchange(&exchange_params(&code), now).unwrap();
        let again = provider.exchange(&exchange_params(&code), now).unwrap_err();
        assert_eq!((again.code(), again), ("invalid_grant", TokenError::UnknownCode));
    }

    #[test]
    fn an_expired_code_is_refused() {
        let provider = provider();
        let now = Instant::now();
        let code = code_of(&provider.authorize(&request(), "angler-7", now).unwrap());
        let later = now + CODE_LIFETIME;
        assert_eq!(provider.exchange(&exchange_params(&code), later).unwrap_err(), TokenError::Expired);
    }

    #[test]
    fn the_exchange_must_name_the_same_redirect_uri_and_client() {
        let provider = provider();
        let now = Instant::now();
        let code = code_of(&provider.authorize(&request(), "angler-7", now).unwrap());
        let elsewhere =
            TokenParams { redirect_uri: Some("http://127.0.0.1:3000/other/".into()), ..exchange_params(&code) };
        assert_eq!(provider.exchange(&elsewhere, now).unwrap_err(), TokenError::RedirectUri);

        let code = code_of(&provider.authorize(&request(), "angler-7", now).unwrap());
        let other = TokenParams { client_id: Some("someone-else".into()), ..exchange_params(&code) };
        assert_eq!(provider.exchange(&other, now).unwrap_err(), TokenError::Client);
    }

    #[test]
    fn token_requests_missing_a_part_say_which() {
        let provider = provider();
        let now = Instant::now();
        let refresh = TokenParams { grant_type: "refresh_token".into(), ..exchange_params("x") };
        let refused = provider.exchange(&refresh, now).unwrap_err();
        assert_eq!(
            (refused.code(), refused),
            ("unsupported_grant_type", TokenError::UnsupportedGrantType("refresh_token".into()))
        );
        let no_verifier = TokenParams { code_verifier: None, ..exchange_params("x") };
        let refused = provider.exchange(&no_verifier, now).unwrap_err();
        assert_eq!((refused.code(), refused), ("invalid_request", TokenError::Missing("code_verifier")));
    }

    #[test]
    fn a_session_remembers_the_customer_for_its_lifetime_only() {
        let provider = provider();
        let now = Instant::now();
        let id = provider.start_session(" angler-7 ", now);
        assert_eq!(provider.session(&id, now + SESSION_LIFETIME / 2).as_deref(), Some("angler-7"));
        assert_eq!(provider.session(&id, now + SESSION_LIFETIME), None, "expired");
        assert_eq!(provider.session("not-a-session", now), None);
        assert_ne!(provider.start_session("angler-7", now), id, "each sign-in its own session");
    }

    #[test]
    fn a_refusal_goes_back_to_the_client_with_the_error_and_the_state() {
        let provider = provider();
        let back = provider.refuse(&request(), "login_required").unwrap();
        assert_eq!(back.as_str(), format!("{REDIRECT}?error=login_required&state=st-1"));
        let elsewhere = AuthorizeParams { redirect_uri: "https://evil.example/cb".into(), ..request() };
        assert!(matches!(provider.refuse(&elsewhere, "login_required"), Err(AuthorizeError::RedirectUri(_))));
    }

    #[test]
    fn authorization_requests_are_checked_part_by_part() {
        let provider = provider();
        let refused = |change: fn(&mut AuthorizeParams)| {
            let mut params = request();
            change(&mut params);
            provider.check(&params).unwrap_err()
        };
        assert!(matches!(refused(|p| p.client_id = "other".into()), AuthorizeError::UnknownClient(..)));
        for uri in ["https://evil.example/cb", "http://127.0.0.1:3000/cb#frag", "javascript:alert(1)", "not a url"] {
            let mut params = request();
            params.redirect_uri = uri.into();
            assert_eq!(provider.check(&params).unwrap_err(), AuthorizeError::RedirectUri(uri.into()));
        }
        for uri in ["http://localhost:8080/cb", "http://[::1]:3000/", "https://127.0.0.2/x"] {
            let mut params = request();
            params.redirect_uri = uri.into();
            provider.check(&params).unwrap();
        }
        assert!(matches!(refused(|p| p.response_type = "token".into()), AuthorizeError::ResponseType(_)));
        assert!(matches!(refused(|p| p.code_challenge_method = "plain".into()), AuthorizeError::ChallengeMethod(_)));
        assert!(matches!(refused(|p| p.code_challenge = "short".into()), AuthorizeError::Challenge(_)));
        assert!(matches!(refused(|p| p.scope = "profile".into()), AuthorizeError::Scope(_)));
        assert!(matches!(refused(|p| p.scope = "openid orders:write".into()), AuthorizeError::Scope(_)));
        assert!(matches!(provider.authorize(&request(), "", Instant::now()), Err(AuthorizeError::Customer(_))));
    }
}
