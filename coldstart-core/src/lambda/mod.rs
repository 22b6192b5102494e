//! Lambda integration: a drop-in for `lambda_runtime::run` that marks the end of INIT, classifies
//! start kinds (including proactive initialization), prewarms `prewarm` statics when INIT is not
//! user-facing, answers warm-up pings before they reach a typed handler, and runs a flush hook
//! before every response is posted.
//!
//! ```no_run
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Order {
//!     id: u64,
//! }
//!
//! async fn handler(event: LambdaEvent<Order>) -> Result<u64, Error> {
//!     Ok(event.payload.id)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // INIT: install the metrics recorder, build clients...
//!     coldstart_core::lambda::run(service_fn(handler)).await
//! }
//! ```
//!
//! # What `run` does
//!
//! 1. **Prewarm policy.** When Lambda initialized the environment ahead of demand
//!    (`AWS_LAMBDA_INITIALIZATION_TYPE` is `provisioned-concurrency`, `snap-start` or
//!    `lambda-managed-instances`), it awaits [`crate::lazy::prewarm`] first, inside INIT — for
//!    SnapStart that is before the snapshot is taken. For on-demand environments the `prewarm`
//!    statics stay lazy (a request is waiting for INIT to end) unless
//!    [`Coldstart::prewarm_on_demand`] says otherwise.
//! 2. **Init end** is marked ([`crate::phases::mark_init_end`]) right before the runtime loop
//!    asks for the first event. The first invocation then records `faas.init_duration` and the
//!    gap from init end to the first event (`coldstart.phase_duration{phase="wait_for_first_event"}`),
//!    and an on-demand first invocation whose event arrived more than
//!    [`Coldstart::proactive_threshold`] after init end is
//!    [`StartKind::Proactive`](crate::tracker::StartKind::Proactive), not `cold`.
//! 3. **Warm-up pings** (see [`detect_ping`]) are recognized on the raw payload, before the
//!    typed deserialization that would reject them: they get a small JSON [`Ack`], never reach
//!    your handler, build the `prewarm` statics, wait [`Coldstart::warmup_delay`] when they are
//!    part of a fan-out, and count in `coldstart.warmups{source, start}`, never in
//!    `faas.invocations` or `faas.invoke_duration`. A ping that is the first event of an
//!    environment consumes its coldness: the next real invocation is `warm`.
//! 4. **The flush hook** ([`Coldstart::on_flush`]) runs after every invocation, before the
//!    response is posted.
//! 5. **After the first response** is posted, before the runtime asks for the next event (the
//!    environment is still running): the cold-start report ([`crate::report`]), the metric
//!    descriptions, and — when no flush hook needs them earlier — the first invocation's own
//!    metrics and phase durations. The request that paid for the cold start does not also wait
//!    for the recorder's first registrations; with a flush hook they are recorded before it runs.
//!
//! Every other payload goes exactly where `lambda_runtime::run` would send it: same
//! deserialization (same errors, posted the same way), same panic handling, same tracing span.
//! Invocation metrics (`faas.invocations`, `faas.coldstarts`, ...) still come from
//! `#[cold_start_handler]` on your handler: the wrapper does not replace it.
//!
//! # Pieces, for your own `Runtime`
//!
//! [`Coldstart::service`] wraps the handler, [`Coldstart::layer`] wraps `lambda_runtime`'s raw
//! stack, and [`Coldstart::end_init`] applies the prewarm policy and marks init end:
//!
//! ```no_run
//! use coldstart_core::lambda::Coldstart;
//! use lambda_runtime::{layers::TracingLayer, service_fn, Error, LambdaEvent, Runtime};
//! use serde_json::Value;
//!
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let coldstart = Coldstart::new();
//!     let runtime = Runtime::new(coldstart.service(service_fn(handler)))
//!         .layer(coldstart.layer()) // first: it must wrap lambda_runtime's own stack
//!         .layer(TracingLayer::new());
//!     coldstart.end_init().await;
//!     runtime.run().await
//! }
//! ```

mod ping;
mod service;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_core::Stream;
use lambda_runtime::{layers::TracingLayer, Diagnostic, Error, LambdaEvent};
use lambda_runtime::{IntoFunctionResponse, Runtime, Service};
use serde::{Deserialize, Serialize};

pub use ping::{detect_ping, Ping, PingSource, MAX_PING_BYTES};
pub use service::{
    Ack, AfterResponse, Answer, Body, ColdstartLayer, ColdstartService, PingOr, WithColdstart,
    WithColdstartFuture,
};

use crate::environment::Environment;
use crate::lazy::{self, BoxFuture, During, Prewarmed};
use crate::{phases, tracker};

/// Default of [`Coldstart::warmup_delay`]: 25 ms, what serverless-plugin-warmup recommends so
/// that concurrent pings land on distinct environments.
pub const DEFAULT_WARMUP_DELAY: Duration = Duration::from_millis(25);

/// A flush hook slower than this gets one warning on stderr (per process).
const SLOW_FLUSH: Duration = Duration::from_millis(5);

/// How an invocation ended, as the flush hook ([`Coldstart::on_flush`]) is told.
///
/// ```
/// use coldstart_core::lambda::Finished;
/// assert_eq!(Finished::Warmup.as_str(), "warmup");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Finished {
    /// The handler returned `Ok`.
    Ok,
    /// The handler returned `Err`.
    Error,
    /// The handler panicked (the hook runs, then the panic goes on to `lambda_runtime`, which
    /// posts it as an error).
    Panic,
    /// A warm-up ping was answered.
    Warmup,
    /// The payload never reached the handler: `lambda_runtime` could not deserialize it and
    /// posts the error.
    Rejected,
}

