//! A Lambda Runtime API emulator on loopback.
//!
//! [`LocalRuntimeApi`] serves the subset of the
//! [Lambda Runtime API](https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html)
//! that a function's runtime client uses (`/runtime/invocation/next`, `/response`,
//! `/error`, and the SnapStart `/restore/next`, `/init/error` and `/restore/error`
//! endpoints) on `127.0.0.1`. Point the real `lambda_runtime` client loop at it
//! through [`LocalRuntimeApi::set_env`], queue events with
//! [`LocalRuntimeApi::push`], and inspect what the handler answered with
//! [`LocalRuntimeApi::wait_for_results`]. No AWS account, container or network
//! access is involved.
//!
//! The server runs on its own thread with its own single-threaded tokio runtime,
//! so it can be started from a synchronous `main` before the function's runtime
//! exists, and it keeps working no matter which executor the caller uses.
//!
//! # Endpoints
//!
//! | Request | Answer |
//! |---|---|
//! | `GET /2018-06-01/runtime/invocation/next` | `200` with the next event; held open while none is queued |
//! | `POST .../invocation/{id}/response` | `202`, recorded as [`Outcome::Response`] |
//! | `POST .../invocation/{id}/error` | `202`, recorded as [`Outcome::Error`] |
//! | either of the above with an unknown or completed `{id}` | `400`, recorded nowhere |
//! | `GET .../restore/next` | `200`, counted by [`LocalRuntimeApi::restore_next_calls`] |
//! | `POST .../init/error`, `POST .../restore/error` | `202`, recorded in [`LocalRuntimeApi::init_errors`] |
//! | a known path with another method | `405` |
//! | anything else | `404` |
//!
//! This module is only available with the `local` cargo feature.
#![deny(missing_docs)]
#![warn(missing_debug_implementations)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::sync::{oneshot, watch};

/// Function name used by [`LocalRuntimeApi::start`].
pub const DEFAULT_FUNCTION_NAME: &str = "coldstart-local";
/// Memory size (in MB) reported by default.
pub const DEFAULT_MEMORY_MB: u32 = 128;
/// Function version reported by default.
pub const DEFAULT_VERSION: &str = "$LATEST";
/// AWS region reported by default (in `AWS_REGION` and in the function ARN).
pub const DEFAULT_REGION: &str = "us-east-1";
/// Time an invocation is given before its deadline unless the event says otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

const ACCOUNT_ID: &str = "000000000000";
const API_PREFIX: &str = "/2018-06-01/runtime/";

const HDR_REQUEST_ID: HeaderName = HeaderName::from_static("lambda-runtime-aws-request-id");
const HDR_DEADLINE_MS: HeaderName = HeaderName::from_static("lambda-runtime-deadline-ms");
const HDR_FUNCTION_ARN: HeaderName = HeaderName::from_static("lambda-runtime-invoked-function-arn");
const HDR_TRACE_ID: HeaderName = HeaderName::from_static("lambda-runtime-trace-id");
const HDR_CLIENT_CONTEXT: HeaderName = HeaderName::from_static("lambda-runtime-client-context");
const HDR_ERROR_TYPE: HeaderName = HeaderName::from_static("lambda-runtime-function-error-type");
const HDR_ERROR_BODY: HeaderName = HeaderName::from_static("lambda-runtime-function-error-body");
const HDR_RESPONSE_MODE: HeaderName =
    HeaderName::from_static("lambda-runtime-function-response-mode");

// ---------------------------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------------------------

/// A Lambda Runtime API emulator listening on `127.0.0.1`.
///
/// Dropping it shuts the server down (open connections, including `/next`
/// requests that are still waiting for an event, are closed, so a runtime loop
/// still polling it ends with a connection error) and joins its thread, which
/// blocks the dropping thread for a moment.
///
/// # Example
///
/// Run the real `lambda_runtime` loop against the emulator:
///
/// ```no_run
/// use coldstart_core::local::{LocalEvent, LocalRuntimeApi};
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::{json, Value};
/// use std::time::Duration;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let api = LocalRuntimeApi::builder().function_name("my-function").start()?;
///     // The environment is process-global: set it before any other thread starts.
///     api.set_env();
///
///     let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
///     rt.block_on(async {
///         tokio::spawn(lambda_runtime::run(service_fn(handler)));
///
///         let id = api.push(LocalEvent::json(&json!({ "hello": "world" })).delay(Duration::from_millis(50)));
///         let results = api.wait_for_results(1, Duration::from_secs(5)).await?;
///         assert_eq!(results[0].request_id, id);
///         assert_eq!(results[0].json()?, json!({ "hello": "world" }));
///         Ok::<_, Box<dyn std::error::Error>>(())
///     })
/// }
/// ```
pub struct LocalRuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// Configures and starts a [`LocalRuntimeApi`]. Created by [`LocalRuntimeApi::builder`].
#[derive(Debug, Clone)]
pub struct LocalRuntimeApiBuilder {
    function_name: String,
    memory_mb: u32,
    version: String,
    region: String,
    default_deadline: Duration,
}

