//! Runtime support for [`coldstart`](https://docs.rs/coldstart): the execution environment, the
//! process's phase boundaries, invocation tracking, lazy statics, the cold-start report and the
//! Lambda integration.
//!
//! Depend on `coldstart`, which re-exports this crate's public modules at the same paths and
//! adds the macros; every example here is written as a user of `coldstart` writes it.
//!
//! | module | what it holds |
//! |---|---|
//! | [`environment`] | what Lambda tells the function through its variables, read once |
//! | [`phases`] | process start, init end, and what each boundary means |
//! | [`reinit`] | whether Lambda restarted the runtime in this environment, and after what |
//! | [`names`] | every metric name, kind, unit, label and description |
//! | [`memory`] | resident and peak memory from `/proc`, with a sizing hint |
//! | [`cpu`] | the process's CPU time at INIT end and at the end of the first invocation |
//! | [`invocation`] | first-invocation detection, start kinds, outcomes, per-invocation metrics |
//! | [`lazy`] | lazy statics that time themselves, [`lazy::statics`] and [`lazy::prewarm`] |
//! | [`named_phases`] | named phases of your own start-up code, timed like lazy statics |
//! | [`report`] | the cold-start report: one JSON line per environment, a value, a table |
#![cfg_attr(
    feature = "lambda",
    doc = "| [`lambda`] | the `run` wrapper: init end, start kinds, prewarm policy, warm-up pings, flush hook |"
)]
#![cfg_attr(
    feature = "prometheus",
    doc = "| [`prometheus`] | one-call Prometheus recorder setup and a bounded Pushgateway push (`https://` and a private CA with feature `tls`) |"
)]
#![cfg_attr(
    feature = "otel",
    doc = "| [`otel`] | the metrics into an OpenTelemetry `MeterProvider`, delta, flushed from the flush hook |"
)]
// Dependency order
//
// Modules depend only on modules before them in this list (within a folder, files follow the
// same rule through their `mod.rs`):
//
// 1. leaves: `environment`, `cpu`, `phases`, `names`, `memory`, `reinit` (and `sort`, a small helper);
// 2. `invocation`: numbering, the first invocation, start kinds, the timeline, metric handles;
// 3. `lazy`: the four forms, one timed attempt (the frame stack that named phases share), the
//    registry, `prewarm`;
//    then `named_phases`: named phases of user code, timed by `lazy`'s attempts;
// 4. `report`: the cold-start report value, its JSON line and its table;
// 5. `after_response`: everything that waits for a response, and its order;
// 6. `lambda` (and `prometheus` and `otel`, which read only leaves): the integration with
//    `lambda_runtime`;
// 7. `__private`: what generated code names (re-exports only).
//
// One call goes up the order, named in one place: when no layer runs work after the response,
// the first real invocation (in `invocation/handler.rs`) calls
// `after_response::first_real_invocation_finished_without_layer`.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

// 1. Leaves.
#[cfg(any(feature = "prometheus", feature = "otel"))]
mod backoff;
mod billing;
pub mod cpu;
pub mod environment;
pub mod memory;
pub mod names;
pub mod phases;
pub mod reinit;
mod render_gate;
mod sort;

// 2.–5.
mod after_response;
pub mod invocation;
pub mod lazy;
pub mod named_phases;
pub mod report;

// 6.
#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub mod lambda;

#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;

#[cfg(feature = "otel")]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;

// 7.
#[doc(hidden)]
pub mod __private;

/// Starts a named thread running `work` and lets it go; `false` if no thread could be started.
/// One non-generic function for the crate's few background threads, so that the thread start-up
/// code exists once in a binary.
fn spawn_detached(name: &str, work: Box<dyn FnOnce() + Send>) -> bool {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(work)
        .is_ok()
}

/// [`spawn_detached`] for work that runs the user's code (a sync static's initializer, a hook):
/// inside the caller's tokio runtime, if it has one, as the same code would run on a request
/// (`tokio::spawn`, `Handle::current()`).
#[cfg(feature = "lambda")]
fn spawn_in_runtime(name: &str, work: Box<dyn FnOnce() + Send>) -> bool {
    let runtime = tokio::runtime::Handle::try_current().ok();
    spawn_detached(
        name,
        Box::new(move || {
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            work();
        }),
    )
}
