//! The endpoints over HTTP. Authorization errors are pages a person reads;
//! token errors are RFC 6749 §5.2 JSON, which the client library reads.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use html_escape::{encode_double_quoted_attribute as attr, encode_text as text};
use serde::Deserialize;
use serde_json::json;

use crate::provider::{AuthorizeError, AuthorizeParams, Provider, TokenParams, SESSION_LIFETIME};

#[derive(Clone)]
struct Oidc {
    provider: Arc<Provider>,
    /// Where the router is mounted (`/oidc`): the discovery document names
    /// absolute endpoint URLs.
    mount: String,
}

/// The endpoints, to be mounted at `mount` (which the discovery document
/// puts into each endpoint's URL).
pub fn router(provider: Arc<Provider>, mount: &str) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks.json", get(jwks))
        .route("/authorize", get(sign_in_form).post(sign_in))
        .route("/token", axum::routing::post(token))
        .with_state(Oidc { provider, mount: mount.trim_end_matches('/').to_owned() })
}

/// The endpoints are named on the host the browser used (127.0.0.1 or
/// localhost, any port): the runner cannot know it before the request.
async fn discovery(State(oidc): State<Oidc>, headers: HeaderMap) -> Json<serde_json::Value> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    let base = format!("http://{host}{}", oidc.mount);
    Json(json!({
        // What tokens name in `iss`, so a client can compare; the API's
        // authorizer checks exactly this value.
        "issuer": oidc.provider.issuer().issuer(),
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks.json"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid"],
    }))
}

async fn jwks(State(oidc): State<Oidc>) -> Json<serde_json::Value> {
    Json(json!(oidc.provider.issuer().jwks()))
}

/// The session cookie: who signed in on this browser (HttpOnly, so the
/// client's pages cannot read it; only the issuer's paths get it).
const SESSION_COOKIE: &str = "oidc-session";

/// With a session, the code at once (as Cognito answers a browser that
/// signed in before), unless `prompt=login`; without one, the form, or
/// `login_required` for `prompt=none`.
async fn sign_in_form(State(oidc): State<Oidc>, headers: HeaderMap, Query(params): Query<AuthorizeParams>) -> Response {
    if let Err(refused) = oidc.provider.check(&params) {
        return refused_page(&refused);
    }
    let now = Instant::now();
    let signed_in = session_id(&headers).and_then(|id| oidc.provider.session(id, now));
    let back = match (signed_in, params.prompt.as_deref()) {
        (Some(customer), prompt) if prompt != Some("login") => oidc.provider.authorize(&params, &customer, now),
        (_, Some("none")) => oidc.provider.refuse(&params, "login_required"),
        _ => return form_page(&params, None),
    };
    match back {
        Ok(back) => Redirect::to(back.as_str()).into_response(),
        Err(refused) => refused_page(&refused),
    }
}

