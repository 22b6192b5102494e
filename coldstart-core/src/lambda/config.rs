//! The builder ([`Coldstart`]): every setting, the pieces it hands out, and how INIT ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use lambda_runtime::{layers::TracingLayer, Diagnostic, Error, LambdaEvent};
use lambda_runtime::{IntoFunctionResponse, Runtime, Service};
use serde::{Deserialize, Serialize};

use super::flush::FlushAt;
use super::shared::Shared;
use super::timeouts::{self, DEFAULT_TIMEOUT_MARGIN};
use super::tower::{ColdstartLayer, WithColdstart};
use super::warm::{WarmAfterFirstResponse, DEFAULT_WARM_TIMEOUT};
use super::warmup::log_prewarm_failures;
use crate::environment::Environment;
use crate::invocation::{self, Outcome};
use crate::lazy::{self, Prewarmed};
use crate::phases;

/// Default of [`Coldstart::warmup_delay`]: 25 ms, what serverless-plugin-warmup recommends so
/// that concurrent pings land on distinct environments.
pub const DEFAULT_WARMUP_DELAY: Duration = Duration::from_millis(25);

/// Default of [`Coldstart::flush_timeout`]: 300 ms, above the Pushgateway push's own 250 ms bound.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(300);
/// Configures the Lambda integration, then runs the handler (or hands out the pieces).
///
/// Every setting has a default; `Coldstart::new().run(handler)` is [`run`](super::run).
///
/// ```no_run
/// use coldstart::{lambda::Coldstart, Outcome};
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
///         .on_flush(|outcome: Outcome| {
///             // hand the metrics to the exporter (print EMF lines, ...): keep it under a few ms
///             let _ = outcome;
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
        // Destructured, so that a setting added to `Shared` cannot be left out here.
        let Shared {
            proactive_threshold,
            prewarm_on_demand,
            warmup_delay,
            builtin_pings,
            is_ping,
            on_flush,
            flush_at,
            flush_timeout,
            warm_after_first_response,
            warm_timeout,
            timeout_margin,
            cold_start_budget,
            print_report,
            price_per_gb_second,
            #[cfg(all(unix, feature = "shutdown"))]
            on_shutdown,
        } = &*self.shared;
        let function = |set: bool| if set { Some("<fn>") } else { None };
        #[cfg(all(unix, feature = "shutdown"))]
        let on_shutdown = function(on_shutdown.is_some());
        #[cfg(not(all(unix, feature = "shutdown")))]
        let on_shutdown = function(false);
        f.debug_struct("Coldstart")
            .field("proactive_threshold", proactive_threshold)
            .field("prewarm_on_demand", prewarm_on_demand)
            .field("warmup_delay", warmup_delay)
            .field("builtin_pings", builtin_pings)
            .field("is_ping", &function(is_ping.is_some()))
            .field("on_flush", &function(on_flush.is_some()))
            .field("flush_at", flush_at)
            .field("flush_timeout", flush_timeout)
            .field("warm_after_first_response", warm_after_first_response)
            .field("warm_timeout", warm_timeout)
            .field("timeout_margin", timeout_margin)
            .field("cold_start_budget", cold_start_budget)
            .field("print_report", print_report)
            .field("price_per_gb_second", price_per_gb_second)
            .field("on_shutdown", &on_shutdown)
            .finish()
    }
}

impl Coldstart {
    /// The defaults: proactive threshold 100 ms, on-demand environments not prewarmed, warm-up
    /// delay 25 ms, built-in ping shapes recognized, no custom predicate, no flush hook.
    ///
    /// ```
    /// let coldstart = coldstart::lambda::Coldstart::new();
    /// # let _ = coldstart;
    /// ```
    pub fn new() -> Self {
        Coldstart {
            shared: Arc::new(Shared {
                proactive_threshold: invocation::DEFAULT_PROACTIVE_THRESHOLD,
                prewarm_on_demand: false,
                warmup_delay: DEFAULT_WARMUP_DELAY,
                builtin_pings: true,
                is_ping: None,
                on_flush: None,
                flush_at: FlushAt::AfterResponse,
                flush_timeout: DEFAULT_FLUSH_TIMEOUT,
                warm_after_first_response: WarmAfterFirstResponse::Marked,
                warm_timeout: DEFAULT_WARM_TIMEOUT,
                timeout_margin: DEFAULT_TIMEOUT_MARGIN,
                cold_start_budget: None,
                print_report: None,
                price_per_gb_second: None,
                #[cfg(all(unix, feature = "shutdown"))]
                on_shutdown: None,
            }),
        }
    }