/// An event to deliver to the function through `/runtime/invocation/next`.
///
/// ```
/// use coldstart_core::local::LocalEvent;
/// use serde_json::json;
/// use std::time::Duration;
///
/// let event = LocalEvent::json(&json!({ "orderId": 7 }))
///     .request_id("order-7")
///     .deadline_in(Duration::from_secs(3))
///     .delay(Duration::from_millis(200));
/// assert_eq!(event.payload().as_ref(), br#"{"orderId":7}"#);
/// ```
#[derive(Debug, Clone)]
pub struct LocalEvent {
    payload: Bytes,
    request_id: Option<String>,
    client_context: Option<Value>,
    deadline_in: Option<Duration>,
    delay: Duration,
}

/// How an invocation ended, as reported by the function's runtime client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The runtime posted to `/runtime/invocation/{id}/response`.
    Response,
    /// The runtime posted to `/runtime/invocation/{id}/error`, or a streamed
    /// response ended with a `Lambda-Runtime-Function-Error-Type` trailer.
    Error {
        /// `errorType` of the error document (falls back to the
        /// `Lambda-Runtime-Function-Error-Type` header, then to `"Unknown"`).
        error_type: String,
        /// `errorMessage` of the error document (falls back to the raw body).
        error_message: String,
    },
}

/// One completed invocation, in the order the runtime reported them.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvocationResult {
    /// The request id of the invocation.
    pub request_id: String,
    /// Whether the function answered or failed.
    pub outcome: Outcome,
    /// The full body the runtime posted (the response, or the JSON error document).
    ///
    /// For a streamed response this is exactly what was sent: the JSON metadata
    /// prelude, eight NUL bytes, then the streamed chunks.
    pub body: Bytes,
    /// Whether the response was sent in streaming mode
    /// (`Lambda-Runtime-Function-Response-Mode: streaming`).
    pub streaming: bool,
    /// When the `/next` request that received this event arrived at the server.
    pub next_requested_at: Instant,
    /// When the server wrote the event out as the answer to that `/next` request.
    pub delivered_at: Instant,
    /// When the server had received the whole `/response` or `/error` request
    /// (taken before answering it).
    pub completed_at: Instant,
}

/// Which SnapStart lifecycle endpoint reported an [`InitError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitPhase {
    /// `POST /runtime/init/error`.
    Init,
    /// `POST /runtime/restore/error`.
    Restore,
}

/// An error reported through `/runtime/init/error` or `/runtime/restore/error`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InitError {
    /// The endpoint the error was posted to.
    pub phase: InitPhase,
    /// `errorType` of the error document (falls back to the
    /// `Lambda-Runtime-Function-Error-Type` header, then to `"Unknown"`).
    pub error_type: String,
    /// `errorMessage` of the error document (falls back to the raw body).
    pub error_message: String,
    /// The raw body of the request.
    pub body: Bytes,
    /// When the server had received the whole request.
    pub received_at: Instant,
}

/// Error returned by [`LocalRuntimeApi::wait_for_results`] when fewer results than
/// requested arrived in time.
#[derive(Debug, Clone)]
pub struct WaitTimeout {
    expected: usize,
    timeout: Duration,
    results: Vec<InvocationResult>,
}

// ---------------------------------------------------------------------------------------------
// LocalRuntimeApi
// ---------------------------------------------------------------------------------------------

impl LocalRuntimeApi {
    /// Starts an emulator for a function named [`DEFAULT_FUNCTION_NAME`] with the
    /// default settings.
    ///
    /// # Errors
    ///
    /// Fails if the loopback listener, the server's tokio runtime or its thread
    /// cannot be created.
    pub fn start() -> std::io::Result<Self> {
        Self::builder().start()
    }

