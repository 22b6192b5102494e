//! Runtime support for [`coldstart`](https://docs.rs/coldstart): the execution environment, the
//! process's phase boundaries, invocation tracking and the names of every metric it records.
//!
//! Most users depend on `coldstart` (which re-exports this crate and adds the macros) rather than
//! on this crate directly.
//!
//! | module | what it holds |
//! |---|---|
//! | [`environment`] | what Lambda tells the function through its variables, read once |
//! | [`phases`] | process start, init end, and what each boundary means |
//! | [`tracker`] | first-invocation detection, start kinds, outcomes, per-invocation metrics |
//! | [`memory`] | resident and peak memory from `/proc`, with a sizing hint |
//! | [`report`] | the cold-start report: one JSON line per environment, a value, a table |
//! | [`names`] | every metric name, kind, unit, label and description |
//! | [`lazy`] | lazy statics that time themselves, their registry, [`lazy::report`] and [`lazy::prewarm`] |
#![cfg_attr(
    feature = "lambda",
    doc = "| [`lambda`] | the `run` wrapper: init end, start kinds, prewarm policy, warm-up pings, flush hook |"
)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod deferred;
pub mod environment;
pub mod lazy;
pub mod memory;
pub mod names;
pub mod phases;
#[cfg(feature = "prometheus")]
#[cfg_attr(docsrs, doc(cfg(feature = "prometheus")))]
pub mod prometheus;
pub mod report;
mod sort;
pub mod tracker;

#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub mod lambda;

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
