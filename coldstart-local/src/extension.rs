//! The Extensions API subset an internal extension's client uses (`lambda-extension`, which
//! `lambda_runtime`'s `graceful-shutdown` helper registers): register, wait for the next event,
//! report an error. [`Extension`] is what the emulator remembers of a registration.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::headers::header_value_from_token;
use crate::ids::generate_request_id;
use crate::server::{
    accepted, error_response, method_not_allowed, not_found, read_body, ResponseBody,
};
use crate::state::Shared;

pub(crate) const EXTENSION_PREFIX: &str = "/2020-01-01/extension/";

const HDR_EXTENSION_NAME: HeaderName = HeaderName::from_static("lambda-extension-name");
const HDR_EXTENSION_ID: HeaderName = HeaderName::from_static("lambda-extension-identifier");
const HDR_ACCEPT_FEATURE: HeaderName = HeaderName::from_static("lambda-extension-accept-feature");

/// The handler setting the register answer reports (`bootstrap`, what custom runtimes use).
const HANDLER: &str = "bootstrap";

/// An extension registered with the emulator (`POST /2020-01-01/extension/register`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Extension {
    /// The `Lambda-Extension-Name` it registered with.
    pub name: String,
    /// The `Lambda-Extension-Identifier` the emulator gave it.
    pub id: String,
    /// The event types it subscribed to (`INVOKE`, `SHUTDOWN`; none for a no-op extension).
    pub events: Vec<String>,
    /// When the register request had been read, before it was answered.
    pub registered_at: Instant,
}

/// Routes a request under [`EXTENSION_PREFIX`].
pub(crate) async fn route(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let Some(rest) = req.uri().path().strip_prefix(EXTENSION_PREFIX) else {
        return not_found(&req);
    };
    let post = req.method() == Method::POST;
    match rest {
        "register" if post => register(shared, req).await,
        "event/next" if req.method() == Method::GET => next_event(shared, &req).await,
        "init/error" | "exit/error" if post => {
            refuse_unknown_id(&shared, &req).unwrap_or_else(accepted)
        }
        "register" | "init/error" | "exit/error" => method_not_allowed("POST"),
        "event/next" => method_not_allowed("GET"),
        _ => not_found(&req),
    }
}

/// `POST /extension/register`: `200` with a new `Lambda-Extension-Identifier` and the
/// function's name, version and handler (and an account id when the client accepts it).
async fn register(shared: Arc<Shared>, req: Request<Incoming>) -> Response<ResponseBody> {
    let (parts, body) = req.into_parts();
    let name = parts
        .headers
        .get(HDR_EXTENSION_NAME)
        .and_then(|name| name.to_str().ok())
        .filter(|name| !name.is_empty())
        .map(str::to_owned);
    let Some(name) = name else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "the Lambda-Extension-Name header is missing",
        );
    };
    let body = match read_body(body).await {
        Ok(collected) => collected.to_bytes(),
        Err(refused) => return refused,
    };
    let events = match serde_json::from_slice::<Value>(&body) {
        Ok(doc) => doc
            .get("events")
            .and_then(Value::as_array)
            .map(|events| {
                events
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        Err(_) if body.is_empty() => Vec::new(),
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("the body is not JSON: {err}"),
            )
        }
    };
    let id = generate_request_id();
    let config = &shared.config;
    let mut answer = json!({
        "functionName": config.function_name,
        "functionVersion": config.version,
        "handler": HANDLER,
    });
    let accepts_account_id = parts
        .headers
        .get(HDR_ACCEPT_FEATURE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|features| features.split(',').any(|f| f.trim() == "accountId"));
    if accepts_account_id {
        answer["accountId"] = json!("000000000000");
    }
    shared.lock().extensions.push(Extension {
        name,
        id: id.clone(),
        events,
        registered_at: Instant::now(),
    });
    let mut response = Response::new(answer.to_string().into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
        .headers_mut()
        .insert(HDR_EXTENSION_ID, header_value_from_token(&id));
    response
}

/// `GET /extension/event/next`: held open. The emulator never sends INVOKE or SHUTDOWN events
/// (an extension that subscribed to none, as the graceful-shutdown helper's, gets none on
/// Lambda either); the connection closes when the emulator is dropped.
async fn next_event(shared: Arc<Shared>, req: &Request<Incoming>) -> Response<ResponseBody> {
    if let Some(refused) = refuse_unknown_id(&shared, req) {
        return refused;
    }
    shared.pending_extension_next.fetch_add(1, Ordering::SeqCst);
    let _pending = PendingGuard(&shared);
    std::future::pending().await
}

/// The `403` to answer when the request does not carry the identifier of a registered
/// extension; `None` when it does.
fn refuse_unknown_id(shared: &Shared, req: &Request<Incoming>) -> Option<Response<ResponseBody>> {
    let id = req
        .headers()
        .get(HDR_EXTENSION_ID)
        .and_then(|id| id.to_str().ok());
    let known = id.is_some_and(|id| shared.lock().extensions.iter().any(|ext| ext.id == id));
    (!known).then(|| {
        error_response(
            StatusCode::FORBIDDEN,
            "Extension.UnknownExtensionIdentifier",
            &format!("no extension is registered with the identifier {id:?}"),
        )
    })
}

struct PendingGuard<'a>(&'a Shared);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.pending_extension_next.fetch_sub(1, Ordering::SeqCst);
    }
}
