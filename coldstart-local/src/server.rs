//! The HTTP side: the routes of the Runtime API and what each one answers.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::oneshot;

use crate::extension::EXTENSION_PREFIX;
use crate::headers::{
    header_value_from_ascii, HDR_CLIENT_CONTEXT, HDR_DEADLINE_MS, HDR_ERROR_BODY, HDR_ERROR_TYPE,
    HDR_FUNCTION_ARN, HDR_REQUEST_ID, HDR_RESPONSE_MODE, HDR_TRACE_ID,
};
use crate::ids::{epoch_millis, fake_trace_id};
use crate::state::{InFlight, Position, QueuedEvent, Shared};
use crate::{InitError, InitPhase, InvocationResult, Reply};

const API_PREFIX: &str = "/2018-06-01/runtime/";

pub(crate) type ResponseBody = Full<Bytes>;

pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    loop {
        tokio::select! {
            // Resolves on an explicit shutdown and if the sender is dropped.
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    tokio::spawn(serve_connection(stream, shared));
                }
                // E.g. out of file descriptors: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn serve_connection(stream: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(route(shared, req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .header_read_timeout(None::<Duration>);
    // Errors here are the client's problem (reset connection, garbage input, ...);
    // hyper already answered what could be answered.
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    if req.uri().path().starts_with(EXTENSION_PREFIX) {
        return crate::extension::route(shared, req).await;
    }
    let Some(rest) = req.uri().path().strip_prefix(API_PREFIX) else {
        return not_found(&req);
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let method = req.method().clone();
    match segments.as_slice() {
        ["invocation", "next"] => {
            if method == Method::GET {
                next_invocation(shared).await
            } else {
                method_not_allowed("GET")
            }
        }
        ["invocation", id, kind @ ("response" | "error")] => {
            if method == Method::POST {
                let id = (*id).to_owned();
                let is_error = *kind == "error";
                complete_invocation(shared, req, id, is_error).await
            } else {
                method_not_allowed("POST")
            }
        }
        ["restore", "next"] => {
            if method == Method::GET {
                shared.restore_next_calls.fetch_add(1, Ordering::SeqCst);
                empty_response(StatusCode::OK)
            } else {
                method_not_allowed("GET")
            }
        }
        [phase @ ("init" | "restore"), "error"] => {
            if method == Method::POST {
                let phase = if *phase == "init" {
                    InitPhase::Init
                } else {
                    InitPhase::Restore
                };
                init_error(shared, req, phase).await
            } else {
                method_not_allowed("POST")
            }
        }
        _ => not_found(&req),
    }
}

/// `GET /runtime/invocation/next`: always answers 200 with an event, holding the
/// request open until one is available.
async fn next_invocation(shared: Arc<Shared>) -> Response<ResponseBody> {
    let next_requested_at = Instant::now();
    let _pending = PendingGuard::new(&shared);

    let mut claim = Claim {
        shared: Arc::clone(&shared),
        waiting: None,
        event: None,
    };
    {
        let mut state = shared.lock();
        match state.queue.pop_front() {
            Some(event) => claim.event = Some(event),
            None => {
                let (tx, rx) = oneshot::channel();
                state.waiters.retain(|waiter| !waiter.is_closed());
                state.waiters.push_back(tx);
                claim.waiting = Some(rx);
            }
        }
    }
    if let Some(rx) = claim.waiting.as_mut() {
        match rx.await {
            Ok(event) => {
                claim.waiting = None;
                claim.event = Some(event);
            }
            // Only happens if the state were torn down; never answer anything but
            // an event, the server shutdown will close the connection.
            Err(_) => std::future::pending::<()>().await,
        }
    }
    let Some(event) = claim.event.as_ref() else {
        // Unreachable: `claim.event` was filled above.
        return std::future::pending().await;
    };

    if !event.delay.is_zero() {
        let start = next_requested_at.max(event.pushed_at);
        match start.checked_add(event.delay) {
            Some(deliver_at) => {
                tokio::time::sleep_until(tokio::time::Instant::from_std(deliver_at)).await;
            }
            None => tokio::time::sleep(event.delay).await,
        }
    }

    let Some(event) = claim.event.take() else {
        return std::future::pending().await;
    };
    let delivered_at = Instant::now();
    let deadline_ms = epoch_millis(SystemTime::now())
        .saturating_add(u64::try_from(event.deadline_in.as_millis()).unwrap_or(u64::MAX));

    let mut response = Response::new(Full::new(event.payload));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(HDR_REQUEST_ID, event.request_id_header);
    headers.insert(HDR_DEADLINE_MS, HeaderValue::from(deadline_ms));
    headers.insert(HDR_FUNCTION_ARN, shared.config.function_arn_header.clone());
    headers.insert(HDR_TRACE_ID, header_value_from_ascii(fake_trace_id()));
    if let Some(client_context) = event.client_context {
        headers.insert(HDR_CLIENT_CONTEXT, client_context);
    }

    shared.lock().in_flight.insert(
        event.request_id,
        InFlight {
            next_requested_at,
            delivered_at,
        },
    );
    response
}

/// `POST /runtime/invocation/{id}/response` and `.../error`.
async fn complete_invocation(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    request_id: String,
    is_error: bool,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let collected = match read_body(body).await {
        Ok(collected) => collected,
        Err(refused) => return refused,
    };
    let completed_at = Instant::now();
    let trailers = collected.trailers().cloned();
    let body = collected.to_bytes();

    let Some(in_flight) = shared.lock().in_flight.remove(&request_id) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("unknown or already completed request id {request_id:?}"),
        );
    };

    let streaming = parts
        .headers
        .get(HDR_RESPONSE_MODE)
        .is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"streaming"));
    let reply = if is_error {
        let (error_type, error_message) = parse_error_document(&parts.headers, &body);
        Reply::Error {
            error_type,
            error_message,
        }
    } else {
        match trailers.as_ref().and_then(|t| t.get(HDR_ERROR_TYPE)) {
            Some(error_type) => Reply::Error {
                error_type: String::from_utf8_lossy(error_type.as_bytes()).into_owned(),
                error_message: trailers
                    .as_ref()
                    .and_then(|t| t.get(HDR_ERROR_BODY))
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
            },
            None => Reply::Response,
        }
    };

    shared.record_result(InvocationResult {
        request_id,
        reply,
        body,
        streaming,
        next_requested_at: in_flight.next_requested_at,
        delivered_at: in_flight.delivered_at,
        completed_at,
    });
    accepted()
}

