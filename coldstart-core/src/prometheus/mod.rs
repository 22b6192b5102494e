//! Prometheus: a one-call recorder setup, and a push to a Pushgateway that a frozen Lambda
//! environment cannot defeat.
//!
//! A Prometheus server cannot scrape a Lambda environment (it is frozen between invocations and
//! has no stable address), so functions push. [`Pushgateway::push`] sends the current exposition
//! synchronously, within a bounded time, to `…/metrics/job/<job>/instance/<instance>` (one group
//! per execution environment); call it from the flush hook (`Coldstart::on_flush`), which runs
//! after every response and before the environment may be frozen, so no client waits for it.
//!
//! Plain `http://` gateways are supported as they are: put the gateway in the function's VPC.
//! For a gateway outside it, feature `tls` adds `https://` (rustls with ring, Mozilla's roots
//! compiled in, a private CA from a PEM: `ca_certificate_pem`; no system OpenSSL), and both
//! gateways send HTTP basic auth (`basic_auth`, `basic_auth_from_env`), with or without TLS. The
//! password is never shown: not in `Debug`, errors or what is printed to stderr. Nothing here
//! pulls in hyper or a second async runtime: metrics-exporter-prometheus is used with
//! `default-features = false`, and a TLS push is one blocking connection like a plain one.
//!
//! ```no_run
//! use coldstart::prometheus::{self, Pushgateway};
//! use std::time::Duration;
//!
//! let handle = prometheus::install().expect("no other recorder installed");
//! let gateway = Pushgateway::new("http://10.0.0.12:9091", "orders-api")
//!     .expect("a valid http:// URL")
//!     .timeout(Duration::from_millis(200));
//! // ... after each invocation:
//! gateway.push_or_report(&handle);
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use deferred::Handle;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, SharedString, Unit};

use crate::names;

mod aggregating;
mod deferred;
mod exposition;
mod http;
mod pushgateway;
#[cfg(feature = "tls")]
mod tls;

pub use aggregating::{AggregatingGateway, UNANSWERED_FOR};
pub use http::PushError;
pub use pushgateway::Pushgateway;

pub use crate::names::{DURATION_BUCKETS, MEMORY_BUCKETS};

/// The builder [`install`] uses: histograms (not summaries), so that durations from many
/// environments can be aggregated, with [`DURATION_BUCKETS`] for every histogram and
/// [`MEMORY_BUCKETS`] for `faas.mem_usage`.
///
/// Naming is not set here: coldstart's own metrics reach the exporter already under their
/// Prometheus names ([`names::MetricDef::prometheus`]: `faas_coldstarts_total`,
/// `faas_invoke_duration_seconds`, ..., which pass `promtool check metrics`), and yours keep the
/// names you give them (sanitized to Prometheus' alphabet only: `orders.handled` is exported as
/// `orders_handled`). For Prometheus' naming practice on yours too (`_total` on counters, the unit
/// of `describe_*!` in the name), turn on the exporter's `with_recommended_naming`: coldstart's
/// names do not change.
///
/// Adjust it and pass it to [`install_with`]. Per-metric buckets are matched against the name as
/// exported: `faas_mem_usage_bytes` for coldstart's memory histogram, the sanitized name for yours.
///
/// ```
/// use coldstart::prometheus::{self, Matcher};
///
/// let builder = prometheus::builder()
///     .add_global_label("service", "orders")
///     .set_buckets_for_metric(Matcher::Full("order_value".into()), &[10.0, 100.0, 1000.0])?;
/// let handle = prometheus::install_with(builder).unwrap();
/// metrics::histogram!("order_value").record(42.0);
/// assert!(handle.render().contains(r#"order_value_bucket{service="orders",le="100"} 1"#));
/// # Ok::<(), metrics_exporter_prometheus::BuildError>(())
/// ```
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(DURATION_BUCKETS)
        .expect("DURATION_BUCKETS is not empty")
        .set_buckets_for_metric(
            Matcher::Full(prometheus_name(names::MEM_USAGE).expect("ours").to_owned()),
            MEMORY_BUCKETS,
        )
        .expect("MEMORY_BUCKETS is not empty")
}

