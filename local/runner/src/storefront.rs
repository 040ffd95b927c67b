//! The hot product's page, embedded in the binary so `cargo run` serves it
//! from any directory: the files of `storefront/` byte for byte, as S3
//! serves them in AWS, plus the `config.json` that tells the page where the
//! API and the issuer are (in AWS the deployer uploads that file).

use axum::extract::OriginalUri;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Router;
use include_dir::{include_dir, Dir};
use serde::Serialize;

/// Where the page lives, locally and behind CloudFront.
pub const PATH: &str = "/shop/rods/muskie-casting-rod";
/// The storefront's OAuth client id at the embedded issuer.
pub const CLIENT_ID: &str = "storefront";

static FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../storefront");

/// The page's runtime settings (`config.json`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageConfig {
    /// Where the page sends API calls: `/api`, the same path as behind CloudFront.
    pub api_base: String,
    /// The OpenID issuer's URL (its discovery document's base); relative
    /// URLs are resolved against the page.
    pub authority: String,
    pub client_id: String,
    pub scope: String,
}

/// The page's files under [`PATH`]; `config.json` is `config`.
pub fn router(config: PageConfig) -> Router {
    let config = serde_json::to_vec_pretty(&config).expect("the config serializes");
    Router::new().fallback(move |method: Method, uri: Uri, original: OriginalUri| {
        let config = config.clone();
        async move { serve(&method, &uri, &original.0, config) }
    })
}

fn serve(method: &Method, uri: &Uri, original: &Uri, config: Vec<u8>) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET, HEAD")], "the page is read-only\n")
            .into_response();
    }
    // Relative links in the page need the directory's trailing slash.
    if uri.path() == "/" && !original.path().ends_with('/') {
        return Redirect::permanent(&format!("{}/", original.path())).into_response();
    }
    let name = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        name => name,
    };
    let (body, content_type) = match (name, FILES.get_file(name)) {
        ("config.json", _) => (config, "application/json".to_owned()),
        (_, Some(file)) => (file.contents().to_vec(), mime_guess::from_path(name).first_or_octet_stream().to_string()),
        (_, None) => return (StatusCode::NOT_FOUND, format!("no file {name} in the storefront\n")).into_response(),
    };
    // Revalidate every time: a changed page shows on the next reload.
    ([(header::CONTENT_TYPE, content_type.as_str()), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    fn config() -> PageConfig {
        PageConfig {
            api_base: "/api".into(),
            authority: "/oidc".into(),
            client_id: CLIENT_ID.into(),
            scope: "openid".into(),
        }
    }

    fn app() -> Router {
        Router::new().nest_service(PATH, router(config()))
    }

    async fn get(path: &str) -> (StatusCode, Option<String>, Vec<u8>) {
        let response = app().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_owned());
        let location = response.headers().get(header::LOCATION).map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
        (status, location.or(content_type), body)
    }

    fn files(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, found);
            } else {
                found.push(path);
            }
        }
    }

    #[tokio::test]
    async fn serves_every_file_of_the_storefront_folder_byte_for_byte() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../storefront");
        let mut found = Vec::new();
        files(&root, &mut found);
        assert!(found.len() >= 4, "{found:?}");
        for path in found {
            let name = path.strip_prefix(&root).unwrap().to_str().unwrap().replace('\\', "/");
            let (status, _, body) = get(&format!("{PATH}/{name}")).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert!(body == std::fs::read(&path).unwrap(), "{name} is served as it is on disk");
        }
    }

    #[tokio::test]
    async fn the_page_is_the_index_under_its_directory_and_the_bare_path_redirects_there() {
        let (status, content_type, body) = get(&format!("{PATH}/")).await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("text/html")));
        assert!(String::from_utf8(body).unwrap().contains("Muskie casting rod"));
        let (status, location, _) = get(PATH).await;
        assert_eq!((status, location), (StatusCode::PERMANENT_REDIRECT, Some(format!("{PATH}/"))));
        let (status, content_type, _) = get(&format!("{PATH}/storefront.js")).await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("text/javascript")));
        assert_eq!(get(&format!("{PATH}/nothing.html")).await.0, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn config_json_tells_the_page_where_the_api_and_the_issuer_are() {
        let (status, content_type, body) = get(&format!("{PATH}/config.json")).await;
        assert_eq!((status, content_type.as_deref()), (StatusCode::OK, Some("application/json")));
        let config: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            config,
            serde_json::json!({"apiBase": "/api", "authority": "/oidc", "clientId": "storefront", "scope": "openid"})
        );
    }
}
