//! Make AWS Lambda cold starts visible from inside a Rust function.
//!
//! Put [`#[cold_start_handler]`](cold_start_handler) on a `lambda_runtime` handler and every
//! invocation is tracked: the first invocation of the process is detected (exactly once, even
//! under concurrency), classified by [`StartKind`] (a user-facing `cold` start, or an environment
//! Lambda initialized ahead of demand), timed, and counted by outcome. Everything is recorded
//! through the [`metrics`](https://docs.rs/metrics) facade, so whichever exporter you install
//! (Prometheus, CloudWatch EMF, OpenTelemetry, a test recorder) receives it. The metric names are
//! listed in [`names`].
//!
//! ```no_run
//! use coldstart::cold_start_handler;
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::{json, Value};
//!
//! #[cold_start_handler]
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(json!({ "echo": event.payload }))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     // Install your metrics recorder, build clients: INIT. Then, instead of
//!     // `lambda_runtime::run`, which cannot tell when INIT ended:
//!     coldstart::lambda::run(service_fn(handler)).await
//! }
//! ```
//!
//! [`lambda::run`] marks the end of INIT right before the runtime loop starts, so the
//! first invocation also knows how long INIT took and whether its request waited for it (`cold`)
//! or arrived long after (`proactive`); it builds the `prewarm` statics during INIT when Lambda
//! initialized the environment ahead of demand, answers warm-up pings before they reach your
//! typed handler, records timeouts before the deadline, and runs an optional flush hook after
//! every response is posted, before Lambda may freeze the environment.
//!
//! # Getting started
//!
//! - **See it run first.** In this crate's repository, `cargo run --example quickstart` serves a
//!   handler through the real `lambda_runtime` loop against a Lambda Runtime API on loopback
//!   ([`local`], feature `local`; no AWS account) and prints its cold-start report and
//!   its Prometheus metrics.
//! - **Install a recorder during INIT**, before `lambda::run`: [`prometheus::install`] (feature
//!   `prometheus`), pushed to a Pushgateway by [`prometheus::Pushgateway`] from the flush hook; or
//!   a CloudWatch EMF recorder such as `metrics_cloudwatch_embedded`, flushed from
//!   [`lambda::Coldstart::on_flush`] ([`guide::cloudwatch_emf`] has the code). Any
//!   `metrics` recorder works; without one the metrics go nowhere, but the report below does not
//!   need one.
//! - **Read the cold-start report.** After the first real invocation of every environment the
//!   crate prints one JSON line on stdout — with or without a recorder installed — which
//!   CloudWatch Logs Insights finds with `filter ispresent(coldstart_report)`:
//!
//! ```text
//! {"coldstart_report":1,"function":"orders","version":"$LATEST","memory_mb":512,"init_type":"on-demand",
//!  "handler":"orders","start":"cold","outcome":"ok","phases_ms":{"init":137.653,"wait_for_first_event":1.086,
//!  "event_to_handler":0.047,"to_first_invocation":138.785,"first_invocation":31.066,"user_facing":169.851},
//!  "lazy":[{"name":"price-rules","ms":30.829,"during":"cold","invocation":1,...}],"memory":{...},...}
//! ```
//!
//! (Shown wrapped. [`cold_start_report()`] returns the same as a value whose `Display` is a
//! table, and [`report`] documents every field.)
//!
//! # The guide
//!
//! [`guide`] has a chapter per topic, with compiled examples: [lazy statics and when to
//! prewarm](guide::lazy_statics), [start kinds](guide::start_kinds), [the report](guide::report),
//! [when metrics leave the environment](guide::lifecycle), and one chapter per exporter
//! ([Prometheus](guide::prometheus), [CloudWatch EMF](guide::cloudwatch_emf),
//! [OpenTelemetry](guide::opentelemetry)).
//!
//! # Named phases
//!
//! Your own INIT work — loading configuration, connecting, parsing a model — can be split into
//! named phases, each timed exclusive of the phases and lazy statics nested in it, recorded as
//! `coldstart.phase_duration{phase, during, outcome}` and placed on the cold-start report's
//! timeline: [`phase`] for a closure, [`phase_async`] for a future, [`phase_guard`] for code that
//! does not fit a closure ([`named_phases`] has the details).
//!
//! ```
//! # async fn connect() -> &'static str { "client" }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let config = coldstart::phase("load config", || "region=eu-west-1".to_owned());
//! let client = coldstart::phase_async("connect", connect()).await;
//! {
//!     let _phase = coldstart::phase_guard("parse model");
//!     // ...
//! }
//! # let _ = (config, client);
//! # }
//! ```
//!
//!
//! Expensive statics — SDK clients, connection pools, parsed configuration, compiled rule tables —
//! are best built on first use rather than during INIT, and each one should say what it cost.
//! Put [`#[lazy]`](macro@lazy) on them: the first access runs the initializer once (even under
//! contention), times it, records `coldstart.lazy_init_duration{lazy, during, outcome}`, and
//! notes *where* it ran: during INIT, forced by [`prewarm`], or during invocation n (`cold`,
//! `provisioned`, `snapstart` or `warm`). [`lazy::statics()`](mod@lazy) lists every lazy static
//! of the program — touched or not — most expensive first.
//!
//! ```standalone_crate
//! # // Its own binary: `lazy::statics()` lists every `#[lazy]` static linked into the program.
//! use coldstart::lazy;
//!
//! pub struct Rules(Vec<String>);
//!
//! impl Rules {
//!     fn compile() -> Rules {
//!         Rules((0..100).map(|i| format!("rule {i}")).collect())
//!     }
//! }
//!
//! /// Built on first use; derefs to `Rules`.
//! #[lazy]
//! static RULES: Rules = Rules::compile();
//!
//! assert_eq!(RULES.0.len(), 100);
//! let statics = coldstart::lazy::statics();
//! let rules = statics.get("RULES").unwrap();
//! assert_eq!(rules.state, coldstart::lazy::State::Ready);
//! assert_eq!(rules.during, Some(coldstart::lazy::During::Init)); // no invocation had begun
//! ```
//!
//! An initializer that awaits is declared `async`, and accessed with `.get().await`:
//!
//! ```
//! # struct Client;
//! # impl Client { async fn connect() -> Client { Client } }
//! #[coldstart::lazy(async)]
//! static CLIENT: Client = async { Client::connect().await };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let client: &Client = CLIENT.get().await;
//! # let _ = client;
//! # }
//! ```
//!
//! An initializer that can fail is declared `fallible` with the type spelled `Result<T, E>`;
//! `.get()` returns `Result<&T, E>`. An `Err` goes to the caller whose access ran it and is never
//! cached: the next access tries again. `async, fallible` combines both (`.get().await`).
//!
//! ```
//! # #[derive(Debug)] struct Pool; #[derive(Debug)] struct DbError;
//! # impl Pool { fn connect() -> Result<Pool, DbError> { Ok(Pool) } async fn open() -> Result<Pool, DbError> { Ok(Pool) } }
//! #[coldstart::lazy(fallible, name = "db-pool")]
//! static POOL: Result<Pool, DbError> = Pool::connect();
//!
//! #[coldstart::lazy(async, fallible, prewarm)]
//! static ASYNC_POOL: Result<Pool, DbError> = async { Pool::open().await };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), DbError> {
//! let pool: &Pool = POOL.get()?;
//! let other: &Pool = ASYNC_POOL.get().await?;
//! # let _ = (pool, other);
//! # Ok(())
//! # }
//! ```
//!
//! Statics marked `prewarm` are built by [`prewarm().await`](prewarm), which you call during
//! INIT in environments Lambda initializes ahead of demand (provisioned concurrency, SnapStart),
//! so that no request waits for them. Inside a `#[cold_start_handler]` body, `#[lazy]` statics
//! work without importing the attribute. A panicking initializer leaves the static uninitialized
//! and the next access runs it again; see [`mod@lazy`] for the exact guarantees, how nested
//! statics' durations are attributed (exclusive), and what the attribution means under concurrent
//! invocations.
//!
//! # Feature flags
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `lambda` | yes | [`lambda`]: `lambda::run`, the drop-in for `lambda_runtime::run` that marks init end, classifies proactive starts, prewarms when INIT is not user-facing, answers warm-up pings and runs a flush hook |
//! | `concurrent` | no | `lambda::run_concurrent` (`lambda_runtime`'s `concurrency-tokio`) |
//! | `http` | no | `lambda::http`: the same for `lambda_http` handlers (pulls in `lambda_http` and `aws_lambda_events`) |
//! | `prometheus` | no | `prometheus`: one-call Prometheus recorder setup and a bounded, synchronous push to a Pushgateway from the flush hook |
//! | `tls` | no | `https://` gateway URLs for the `prometheus` pushes (rustls with ring, Mozilla's roots compiled in, a private CA from a PEM; no system OpenSSL); implies `prometheus` |
//! | `otel` | no | `otel`: the metrics into an OpenTelemetry `MeterProvider` with their units, descriptions and buckets, delta temporality, a flush for the flush hook |
//! | `shutdown` | no | `lambda::Coldstart::on_shutdown` (unix): a last hook at SIGTERM, bounded to 400 ms; registers `lambda_runtime`'s no-op internal extension during INIT |
//! | `local` | no | [`local`]: a Lambda Runtime API on loopback, to run handlers through the real runtime loop without AWS (examples, tests) |
//!
//! # The cold-start report
//!
//! After the first real invocation of an environment, [`report`] prints one JSON line with the
//! start kind, every phase, the lazy statics ranked by cost and where they ran, memory against the
//! configured size and the budget verdict; [`cold_start_report()`] returns the same as a value
//! whose `Display` is a table. [`current_invocation()`], [`idle_since_last_invocation()`] and
//! [`environment_age()`] are what handler code can read about the invocation in progress.
//!
// Links to the items of optional features: to the item when its feature is on, to the feature
// table above when it is off (the same words either way, and no broken link in either build).
#![cfg_attr(feature = "lambda", doc = "[`lambda`]: mod@lambda")]
#![cfg_attr(feature = "lambda", doc = "[`lambda::run`]: lambda::run")]
#![cfg_attr(
    feature = "lambda",
    doc = "[`lambda::Coldstart::on_flush`]: lambda::Coldstart::on_flush"
)]
#![cfg_attr(not(feature = "lambda"), doc = "[`lambda`]: #feature-flags")]
#![cfg_attr(not(feature = "lambda"), doc = "[`lambda::run`]: #feature-flags")]
#![cfg_attr(
    not(feature = "lambda"),
    doc = "[`lambda::Coldstart::on_flush`]: #feature-flags"
)]
#![cfg_attr(feature = "local", doc = "[`local`]: mod@local")]
#![cfg_attr(not(feature = "local"), doc = "[`local`]: #feature-flags")]
#![cfg_attr(
    feature = "prometheus",
    doc = "[`prometheus::install`]: prometheus::install"
)]
#![cfg_attr(
    feature = "prometheus",
    doc = "[`prometheus::Pushgateway`]: prometheus::Pushgateway"
)]
#![cfg_attr(
    not(feature = "prometheus"),
    doc = "[`prometheus::install`]: #feature-flags"
)]
#![cfg_attr(
    not(feature = "prometheus"),
    doc = "[`prometheus::Pushgateway`]: #feature-flags"
)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use coldstart_core::{
    cpu, environment, invocation, lazy, memory, named_phases, names, phases, reinit, report,
};