/// Installs a Prometheus recorder built by [`builder`] as the global `metrics` recorder and
/// returns the handle that renders the text exposition.
///
/// coldstart's metrics are exported under their Prometheus names, yours under the names you gave
/// them (see [`builder`]). The crate's metrics are described to the recorder here, so that even
/// the first render has their `# HELP` lines.
///
/// The exporter itself is built later, off the cold path: at the first render, or under
/// `coldstart::lambda` on a thread of its own after the first response, whichever comes first
/// (building it calibrates a clock for up to 200 ms; see [`Handle`]). What is recorded before is
/// buffered and replayed into it exactly once.
///
/// Fails if a global recorder is already installed.
///
/// ```
/// let handle = coldstart::prometheus::install().unwrap();
/// metrics::counter!(coldstart::names::WARMUPS, "source" => "custom", "start" => "warm").increment(1);
/// metrics::counter!("orders_handled").increment(1); // yours
/// let text = handle.render();
/// assert!(text.contains(r#"coldstart_warmups_total{source="custom",start="warm"} 1"#));
/// assert!(text.contains("\norders_handled 1\n"));
/// ```
pub fn install() -> Result<Handle, metrics::SetRecorderError<impl metrics::Recorder>> {
    install_with(builder())
}

/// Renders `handle`'s text exposition without losing a histogram sample coldstart records at the
/// same time: the same as [`Handle::render`].
///
/// metrics-util 0.20 can drop a histogram sample recorded while a render drains the histogram.
/// Under `coldstart::lambda::run_concurrent` (invocations recording while another one's flush
/// hook renders) this render waits for coldstart's own histogram records in progress and holds
/// new ones back while it runs (a few hundred microseconds). [`Pushgateway::push`] renders with
/// it. Histograms you record yourself from other threads are not covered (see the guide's
/// Prometheus chapter, `coldstart::guide::prometheus`), nor renders through [`Handle::prometheus_handle`].
///
/// ```
/// let handle = coldstart::prometheus::install().unwrap();
/// metrics::histogram!("demo_seconds").record(0.5);
/// assert!(coldstart::prometheus::render(&handle).contains("demo_seconds_count 1"));
/// ```
pub fn render(handle: &Handle) -> String {
    handle.render()
}

/// Like [`install`], with your own builder (global labels, other buckets, naming).
///
/// ```
/// use coldstart::prometheus;
/// let handle = prometheus::install_with(prometheus::builder().add_global_label("team", "a")).unwrap();
/// metrics::counter!("demo").increment(1);
/// assert!(handle.render().contains(r#"demo{team="a"} 1"#));
/// ```
pub fn install_with(
    builder: PrometheusBuilder,
) -> Result<Handle, metrics::SetRecorderError<impl metrics::Recorder>> {
    let (recorder, handle) = recorder(builder);
    metrics::set_global_recorder(recorder)?;
    names::describe_metrics();
    Ok(handle)
}

/// The recorder [`install_with`] installs, and its handle, without installing it: for
/// `metrics::with_local_recorder` in a test, or to combine it with other recorders. It hands
/// coldstart's metrics to the exporter under their Prometheus names; a recorder built with
/// `builder.build_recorder()` would export them as `faas_coldstarts`, `faas_invoke_duration`, ...
/// Like [`install_with`]'s, its exporter is built at the first render or after the first
/// response (see [`Handle`]), never here.
///
/// ```
/// use coldstart::prometheus;
/// let (recorder, handle) = prometheus::recorder(prometheus::builder());
/// metrics::with_local_recorder(&recorder, || {
///     metrics::counter!(coldstart::names::COLDSTARTS).increment(1);
///     metrics::counter!("orders.handled").increment(2);
/// });
/// let text = handle.render();
/// assert!(text.contains("\nfaas_coldstarts_total 1\n"));
/// assert!(text.contains("\norders_handled 2\n"));
/// ```
pub fn recorder(builder: PrometheusBuilder) -> (impl metrics::Recorder, Handle) {
    let deferred = deferred::Deferred::new(builder);
    let handle = Handle::deferred(deferred.clone());
    (CrateNames(deferred::DeferredRecorder(deferred)), handle)
}