    /// Returns a builder to configure the emulated function before starting it.
    pub fn builder() -> LocalRuntimeApiBuilder {
        LocalRuntimeApiBuilder::default()
    }

    /// The address the server listens on (`127.0.0.1` and an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The name of the emulated function.
    pub fn function_name(&self) -> &str {
        &self.shared.config.function_name
    }

    /// The ARN sent in `Lambda-Runtime-Invoked-Function-Arn`,
    /// `arn:aws:lambda:<region>:000000000000:function:<function name>`.
    pub fn function_arn(&self) -> &str {
        &self.shared.config.function_arn
    }

    /// The environment a Lambda function sees, pointing at this emulator:
    /// `AWS_LAMBDA_RUNTIME_API`, `AWS_LAMBDA_FUNCTION_NAME`,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, `AWS_LAMBDA_FUNCTION_VERSION`,
    /// `AWS_LAMBDA_LOG_STREAM_NAME`, `AWS_LAMBDA_LOG_GROUP_NAME` and `AWS_REGION`.
    ///
    /// Use it to configure a child process (`Command::envs`) or call
    /// [`set_env`](Self::set_env) to configure the current one.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let config = &self.shared.config;
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", config.function_name.clone()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                config.memory_mb.to_string(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION", config.version.clone()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", config.log_stream_name.clone()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", config.function_name),
            ),
            ("AWS_REGION", config.region.clone()),
        ]
    }

    /// Sets every variable of [`env`](Self::env) in the current process, so that
    /// `lambda_runtime::run` (which reads its configuration from the environment)
    /// talks to this emulator.
    ///
    /// The environment is process-global and modifying it while other threads may
    /// read it is racy: call this early, before starting other threads (in
    /// particular before building a multi-threaded tokio runtime). The emulator's own
    /// thread never reads the environment. In a test binary, keep every test that
    /// depends on these variables in one `#[test]` function or serialize them.
    pub fn set_env(&self) {
        for (key, value) in self.env() {
            std::env::set_var(key, value);
        }
    }

    /// Queues an event and returns its request id.
    ///
    /// Events are handed out in the order they were pushed, each to exactly one
    /// `/next` request; if several `/next` requests are waiting, the one that
    /// arrived first gets the event.
    ///
    /// Request ids must be unique among invocations that have not completed yet.
    pub fn push(&self, event: LocalEvent) -> String {
        let request_id = event.request_id.unwrap_or_else(generate_request_id);
        let request_id_header = header_value_from_token(&request_id);
        let client_context = event
            .client_context
            .as_ref()
            .map(|ctx| header_value_from_ascii(ascii_json(ctx)));
        let queued = QueuedEvent {
            payload: event.payload,
            request_id: request_id.clone(),
            request_id_header,
            client_context,
            deadline_in: event
                .deadline_in
                .unwrap_or(self.shared.config.default_deadline),
            delay: event.delay,
            pushed_at: Instant::now(),
        };
        self.shared.lock().dispatch(queued, Position::Back);
        request_id
    }

    /// Queues a JSON event with the default settings; shorthand for
    /// `push(LocalEvent::json(payload))`.
    pub fn push_json(&self, payload: &Value) -> String {
        self.push(LocalEvent::json(payload))
    }

    /// Waits until at least `n` invocations have completed, then returns every
    /// result so far (in completion order).
    ///
    /// The future only relies on runtime-agnostic synchronization (the timeout is
    /// timed by the emulator's own runtime), so it can be awaited from any
    /// executor, including a tokio runtime without the time driver.
    ///
    /// # Errors
    ///
    /// Returns [`WaitTimeout`], which carries the results that did arrive, if fewer
    /// than `n` arrived within `timeout`.
    pub async fn wait_for_results(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<InvocationResult>, WaitTimeout> {
        let mut changed = self.shared.results_changed.subscribe();
        let (timer_tx, mut timer_rx) = oneshot::channel::<()>();
        let timer = AbortOnDrop(self.handle.spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = timer_tx.send(());
        }));
        loop {
            changed.borrow_and_update();
            {
                let state = self.shared.lock();
                if state.results.len() >= n {
                    return Ok(state.results.clone());
                }
            }
            let woken = tokio::select! {
                biased;
                res = changed.changed() => res.is_ok(),
                _ = &mut timer_rx => false,
            };
            if !woken {
                break;
            }
        }
        // The timer fired (or the server went away): report what arrived.
        drop(timer);
        let results = self.results();
        if results.len() >= n {
            return Ok(results);
        }
        Err(WaitTimeout {
            expected: n,
            timeout,
            results,
        })
    }

    /// Waits until the function is done with every event pushed so far and waits for the next
    /// one: nothing queued, every delivered event answered, and a `/next` request held open.
    /// Returns `false` if that did not happen within `timeout`.
    ///
    /// On Lambda this is when the environment may be frozen, so what a function does after
    /// posting a response (with `coldstart::lambda::run`: the cold-start report, and the first
    /// invocation's metrics when no flush hook needs them earlier) is done by then. Like
    /// [`wait_for_results`](Self::wait_for_results), it can be awaited from any executor.
    ///
    /// ```no_run
    /// # async fn demo(api: &coldstart_core::local::LocalRuntimeApi) {
    /// use std::time::Duration;
    ///
    /// let results = api.wait_for_results(1, Duration::from_secs(5)).await.unwrap();
    /// assert!(api.wait_until_idle(Duration::from_secs(5)).await, "the function came back for more");
    /// # let _ = results;
    /// # }
    /// ```
    #[must_use = "`false` means the function did not come back for the next event in time"]
    pub async fn wait_until_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let state = self.shared.lock();
                if state.queue.is_empty()
                    && state.in_flight.is_empty()
                    && self.shared.pending_next.load(Ordering::SeqCst) > 0
                {
                    return true;
                }
            }
            if Instant::now() >= deadline {
                return false;
            }
            // Polled every millisecond, timed by the emulator's own runtime.
            let (tick_tx, tick_rx) = oneshot::channel::<()>();
            self.handle.spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let _ = tick_tx.send(());
            });
            let _ = tick_rx.await;
        }
    }

    /// A snapshot of the completed invocations, in completion order.
    pub fn results(&self) -> Vec<InvocationResult> {
        self.shared.lock().results.clone()
    }

    /// Errors posted to `/runtime/init/error` and `/runtime/restore/error`, in
    /// arrival order.
    pub fn init_errors(&self) -> Vec<InitError> {
        self.shared.lock().init_errors.clone()
    }

    /// How many times `/runtime/restore/next` (SnapStart) was called.
    pub fn restore_next_calls(&self) -> usize {
        self.shared.restore_next_calls.load(Ordering::SeqCst)
    }

    /// How many `/runtime/invocation/next` requests are being held open right now
    /// (waiting for an event, or for the [`delay`](LocalEvent::delay) of the event
    /// they received).
    pub fn pending_next_requests(&self) -> usize {
        self.shared.pending_next.load(Ordering::SeqCst)
    }

    /// How many pushed events have not been handed to a `/next` request yet.
    pub fn queued_events(&self) -> usize {
        self.shared.lock().queue.len()
    }
}

