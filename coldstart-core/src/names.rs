//! Every metric this crate records: name, kind, unit, labels and meaning, in one place.
//!
//! Names follow the OpenTelemetry FaaS semantic conventions where one exists (`faas.*`); the rest
//! use the `coldstart.` prefix. Label values are bounded sets (handler names come from source
//! code, never from requests), so every metric has a small, fixed number of series.
//!
//! Exporters rewrite names to their own rules. The Prometheus recorder of
//! `coldstart::prometheus` follows Prometheus' naming practice (what `promtool check metrics`
//! asks for): `faas.coldstarts` becomes `faas_coldstarts_total` and `faas.invoke_duration`
//! becomes `faas_invoke_duration_seconds_{bucket,sum,count}`; [`MetricDef::prometheus`] holds
//! each name.
//!
//! ```
//! use coldstart::names::{self, MetricKind};
//!
//! let cold = names::ALL.iter().find(|m| m.name == names::COLDSTARTS).unwrap();
//! assert_eq!(cold.kind, MetricKind::Counter);
//! assert_eq!(cold.labels, &[names::LABEL_HANDLER]);
//! ```

use std::sync::Once;

use metrics::{Key, Label, Level, Metadata, Unit};

/// `faas.coldstarts`: user-facing cold starts (start kind `cold`); no `handler` label when the
/// cold request's payload was rejected before reaching the handler.
pub const COLDSTARTS: &str = "faas.coldstarts";
/// `faas.invocations`: invocations that completed successfully.
pub const INVOCATIONS: &str = "faas.invocations";
/// `faas.errors`: invocations that returned an error, panicked or were dropped unfinished, and
/// payloads rejected before reaching the handler (`outcome="rejected"`, no `handler` label).
pub const ERRORS: &str = "faas.errors";
/// `faas.timeouts`: invocations still running shortly before their deadline (recorded then by
/// `coldstart::lambda`, before Lambda stops the environment; also in `faas.errors` with
/// `outcome="timeout"`).
pub const TIMEOUTS: &str = "faas.timeouts";
/// `faas.invoke_duration`: the handler's own run time, in seconds.
pub const INVOKE_DURATION: &str = "faas.invoke_duration";
/// `faas.init_duration`: process start to init end, in seconds (needs init end to be marked),
/// labelled with the init type, so that on-demand INITs (which a request may wait for) and
/// provisioned or SnapStart ones are not mixed.
pub const INIT_DURATION: &str = "faas.init_duration";
/// `coldstart.phase_duration`: the duration of one start-up phase, in seconds: the built-in
/// phases (label `phase` only) and [named phases](crate::named_phases) of user code (labels
/// `phase`, `during`, `outcome`; exclusive of nested phases and lazy statics).
pub const PHASE_DURATION: &str = "coldstart.phase_duration";
/// `coldstart.lazy_init_duration`: one run of a `#[lazy]` static's initializer, in seconds
/// (exclusive of nested lazy statics; see [`crate::lazy`]).
pub const LAZY_INIT_DURATION: &str = "coldstart.lazy_init_duration";

/// `coldstart.export_failures`: exports that failed (a Pushgateway down or slow, ...).
pub const EXPORT_FAILURES: &str = "coldstart.export_failures";

/// `coldstart.warmups`: warm-up pings answered by `coldstart::lambda` (never counted as
/// invocations).
pub const WARMUPS: &str = "coldstart.warmups";

/// `faas.mem_usage`: peak resident memory of the process, in bytes (sampled, see
/// [`crate::memory`]).
pub const MEM_USAGE: &str = "faas.mem_usage";
/// `coldstart.idle_duration`: how long the environment sat idle before its latest invocation, in
/// seconds (a gauge: a set is an atomic store, where a histogram sample would cost a clock read).
pub const IDLE_DURATION: &str = "coldstart.idle_duration";
/// `coldstart.environment_age`: seconds since init end (or process start), at the last invocation.
pub const ENVIRONMENT_AGE: &str = "coldstart.environment_age";
/// `coldstart.budget_exceeded`: user-facing cold starts that took longer than their budget.
pub const BUDGET_EXCEEDED: &str = "coldstart.budget_exceeded";
/// `coldstart.reinits`: processes that are a re-init (Lambda restarted the runtime inside an
/// environment after a timeout, a crash or running out of memory), by what ended the one before.
pub const REINITS: &str = "coldstart.reinits";
/// Histogram, GB-seconds: what an INIT billed as duration cost (configured memory in GB × INIT
/// rounded up to the millisecond), once per environment; its sum is a function's INIT bill.
pub const INIT_GIGABYTE_SECONDS: &str = "coldstart.init_gigabyte_seconds";