impl Finished {
    /// `ok`, `error`, `panic`, `warmup` or `rejected`.
    ///
    /// ```
    /// assert_eq!(coldstart_core::lambda::Finished::Rejected.as_str(), "rejected");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Finished::Ok => "ok",
            Finished::Error => "error",
            Finished::Panic => "panic",
            Finished::Warmup => "warmup",
            Finished::Rejected => "rejected",
        }
    }
}

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type FlushHook = dyn Fn(Finished) + Send + Sync;
type PingPredicate = dyn Fn(&[u8]) -> bool + Send + Sync;

/// The configuration the pieces share.
#[derive(Clone)]
pub(crate) struct Shared {
    proactive_threshold: Duration,
    prewarm_on_demand: bool,
    warmup_delay: Duration,
    builtin_pings: bool,
    is_ping: Option<Arc<PingPredicate>>,
    on_flush: Option<Arc<FlushHook>>,
    cold_start_budget: Option<Duration>,
    report: Option<bool>,
}

impl Shared {
    fn detect(
        &self,
        body: &[u8],
        client_context: Option<&std::collections::HashMap<String, String>>,
    ) -> Option<Ping> {
        if self.builtin_pings {
            if let Some(ping) = detect_ping(body) {
                return Some(ping);
            }
            if client_context
                .and_then(|custom| custom.get("source"))
                .is_some_and(|source| source == "serverless-plugin-warmup")
            {
                return Some(Ping::new(PingSource::ServerlessPluginWarmup, None));
            }
        }
        let predicate = self.is_ping.as_ref()?;
        match catch_unwind(AssertUnwindSafe(|| predicate(body))) {
            Ok(true) => Some(Ping::new(PingSource::Custom, None)),
            Ok(false) => None,
            Err(_) => {
                eprintln!(
                    "coldstart: the is_ping predicate panicked; the payload is treated as an event"
                );
                None
            }
        }
    }

    fn has_hook(&self) -> bool {
        self.on_flush.is_some()
    }

    /// Runs the flush hook, if any; a panic in it is caught and logged, never propagated.
    fn flush(&self, finished: Finished) {
        let Some(hook) = &self.on_flush else { return };
        // What the hook exports must be recorded and described.
        crate::deferred::before_flush();
        let started = Instant::now();
        if catch_unwind(AssertUnwindSafe(|| hook(finished))).is_err() {
            eprintln!("coldstart: the flush hook panicked after a `{finished}` invocation; the response is posted anyway");
        }
        let took = started.elapsed();
        static WARNED: AtomicBool = AtomicBool::new(false);
        if took > SLOW_FLUSH && !WARNED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "coldstart: the flush hook took {:.1} ms; it delays every response, keep it well under {} ms",
                took.as_secs_f64() * 1e3,
                SLOW_FLUSH.as_millis()
            );
        }
    }
}

