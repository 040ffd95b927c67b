use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Which requests a [`Fault`] may answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation {
    Any,
    /// One API operation, by name: `X-Amz-Target: <service>.<name>` (JSON
    /// protocols, DynamoDB) or `Action=<name>` in the form body (query
    /// protocol, SNS).
    Named(&'static str),
}

impl Operation {
    fn matches(&self, request: &http::request::Parts, body: &[u8]) -> bool {
        let Operation::Named(name) = self else { return true };
        let target = request.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        if target.and_then(|t| t.rsplit('.').next()) == Some(name) {
            return true;
        }
        let action = format!("Action={name}");
        std::str::from_utf8(body).is_ok_and(|form| form.split('&').any(|pair| pair == action))
    }
}

/// An error answer for a share of the requests of one operation.
#[derive(Clone, Debug)]
pub struct Fault {
    pub operation: Operation,
    /// Share of the matching requests answered with an error, 0 to 1:
    /// spread evenly (with 0.25, every fourth), so a run is reproducible.
    pub share: f64,
    pub status: StatusCode,
    pub content_type: &'static str,
    /// The error bodies, used in turn.
    pub bodies: Vec<String>,
}

impl Fault {
    /// DynamoDB throttling: `ThrottlingException` and
    /// `ProvisionedThroughputExceededException` in turn, as DynamoDB (and
    /// DynamoDB Streams) sends them, on any request.
    pub fn dynamodb_throttling(share: f64) -> Fault {
        let body = |shape: &str, message: &str| {
            format!(r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{shape}","message":"{message}"}}"#)
        };
        Fault {
            operation: Operation::Any,
            share,
            status: StatusCode::BAD_REQUEST,
            content_type: "application/x-amz-json-1.0",
            bodies: vec![
                body("ThrottlingException", "Rate of requests exceeds the allowed throughput."),
                body(
                    "ProvisionedThroughputExceededException",
                    "The level of configured provisioned throughput for the table was exceeded.",
                ),
            ],
        }
    }

    /// SNS failing `PublishBatch` as a whole: `InternalError`, HTTP 500.
    pub fn sns_publish_batch_errors(share: f64) -> Fault {
        Fault {
            operation: Operation::Named("PublishBatch"),
            share,
            status: StatusCode::INTERNAL_SERVER_ERROR,
            content_type: "text/xml",
            bodies: vec![concat!(
                r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Receiver</Type>"#,
                "<Code>InternalError</Code><Message>injected by the fault proxy</Message></Error>",
                "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
            )
            .to_owned()],
        }
    }
}

/// What a proxy has seen since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests that matched a fault while it was set.
    pub matched: u64,
    /// Of those, answered with the fault's error.
    pub injected: u64,
    /// Requests forwarded to the target.
    pub forwarded: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("fault proxy could not listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
}

struct State {
    target: String,
    client: Client<HttpConnector, Full<Bytes>>,
    fault: Mutex<Option<Fault>>,
    matched: AtomicU64,
    injected: AtomicU64,
    forwarded: AtomicU64,
}

/// An HTTP/1 forwarder to `target` on a free port of 127.0.0.1; point an
/// `AWS_ENDPOINT_URL_*` variable at [`HttpFaultProxy::url`]. Requests pass
/// unchanged (the `Host` header and so the SigV4 signature too) except
/// the ones a set [`Fault`] answers.
pub struct HttpFaultProxy {
    addr: SocketAddr,
    state: Arc<State>,
    accepting: JoinHandle<()>,
}

impl HttpFaultProxy {
    /// Forwards to `target`, `host:port`.
    pub async fn start(target: impl Into<String>) -> Result<Self, ProxyError> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(ProxyError::Bind)?;
        let addr = listener.local_addr().map_err(ProxyError::Bind)?;
        let state = Arc::new(State {
            target: target.into(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            fault: Mutex::new(None),
            matched: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let shared = state.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(HttpFaultProxy { addr, state, accepting })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Starts answering `fault`'s share of its requests with its error.
    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }

    /// Forwards everything again.
    pub fn clear(&self) {
        *self.state.fault.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn counts(&self) -> FaultCounts {
        FaultCounts {
            matched: self.state.matched.load(Ordering::Relaxed),
            injected: self.state.injected.load(Ordering::Relaxed),
            forwarded: self.state.forwarded.load(Ordering::Relaxed),
        }
    }
}

impl Drop for HttpFaultProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}

impl State {
    /// The error to answer `request` with, if the fault set takes it.
    fn fault_for(&self, request: &http::request::Parts, body: &[u8]) -> Option<Response<Full<Bytes>>> {
        let fault = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        let fault = fault.as_ref().filter(|f| f.operation.matches(request, body))?;
        let n = self.matched.fetch_add(1, Ordering::Relaxed);
        // Every request that carries the running total of `share` past an integer.
        let due = ((n + 1) as f64 * fault.share).floor() > (n as f64 * fault.share).floor();
        if !due || fault.bodies.is_empty() {
            return None;
        }
        let k = self.injected.fetch_add(1, Ordering::Relaxed);
        let body = fault.bodies[(k % fault.bodies.len() as u64) as usize].clone();
        let mut response = plain(fault.status, body);
        response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(fault.content_type));
        Some(response)
    }
}

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (mut parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("reading the request: {error}"))),
    };
    if let Some(response) = state.fault_for(&parts, &body) {
        return Ok(response);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    parts.uri = match format!("http://{}{path}", state.target).parse() {
        Ok(uri) => uri,
        Err(error) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("target URI: {error}"))),
    };
    state.forwarded.fetch_add(1, Ordering::Relaxed);
    let response = match state.client.request(Request::from_parts(parts, Full::new(body))).await {
        Ok(response) => response,
        Err(error) => return Ok(plain(StatusCode::BAD_GATEWAY, format!("forwarding: {error}"))),
    };
    let (parts, body) = response.into_parts();
    match body.collect().await {
        Ok(collected) => Ok(Response::from_parts(parts, Full::new(collected.to_bytes()))),
        Err(error) => Ok(plain(StatusCode::BAD_GATEWAY, format!("reading the answer: {error}"))),
    }
}