fn session_id(headers: &HeaderMap) -> Option<&str> {
    let cookies = headers.get_all(header::COOKIE).into_iter().filter_map(|value| value.to_str().ok());
    cookies
        .flat_map(|cookies| cookies.split(';'))
        .find_map(|cookie| cookie.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

#[derive(Deserialize)]
struct SignIn {
    #[serde(default)]
    customer: String,
    #[serde(flatten)]
    params: AuthorizeParams,
}

async fn sign_in(State(oidc): State<Oidc>, form: Result<Form<SignIn>, FormRejection>) -> Response {
    let Form(SignIn { customer, params }) = match form {
        Ok(form) => form,
        Err(rejection) => {
            return page(StatusCode::BAD_REQUEST, "Sign-in refused", &error_paragraph(&rejection.body_text()))
        }
    };
    let now = Instant::now();
    match oidc.provider.authorize(&params, &customer, now) {
        Ok(back) => {
            let session = oidc.provider.start_session(&customer, now);
            let cookie = format!(
                "{SESSION_COOKIE}={session}; Path={}/; Max-Age={}; HttpOnly; SameSite=Lax",
                oidc.mount,
                SESSION_LIFETIME.as_secs()
            );
            ([(header::SET_COOKIE, cookie)], Redirect::to(back.as_str())).into_response()
        }
        Err(AuthorizeError::Customer(reason)) => {
            let mut response = form_page(&params, Some(&format!("Customer id: {reason}."))).into_response();
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
        Err(refused) => refused_page(&refused),
    }
}

async fn token(State(oidc): State<Oidc>, form: Result<Form<TokenParams>, FormRejection>) -> Response {
    let answer = match form {
        Ok(Form(params)) => match oidc.provider.exchange(&params, Instant::now()) {
            Ok(tokens) => (StatusCode::OK, Json(json!(tokens))),
            Err(refused) => {
                tracing::info!(%refused, "token request refused");
                let body = json!({ "error": refused.code(), "error_description": refused.to_string() });
                (StatusCode::BAD_REQUEST, Json(body))
            }
        },
        Err(rejection) => {
            let body = json!({ "error": "invalid_request", "error_description": rejection.body_text() });
            (StatusCode::BAD_REQUEST, Json(body))
        }
    };
    // RFC 6749 §5.1: tokens are never cached.
    ([(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], answer).into_response()
}

fn refused_page(refused: &AuthorizeError) -> Response {
    tracing::info!(%refused, "authorization request refused");
    page(StatusCode::BAD_REQUEST, "Sign-in request refused", &error_paragraph(&refused.to_string()))
}

fn error_paragraph(message: &str) -> String {
    format!(r#"<p role="alert" class="error">{}</p>"#, text(message))
}

/// The sign-in form; the request's parameters ride along as hidden fields.
fn form_page(params: &AuthorizeParams, error: Option<&str>) -> Response {
    let hidden = serde_json::to_value(params)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, value)| value.as_str().map(|v| (name, v.to_owned())))
        .map(|(name, value)| format!(r#"<input type="hidden" name="{}" value="{}">"#, attr(&name), attr(&value)))
        .collect::<String>();
    let (error, invalid) = match error {
        Some(message) => (
            format!(r#"<p id="customer-error" role="alert" class="error">{}</p>"#, text(message)),
            r#" aria-invalid="true" aria-describedby="customer-error""#,
        ),
        None => (String::new(), ""),
    };
    let body = format!(
        r#"<p>This is the local runner's stand-in for a real sign-in: no password, you choose who you are.</p>
{error}<form method="post" action="authorize">
<label for="customer">Sign in as customer id</label>
<input id="customer" name="customer" required maxlength="128" autocomplete="username" autofocus{invalid}>
{hidden}
<button type="submit">Sign in</button>
</form>"#
    );
    page(StatusCode::OK, "Sign in", &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · order platform (local)</title>
<style>body{{font:1.05rem/1.5 system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
label,input,button{{display:block;font:inherit;margin:.5rem 0}}input{{width:100%;padding:.5rem;box-sizing:border-box}}
button{{padding:.6rem 1.2rem}}.error{{color:#a30000;font-weight:600}}:focus-visible{{outline:3px solid #0b5fff;outline-offset:2px}}</style>
</head>
<body><main><h1>{title}</h1>
{body}
</main></body></html>
"#,
        title = text(title)
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use local_aws::issuer::LocalIssuer;
    use tower::ServiceExt;

    use super::*;
    use crate::provider::s256;

    const VERIFIER: &str = "a-verifier-of-the-storefront-that-is-long-enough-0123456789";
    const REDIRECT: &str = "http://localhost:3000/shop/rods/muskie-casting-rod/";

    fn app() -> Router {
        let issuer = LocalIssuer::generate("http://127.0.0.1/runner", "order-platform").unwrap();
        router(Arc::new(Provider::new(issuer, "storefront")), "/oidc")
    }

    async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let response = app.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap();
        (parts.status, parts.headers, body)
    }

    fn form(path: &str, body: String) -> Request<Body> {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    }

    fn authorize_query(client_id: &str) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", REDIRECT)
            .append_pair("scope", "openid")
            .append_pair("state", "s<1>")
            .append_pair("code_challenge", &s256(VERIFIER))
            .append_pair("code_challenge_method", "S256")
            .finish()
    }

    #[tokio::test]
    async fn discovery_names_the_endpoints_on_the_host_the_browser_used() {
        let request = Request::get("/.well-known/openid-configuration")
            .header(header::HOST, "localhost:4321")
            .body(Body::empty());
        let (status, _, body) = send(&app(), request.unwrap()).await;
        assert_eq!(status, StatusCode::OK);
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(doc["issuer"], "http://127.0.0.1/runner");
        assert_eq!(doc["authorization_endpoint"], "http://localhost:4321/oidc/authorize");
        assert_eq!(doc["token_endpoint"], "http://localhost:4321/oidc/token");
        assert_eq!(doc["jwks_uri"], "http://localhost:4321/oidc/jwks.json");
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        let (_, _, keys) = send(&app(), Request::get("/jwks.json").body(Body::empty()).unwrap()).await;
        assert_eq!(serde_json::from_str::<serde_json::Value>(&keys).unwrap()["keys"][0]["alg"], "RS256");
    }

    #[tokio::test]
    async fn sign_in_form_then_code_then_tokens() {
        let app = app();
        let request =
            Request::get(format!("/authorize?{}", authorize_query("storefront"))).body(Body::empty()).unwrap();
        let (status, _, page) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK);
        assert!(page.contains(r#"<label for="customer">Sign in as customer id</label>"#), "{page}");
        assert!(page.contains(r#"name="state" value="s&lt;1&gt;""#), "hidden fields are escaped: {page}");

        let (status, _, page) =
            send(&app, form("/authorize", format!("{}&customer=", authorize_query("storefront")))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(page.contains(r#"role="alert""#) && page.contains(r#"aria-invalid="true""#), "{page}");

        let (status, headers, _) =
            send(&app, form("/authorize", format!("{}&customer=angler-7", authorize_query("storefront")))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let back = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
        let code = back.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
        assert_eq!(back.query_pairs().find(|(k, _)| k == "state").unwrap().1, "s<1>");

        let exchange = |verifier: &str| {
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", &code)
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("client_id", "storefront")
                .append_pair("code_verifier", verifier)
                .finish()
        };
        let (status, headers, body) = send(&app, form("/token", exchange(VERIFIER))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let tokens: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(tokens["token_type"], "Bearer");
        assert!(tokens["access_token"].as_str().unwrap().split('.').count() == 3);

        let (status, _, body) = send(&app, form("/token", exchange(VERIFIER))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"], "invalid_grant");
    }

    fn query_of(headers: &HeaderMap) -> HashMap<String, String> {
        let back = url::Url::parse(headers[header::LOCATION].to_str().unwrap()).unwrap();
        assert!(back.as_str().starts_with(REDIRECT), "{back}");
        back.query_pairs().into_owned().collect()
    }

    #[tokio::test]
    async fn a_browser_signed_in_before_gets_a_code_without_the_form_while_its_session_lasts() {
        let app = app();
        let authorize = |prompt: Option<&str>, cookie: Option<&str>| {
            let prompt = prompt.map(|p| format!("&prompt={p}")).unwrap_or_default();
            let request = Request::get(format!("/authorize?{}{prompt}", authorize_query("storefront")));
            let request = match cookie {
                Some(cookie) => request.header(header::COOKIE, cookie),
                None => request,
            };
            request.body(Body::empty()).unwrap()
        };

        let (status, headers, _) = send(&app, authorize(Some("none"), None)).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "prompt=none without a session: back to the client");
        let query = query_of(&headers);
        assert_eq!((query["error"].as_str(), query["state"].as_str()), ("login_required", "s<1>"));
        assert!(!query.contains_key("code"));

        let (status, headers, _) =
            send(&app, form("/authorize", format!("{}&customer=angler-7", authorize_query("storefront")))).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        let set_cookie = headers[header::SET_COOKIE].to_str().unwrap();
        assert!(set_cookie.starts_with("oidc-session="), "{set_cookie}");
        for attribute in ["; Path=/oidc/", "; HttpOnly", "; SameSite=Lax", "; Max-Age=3600"] {
            assert!(set_cookie.contains(attribute), "{set_cookie} has {attribute}");
        }
        let session = set_cookie.split(';').next().unwrap().to_owned();
        let cookies = format!("theme=dark; {session}");

        for prompt in [None, Some("none")] {
            let (status, headers, _) = send(&app, authorize(prompt, Some(&cookies))).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{prompt:?} with the session: no form");
            let code = query_of(&headers)["code"].clone();
            let exchange = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", &code)
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("client_id", "storefront")
                .append_pair("code_verifier", VERIFIER)
                .finish();
            let (status, _, body) = send(&app, form("/token", exchange)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let id_token = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id_token"].clone();
            let payload = id_token.as_str().unwrap().split('.').nth(1).unwrap().to_owned();
            let claims: serde_json::Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
            )
            .unwrap();
            assert_eq!(claims["sub"], "angler-7", "the session's customer");
        }

        let (status, _, page) = send(&app, authorize(Some("login"), Some(&cookies))).await;
        assert_eq!(status, StatusCode::OK, "prompt=login asks again");
        assert!(page.contains("Sign in as customer id"), "{page}");
        let (status, _, _) = send(&app, authorize(None, Some("oidc-session=forged"))).await;
        assert_eq!(status, StatusCode::OK, "an unknown session is none");
    }

    #[tokio::test]
    async fn a_bad_authorization_request_gets_a_page_saying_what_is_wrong() {
        let request = Request::get(format!("/authorize?{}", authorize_query("nobody"))).body(Body::empty()).unwrap();
        let (status, headers, page) = send(&app(), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
        assert!(page.contains(r#"unknown client_id "nobody""#), "{page}");
    }

    #[tokio::test]
    async fn a_token_request_that_is_not_a_form_is_an_invalid_request() {
        let request =
            Request::post("/token").header(header::CONTENT_TYPE, "application/json").body(Body::from("{}")).unwrap();
        let (status, _, body) = send(&app(), request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"], "invalid_request");
    }
}