/// Label: the handler's name (`#[cold_start_handler(name = "...")]`, default the fn name).
pub const LABEL_HANDLER: &str = "handler";
/// Label: the start kind of the invocation (`cold`, `proactive`, `provisioned`, `snapstart`,
/// `warm`).
pub const LABEL_START: &str = "start";
/// Label: how a failed invocation ended (`error`, `panic`, `cancelled`), or how a lazy
/// initializer's or a named phase's run ended (`ok`, `error`, `panic`, `cancelled`).
pub const LABEL_OUTCOME: &str = "outcome";
/// Label: how Lambda initialized the environment, on `faas.init_duration`: `on-demand`,
/// `provisioned-concurrency`, `snap-start`, `lambda-managed-instances` or `unknown`
/// ([`crate::environment::InitType::label`]).
pub const LABEL_INIT_TYPE: &str = "init_type";
/// Label: which start-up phase: a built-in one (see [`crate::phases`]) or a
/// [named phase](crate::named_phases) (its name, from source code).
pub const LABEL_PHASE: &str = "phase";
/// Label: a lazy static's name (`#[lazy(name = "...")]`, default its module path below the
/// crate root and its identifier, `orders::TABLE`).
pub const LABEL_LAZY: &str = "lazy";
/// Label: where a lazy initializer or a named phase ran: `init`, `prewarm`, or the start kind of the invocation
/// it ran in (`cold`, `proactive`, `provisioned`, `snapstart`, `warm`), `warmup` (forced by a
/// warm-up ping), or `after_first_response` (a lazy static built by `coldstart::lambda` after the
/// first response, before the next event: no request waited); see [`crate::lazy::During`].
pub const LABEL_DURING: &str = "during";
/// Label: which tool sent a warm-up ping (`serverless-plugin-warmup`, `lambda-warmer`,
/// `warmup`, `custom`).
pub const LABEL_SOURCE: &str = "source";

/// Label: what ended the runtime process before a re-init (`timeout`, `unknown`); see
/// [`crate::reinit::ReinitCause`].
pub const LABEL_AFTER: &str = "after";

/// Label: which exporter failed (`pushgateway`, `otel`).
pub const LABEL_EXPORTER: &str = "exporter";

/// `phase` value: process start to init end.
pub const PHASE_INIT: &str = "init";
/// `phase` value: init end to the start of the first invocation (how long the environment waited
/// for its first event).
pub const PHASE_WAIT_FOR_FIRST_EVENT: &str = "wait_for_first_event";
/// `phase` value: process start to the start of the first invocation.
pub const PHASE_TO_FIRST_INVOCATION: &str = "to_first_invocation";

/// Histogram buckets (seconds) for every duration metric (the Prometheus and the OpenTelemetry
/// recorders use them): sub-millisecond ones for warm Rust
/// invocations, the OpenTelemetry FaaS boundaries, then on to 900 s, Lambda's maximum timeout,
/// so that no invocation lands in `+Inf` only.
///
/// ```
/// use coldstart::names::DURATION_BUCKETS;
/// assert!(DURATION_BUCKETS.windows(2).all(|w| w[0] < w[1]));
/// assert_eq!(DURATION_BUCKETS.last(), Some(&900.0));
/// ```
pub const DURATION_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
];

pub(crate) const MIB: f64 = 1024.0 * 1024.0;