impl fmt::Debug for LocalRuntimeApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalRuntimeApi")
            .field("addr", &self.addr)
            .field("function_name", &self.shared.config.function_name)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalRuntimeApi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            // The server thread only panics if the server itself has a bug; don't turn
            // that into a double panic (or a panic in a destructor) here.
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Builder
// ---------------------------------------------------------------------------------------------

impl Default for LocalRuntimeApiBuilder {
    fn default() -> Self {
        Self {
            function_name: DEFAULT_FUNCTION_NAME.to_owned(),
            memory_mb: DEFAULT_MEMORY_MB,
            version: DEFAULT_VERSION.to_owned(),
            region: DEFAULT_REGION.to_owned(),
            default_deadline: DEFAULT_DEADLINE,
        }
    }
}

impl LocalRuntimeApiBuilder {
    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`, part of the function ARN).
    /// Must be 1 to 64 ASCII letters, digits, `-` or `_`, like a real one.
    /// Default: [`DEFAULT_FUNCTION_NAME`].
    pub fn function_name(mut self, name: impl Into<String>) -> Self {
        self.function_name = name.into();
        self
    }

    /// The configured memory size in MB (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`).
    /// Default: [`DEFAULT_MEMORY_MB`].
    pub fn memory_mb(mut self, memory_mb: u32) -> Self {
        self.memory_mb = memory_mb;
        self
    }

    /// The function version (`AWS_LAMBDA_FUNCTION_VERSION`).
    /// Default: [`DEFAULT_VERSION`].
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// The region (`AWS_REGION`, part of the function ARN). Must be non-empty
    /// lowercase ASCII letters, digits and `-`. Default: [`DEFAULT_REGION`].
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = region.into();
        self
    }

    /// Time given to each invocation before its deadline, for events that do not
    /// set [`LocalEvent::deadline_in`]. Default: [`DEFAULT_DEADLINE`].
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.default_deadline = deadline;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on a dedicated thread.
    ///
    /// # Errors
    ///
    /// Fails with [`std::io::ErrorKind::InvalidInput`] if a setting is invalid, or
    /// with the underlying error if the listener, the runtime or the thread cannot
    /// be created.
    pub fn start(self) -> std::io::Result<LocalRuntimeApi> {
        let config = self.into_config()?;

        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let handle = runtime.handle().clone();

        let (results_changed, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            state: Mutex::new(State::default()),
            results_changed,
            pending_next: AtomicUsize::new(0),
            restore_next_calls: AtomicUsize::new(0),
        });

        let (shutdown_tx, shutdown_rx) = oneshot::channel();
        let server_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("coldstart-local-runtime-api".to_owned())
            .spawn(move || {
                runtime.block_on(serve(listener, server_shared, shutdown_rx));
                // Dropping the runtime cancels every connection task, which closes
                // the sockets (including `/next` requests still waiting for events).
                drop(runtime);
            })?;

        Ok(LocalRuntimeApi {
            addr,
            shared,
            handle,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        })
    }

    fn into_config(self) -> std::io::Result<Config> {
        let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
        let name_ok = !self.function_name.is_empty()
            && self.function_name.len() <= 64
            && self
                .function_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(invalid(format!(
                "invalid function name {:?}: expected 1 to 64 ASCII letters, digits, '-' or '_'",
                self.function_name
            )));
        }
        let region_ok = !self.region.is_empty()
            && self
                .region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            return Err(invalid(format!(
                "invalid region {:?}: expected lowercase ASCII letters, digits or '-'",
                self.region
            )));
        }
        if self.version.is_empty() || self.version.chars().any(char::is_control) {
            return Err(invalid(format!(
                "invalid function version {:?}: expected a non-empty string without control characters",
                self.version
            )));
        }
        let function_arn = format!(
            "arn:aws:lambda:{}:{ACCOUNT_ID}:function:{}",
            self.region, self.function_name
        );
        let function_arn_header = header_value_from_ascii(function_arn.clone());
        let log_stream_name = log_stream_name(&self.version);
        Ok(Config {
            function_name: self.function_name,
            function_arn,
            function_arn_header,
            memory_mb: self.memory_mb,
            version: self.version,
            region: self.region,
            log_stream_name,
            default_deadline: self.default_deadline,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// LocalEvent
// ---------------------------------------------------------------------------------------------

impl LocalEvent {
    /// An event with the given raw payload (usually JSON).
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            request_id: None,
            client_context: None,
            deadline_in: None,
            delay: Duration::ZERO,
        }
    }

    /// An event whose payload is `payload` serialized as JSON.
    pub fn json(payload: &Value) -> Self {
        Self::new(payload.to_string())
    }

    /// Sends `context` in the `Lambda-Runtime-Client-Context` header.
    ///
    /// The value is sent as compact JSON, with non-ASCII characters written as
    /// `\uXXXX` escapes so that it is a plain-ASCII header.
    ///
    /// `lambda_runtime` parses the header into `Context::client_context`, whose
    /// shape is `{"client": {"installation_id", "app_title", "app_version_name",
    /// "app_version_code", "app_package_name"}, "custom": {string: string},
    /// "environment": {string: string}}` (each of the three optional, but all five
    /// `client` fields required when `client` is present, camelCase accepted too).
    /// A value it cannot parse makes its `/next` handling fail, which ends its
    /// whole runtime loop with an error rather than failing just this invocation.
    pub fn client_context(mut self, context: Value) -> Self {
        self.client_context = Some(context);
        self
    }

    /// Sets the deadline to this long after the event is delivered
    /// (`Lambda-Runtime-Deadline-Ms`). Defaults to the server's
    /// [`default_deadline`](LocalRuntimeApiBuilder::default_deadline).
    pub fn deadline_in(mut self, deadline: Duration) -> Self {
        self.deadline_in = Some(deadline);
        self
    }

    /// Delivers the event no earlier than `delay` after the `/next` request that
    /// receives it arrived, or after the event was pushed, whichever is later.
    ///
    /// This simulates an event that arrives a while after the function finished
    /// its initialization (or its previous invocation).
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Uses `id` as the request id instead of a generated one.
    ///
    /// # Panics
    ///
    /// Panics if `id` is empty, longer than 256 bytes, or contains anything but
    /// ASCII letters, digits, `-`, `_`, `.` and `~` (it travels in a header and in
    /// a URL path).
    pub fn request_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        assert!(
            is_valid_request_id(&id),
            "invalid request id {id:?}: expected 1 to 256 ASCII letters, digits, '-', '_', '.' or '~'"
        );
        self.request_id = Some(id);
        self
    }

    /// The payload that will be delivered.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}