    pub(super) fn with(mut self, change: impl FnOnce(&mut Shared)) -> Self {
        change(Arc::make_mut(&mut self.shared));
        self
    }

    /// An on-demand first invocation whose event arrives more than `threshold` after init end is
    /// [`StartKind::Proactive`](crate::invocation::StartKind::Proactive) instead of `cold`.
    /// Default 100 ms (Bref's choice): a request that triggered INIT is handed over within
    /// milliseconds of init end. Datadog measures 10 s from INIT *start* instead; measuring
    /// from init end does not depend on how long INIT took. See
    /// [`invocation::proactive_threshold`].
    ///
    /// ```
    /// # use std::time::Duration;
    /// let coldstart = coldstart::lambda::Coldstart::new().proactive_threshold(Duration::from_secs(1));
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
    /// let coldstart = coldstart::lambda::Coldstart::new().prewarm_on_demand(true);
    /// # let _ = coldstart;
    /// ```
    pub fn prewarm_on_demand(self, prewarm: bool) -> Self {
        self.with(|shared| shared.prewarm_on_demand = prewarm)
    }

    /// A cold-start budget for every handler that has none of its own: when a user-facing cold
    /// start (process start to the end of the first invocation) takes longer, the cold-start
    /// report says by how much and which phases and lazy statics dominated, and
    /// `coldstart.budget_exceeded` counts it. Reasonable targets: a simple API under 100 ms, one
    /// with a database under 200 ms, complex processing under 500 ms, ML inference under 1 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// let coldstart = coldstart::lambda::Coldstart::new().cold_start_budget(Duration::from_millis(200));
    /// # let _ = coldstart;
    /// ```
    pub fn cold_start_budget(self, budget: Duration) -> Self {
        self.with(|shared| shared.cold_start_budget = Some(budget))
    }

    /// Whether to print the cold-start report line after the first real invocation (default:
    /// yes, unless `COLDSTART_REPORT` is `off`, `0` or `false` in the function's environment);
    /// see [`crate::report`]. The report value ([`crate::report::cold_start_report`]) is there
    /// either way.
    ///
    /// ```
    /// let coldstart = coldstart::lambda::Coldstart::new().print_report(false);
    /// # let _ = coldstart;
    /// ```
    pub fn print_report(self, print: bool) -> Self {
        self.with(|shared| shared.print_report = Some(print))
    }

    /// Your price per GB-second of Lambda duration (it differs by architecture and region, e.g.
    /// USD 0.0000166667 for x86 and 0.0000133334 for Arm in us-east-1 at the first tier), so
    /// that the cold-start report's cost section also says what INIT and the first invocation
    /// cost in money, in the currency of your price. Without it the report shows GB-seconds only.
    /// A price that is not a finite number ≥ 0 is refused when INIT ends, with a message on
    /// stderr, and the report keeps its GB-seconds. See [`crate::report::Cost`].
    ///
    /// ```
    /// let coldstart = coldstart::lambda::Coldstart::new().price_per_gb_second(0.0000166667);
    /// # let _ = coldstart;
    /// ```
    pub fn price_per_gb_second(self, price: f64) -> Self {
        self.with(|shared| shared.price_per_gb_second = Some(price))
    }

    /// How long a warm-up ping that is part of a fan-out ([`Ping::fans_out`](super::Ping::fans_out)) waits before it
    /// is acknowledged, so that the concurrent pings land on distinct environments instead of
    /// being served one after the other by the same one. Default 25 ms, as serverless-plugin-warmup
    /// recommends. The wait does not need tokio's time driver.
    ///
    /// ```
    /// let coldstart = coldstart::lambda::Coldstart::new().warmup_delay(std::time::Duration::ZERO);
    /// # let _ = coldstart;
    /// ```
    pub fn warmup_delay(self, delay: Duration) -> Self {
        self.with(|shared| shared.warmup_delay = delay)
    }

    /// Recognize the built-in ping shapes ([`detect_ping`](super::detect_ping), plus serverless-plugin-warmup's
    /// client context)? Default `true`; turn it off if your real events can look like them.
    ///
    /// ```
    /// let coldstart = coldstart::lambda::Coldstart::new().builtin_pings(false);
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
    /// let coldstart = coldstart::lambda::Coldstart::new()
    ///     .is_ping(|body| body.len() < 64 && body.starts_with(br#"{"keepalive""#));
    /// # let _ = coldstart;
    /// ```
    pub fn is_ping(self, predicate: impl Fn(&[u8]) -> bool + Send + Sync + 'static) -> Self {
        self.with(|shared| shared.is_ping = Some(Arc::new(predicate)))
    }