/// The Prometheus name of one of coldstart's metrics ([`names::MetricDef::prometheus`]), `None`
/// for any other name.
fn prometheus_name(name: &str) -> Option<&'static str> {
    // Every name of ours has one of these prefixes: anything else is rejected in a comparison.
    if !(name.starts_with("faas.") || name.starts_with("coldstart.")) {
        return None;
    }
    names::ALL
        .iter()
        .find(|def| def.name == name)
        .map(|def| def.prometheus)
}

/// A recorder that gives `R` coldstart's own metrics under their Prometheus names and every
/// other metric as it is: Prometheus' naming is applied to the crate's metrics only, so that a
/// user's `orders_handled` is not exported as `orders_handled_total`. Only registration and
/// description pass through here; the handles are `R`'s own.
struct CrateNames<R>(R);

impl<R> CrateNames<R> {
    fn key_name(key: KeyName) -> KeyName {
        match prometheus_name(key.as_str()) {
            Some(name) => KeyName::from_const_str(name),
            None => key,
        }
    }

    /// `key` under its Prometheus name, if it is one of ours.
    fn key(key: &Key) -> Option<Key> {
        let name = prometheus_name(key.name())?;
        Some(Key::from_parts(
            KeyName::from_const_str(name),
            key.labels().cloned().collect::<Vec<Label>>(),
        ))
    }
}