/// Histogram buckets (bytes) for `faas.mem_usage`: from 8 MiB (a small Rust function) across
/// Lambda's memory sizes, 128 MB to 10,240 MB (Lambda's "MB" are MiB).
///
/// ```
/// use coldstart::names::MEMORY_BUCKETS;
/// assert!(MEMORY_BUCKETS.windows(2).all(|w| w[0] < w[1]));
/// assert_eq!(MEMORY_BUCKETS.last(), Some(&(10_240.0 * 1024.0 * 1024.0)));
/// ```
pub const MEMORY_BUCKETS: &[f64] = &[
    8.0 * MIB,
    16.0 * MIB,
    32.0 * MIB,
    64.0 * MIB,
    128.0 * MIB,
    192.0 * MIB,
    256.0 * MIB,
    384.0 * MIB,
    512.0 * MIB,
    768.0 * MIB,
    1024.0 * MIB,
    1536.0 * MIB,
    1769.0 * MIB, // one full vCPU
    2048.0 * MIB,
    3072.0 * MIB,
    4096.0 * MIB,
    6144.0 * MIB,
    8192.0 * MIB,
    10_240.0 * MIB,
];

/// The bucket boundaries the crate's recorders give histogram `name` (`None`: the exporter's
/// default): [`MEMORY_BUCKETS`] for `faas.mem_usage`, [`DURATION_BUCKETS`] for every other
/// histogram in seconds.
///
/// ```
/// use coldstart::names;
/// assert_eq!(names::buckets_for(names::MEM_USAGE), Some(names::MEMORY_BUCKETS));
/// assert_eq!(names::buckets_for(names::INVOKE_DURATION), Some(names::DURATION_BUCKETS));
/// assert_eq!(names::buckets_for(names::COLDSTARTS), None); // a counter
/// ```
pub fn buckets_for(name: &str) -> Option<&'static [f64]> {
    let def = ALL.iter().find(|def| def.name == name)?;
    match (def.kind, def.unit) {
        (MetricKind::Histogram, Some(Unit::Bytes)) => Some(MEMORY_BUCKETS),
        // Seconds, and GB-seconds (no `Unit`): the same boundaries the Prometheus builder gives
        // every histogram but `faas.mem_usage`.
        (MetricKind::Histogram, _) => Some(DURATION_BUCKETS),
        _ => None,
    }
}

/// The kind of a metric.
///
/// ```
/// use coldstart::names::MetricKind;
/// assert_eq!(MetricKind::Histogram.as_str(), "histogram");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A monotonically increasing count.
    Counter,
    /// A distribution of values.
    Histogram,
    /// A value that goes up and down.
    Gauge,
}

impl MetricKind {
    /// The lowercase name of the kind.
    ///
    /// ```
    /// assert_eq!(coldstart::names::MetricKind::Counter.as_str(), "counter");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Histogram => "histogram",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// The definition of one metric.
///
/// ```
/// let m = &coldstart::names::ALL[0];
/// assert!(m.name.starts_with("faas.") || m.name.starts_with("coldstart."));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// The metric's name (the OpenTelemetry style, what the `metrics` facade receives).
    pub name: &'static str,
    /// Its name in a Prometheus exposition rendered by [`coldstart::prometheus`]'s recorder,
    /// which hands coldstart's metrics to the exporter under these names (Prometheus' naming:
    /// `_total` on counters, the unit in the name) whatever the exporter's own naming setting;
    /// histograms add `_bucket`, `_sum` and `_count` to it.
    ///
    /// [`coldstart::prometheus`]: https://docs.rs/coldstart/latest/coldstart/prometheus/
    pub prometheus: &'static str,
    /// Counter, histogram or gauge.
    pub kind: MetricKind,
    /// The unit passed to `describe_*!`; `None` for GB-seconds (`coldstart.init_gigabyte_seconds`),
    /// which `metrics::Unit` has no variant for: the name says it, and exporters get no unit
    /// (CloudWatch: `None`).
    pub unit: Option<Unit>,
    /// The label keys its series carry (the built-in phases of `coldstart.phase_duration` carry
    /// only `phase`).
    pub labels: &'static [&'static str],
    /// What it measures.
    pub description: &'static str,
}