    /// A function run after every invocation — success, error, panic, warm-up ping, rejected
    /// payload — to hand the invocation's metrics to an exporter (write EMF lines, push to a
    /// gateway) before Lambda freezes the environment. The invocation's own metrics, and for the
    /// first invocation the start-up phases, memory sample and cold-start report, are recorded
    /// when it runs.
    ///
    /// **When:** by default ([`FlushAt::AfterResponse`]) after the response is posted (a
    /// streamed response: after its last byte) and before the runtime asks for the next event —
    /// Lambda freezes an environment only when it asks, so the hook still runs, and no client
    /// waits for it. It runs on a thread of its own, inside the function's tokio runtime (so
    /// `tokio::spawn` and `Handle::current()` work in it); the invocation waits for it without
    /// blocking its runtime thread, at most [`flush_timeout`](Self::flush_timeout) (300 ms by
    /// default), then the runtime asks for the next event anyway (said on stderr).
    ///
    /// **Overlapping invocations** (`run_concurrent`): no invocation's response waits for another's
    /// flush. Flushes asked for while the hook runs are coalesced into its next run, which starts
    /// as soon as it returns and covers all of them: every invocation is exported by a run that
    /// started after its response, none is skipped, and the hook is never run twice at once. Such
    /// a run gets the most telling of the outcomes it covers (`panic`, `timeout`, `error`,
    /// `rejected`, `cancelled`, `ok`, `warmup`, in that order).
    ///
    /// **A hook that hangs:** while a run has lasted longer than the bound, invocations do not wait
    /// for it at all; its next run covers them once it returns. A panic in the hook is caught and
    /// logged, in either mode, and ends only that run; a panic in the handler runs the hook with
    /// [`Outcome::Panic`], and `lambda_runtime` still reports it. With
    /// [`FlushAt::BeforeResponse`] the hook runs inline while the client waits (a hook slower
    /// than 5 ms then gets one warning).
    ///
    /// ```
    /// use coldstart::{lambda::Coldstart, Outcome};
    ///
    /// let coldstart = Coldstart::new().on_flush(|outcome: Outcome| {
    ///     if outcome == Outcome::Panic {
    ///         eprintln!("flushing after a panic");
    ///     }
    /// });
    /// # let _ = coldstart;
    /// ```
    pub fn on_flush(self, hook: impl Fn(Outcome) + Send + Sync + 'static) -> Self {
        self.with(|shared| shared.on_flush = Some(Arc::new(hook)))
    }

    /// When the flush hook runs: after the response (the default) or before it; see
    /// [`FlushAt`] and [`on_flush`](Self::on_flush).
    ///
    /// ```
    /// use coldstart::lambda::{Coldstart, FlushAt};
    ///
    /// let coldstart = Coldstart::new().flush_at(FlushAt::BeforeResponse);
    /// # let _ = coldstart;
    /// ```
    pub fn flush_at(self, when: FlushAt) -> Self {
        self.with(|shared| shared.flush_at = when)
    }

    /// How long an invocation waits for its flush (a run of the hook that started after its
    /// response) before the runtime asks for the next event anyway (default
    /// [`DEFAULT_FLUSH_TIMEOUT`], 300 ms). The hook goes on running on its thread, and its next
    /// run covers the invocations that stopped waiting; see [`on_flush`](Self::on_flush).
    ///
    /// ```
    /// use std::time::Duration;
    /// let coldstart = coldstart::lambda::Coldstart::new().flush_timeout(Duration::from_millis(100));
    /// # let _ = coldstart;
    /// ```
    pub fn flush_timeout(self, bound: Duration) -> Self {
        self.with(|shared| shared.flush_timeout = bound)
    }