impl<R: metrics::Recorder> metrics::Recorder for CrateNames<R> {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_counter(Self::key_name(key), unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_gauge(Self::key_name(key), unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0
            .describe_histogram(Self::key_name(key), unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match Self::key(key) {
            Some(renamed) => self.0.register_counter(&renamed, metadata),
            None => self.0.register_counter(key, metadata),
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match Self::key(key) {
            Some(renamed) => self.0.register_gauge(&renamed, metadata),
            None => self.0.register_gauge(key, metadata),
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match Self::key(key) {
            Some(renamed) => self.0.register_histogram(&renamed, metadata),
            None => self.0.register_histogram(key, metadata),
        }
    }
}

/// The default bound on one push, connect to response.
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_millis(250);

/// How often a failing gateway's `push_or_report` prints a failure (the metric counts all of
/// them).
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counts a gateway's failed pushes (`coldstart.export_failures{exporter}` and its own count)
/// and prints them to stderr at most once every [`REPORT_EVERY`].
#[derive(Debug)]
struct Failures {
    exporter: &'static str,
    count: AtomicU64,
    last_printed: Mutex<Option<Instant>>,
}

impl Failures {
    const fn new(exporter: &'static str) -> Failures {
        Failures {
            exporter,
            count: AtomicU64::new(0),
            last_printed: Mutex::new(None),
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Counts one failure of the push to `target`, and prints `err` unless one was printed
    /// less than a minute ago.
    fn report(&self, target: fmt::Arguments<'_>, err: &PushError) {
        let failures = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!(names::EXPORT_FAILURES, names::LABEL_EXPORTER => self.exporter)
            .increment(1);
        let mut last = self
            .last_printed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            *last = Some(Instant::now());
            eprintln!("coldstart: push to {target} failed ({failures} failures so far): {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::MIB;

    /// The `le` of the first bucket line of `series` whose count is `count` or more.
    fn first_bucket_holding(text: &str, series: &str, count: u64) -> String {
        text.lines()
            .filter(|line| line.starts_with(&format!("{series}_bucket{{")))
            .find(|line| line.rsplit(' ').next().unwrap().parse::<u64>().unwrap() >= count)
            .and_then(|line| line.split("le=\"").nth(1))
            .map(|rest| rest[..rest.find('"').unwrap()].to_owned())
            .unwrap_or_else(|| panic!("no bucket of {series} holds {count}:\n{text}"))
    }

    #[test]
    fn memory_and_long_durations_land_in_finite_buckets() {
        let (recorder, handle) = recorder(builder());
        metrics::with_local_recorder(&recorder, || {
            names::describe_metrics();
            metrics::histogram!(names::MEM_USAGE).record(300.0 * MIB);
            metrics::histogram!(names::INVOKE_DURATION, names::LABEL_START => "warm").record(600.0);
            metrics::histogram!(names::INIT_DURATION).record(0.0002);
        });
        let text = handle.render();
        // 300 MiB: above 256 MiB, within 384 MiB (the memory buckets, matched on the exported
        // name).
        assert_eq!(
            first_bucket_holding(&text, "faas_mem_usage_bytes", 1),
            (384.0 * MIB).to_string()
        );
        assert!(
            !text.contains("faas_mem_usage_bytes_bucket{le=\"0.0001\"}"),
            "{text}"
        );
        assert_eq!(
            first_bucket_holding(&text, "faas_invoke_duration_seconds", 1),
            "600"
        );
        assert_eq!(
            first_bucket_holding(&text, "faas_init_duration_seconds", 1),
            "0.00025"
        );
    }

    /// One series of every metric of the crate, described, and two of the user's: a counter
    /// and a histogram described in seconds; rendered by `recorder(builder)`.
    fn render_everything(builder: PrometheusBuilder) -> String {
        let (recorder, handle) = recorder(builder);
        metrics::with_local_recorder(&recorder, || {
            names::describe_metrics();
            metrics::describe_counter!("orders_handled", Unit::Count, "Orders handled.");
            metrics::describe_histogram!("checkout_latency", Unit::Seconds, "Checkout latency.");
            for def in names::ALL {
                match def.kind {
                    names::MetricKind::Counter => metrics::counter!(def.name).increment(1),
                    names::MetricKind::Histogram => metrics::histogram!(def.name).record(1.0),
                    names::MetricKind::Gauge => metrics::gauge!(def.name).set(1.0),
                }
            }
            metrics::counter!("orders_handled").increment(3);
            metrics::histogram!("checkout_latency").record(0.25);
        });
        handle.render()
    }

    /// The `# TYPE` lines: (name, type).
    fn types(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter_map(|line| line.strip_prefix("# TYPE "))
            .map(|rest| {
                let (name, kind) = rest.split_once(' ').unwrap();
                (name.to_owned(), kind.to_owned())
            })
            .collect()
    }

    fn assert_coldstart_names(text: &str) {
        let types = types(text);
        for def in names::ALL {
            let wanted = (def.prometheus.to_owned(), def.kind.as_str().to_owned());
            assert!(types.contains(&wanted), "{wanted:?} missing:\n{text}");
            assert!(
                text.contains(&format!("# HELP {} {}", def.prometheus, def.description)),
                "{}: no help line:\n{text}",
                def.prometheus
            );
        }
        // Nothing else of ours, nothing doubled (`faas_coldstarts_total_total`).
        assert_eq!(types.len(), names::ALL.len() + 2, "{types:?}");
    }

    #[test]
    fn coldstart_metrics_keep_their_prometheus_names_and_yours_keep_yours() {
        let text = render_everything(builder());
        assert_coldstart_names(&text);
        let types = types(&text);
        assert!(
            types.contains(&("orders_handled".into(), "counter".into())),
            "{text}"
        );
        assert!(
            types.contains(&("checkout_latency".into(), "histogram".into())),
            "{text}"
        );
        assert!(text.lines().any(|l| l == "orders_handled 3"), "{text}");
        assert!(
            text.lines().any(|l| l == "checkout_latency_count 1"),
            "{text}"
        );
        assert!(!text.contains("orders_handled_total"), "{text}");
        assert!(!text.contains("checkout_latency_seconds"), "{text}");
    }

    #[test]
    fn recommended_naming_renames_yours_and_leaves_coldstarts_alone() {
        let text = render_everything(builder().with_recommended_naming(true));
        assert_coldstart_names(&text);
        let types = types(&text);
        assert!(
            types.contains(&("orders_handled_total".into(), "counter".into())),
            "{text}"
        );
        assert!(
            types.contains(&("checkout_latency_seconds".into(), "histogram".into())),
            "{text}"
        );
    }

    #[test]
    fn only_coldstarts_names_are_translated() {
        for def in names::ALL {
            assert_eq!(prometheus_name(def.name), Some(def.prometheus));
        }
        for theirs in [
            "orders_handled",
            "faas.my_own",
            "coldstart",
            "faas_coldstarts_total",
            "",
        ] {
            assert_eq!(prometheus_name(theirs), None, "{theirs}");
        }
    }
}