impl From<Value> for LocalEvent {
    fn from(payload: Value) -> Self {
        Self::json(&payload)
    }
}

// ---------------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------------

impl InvocationResult {
    /// Parses [`body`](Self::body) as JSON.
    ///
    /// # Errors
    ///
    /// Fails if the body is not valid JSON (for example a streamed response).
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the invocation ended with an error.
    pub fn is_error(&self) -> bool {
        matches!(self.outcome, Outcome::Error { .. })
    }

    /// The error type, if the invocation ended with an error.
    pub fn error_type(&self) -> Option<&str> {
        match &self.outcome {
            Outcome::Error { error_type, .. } => Some(error_type),
            Outcome::Response => None,
        }
    }
}

impl WaitTimeout {
    /// How many results were asked for.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// How many results had arrived when the wait timed out.
    pub fn received(&self) -> usize {
        self.results.len()
    }

    /// The results that had arrived when the wait timed out.
    pub fn results(&self) -> &[InvocationResult] {
        &self.results
    }

    /// Consumes the error, returning the results that had arrived.
    pub fn into_results(self) -> Vec<InvocationResult> {
        self.results
    }
}

impl fmt::Display for WaitTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "timed out after {:?} waiting for {} invocation result(s): {} arrived",
            self.timeout,
            self.expected,
            self.results.len()
        )
    }
}