    /// Which lazy statics to build after the first response (default
    /// [`WarmAfterFirstResponse::Marked`]: those marked `#[lazy(after_first_response)]`).
    ///
    /// Lazy statics move work out of INIT but do not remove it: the first request to each other
    /// route pays for what it needs. After the first response is posted (the user-facing cold
    /// start is over) and before the runtime asks for the next event, the environment still runs
    /// and no client waits: the statics picked here are built then, once per environment, the
    /// sync ones one after the other on a thread of their own (inside the function's tokio
    /// runtime, as on a request), the async ones concurrently, all
    /// attributed to [`During::AfterFirstResponse`](crate::lazy::During::AfterFirstResponse)
    /// (`during="after_first_response"`: never billed to a request). Needs
    /// [`Coldstart::layer`] (which [`Coldstart::run`] adds).
    ///
    /// The warm-up holds the next `/next` for at most [`warm_timeout`](Self::warm_timeout)
    /// (and never past the invocation's deadline less [`timeout_margin`](Self::timeout_margin)).
    /// The Runtime API cannot tell a function whether an event is already waiting, so the limit
    /// holds either way. When it passes, the async initializers still running are dropped
    /// (`outcome="cancelled"`), no further sync one starts, and a sync one already running goes on
    /// on its thread (a request that needs it waits for that run): every static not built stays
    /// lazy and is built on its next access, attributed to that request. A failing initializer
    /// (an `Err` or a panic) is said on stderr and retried on its next access; the invocation is
    /// not affected.
    ///
    /// ```
    /// use coldstart::lambda::{Coldstart, WarmAfterFirstResponse};
    ///
    /// #[coldstart::lazy(after_first_response)]
    /// static ROUTES: Vec<String> = (0..100).map(|i| format!("/route/{i}")).collect();
    ///
    /// let all = Coldstart::new().warm_after_first_response(WarmAfterFirstResponse::All);
    /// # let _ = all;
    /// ```
    pub fn warm_after_first_response(self, which: WarmAfterFirstResponse) -> Self {
        self.with(|shared| shared.warm_after_first_response = which)
    }

    /// The longest the warm-up after the first response may hold the runtime's request for the
    /// next event (default [`DEFAULT_WARM_TIMEOUT`], 1 s); see
    /// [`warm_after_first_response`](Self::warm_after_first_response). Set it to what building
    /// your statics takes at your memory size (`cargo coldstart` measures it) and what you accept
    /// a queued event to wait; `Duration::ZERO` turns warming off.
    ///
    /// ```
    /// use std::time::Duration;
    /// let coldstart = coldstart::lambda::Coldstart::new().warm_timeout(Duration::from_secs(5));
    /// # let _ = coldstart;
    /// ```
    pub fn warm_timeout(self, limit: Duration) -> Self {
        self.with(|shared| shared.warm_timeout = limit)
    }

    /// How long before an invocation's deadline a handler still running counts as timed out
    /// (default [`DEFAULT_TIMEOUT_MARGIN`], 300 ms; `Duration::ZERO` turns timeout detection
    /// off). Then, from a watchdog thread, `faas.timeouts{handler, start}` and
    /// `faas.errors{outcome="timeout"}` are recorded and the flush hook runs with
    /// [`Outcome::Timeout`], so the data leaves before Lambda stops the environment at the
    /// deadline. A handler that finishes inside the margin after all is still counted once, as
    /// a timeout (nothing more is recorded or flushed for it): keep the margin above your flush's
    /// duration and well below your function's timeout. The first invocation is watched too; in
    /// an on-demand environment the watchdog's thread starts when it first waits (while the
    /// handler waits for I/O), so that a cold request does not pay for a thread on its way to
    /// the response; one that never waits and blocks until its deadline is not watched.
    /// An invocation that times out is also in `faas.invoke_duration`, with its duration up to
    /// the timeout mark (and, if it was cold, in `faas.coldstarts`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let coldstart = coldstart::lambda::Coldstart::new().timeout_margin(Duration::from_millis(500));
    /// # let _ = coldstart;
    /// ```
    pub fn timeout_margin(self, margin: Duration) -> Self {
        self.with(|shared| shared.timeout_margin = margin)
    }

    /// Wraps a handler so that it answers warm-up pings and runs the flush hook; use it with
    /// [`Coldstart::layer`] (see the [module docs](super)).
    ///
    /// ```
    /// use coldstart::lambda::Coldstart;
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
    /// let layer = coldstart::lambda::Coldstart::new().layer();
    /// # let _ = layer;
    /// ```
    pub fn layer(&self) -> ColdstartLayer {
        ColdstartLayer::new(self.shared.clone())
    }