/// Every metric the crate records.
pub const ALL: &[MetricDef] = &[
    MetricDef {
        name: COLDSTARTS,
        prometheus: "faas_coldstarts_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_HANDLER],
        description: "User-facing cold starts: the first invocation of an on-demand environment (no handler label if its payload was rejected).",
    },
    MetricDef {
        name: INVOCATIONS,
        prometheus: "faas_invocations_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_HANDLER, LABEL_START],
        description: "Invocations that completed successfully, by start kind.",
    },
    MetricDef {
        name: ERRORS,
        prometheus: "faas_errors_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_HANDLER, LABEL_START, LABEL_OUTCOME],
        description: "Invocations that returned an error, panicked, were dropped unfinished, or whose payload was rejected (no handler label).",
    },
    MetricDef {
        name: TIMEOUTS,
        prometheus: "faas_timeouts_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_HANDLER, LABEL_START],
        description: "Invocations still running shortly before their deadline (also in faas.errors, outcome timeout).",
    },
    MetricDef {
        name: INVOKE_DURATION,
        prometheus: "faas_invoke_duration_seconds",
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        labels: &[LABEL_HANDLER, LABEL_START],
        description: "Time spent in the handler, whatever its outcome, by start kind.",
    },
    MetricDef {
        name: INIT_DURATION,
        prometheus: "faas_init_duration_seconds",
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        labels: &[LABEL_INIT_TYPE],
        description: "Process start to init end, by init type; recorded once per environment when init end is marked.",
    },
    MetricDef {
        name: PHASE_DURATION,
        prometheus: "coldstart_phase_duration_seconds",
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        labels: &[LABEL_PHASE, LABEL_DURING, LABEL_OUTCOME],
        description: "Duration of one start-up phase: the built-in ones (init, wait_for_first_event, to_first_invocation; phase label only) and named phases of your code (nested phases and lazy statics excluded), by where they ran and outcome.",
    },
    MetricDef {
        name: LAZY_INIT_DURATION,
        prometheus: "coldstart_lazy_init_duration_seconds",
        kind: MetricKind::Histogram,
        unit: Some(Unit::Seconds),
        labels: &[LABEL_LAZY, LABEL_DURING, LABEL_OUTCOME],
        description: "One run of a lazy static's initializer, nested lazy statics excluded, by \
             where it ran (init, prewarm, warmup, after_first_response, or the invocation's start kind) and outcome.",
    },
    MetricDef {
        name: WARMUPS,
        prometheus: "coldstart_warmups_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_SOURCE, LABEL_START],
        description: "Warm-up pings answered without calling the handler, by sending tool and \
             by the start kind they found.",
    },
    MetricDef {
        name: EXPORT_FAILURES,
        prometheus: "coldstart_export_failures_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_EXPORTER],
        description:
            "Exports that failed, by exporter; the invocation itself is never failed by them.",
    },
    MetricDef {
        name: MEM_USAGE,
        prometheus: "faas_mem_usage_bytes",
        kind: MetricKind::Histogram,
        unit: Some(Unit::Bytes),
        labels: &[],
        description: "Peak resident memory of the process, sampled after the first invocation and then at most once a second.",
    },
    MetricDef {
        name: IDLE_DURATION,
        prometheus: "coldstart_idle_duration_seconds",
        kind: MetricKind::Gauge,
        unit: Some(Unit::Seconds),
        labels: &[LABEL_HANDLER],
        description: "How long the environment sat idle (frozen, on Lambda) before its latest invocation: since the previous one finished.",
    },
    MetricDef {
        name: ENVIRONMENT_AGE,
        prometheus: "coldstart_environment_age_seconds",
        kind: MetricKind::Gauge,
        unit: Some(Unit::Seconds),
        labels: &[LABEL_HANDLER],
        description: "Age of the environment at its latest invocation: since init end, or process start if init end was not marked.",
    },
    MetricDef {
        name: BUDGET_EXCEEDED,
        prometheus: "coldstart_budget_exceeded_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_HANDLER],
        description: "User-facing cold starts (process start to the end of the first invocation) that took longer than their budget.",
    },
    MetricDef {
        name: REINITS,
        prometheus: "coldstart_reinits_total",
        kind: MetricKind::Counter,
        unit: Some(Unit::Count),
        labels: &[LABEL_AFTER],
        description: "Processes that are a re-init: Lambda restarted the runtime in its environment after a timeout, a crash or running out of memory.",
    },
    MetricDef {
        name: INIT_GIGABYTE_SECONDS,
        prometheus: "coldstart_init_gigabyte_seconds",
        kind: MetricKind::Histogram,
        // GB-seconds: `metrics::Unit` has no such unit, so the name carries it.
        unit: None,
        labels: &[LABEL_INIT_TYPE],
        description: "GB-seconds an INIT billed as duration cost (on-demand; memory size in GB x INIT rounded up to the millisecond), once per environment: sum it for a function's INIT bill.",
    },
];