/// `POST /runtime/init/error` and `/runtime/restore/error`.
async fn init_error(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    phase: InitPhase,
) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let body = match read_body(body).await {
        Ok(collected) => collected.to_bytes(),
        Err(refused) => return refused,
    };
    let received_at = Instant::now();
    let (error_type, error_message) = parse_error_document(&parts.headers, &body);
    shared.lock().init_errors.push(InitError {
        phase,
        error_type,
        error_message,
        body,
        received_at,
    });
    accepted()
}

/// Extracts `(errorType, errorMessage)` from a Lambda error document, falling back
/// to the error type header and the raw body.
fn parse_error_document(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let doc: Option<Value> = serde_json::from_slice(body).ok();
    let field = |name: &str| {
        doc.as_ref()
            .and_then(|doc| doc.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let error_type = field("errorType")
        .or_else(|| {
            headers
                .get(HDR_ERROR_TYPE)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        })
        .unwrap_or_else(|| "Unknown".to_owned());
    let error_message =
        field("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, error_message)
}

fn json_response(status: StatusCode, body: &Value) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn empty_response(status: StatusCode) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

pub(crate) fn accepted() -> Response<ResponseBody> {
    json_response(StatusCode::ACCEPTED, &json!({ "status": "OK" }))
}

/// Reads a whole request body, or the `400 InvalidRequest` answer to give when it cannot be read.
pub(crate) async fn read_body(
    body: Incoming,
) -> Result<http_body_util::Collected<Bytes>, Response<ResponseBody>> {
    body.collect().await.map_err(|err| {
        error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            &format!("failed to read the request body: {err}"),
        )
    })
}

pub(crate) fn error_response(
    status: StatusCode,
    error_type: &str,
    message: &str,
) -> Response<ResponseBody> {
    json_response(
        status,
        &json!({ "errorType": error_type, "errorMessage": message }),
    )
}

pub(crate) fn not_found(req: &Request<Incoming>) -> Response<ResponseBody> {
    error_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("no such endpoint: {} {}", req.method(), req.uri().path()),
    )
}

pub(crate) fn method_not_allowed(allow: &'static str) -> Response<ResponseBody> {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        &format!("this endpoint only accepts {allow}"),
    );
    response
        .headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Counts a `/next` request as pending for as long as it is being handled.
struct PendingGuard<'a>(&'a AtomicUsize);

impl<'a> PendingGuard<'a> {
    fn new(shared: &'a Shared) -> Self {
        shared.pending_next.fetch_add(1, Ordering::SeqCst);
        Self(&shared.pending_next)
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The event a `/next` request is about to deliver (or the slot it waits on).
/// If the request goes away first (client disconnect, shutdown), the event goes
/// back to the head of the queue rather than being lost.
struct Claim {
    shared: Arc<Shared>,
    waiting: Option<oneshot::Receiver<QueuedEvent>>,
    event: Option<QueuedEvent>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut orphan = self.event.take();
        if let Some(mut rx) = self.waiting.take() {
            rx.close();
            if let Ok(event) = rx.try_recv() {
                orphan = Some(event);
            }
        }
        if let Some(event) = orphan {
            self.shared.lock().dispatch(event, Position::Front);
        }
    }
}