#[cfg(feature = "local")]
#[cfg_attr(docsrs, doc(cfg(feature = "local")))]
pub use coldstart_local as local;

#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub use coldstart_core::lambda;

#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub use coldstart_core::prometheus;

#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub use coldstart_core::otel;

pub use coldstart_core::environment::{Environment, InitType};
pub use coldstart_core::invocation::{
    current_invocation, environment_age, idle_since_last_invocation, CurrentInvocation, Outcome,
    StartKind,
};
pub use coldstart_core::lazy::{prewarm, During, LazyInfo, Prewarmed};
pub use coldstart_core::named_phases::{phase, phase_async, phase_guard, PhaseGuard};
pub use coldstart_core::names::describe_metrics;
pub use coldstart_core::phases::mark_init_end;
pub use coldstart_core::report::{cold_start_report, ColdStartReport};

/// Instruments a Lambda handler.
///
/// On every call the expansion begins an invocation, runs the body in place, and records, through
/// the `metrics` facade:
///
/// - `faas.coldstarts{handler}` on the first invocation of an on-demand environment;
/// - `faas.invocations{handler, start}` when the handler succeeds, or
///   `faas.errors{handler, start, outcome}` when it returns `Err`, panics or is dropped unfinished;
/// - `faas.invoke_duration{handler, start}`, the time spent in the handler;
/// - once per process, the start-up phases (`coldstart.phase_duration{phase}`, see [`phases`]).
///
/// `Result` return values are classified with `is_ok()` (aliases such as `anyhow::Result` too);
/// any other return value counts as success. A panic is recorded and keeps unwinding, so
/// `lambda_runtime` still reports it as an error.
///
/// The signature is kept exactly as written and nothing is boxed: `async fn`, plain `fn`,
/// generics, `where` clauses, reference and extra arguments, methods with `self` and `impl Trait`
/// return types all work, and the future is `Send` whenever the body is.
///
/// A plain `fn` is timed until it returns, so one that returns a future (`impl Future`,
/// `Pin<Box<dyn Future>>`, `BoxFuture`, or an alias of any of them) is a compile error on its
/// return type: it would be timed only while it builds the future, and always count as a
/// success. Write it as an `async fn`; where a boxed future is needed, box the instrumented
/// `async fn`'s future in a plain wrapper:
///
/// ```
/// use coldstart::cold_start_handler;
/// use std::future::Future;
/// use std::pin::Pin;
///
/// #[cold_start_handler]
/// async fn handler(event: u32) -> Result<u32, String> {
///     Ok(event)
/// }
///
/// fn boxed(event: u32) -> Pin<Box<dyn Future<Output = Result<u32, String>> + Send>> {
///     Box::pin(handler(event))
/// }
/// # let _ = boxed(1);
/// ```
///
/// # Arguments
///
/// - `name = "..."`: the `handler` label (default: the function's name).
/// - `budget = "..."`: a cold-start budget such as `"100ms"` or `"1.5s"`: when a user-facing
///   cold start served by this handler (process start to the end of its first invocation) takes
///   longer, the cold-start report says by how much and what dominated, and
///   `coldstart.budget_exceeded` counts it (see [`report`]).
/// - `crate = "..."`: the path to this crate, if it is re-exported under another name.
///
/// `#[lazy]` statics declared inside the body are expanded by this attribute, so they need no
/// import (see [`macro@lazy`]).
///
/// # Example
///
/// ```
/// use coldstart::cold_start_handler;
/// use lambda_runtime::{Error, LambdaEvent};
/// use serde_json::Value;
///
/// struct Client;
///
/// #[cold_start_handler(name = "orders")]
/// async fn handler(client: &Client, event: LambdaEvent<Value>) -> Result<Value, Error> {
///     let _ = client;
///     Ok(event.payload)
/// }
///
/// // With extra arguments, wire it up with a closure:
/// // lambda_runtime::run(service_fn(|e| handler(&client, e))).await
/// ```
pub use coldstart_macros::cold_start_handler;