impl std::error::Error for WaitTimeout {}

// ---------------------------------------------------------------------------------------------
// Shared state
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Config {
    function_name: String,
    function_arn: String,
    function_arn_header: HeaderValue,
    memory_mb: u32,
    version: String,
    region: String,
    log_stream_name: String,
    default_deadline: Duration,
}

struct Shared {
    config: Config,
    state: Mutex<State>,
    /// Carries the number of results; bumped after each new result.
    results_changed: watch::Sender<usize>,
    pending_next: AtomicUsize,
    restore_next_calls: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, but if something ever did, the
        // state is still consistent enough to keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn record_result(&self, result: InvocationResult) {
        let count = {
            let mut state = self.lock();
            state.results.push(result);
            state.results.len()
        };
        self.results_changed.send_replace(count);
    }
}

#[derive(Default)]
struct State {
    /// Events nobody asked for yet. Invariant: non-empty only if `waiters` has no
    /// live entry.
    queue: VecDeque<QueuedEvent>,
    /// `/next` requests waiting for an event, oldest first.
    waiters: VecDeque<oneshot::Sender<QueuedEvent>>,
    /// Delivered events awaiting `/response` or `/error`.
    in_flight: HashMap<String, InFlight>,
    results: Vec<InvocationResult>,
    init_errors: Vec<InitError>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Front,
    Back,
}

impl State {
    /// Hands `event` to the oldest live waiter, or queues it.
    fn dispatch(&mut self, mut event: QueuedEvent, position: Position) {
        while let Some(waiter) = self.waiters.pop_front() {
            match waiter.send(event) {
                Ok(()) => return,
                // That `/next` request went away; try the next one.
                Err(returned) => event = returned,
            }
        }
        match position {
            Position::Front => self.queue.push_front(event),
            Position::Back => self.queue.push_back(event),
        }
    }
}

#[derive(Debug)]
struct QueuedEvent {
    payload: Bytes,
    request_id: String,
    request_id_header: HeaderValue,
    client_context: Option<HeaderValue>,
    deadline_in: Duration,
    delay: Duration,
    pushed_at: Instant,
}