/// Answers a warm-up ping: counts it, builds the `prewarm` statics, waits when it is part of a
/// fan-out, flushes.
fn answer_ping(ping: Ping, shared: Arc<Shared>) -> BoxFuture<Ack> {
    Box::pin(async move {
        let start = tracker::warmup(ping.source.as_str());
        let prewarmed = lazy::prewarm_as(During::Warmup).await;
        report_failures("a warm-up ping", &prewarmed);
        if ping.fans_out() {
            delay(shared.warmup_delay).await;
        }
        tracker::warmup_finished();
        shared.flush(Finished::Warmup);
        Ack {
            source: ping.source.as_str(),
            start: start.as_str(),
        }
    })
}

fn report_failures(when: &str, prewarmed: &Prewarmed) {
    for (name, outcome) in &prewarmed.failed {
        eprintln!("coldstart: prewarming `{name}` during {when} failed ({outcome}); it is retried on its next access");
    }
}

/// Waits `duration` without needing tokio's time driver (a runtime built without
/// `enable_time` would make `tokio::time::sleep` panic): a short-lived thread wakes the task.
async fn delay(duration: Duration) {
    if duration.is_zero() {
        return;
    }
    let (done, wait) = tokio::sync::oneshot::channel::<()>();
    let timer = Box::new(move || {
        std::thread::sleep(duration);
        let _ = done.send(());
    });
    if crate::spawn_detached("coldstart-warmup-delay", timer) {
        let _ = wait.await;
    }
}

/// Configures the Lambda integration, then runs the handler (or hands out the pieces).
///
/// Every setting has a default; `Coldstart::new().run(handler)` is [`run`].
///
/// ```no_run
/// use coldstart_core::lambda::{Coldstart, Finished};
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
/// use std::time::Duration;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     Coldstart::new()
///         .proactive_threshold(Duration::from_millis(250))
///         .warmup_delay(Duration::from_millis(50))
///         .is_ping(|body| body == b"\"ping\"")
///         .on_flush(|finished: Finished| {
///             // hand the metrics to the exporter (print EMF lines, ...): keep it under a few ms
///             let _ = finished;
///         })
///         .run(service_fn(handler))
///         .await
/// }
/// ```
#[derive(Clone)]
pub struct Coldstart {
    shared: Arc<Shared>,
}

impl Default for Coldstart {
    fn default() -> Self {
        Coldstart::new()
    }
}

impl fmt::Debug for Coldstart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shared = &self.shared;
        f.debug_struct("Coldstart")
            .field("proactive_threshold", &shared.proactive_threshold)
            .field("prewarm_on_demand", &shared.prewarm_on_demand)
            .field("warmup_delay", &shared.warmup_delay)
            .field("builtin_pings", &shared.builtin_pings)
            .field("is_ping", &shared.is_ping.is_some())
            .field("on_flush", &shared.on_flush.is_some())
            .finish()
    }
}

impl Coldstart {
    /// The defaults: proactive threshold 100 ms, on-demand environments not prewarmed, warm-up
    /// delay 25 ms, built-in ping shapes recognized, no custom predicate, no flush hook.
    ///
    /// ```
    /// let coldstart = coldstart_core::lambda::Coldstart::new();
    /// # let _ = coldstart;
    /// ```
    pub fn new() -> Self {
        Coldstart {
            shared: Arc::new(Shared {
                proactive_threshold: tracker::DEFAULT_PROACTIVE_THRESHOLD,
                prewarm_on_demand: false,
                warmup_delay: DEFAULT_WARMUP_DELAY,
                builtin_pings: true,
                is_ping: None,
                on_flush: None,
                cold_start_budget: None,
                report: None,
            }),
        }
    }