/// Makes a `static` lazy, timed, attributed and registered.
///
/// ```
/// # struct Rules; impl Rules { fn compile() -> Rules { Rules } }
/// # struct Client; impl Client { async fn new() -> Client { Client } }
/// # struct Pool; struct DbError; impl Pool { fn connect() -> Result<Pool, DbError> { Ok(Pool) } }
/// use coldstart::lazy;
///
/// #[lazy]                                   // `*RULES`, `RULES.field`: &Rules
/// static RULES: Rules = Rules::compile();
///
/// #[lazy(async, prewarm)]                   // `CLIENT.get().await`: &Client
/// static CLIENT: Client = async { Client::new().await };
///
/// #[lazy(fallible, name = "orders-db")]     // `POOL.get()`: Result<&Pool, DbError>
/// static POOL: Result<Pool, DbError> = Pool::connect();
/// ```
///
/// # Forms
///
/// | attribute | the expression | access |
/// |---|---|---|
/// | `#[lazy]` | a `T` | deref (`*X`, `X.method()`) or `coldstart::lazy::Lazy::force(&X)`: `&T` |
/// | `#[lazy(async)]` | a `Send` future of `T` | `X.get().await`: `&T` |
/// | `#[lazy(fallible)]` | a `Result<T, E>` (declared type spelled `Result<T, E>`) | `X.get()`: `Result<&T, E>` |
/// | `#[lazy(async, fallible)]` | a `Send` future of `Result<T, E>` | `X.get().await`: `Result<&T, E>` |
///
/// The expression is evaluated on first access (it becomes a function without captures, so it
/// may call anything, but not use local variables). The static's type must be `Send + Sync`.
///
/// # Options
///
/// - `name = "..."`: the `lazy` label and report name, kept verbatim. The default is unique in
///   the program: the module path below the crate root joined with the static's identifier
///   (`orders::TABLE` for a `static TABLE` in `mod orders`, `TABLE` at the crate root), built at
///   compile time. A static in a function body takes the function's module. Two statics given
///   the same `name` share the label; the list of statics and the report keep both, with their
///   module (see [`Statics::get`](lazy::Statics::get)).
/// - `prewarm`: built by [`prewarm()`](prewarm).
/// - `after_first_response`: built by `coldstart::lambda` after the first response is posted and
///   before the runtime asks for the next event (billed, but no client waits), within
///   `Coldstart::warm_timeout`; see `Coldstart::warm_after_first_response`.
/// - `crate = "..."`: the path to this crate, if it is re-exported under another name.
///
/// # What happens on first access
///
/// The initializer runs exactly once to success, even under contention; it is timed (nested
/// lazy statics excluded) and recorded as `coldstart.lazy_init_duration{lazy, during, outcome}`.
/// An `Err` (fallible forms) is returned to the caller and not cached; a panic propagates to the
/// caller and leaves the static uninitialized; either way the next access runs the initializer
/// again. See [`mod@lazy`].
pub use coldstart_macros::lazy;

pub mod guide;

#[doc(hidden)]
pub mod __private {
    pub use coldstart_core::__private::*;
}

/// The README's examples, compiled as doc tests so they never rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