#[derive(Clone, Copy)]
struct InFlight {
    next_requested_at: Instant,
    delivered_at: Instant,
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

type ResponseBody = Full<Bytes>;

async fn serve(
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
    let collected = match body.collect().await {
        Ok(collected) => collected,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("failed to read the request body: {err}"),
            )
        }
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
    let outcome = if is_error {
        let (error_type, error_message) = parse_error_document(&parts.headers, &body);
        Outcome::Error {
            error_type,
            error_message,
        }
    } else {
        match trailers.as_ref().and_then(|t| t.get(HDR_ERROR_TYPE)) {
            Some(error_type) => Outcome::Error {
                error_type: String::from_utf8_lossy(error_type.as_bytes()).into_owned(),
                error_message: trailers
                    .as_ref()
                    .and_then(|t| t.get(HDR_ERROR_BODY))
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default(),
            },
            None => Outcome::Response,
        }
    };

    shared.record_result(InvocationResult {
        request_id,
        outcome,
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
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &format!("failed to read the request body: {err}"),
            )
        }
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

fn accepted() -> Response<ResponseBody> {
    json_response(StatusCode::ACCEPTED, &json!({ "status": "OK" }))
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response<ResponseBody> {
    json_response(
        status,
        &json!({ "errorType": error_type, "errorMessage": message }),
    )
}

fn not_found(req: &Request<Incoming>) -> Response<ResponseBody> {
    error_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("no such endpoint: {} {}", req.method(), req.uri().path()),
    )
}

fn method_not_allowed(allow: &'static str) -> Response<ResponseBody> {
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

/// Aborts a spawned task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 256
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
}

/// A header value from a string known to be made of visible ASCII.
fn header_value_from_ascii(value: String) -> HeaderValue {
    match HeaderValue::try_from(value) {
        Ok(value) => value,
        // Callers only pass visible ASCII, which is always a valid header value.
        Err(_) => HeaderValue::from_static(""),
    }
}

fn header_value_from_token(value: &str) -> HeaderValue {
    header_value_from_ascii(value.to_owned())
}

/// Serializes `value` as compact JSON made only of visible ASCII: every other
/// character is written as a `\uXXXX` escape, so the result is a valid header value
/// that `HeaderValue::to_str` accepts. Outside strings, compact JSON contains only
/// ASCII, so escaping is always valid.
fn ascii_json(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if (' '..='~').contains(&c) {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    out
}

fn epoch_millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// 128 bits that are unique within the process (the low 48 bits are a counter)
/// and very likely unique across processes (the rest mixes time and process id).
fn unique_bits() -> (u64, u64) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let pid = u64::from(std::process::id());
    let hi = splitmix64(nanos ^ pid.rotate_left(32));
    let lo = splitmix64(hi ^ count.rotate_left(17));
    (hi, (lo & !0xFFFF_FFFF_FFFF) | (count & 0xFFFF_FFFF_FFFF))
}

/// A request id formatted like a version 4 UUID (8-4-4-4-12 lowercase hex).
fn generate_request_id() -> String {
    let (hi, lo) = unique_bits();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        0x4000 | (hi & 0x0FFF),
        0x8000 | ((lo >> 48) & 0x3FFF),
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// An X-Ray trace header in the format Lambda sends.
fn fake_trace_id() -> String {
    let (hi, lo) = unique_bits();
    let secs = epoch_millis(SystemTime::now()) / 1000;
    format!(
        "Root=1-{:08x}-{:08x}{:016x};Parent={:016x};Sampled=0",
        secs & 0xFFFF_FFFF,
        hi >> 32,
        lo,
        splitmix64(lo)
    )
}

/// `YYYY/MM/DD/[version]<32 hex>`, the shape of a Lambda log stream name.
fn log_stream_name(version: &str) -> String {
    let days = epoch_millis(SystemTime::now()) / 86_400_000;
    let (year, month, day) = civil_from_days(days);
    let (hi, lo) = unique_bits();
    format!("{year:04}/{month:02}/{day:02}/[{version}]{hi:016x}{lo:016x}")
}

/// Converts days since 1970-01-01 to a (year, month, day) date (proleptic
/// Gregorian calendar; Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn is_lower_hex(s: &str) -> bool {
        s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    #[test]
    fn request_ids_look_like_uuids_and_are_unique() {
        let ids: Vec<String> = (0..10_000).map(|_| generate_request_id()).collect();
        for id in &ids {
            let groups: Vec<&str> = id.split('-').collect();
            let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
            assert_eq!(lens, [8, 4, 4, 4, 12], "{id}");
            assert!(groups.iter().all(|g| is_lower_hex(g)), "{id}");
            assert!(groups[2].starts_with('4'), "version nibble: {id}");
            assert!(
                matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
                "variant bits: {id}"
            );
            assert!(is_valid_request_id(id));
        }
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
    }

    #[test]
    fn trace_id_has_the_xray_shape() {
        let trace = fake_trace_id();
        let rest = trace.strip_prefix("Root=1-").unwrap();
        let (root, rest) = rest.split_once(";Parent=").unwrap();
        let (parent, sampled) = rest.split_once(';').unwrap();
        let (time, id) = root.split_once('-').unwrap();
        assert_eq!((time.len(), id.len(), parent.len()), (8, 24, 16));
        assert!(is_lower_hex(time) && is_lower_hex(id) && is_lower_hex(parent));
        assert_eq!(sampled, "Sampled=0");
    }

    #[test]
    fn event_builder_defaults_and_setters() {
        let event = LocalEvent::new("raw");
        assert_eq!(event.payload().as_ref(), b"raw");
        assert_eq!(event.request_id.as_deref(), None);
        assert_eq!(event.client_context.as_ref(), None);
        assert_eq!(event.deadline_in, None);
        assert_eq!(event.delay, Duration::ZERO);

        let ctx = json!({ "custom": { "k": "v" } });
        let event = LocalEvent::json(&json!({ "a": [1, 2] }))
            .request_id("abc-123_x.y~z")
            .client_context(ctx.clone())
            .deadline_in(Duration::from_secs(3))
            .delay(Duration::from_millis(250));
        assert_eq!(event.payload().as_ref(), br#"{"a":[1,2]}"#);
        assert_eq!(event.request_id.as_deref(), Some("abc-123_x.y~z"));
        assert_eq!(event.client_context.as_ref(), Some(&ctx));
        assert_eq!(event.deadline_in, Some(Duration::from_secs(3)));
        assert_eq!(event.delay, Duration::from_millis(250));

        let from_vec = LocalEvent::new(vec![1u8, 2, 3]);
        assert_eq!(from_vec.payload().as_ref(), &[1, 2, 3]);
        let from_value: LocalEvent = json!(null).into();
        assert_eq!(from_value.payload().as_ref(), b"null");
    }

    #[test]
    #[should_panic(expected = "invalid request id")]
    fn request_id_with_a_slash_is_rejected() {
        let _ = LocalEvent::new("{}").request_id("a/b");
    }

    #[test]
    #[should_panic(expected = "invalid request id")]
    fn empty_request_id_is_rejected() {
        let _ = LocalEvent::new("{}").request_id("");
    }

    #[test]
    fn client_context_is_escaped_to_visible_ascii() {
        let ctx = json!({ "custom": { "name": "Zoë 🦀", "del": "\u{7f}", "nl": "a\nb" } });
        let escaped = ascii_json(&ctx);
        assert!(
            escaped.bytes().all(|b| (b' '..=b'~').contains(&b)),
            "{escaped}"
        );
        let header = HeaderValue::from_str(&escaped).unwrap();
        assert!(header.to_str().is_ok());
        let back: Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, ctx);
    }

    #[test]
    fn builder_rejects_invalid_settings() {
        for builder in [
            LocalRuntimeApi::builder().function_name(""),
            LocalRuntimeApi::builder().function_name("has space"),
            LocalRuntimeApi::builder().function_name("x".repeat(65)),
            LocalRuntimeApi::builder().region("US_EAST"),
            LocalRuntimeApi::builder().version("1\0"),
        ] {
            let err = builder.start().unwrap_err();
            assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        }
    }

    #[test]
    fn env_describes_the_function() {
        let api = LocalRuntimeApi::builder()
            .function_name("env-test")
            .memory_mb(512)
            .version("7")
            .region("eu-west-1")
            .start()
            .unwrap();
        let env: HashMap<&str, String> = api.env().into_iter().collect();
        assert_eq!(env["AWS_LAMBDA_RUNTIME_API"], api.addr().to_string());
        assert!(env["AWS_LAMBDA_RUNTIME_API"].starts_with("127.0.0.1:"));
        assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "env-test");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "512");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "7");
        assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/env-test");
        assert!(env["AWS_LAMBDA_LOG_STREAM_NAME"].contains("/[7]"));
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(
            api.function_arn(),
            "arn:aws:lambda:eu-west-1:000000000000:function:env-test"
        );
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
    }

    #[test]
    fn api_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LocalRuntimeApi>();
        assert_send_sync::<InvocationResult>();
        assert_send_sync::<WaitTimeout>();
    }
}