    /// Ends INIT: applies the prewarm policy (awaits [`lazy::prewarm`] when the environment was
    /// initialized ahead of demand, or on demand with [`Coldstart::prewarm_on_demand`]),
    /// installs this configuration's settings for the process, and marks init end. Call it right
    /// before `Runtime::run`; [`Coldstart::run`] does. Returns what prewarming did, if it ran.
    ///
    /// INIT ends once per process: only the first call does anything. A later call (a second
    /// `Coldstart`, say) changes nothing, returns `None` and says so on stderr, so the settings
    /// in force are always those of the `Coldstart` that ended INIT.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use coldstart::lambda::Coldstart;
    ///
    /// let prewarmed = Coldstart::new().end_init().await;
    /// assert!(prewarmed.is_none()); // on-demand (no AWS_LAMBDA_INITIALIZATION_TYPE)
    /// assert!(coldstart::phases::init_end().is_some());
    /// # });
    /// ```
    pub async fn end_init(&self) -> Option<Prewarmed> {
        static ENDED: AtomicBool = AtomicBool::new(false);
        if ENDED.swap(true, Ordering::AcqRel) {
            eprintln!("coldstart: INIT already ended; this second `Coldstart::end_init` changes nothing (the first one's settings stay in force)");
            return None;
        }
        let ahead_of_demand = !Environment::current_init_type().is_user_facing();
        let prewarmed = if ahead_of_demand || self.shared.prewarm_on_demand {
            let prewarmed = lazy::prewarm().await;
            log_prewarm_failures("INIT", &prewarmed);
            Some(prewarmed)
        } else {
            None
        };
        timeouts::set_up(
            self.shared.clone(),
            self.shared.timeout_margin,
            !ahead_of_demand,
        );
        invocation::set_proactive_threshold(self.shared.proactive_threshold);
        if let Some(budget) = self.shared.cold_start_budget {
            invocation::set_cold_start_budget(budget);
        }
        if let Some(price) = self.shared.price_per_gb_second {
            if let Err(err) = crate::report::set_price_per_gb_second(price) {
                eprintln!("coldstart: {err}");
            }
        }
        if let Some(print) = self.shared.print_report {
            crate::report::set_enabled(print);
        }
        // Extensions must register before the runtime loop starts, that is, during INIT.
        #[cfg(all(unix, feature = "shutdown"))]
        if let Some(hook) = &self.shared.on_shutdown {
            super::shutdown::register(hook.clone()).await;
        }
        phases::mark_init_end();
        if ahead_of_demand {
            // No request waits for INIT: record it now, so that an environment retired before
            // any invocation still reports it.
            invocation::record_init();
        }
        prewarmed
    }

    /// [`end_init`](Self::end_init) behind a pointer, for `run` and `run_concurrent`: their
    /// futures are generic over the handler and end up inlined into each of the `block_on`s of
    /// the function's `main` (three with `#[tokio::main]`); polled through this box, INIT's end is
    /// compiled once instead (~7 KiB less in a stripped function binary).
    #[inline(never)]
    fn end_init_boxed(&self) -> Pin<Box<dyn Future<Output = Option<Prewarmed>> + Send + '_>> {
        Box::pin(self.end_init())
    }

    /// [`run`](super::run) with this configuration: a drop-in for `lambda_runtime::run` (same bounds, same
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
        self.end_init_boxed().await;
        // Boxed (its concrete type: the future stays `Send` exactly when it was) and dropped out
        // of line: otherwise lambda_runtime's whole event loop, and its drop, are compiled into
        // each of the `block_on`s of the function's `main`; this way each is compiled once
        // (~58 KiB less in a stripped function binary), for one allocation at start.
        OutOfLine::new(runtime.run()).await
    }

    /// [`run_concurrent`](super::run_concurrent) with this configuration: a drop-in for
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
        crate::render_gate::arm();
        self.end_init_boxed().await;
        // As in `run`: the event loop and its drop compiled once, not once per `block_on`.
        OutOfLine::new(runtime.run_concurrent()).await
    }
}

/// A future polled and dropped through a box, each compiled once. Boxing alone moves the poll
/// out of line, but the box's drop glue (every state of the event loop: its client, its streams,
/// the service stack) is still compiled into each codegen unit that drops the caller's future,
/// five with `#[tokio::main]`; dropped by [`drop_boxed`], which is never inlined, it is compiled
/// once (~28 KiB less in a stripped function binary, unwind tables included). `Send` exactly
/// when the future is.
struct OutOfLine<F>(Option<Pin<Box<F>>>);

impl<F> OutOfLine<F> {
    fn new(future: F) -> Self {
        OutOfLine(Some(Box::pin(future)))
    }
}

impl<F: Future> Future for OutOfLine<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match &mut self.0 {
            Some(future) => {
                let polled = future.as_mut().poll(cx);
                if polled.is_pending() {
                    // The loop has asked for an event and waits for it: the first time, INIT's
                    // CPU time is read here (see `crate::cpu`); a load after that.
                    crate::cpu::note_init_end();
                }
                polled
            }
            // Emptied only by `drop`.
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for OutOfLine<F> {
    #[inline]
    fn drop(&mut self) {
        // Inlined, so that the compiler sees the field left empty and adds no drop of its own.
        if let Some(future) = self.0.take() {
            drop_boxed(future);
        }
    }
}

#[inline(never)]
fn drop_boxed<F>(future: Pin<Box<F>>) {
    drop(future);
}