/// Describes every metric (unit and text) to the current recorder through `describe_*!`.
///
/// Called automatically, once per process, before anything can read the descriptions: on the
/// first invocation, or — under `coldstart::lambda`'s `run` — right before the first flush hook
/// runs (so a CloudWatch EMF flush or a Pushgateway push has its units and help texts) and
/// otherwise right after the first response is posted, so that the cold request does not wait
/// for it. Call it yourself right after installing a recorder if you want descriptions present
/// before that (for example to export `# HELP` lines from a scrape that happens first); calling
/// it again is harmless.
///
/// ```
/// coldstart::names::describe_metrics();
/// ```
pub fn describe_metrics() {
    metrics::with_recorder(|recorder| {
        for def in ALL {
            let (name, description) = (
                metrics::KeyName::from_const_str(def.name),
                metrics::SharedString::const_str(def.description),
            );
            match def.kind {
                MetricKind::Counter => recorder.describe_counter(name, def.unit, description),
                MetricKind::Histogram => recorder.describe_histogram(name, def.unit, description),
                MetricKind::Gauge => recorder.describe_gauge(name, def.unit, description),
            }
        }
    });
}

/// What [`emit`] does with its series.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Emit {
    /// `counter.increment(n)`.
    Count(u64),
    /// `histogram.record(value)`.
    Record(f64),
}

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Registers the series `name{labels}` (labels in the order given) with the current recorder and
/// increments or records it: what `metrics::counter!(…).increment(n)` and
/// `metrics::histogram!(…).record(v)` do, as one non-generic function. The crate's occasional
/// metrics (once per process, per timeout, per lazy static or named phase) call it instead of
/// expanding a macro each, which kept ~1 KiB of code per call site in every function binary.
#[inline(never)]
pub(crate) fn emit(name: &'static str, labels: &[(&'static str, &'static str)], what: Emit) {
    let labels: Vec<Label> = labels
        .iter()
        .map(|&(key, value)| Label::from_static_parts(key, value))
        .collect();
    let key = Key::from_parts(name, labels);
    metrics::with_recorder(|recorder| match what {
        Emit::Count(n) => recorder.register_counter(&key, &METADATA).increment(n),
        Emit::Record(value) => recorder.register_histogram(&key, &METADATA).record(value),
    });
}

static DESCRIBED: Once = Once::new();

/// [`describe_metrics`], the first time it is called in the process; one atomic load after that.
pub(crate) fn describe_once() {
    DESCRIBED.call_once(describe_metrics);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_prefixed() {
        for (i, a) in ALL.iter().enumerate() {
            assert!(a.name.starts_with("faas.") || a.name.starts_with("coldstart."));
            assert!(ALL[i + 1..].iter().all(|b| b.name != a.name), "{}", a.name);
        }
    }

    #[test]
    fn describe_reaches_the_recorder() {
        use metrics_util::debugging::DebuggingRecorder;
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, describe_metrics);
        // Descriptions without values do not show up in a snapshot; register one and look.
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!(COLDSTARTS).increment(1);
        });
        let snapshot = snapshotter.snapshot().into_vec();
        let (_, unit, description, _) = snapshot
            .iter()
            .find(|(key, ..)| key.key().name() == COLDSTARTS)
            .expect("coldstarts recorded");
        assert_eq!(*unit, Some(Unit::Count));
        assert!(description.as_ref().unwrap().contains("cold starts"));
    }
}