    fn with(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// An on-demand first invocation whose event arrives more than `threshold` after init end is
    /// [`StartKind::Proactive`](crate::tracker::StartKind::Proactive) instead of `cold`.
    /// Default 100 ms (Bref's choice): a request that triggered INIT is handed over within
    /// milliseconds of init end. Datadog measures 10 s from INIT *start* instead; measuring
    /// from init end does not depend on how long INIT took. See
    /// [`tracker::set_proactive_threshold`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let coldstart = coldstart_core::lambda::Coldstart::new().proactive_threshold(Duration::from_secs(1));
    /// # let _ = coldstart;
    /// ```
    pub fn proactive_threshold(self, threshold: Duration) -> Self {
        self.with(|shared| shared.proactive_threshold = threshold)
    }

    /// Also build the `prewarm` statics during INIT in on-demand environments (default `false`:
    /// there a request is waiting for INIT to end, so they stay lazy). Environments initialized
    /// ahead of demand are always prewarmed.
    ///
    /// ```
    /// let coldstart = coldstart_core::lambda::Coldstart::new().prewarm_on_demand(true);
    /// # let _ = coldstart;
    /// ```
    pub fn prewarm_on_demand(self, prewarm: bool) -> Self {
        self.with(|shared| shared.prewarm_on_demand = prewarm)
    }

    /// A cold-start budget for every handler that has none of its own: when a user-facing cold
    /// start (process start to the end of the first invocation) takes longer, the cold-start
    /// report says by how much and which phases and lazy statics dominated, and
    /// `coldstart.budget_exceeded` counts it. The seed's targets: a simple API < 100 ms, with a
    /// database < 200 ms, complex processing < 500 ms, ML inference < 1 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let coldstart = coldstart_core::lambda::Coldstart::new().cold_start_budget(Duration::from_millis(200));
    /// # let _ = coldstart;
    /// ```
    pub fn cold_start_budget(self, budget: Duration) -> Self {
        self.with(|shared| shared.cold_start_budget = Some(budget))
    }

    /// Whether to print the cold-start report line after the first real invocation (default:
    /// yes, unless `COLDSTART_REPORT=off`); see [`crate::report`].
    ///
    /// ```
    /// let coldstart = coldstart_core::lambda::Coldstart::new().report(false);
    /// # let _ = coldstart;
    /// ```
    pub fn report(self, enabled: bool) -> Self {
        self.with(|shared| shared.report = Some(enabled))
    }

    /// How long a warm-up ping that is part of a fan-out ([`Ping::fans_out`]) waits before it
    /// is acknowledged, so that the concurrent pings land on distinct environments instead of
    /// being served one after the other by the same one. Default 25 ms, as serverless-plugin-warmup
    /// recommends. The wait does not need tokio's time driver.
    ///
    /// ```
    /// let coldstart = coldstart_core::lambda::Coldstart::new().warmup_delay(std::time::Duration::ZERO);
    /// # let _ = coldstart;
    /// ```
    pub fn warmup_delay(self, delay: Duration) -> Self {
        self.with(|shared| shared.warmup_delay = delay)
    }

    /// Recognize the built-in ping shapes ([`detect_ping`], plus serverless-plugin-warmup's
    /// client context)? Default `true`; turn it off if your real events can look like them.
    ///
    /// ```
    /// let coldstart = coldstart_core::lambda::Coldstart::new().builtin_pings(false);
    /// # let _ = coldstart;
    /// ```
    pub fn builtin_pings(self, enabled: bool) -> Self {
        self.with(|shared| shared.builtin_pings = enabled)
    }

    /// Your own ping test on the raw payload bytes, asked when no built-in shape matched
    /// (counted with `source="custom"`). It runs for every such event, so keep it cheap (check
    /// the length first); a panic in it is caught and the payload treated as an event.
    ///
    /// ```
    /// let coldstart = coldstart_core::lambda::Coldstart::new()
    ///     .is_ping(|body| body.len() < 64 && body.starts_with(br#"{"keepalive""#));
    /// # let _ = coldstart;
    /// ```
    pub fn is_ping(self, predicate: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> Self {
        self.with(|shared| shared.is_ping = Some(Arc::new(predicate)))
    }

    /// A function run after every invocation — success, error, panic, warm-up ping, rejected
    /// payload — *before* `lambda_runtime` posts the response: once the response is posted,
    /// Lambda may freeze the environment, and metrics still buffered would be lost or delayed.
    ///
    /// **Time budget:** the caller is waiting for the response while it runs, so keep it well
    /// under a few milliseconds (write EMF lines to stdout, hand a buffer to an extension; no
    /// network round trips). A hook slower than 5 ms gets one warning on stderr. A panic in
    /// the hook is caught and logged: the response is posted anyway. A panic in the handler
    /// runs the hook, then goes on to `lambda_runtime`, which reports it.
    ///
    /// ```
    /// use coldstart_core::lambda::{Coldstart, Finished};
    ///
    /// let coldstart = Coldstart::new().on_flush(|finished: Finished| {
    ///     if finished == Finished::Panic {
    ///         eprintln!("flushing after a panic");
    ///     }
    /// });
    /// # let _ = coldstart;
    /// ```
    pub fn on_flush(self, hook: impl Fn(Finished) + Send + Sync + 'static) -> Self {
        self.with(|shared| shared.on_flush = Some(Arc::new(hook)))
    }

    /// Wraps a handler so that it answers warm-up pings and runs the flush hook; use it with
    /// [`Coldstart::layer`] (see the [module docs](self)).
    ///
    /// ```
    /// use coldstart_core::lambda::Coldstart;
    /// use lambda_runtime::{service_fn, Error, LambdaEvent};
    /// use serde_json::Value;
    ///
    /// let service = Coldstart::new().service(service_fn(|event: LambdaEvent<Value>| async move {
    ///     Ok::<_, Error>(event.payload)
    /// }));
    /// # let _ = service;
    /// ```
    pub fn service<F>(&self, handler: F) -> WithColdstart<F> {
        WithColdstart::new(handler, self.shared.clone())
    }

    /// The layer that recognizes pings on the raw payload; add it to the `Runtime` built on
    /// [`Coldstart::service`] *first* (right after `Runtime::new`).
    ///
    /// ```
    /// let layer = coldstart_core::lambda::Coldstart::new().layer();
    /// # let _ = layer;
    /// ```
    pub fn layer(&self) -> ColdstartLayer {
        ColdstartLayer::new(self.shared.clone())
    }

    /// Ends INIT: applies the prewarm policy (awaits [`lazy::prewarm`] when the environment was
    /// initialized ahead of demand, or on demand with [`Coldstart::prewarm_on_demand`]),
    /// installs the proactive threshold, and marks init end. Call it right before
    /// `Runtime::run`; [`Coldstart::run`] does. Returns what prewarming did, if it ran.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let prewarmed = coldstart_core::lambda::Coldstart::new().end_init().await;
    /// assert!(prewarmed.is_none()); // on-demand (no AWS_LAMBDA_INITIALIZATION_TYPE)
    /// assert!(coldstart_core::phases::init_end().is_some());
    /// # });
    /// ```
    pub async fn end_init(&self) -> Option<Prewarmed> {
        let ahead_of_demand = !Environment::current_init_type().is_user_facing();
        let prewarmed = if ahead_of_demand || self.shared.prewarm_on_demand {
            let prewarmed = lazy::prewarm().await;
            report_failures("INIT", &prewarmed);
            Some(prewarmed)
        } else {
            None
        };
        tracker::set_proactive_threshold(self.shared.proactive_threshold);
        if let Some(budget) = self.shared.cold_start_budget {
            tracker::set_cold_start_budget(budget);
        }
        if let Some(enabled) = self.shared.report {
            crate::report::set_enabled(enabled);
        }
        phases::mark_init_end();
        prewarmed
    }

    /// [`run`] with this configuration: a drop-in for `lambda_runtime::run` (same bounds, same
    /// tracing layer).
    ///
    /// # Errors
    ///
    /// What `lambda_runtime`'s `Runtime::run` returns (a failure to reach the Runtime API).
    ///
    /// # Panics
    ///
    /// Like `lambda_runtime::run`, when the Lambda environment variables are missing.
    pub async fn run<F, A, R, B, S, D, E>(self, handler: F) -> Result<(), Error>
    where
        F: Service<LambdaEvent<A>, Response = R>,
        F::Future: Future<Output = Result<R, F::Error>>,
        F::Error: Into<Diagnostic> + fmt::Debug,
        A: for<'de> Deserialize<'de>,
        R: IntoFunctionResponse<B, S>,
        B: Serialize,
        S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
        D: Into<bytes::Bytes> + Send,
        E: Into<Error> + Send + fmt::Debug,
    {
        let runtime = Runtime::new(self.service(handler))
            .layer(self.layer())
            .layer(TracingLayer::new());
        self.end_init().await;
        runtime.run().await
    }

    /// [`run_concurrent`] with this configuration: a drop-in for
    /// `lambda_runtime::run_concurrent`.
    ///
    /// # Errors
    ///
    /// What `lambda_runtime`'s `Runtime::run_concurrent` returns.
    ///
    /// # Panics
    ///
    /// Like `lambda_runtime::run_concurrent`: outside a tokio runtime, or when the Lambda
    /// environment variables are missing.
    #[cfg(feature = "concurrent")]
    #[cfg_attr(docsrs, doc(cfg(feature = "concurrent")))]
    pub async fn run_concurrent<F, A, R, B, S, D, E>(self, handler: F) -> Result<(), Error>
    where
        F: Service<LambdaEvent<A>, Response = R> + Clone + Send + 'static,
        F::Future: Future<Output = Result<R, F::Error>> + Send + 'static,
        F::Error: Into<Diagnostic> + fmt::Debug,
        A: for<'de> Deserialize<'de> + Send + 'static,
        R: IntoFunctionResponse<B, S> + Send + 'static,
        B: Serialize + Send + 'static,
        S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
        D: Into<bytes::Bytes> + Send + 'static,
        E: Into<Error> + Send + fmt::Debug + 'static,
    {
        let runtime = Runtime::new(self.service(handler))
            .layer(self.layer())
            .layer(TracingLayer::new());
        self.end_init().await;
        runtime.run_concurrent().await
    }
}

/// A drop-in for `lambda_runtime::run` with the default [`Coldstart`] configuration: marks init
/// end, prewarms when INIT is not user-facing, answers warm-up pings, then serves `handler`
/// exactly as `lambda_runtime::run` would.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     coldstart_core::lambda::run(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
///
/// What `lambda_runtime::run` returns.
pub async fn run<F, A, R, B, S, D, E>(handler: F) -> Result<(), Error>
where
    F: Service<LambdaEvent<A>, Response = R>,
    F::Future: Future<Output = Result<R, F::Error>>,
    F::Error: Into<Diagnostic> + fmt::Debug,
    A: for<'de> Deserialize<'de>,
    R: IntoFunctionResponse<B, S>,
    B: Serialize,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send,
    E: Into<Error> + Send + fmt::Debug,
{
    Coldstart::new().run(handler).await
}

/// A drop-in for `lambda_runtime::run_concurrent` (several invocations at once per environment
/// when `AWS_LAMBDA_MAX_CONCURRENCY` > 1) with the default [`Coldstart`] configuration.
/// Exactly one invocation per environment is the first, however many run at once.
///
/// ```no_run
/// use lambda_runtime::{service_fn, Error, LambdaEvent};
/// use serde_json::Value;
///
/// async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
///     Ok(event.payload)
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Error> {
///     coldstart_core::lambda::run_concurrent(service_fn(handler)).await
/// }
/// ```
///
/// # Errors
///
/// What `lambda_runtime::run_concurrent` returns.
#[cfg(feature = "concurrent")]
#[cfg_attr(docsrs, doc(cfg(feature = "concurrent")))]
pub async fn run_concurrent<F, A, R, B, S, D, E>(handler: F) -> Result<(), Error>
where
    F: Service<LambdaEvent<A>, Response = R> + Clone + Send + 'static,
    F::Future: Future<Output = Result<R, F::Error>> + Send + 'static,
    F::Error: Into<Diagnostic> + fmt::Debug,
    A: for<'de> Deserialize<'de> + Send + 'static,
    R: IntoFunctionResponse<B, S> + Send + 'static,
    B: Serialize + Send + 'static,
    S: Stream<Item = Result<D, E>> + Unpin + Send + 'static,
    D: Into<bytes::Bytes> + Send + 'static,
    E: Into<Error> + Send + fmt::Debug + 'static,
{
    Coldstart::new().run_concurrent(handler).await
}
