//! OpenTelemetry: the crate's metrics into an OpenTelemetry `MeterProvider`, with their units,
//! descriptions and bucket boundaries, in delta temporality, flushed from the flush hook.
//!
//! [`install`] sets an [`OtelRecorder`] (a `metrics` recorder over an OpenTelemetry
//! [`Meter`]) as the global recorder and returns an [`OtelFlush`] to call from
//! `Coldstart::on_flush`, which runs after every response and before the environment may be
//! frozen: [`OtelFlush::flush_or_report`] calls the provider's `force_flush`, so what the
//! invocation recorded leaves the environment before the freeze, and an export error (no
//! collector listening, ...) is counted and logged, never returned to the client.
//!
//! A collector that is down does not tax every invocation: after a failed flush,
//! `flush_or_report` skips the flushes asked for during a back-off period (1 s, doubling up to
//! [`OtelFlush::max_backoff`], 30 s by default) and tries again after it. A skipped flush costs
//! next to nothing and loses nothing: with delta temporality what was recorded stays aggregated
//! in the provider (one sum or histogram per series, however long the outage) until a flush
//! works. What is lost is the batch of an attempt that collects and then fails, since the SDK
//! drops it: give [`OtelFlush::probe`] a second exporter to the collector and retries check it
//! answers before they collect, so that an outage loses only the batch of its first failed
//! flush (normally one invocation's metrics). Without a probe, each failed retry loses what was
//! recorded since the attempt before it. [`OtelFlush::flush_or_report`] says exactly what is
//! kept and what can be lost.
//!
//! Wrap the exporter in [`Delta`] (or set delta temporality on it): each environment then sends
//! what changed since its last export and the backend adds them up, whatever the number of
//! environments and however short they live. Cumulative series from short-lived environments are
//! the Pushgateway's problem all over again (each environment starts a new series).
//!
//! Give the provider [`resource()`]: it names the function and the execution environment
//! (`faas.name`, `faas.instance`, ...), so that each environment writes streams of its own. With
//! the SDK's default resource every environment of every function exports as
//! `unknown_service:<executable>`, and their deltas cannot be told apart.
//!
//! Bring your own exporter: `opentelemetry-otlp` for a collector (the ADOT collector extension
//! listens on `localhost:4318`, OTLP/HTTP), the SDK's in-memory exporter in tests. This module
//! compiles only `opentelemetry` and `opentelemetry_sdk` with their `metrics` feature.
//!
//! ```
//! use coldstart::otel::{self, Delta};
//! use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
//!
//! # let exporter = InMemoryMetricExporter::default();
//! // opentelemetry-otlp's MetricExporter in a function; the SDK's in-memory one here.
//! let provider = SdkMeterProvider::builder()
//!     .with_resource(otel::resource()) // which function, which environment
//!     .with_reader(PeriodicReader::builder(Delta(exporter.clone())).build())
//!     .build();
//! let flush = otel::install(&provider).expect("no other recorder installed");
//! // In a function: Coldstart::new().on_flush(move |_| { flush.flush_or_report(); })
//! metrics::counter!(coldstart::names::WARMUPS, "source" => "custom", "start" => "warm").increment(1);
//! assert!(flush.flush_or_report());
//! let exported = exporter.get_finished_metrics().unwrap();
//! let metric = exported[0].scope_metrics().next().unwrap().metrics().next().unwrap();
//! assert_eq!((metric.name(), metric.unit()), ("coldstart.warmups", "{warmup}"));
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    SharedString, Unit,
};
use opentelemetry::metrics::{Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};
use opentelemetry_sdk::Resource;

use crate::backoff::Backoff;
use crate::environment::Environment;
use crate::names;

/// The instrumentation scope of the meter [`install`] creates.
pub const SCOPE: &str = "coldstart";

/// How often [`OtelFlush::flush_or_report`] prints a failure (the metric counts all of them).
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The OpenTelemetry unit of a metric: the semantic conventions' annotation for the crate's
/// counters (`{coldstart}`, `{invocation}`, ...), UCUM for the rest (`s`, `By`, `1`).
///
/// ```
/// use coldstart::{names, otel};
/// use metrics::Unit;
/// assert_eq!(otel::unit_of(names::COLDSTARTS, Some(Unit::Count)), "{coldstart}");
/// assert_eq!(otel::unit_of(names::INVOKE_DURATION, Some(Unit::Seconds)), "s");
/// assert_eq!(otel::unit_of("my.queue_depth", Some(Unit::Count)), "1");
/// assert_eq!(otel::unit_of("my.thing", None), "");
/// ```
pub fn unit_of(name: &str, unit: Option<Unit>) -> &'static str {
    let annotation = match name {
        names::COLDSTARTS | names::BUDGET_EXCEEDED => Some("{coldstart}"),
        names::INVOCATIONS => Some("{invocation}"),
        names::ERRORS => Some("{error}"),
        names::TIMEOUTS => Some("{timeout}"),
        names::WARMUPS => Some("{warmup}"),
        names::EXPORT_FAILURES => Some("{export}"),
        names::REINITS => Some("{reinit}"),
        // UCUM's gigabyte-second; `metrics::Unit` has none, so the name is matched.
        names::INIT_GIGABYTE_SECONDS => Some("GBy.s"),
        _ => None,
    };
    if let Some(annotation) = annotation {
        return annotation;
    }
    match unit {
        None => "",
        Some(Unit::Count) => "1",
        Some(Unit::Percent) => "%",
        Some(Unit::Seconds) => "s",
        Some(Unit::Milliseconds) => "ms",
        Some(Unit::Microseconds) => "us",
        Some(Unit::Nanoseconds) => "ns",
        Some(Unit::Tebibytes) => "TiBy",
        Some(Unit::Gibibytes) => "GiBy",
        Some(Unit::Mebibytes) => "MiBy",
        Some(Unit::Kibibytes) => "KiBy",
        Some(Unit::Bytes) => "By",
        Some(Unit::TerabitsPerSecond) => "Tbit/s",
        Some(Unit::GigabitsPerSecond) => "Gbit/s",
        Some(Unit::MegabitsPerSecond) => "Mbit/s",
        Some(Unit::KilobitsPerSecond) => "kbit/s",
        Some(Unit::BitsPerSecond) => "bit/s",
        Some(Unit::CountPerSecond) => "1/s",
    }
}

/// Unit and description of one metric name.
#[derive(Clone)]
struct Described {
    unit: Option<Unit>,
    description: SharedString,
}

/// A `metrics` recorder that records into OpenTelemetry instruments of one [`Meter`].
///
/// Each `metrics` series (name and labels) becomes a synchronous OpenTelemetry instrument
/// (counter, gauge, histogram) with the labels as attributes, created once and cached. The
/// crate's own metrics carry their unit and description from the first data point on, whatever
/// the order of registration and `describe_*!` (the definitions in [`names::ALL`] are known
/// here); other metrics take theirs from `describe_*!` calls made before their first use.
/// Histograms in seconds get [`names::DURATION_BUCKETS`], `faas.mem_usage` gets
/// [`names::MEMORY_BUCKETS`], others the SDK's default boundaries.
///
/// `Counter::absolute` adds the difference to the last value; `Histogram::record_many` records
/// the value `count` times.
///
/// ```
/// use coldstart::otel::OtelRecorder;
/// use opentelemetry::metrics::MeterProvider;
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let provider = SdkMeterProvider::builder().build();
/// let recorder = OtelRecorder::new(provider.meter("my-function"));
/// metrics::with_local_recorder(&recorder, || metrics::counter!("orders.created").increment(1));
/// ```
#[derive(Clone)]
pub struct OtelRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    meter: Meter,
    described: RwLock<HashMap<String, Described>>,
    counters: RwLock<HashMap<Key, Arc<OtelCounter>>>,
    gauges: RwLock<HashMap<Key, Arc<OtelGauge>>>,
    histograms: RwLock<HashMap<Key, Arc<OtelHistogram>>>,
}

impl fmt::Debug for OtelRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelRecorder").finish_non_exhaustive()
    }
}

impl OtelRecorder {
    /// A recorder over `meter`, knowing the unit and description of every metric in
    /// [`names::ALL`].
    ///
    /// ```
    /// # use opentelemetry::metrics::MeterProvider;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let recorder = coldstart::otel::OtelRecorder::new(provider.meter(coldstart::otel::SCOPE));
    /// # let _ = recorder;
    /// ```
    pub fn new(meter: Meter) -> OtelRecorder {
        let described = names::ALL
            .iter()
            .map(|def| {
                (
                    def.name.to_owned(),
                    Described {
                        unit: def.unit,
                        description: SharedString::const_str(def.description),
                    },
                )
            })
            .collect();
        OtelRecorder {
            inner: Arc::new(Inner {
                meter,
                described: RwLock::new(described),
                counters: RwLock::default(),
                gauges: RwLock::default(),
                histograms: RwLock::default(),
            }),
        }
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let mut described = write(&self.inner.described);
        // The crate's own definitions win: its instruments may already exist with them.
        if names::ALL.iter().any(|def| def.name == key.as_str()) {
            return;
        }
        described.insert(key.as_str().to_owned(), Described { unit, description });
    }

    fn described(&self, name: &str) -> Option<Described> {
        read(&self.inner.described).get(name).cloned()
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// The cached instrument of `key`, or a new one from `create`.
fn cached<T>(map: &RwLock<HashMap<Key, Arc<T>>>, key: &Key, create: impl FnOnce() -> T) -> Arc<T> {
    if let Some(found) = read(map).get(key) {
        return found.clone();
    }
    write(map)
        .entry(key.clone())
        .or_insert_with(|| Arc::new(create()))
        .clone()
}

fn attributes(key: &Key) -> Vec<KeyValue> {
    key.labels()
        .map(|label| KeyValue::new(label.key().to_owned(), label.value().to_owned()))
        .collect()
}

fn name_of(key: &Key) -> Cow<'static, str> {
    Cow::Owned(key.name().to_owned())
}

impl metrics::Recorder for OtelRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let counter = cached(&self.inner.counters, key, || {
            let described = self.described(key.name());
            let mut builder = self.inner.meter.u64_counter(name_of(key));
            if let Some(described) = described {
                builder = builder
                    .with_unit(unit_of(key.name(), described.unit))
                    .with_description(described.description.into_owned());
            }
            OtelCounter {
                counter: builder.build(),
                attributes: attributes(key),
                total: AtomicU64::new(0),
            }
        });
        Counter::from_arc(counter)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let gauge = cached(&self.inner.gauges, key, || {
            let described = self.described(key.name());
            let mut builder = self.inner.meter.f64_gauge(name_of(key));
            if let Some(described) = described {
                builder = builder
                    .with_unit(unit_of(key.name(), described.unit))
                    .with_description(described.description.into_owned());
            }
            OtelGauge {
                gauge: builder.build(),
                attributes: attributes(key),
                value: AtomicU64::new(0f64.to_bits()),
            }
        });
        Gauge::from_arc(gauge)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let histogram = cached(&self.inner.histograms, key, || {
            let described = self.described(key.name());
            let mut builder = self.inner.meter.f64_histogram(name_of(key));
            let mut boundaries = names::buckets_for(key.name());
            if let Some(described) = described {
                builder = builder
                    .with_unit(unit_of(key.name(), described.unit))
                    .with_description(described.description.into_owned());
                if boundaries.is_none() && described.unit == Some(Unit::Seconds) {
                    boundaries = Some(names::DURATION_BUCKETS);
                }
            }
            if let Some(boundaries) = boundaries {
                builder = builder.with_boundaries(boundaries.to_vec());
            }
            OtelHistogram {
                histogram: builder.build(),
                attributes: attributes(key),
            }
        });
        Histogram::from_arc(histogram)
    }
}

struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    /// Everything added so far, for `absolute`.
    total: AtomicU64,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        let before = self.total.fetch_max(value, Ordering::Relaxed);
        if value > before {
            self.counter.add(value - before, &self.attributes);
        }
    }
}

struct OtelGauge {
    gauge: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    /// The current value's bits, for `increment` and `decrement`.
    value: AtomicU64,
}

impl OtelGauge {
    fn update(&self, change: impl Fn(f64) -> f64) {
        let mut current = self.value.load(Ordering::Relaxed);
        loop {
            let new = change(f64::from_bits(current));
            match self.value.compare_exchange_weak(
                current,
                new.to_bits(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    self.gauge.record(new, &self.attributes);
                    return;
                }
                Err(actual) => current = actual,
            }
        }
    }
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        self.update(|current| current + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|current| current - value);
    }

    fn set(&self, value: f64) {
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.gauge.record(value, &self.attributes);
    }
}

struct OtelHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
    }
}

/// An exporter wrapper that asks for delta temporality, whatever the wrapped exporter's own
/// setting: each export holds what changed since the previous one, which is what short-lived,
/// many-at-once environments need (the backend adds the deltas up).
///
/// ```
/// use coldstart::otel::Delta;
/// use opentelemetry_sdk::metrics::{exporter::PushMetricExporter, InMemoryMetricExporter, Temporality};
///
/// let exporter = Delta(InMemoryMetricExporter::default()); // cumulative by default
/// assert_eq!(exporter.temporality(), Temporality::Delta);
/// ```
#[derive(Clone, Debug)]
pub struct Delta<E>(pub E);

impl<E: PushMetricExporter> PushMetricExporter for Delta<E> {
    fn export(
        &self,
        metrics: &ResourceMetrics,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        self.0.export(metrics)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        Temporality::Delta
    }
}

/// Installs an [`OtelRecorder`] over `provider`'s meter [`SCOPE`] as the global `metrics`
/// recorder, describes the crate's metrics to it, and returns the [`OtelFlush`] for the flush
/// hook. Fails if a global recorder is already installed.
///
/// ```
/// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// let flush = coldstart::otel::install(&provider).unwrap();
/// assert!(coldstart::otel::install(&provider).is_err()); // one global recorder per process
/// # let _ = flush;
/// ```
pub fn install(
    provider: &SdkMeterProvider,
) -> Result<OtelFlush, metrics::SetRecorderError<OtelRecorder>> {
    let meter = provider.meter_with_scope(
        InstrumentationScope::builder(SCOPE)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build(),
    );
    metrics::set_global_recorder(OtelRecorder::new(meter))?;
    names::describe_metrics();
    Ok(OtelFlush::new(provider.clone()))
}

/// The OpenTelemetry [`Resource`] of this execution environment, from the variables Lambda sets:
/// give it to the provider (`SdkMeterProvider::builder().with_resource(otel::resource())`).
///
/// OpenTelemetry allows one writer per stream, and a stream is named by its resource (plus scope,
/// metric and attributes). Without a per-environment attribute every environment of a function
/// exports under the same identity: their delta points overlap, and whatever turns deltas into
/// cumulative series (a collector's `deltatocumulative`, a Prometheus exporter) adds them up wrongly
/// or drops them. This resource tells the environments apart, and says which function they run:
///
/// | attribute | value |
/// |---|---|
/// | `service.name` | the function name ([`Environment::function_name`]: `AWS_LAMBDA_FUNCTION_NAME` or its override) |
/// | `faas.name` | `AWS_LAMBDA_FUNCTION_NAME` |
/// | `faas.version` | `AWS_LAMBDA_FUNCTION_VERSION` |
/// | `faas.instance` | `AWS_LAMBDA_LOG_STREAM_NAME` (unique per execution environment), see below |
/// | `service.instance.id` | the same as `faas.instance` (Prometheus' `instance` label comes from it) |
/// | `faas.max_memory` | `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` × 1,048,576 (bytes; the variable is in MB) |
/// | `cloud.provider`, `cloud.platform` | `aws`, `aws_lambda` (when `AWS_LAMBDA_FUNCTION_NAME` is set) |
/// | `cloud.region` | `AWS_REGION` (or `AWS_DEFAULT_REGION`) |
///
/// Names and values follow the OpenTelemetry semantic conventions (FaaS and cloud resources, the
/// AWS Lambda resource detector). An attribute whose variable is missing or malformed is left out.
/// When there is no log stream name (a local run, `cargo lambda watch`), `faas.instance` and
/// `service.instance.id` are `local-<pid>-<hex>`, made once per process from its id and start
/// time, so that two processes still export two identities.
///
/// The SDK's own attributes are kept (`telemetry.sdk.*`), and what you configure through
/// OpenTelemetry's variables wins over what Lambda says: `OTEL_SERVICE_NAME`, and
/// `OTEL_RESOURCE_ATTRIBUTES` (`deployment.environment.name=prod,...`), except `faas.instance` and
/// `service.instance.id`, which a variable set for the whole function would make the same in
/// every environment. To change anything else, add your resource after this one
/// (`.with_resource(otel::resource()).with_resource(yours)`: later attributes win). The
/// variables are read once per process ([`Environment::current`]).
///
/// ```
/// # for (name, value) in [ // what Lambda sets; cargo lambda and coldstart::local set them too
/// #     ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
/// #     ("AWS_LAMBDA_FUNCTION_VERSION", "7"),
/// #     ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
/// #     ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[7]0123456789abcdef0123456789abcdef"),
/// #     ("AWS_REGION", "eu-west-1"),
/// # ] {
/// #     // SAFETY: this doctest runs in its own process, on its only thread.
/// #     unsafe { std::env::set_var(name, value) };
/// # }
/// use coldstart::otel;
/// use opentelemetry::{Key, Value};
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// let resource = otel::resource();
/// let attribute = |key: &'static str| resource.get(&Key::from_static_str(key));
/// assert_eq!(attribute("service.name"), Some(Value::from("orders")));
/// assert_eq!(attribute("faas.name"), Some(Value::from("orders")));
/// assert_eq!(attribute("faas.version"), Some(Value::from("7")));
/// let environment = Value::from("2026/11/27/[7]0123456789abcdef0123456789abcdef");
/// assert_eq!(attribute("faas.instance"), Some(environment.clone()));
/// assert_eq!(attribute("service.instance.id"), Some(environment));
/// assert_eq!(attribute("faas.max_memory"), Some(Value::I64(512 * 1024 * 1024)));
/// assert_eq!(attribute("cloud.provider"), Some(Value::from("aws")));
/// assert_eq!(attribute("cloud.platform"), Some(Value::from("aws_lambda")));
/// assert_eq!(attribute("cloud.region"), Some(Value::from("eu-west-1")));
///
/// let provider = SdkMeterProvider::builder().with_resource(resource).build();
/// # let _ = provider;
/// ```
pub fn resource() -> Resource {
    let env = Environment::current();
    // The SDK's default resource: `telemetry.sdk.*`, OTEL_RESOURCE_ATTRIBUTES, and `service.name`
    // from OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES or else `unknown_service:<executable>`.
    lambda_resource(env, &instance_id(env), &Resource::builder().build())
}

/// The SDK's `service.name` when nothing configured one (the specification's fallback).
const UNKNOWN_SERVICE: &str = "unknown_service";
const SERVICE_NAME: &str = "service.name";
const FAAS_INSTANCE: &str = "faas.instance";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// What `env` says, under what the SDK's default resource `configured` holds (except its fallback
/// service name), under the environment's identity `instance`.
fn lambda_resource(env: &Environment, instance: &str, configured: &Resource) -> Resource {
    let mut attributes = Vec::with_capacity(16);
    if let Some(name) = env.deployed_function_name() {
        attributes.push(KeyValue::new("faas.name", name.to_owned()));
        attributes.push(KeyValue::new("cloud.provider", "aws"));
        attributes.push(KeyValue::new("cloud.platform", "aws_lambda"));
    }
    if let Some(name) = env.function_name() {
        attributes.push(KeyValue::new(SERVICE_NAME, name.to_owned()));
    }
    if let Some(version) = env.function_version() {
        attributes.push(KeyValue::new("faas.version", version.to_owned()));
    }
    if let Some(mb) = env.memory_size_mb() {
        attributes.push(KeyValue::new(
            "faas.max_memory",
            i64::from(mb) * 1024 * 1024,
        ));
    }
    if let Some(region) = env.region() {
        attributes.push(KeyValue::new("cloud.region", region.to_owned()));
    }
    // Later pairs win: what was configured, unless it is the fallback name or an identity.
    for (key, value) in configured {
        let fallback_name = key.as_str() == SERVICE_NAME
            && value.as_str().starts_with(UNKNOWN_SERVICE)
            && env.function_name().is_some();
        if !fallback_name && key.as_str() != FAAS_INSTANCE && key.as_str() != SERVICE_INSTANCE_ID {
            attributes.push(KeyValue::new(key.clone(), value.clone()));
        }
    }
    attributes.push(KeyValue::new(FAAS_INSTANCE, instance.to_owned()));
    attributes.push(KeyValue::new(SERVICE_INSTANCE_ID, instance.to_owned()));
    Resource::builder_empty()
        .with_attributes(attributes)
        .build()
}

/// The log stream name, or outside Lambda one id per process (see [`resource`]).
fn instance_id(env: &Environment) -> String {
    static LOCAL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match env.log_stream_name() {
        Some(stream) => stream.to_owned(),
        None => LOCAL
            .get_or_init(|| {
                let started = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                format!("local-{}-{:x}", std::process::id(), started.as_nanos())
            })
            .clone(),
    }
}

/// Flushes an [`SdkMeterProvider`] from the flush hook, reporting failures instead of
/// returning them, and backing off while the collector is down (see
/// [`flush_or_report`](Self::flush_or_report)).
///
/// ```
/// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
/// let flush = coldstart::otel::OtelFlush::new(provider);
/// assert_eq!(flush.failures(), 0);
/// ```
pub struct OtelFlush {
    provider: SdkMeterProvider,
    failures: AtomicU64,
    last_report: Mutex<Option<Instant>>,
    backoff: Backoff,
    probe: Option<Box<dyn Fn() -> OTelSdkResult + Send + Sync>>,
}

impl fmt::Debug for OtelFlush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtelFlush")
            .field("failures", &self.failures())
            .field("probe", &self.probe.is_some())
            .finish_non_exhaustive()
    }
}

impl OtelFlush {
    /// Flushes `provider` (a clone shares the provider's pipeline).
    ///
    /// ```
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let flush = coldstart::otel::OtelFlush::new(provider.clone());
    /// # let _ = flush;
    /// ```
    pub fn new(provider: SdkMeterProvider) -> OtelFlush {
        OtelFlush {
            provider,
            failures: AtomicU64::new(0),
            last_report: Mutex::new(None),
            backoff: Backoff::new(Backoff::DEFAULT_MAX),
            probe: None,
        }
    }

    /// Sets the longest period [`flush_or_report`](Self::flush_or_report) waits after failed
    /// attempts before it tries again (default 30 s; the first period is 1 s, doubling; a
    /// maximum below 1 s is every period).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// let flush = coldstart::otel::install(&provider)?.max_backoff(Duration::from_secs(10));
    /// # let _ = flush;
    /// # Ok::<(), metrics::SetRecorderError<coldstart::otel::OtelRecorder>>(())
    /// ```
    pub fn max_backoff(mut self, max: Duration) -> OtelFlush {
        self.backoff.set_max(max);
        self
    }

    /// Gives [`flush_or_report`](Self::flush_or_report) a second exporter to the same collector,
    /// used only to retry after a failure: it exports an empty batch (no metrics) first, and the
    /// provider is flushed only once that succeeded. A collector still down then costs the probe,
    /// and what was recorded stays in the provider instead of being collected into a batch that
    /// fails and is dropped (see `flush_or_report` for what is kept).
    ///
    /// Build it like the reader's exporter (for `opentelemetry-otlp`, the same builder calls
    /// again; an OTLP collector answers an empty request with success). The probe runs on a
    /// thread of its own, as the periodic reader's exports do.
    ///
    /// ```
    /// use coldstart::otel::{self, Delta};
    /// use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    ///
    /// // opentelemetry-otlp's MetricExporter::builder()...build() twice in a function.
    /// let exporter = || InMemoryMetricExporter::default();
    /// let provider = SdkMeterProvider::builder()
    ///     .with_reader(PeriodicReader::builder(Delta(exporter())).build())
    ///     .build();
    /// let flush = otel::install(&provider)?.probe(exporter());
    /// # let _ = flush;
    /// # Ok::<(), metrics::SetRecorderError<otel::OtelRecorder>>(())
    /// ```
    pub fn probe<E: PushMetricExporter>(mut self, exporter: E) -> OtelFlush {
        self.probe = Some(Box::new(move || {
            let empty = ResourceMetrics::default();
            std::thread::scope(|scope| {
                // Not on the caller's thread: it may be a tokio worker, and an exporter may
                // block (reqwest's blocking client) or pick tokio's timer when it finds one.
                scope
                    .spawn(|| block_on(exporter.export(&empty)))
                    .join()
                    .unwrap_or_else(|_| {
                        Err(OTelSdkError::InternalFailure("the probe panicked".into()))
                    })
            })
        }));
        self
    }

    /// The provider this flushes.
    pub fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// Collects every reader's data now and exports it (`SdkMeterProvider::force_flush`): what
    /// the invocation recorded leaves before the environment can be frozen. Returns the SDK's
    /// error, if any. It attempts whatever the back-off of
    /// [`flush_or_report`](Self::flush_or_report) says, and does not change it.
    ///
    /// ```
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// assert!(coldstart::otel::OtelFlush::new(provider).flush().is_ok());
    /// ```
    pub fn flush(&self) -> OTelSdkResult {
        self.provider.force_flush()
    }

    /// [`flush`](Self::flush), but a failure is only reported: counted in
    /// `coldstart.export_failures{exporter="otel"}` (exported with the next flush that works)
    /// and printed to stderr at most once a minute. Returns whether the flush was made and
    /// succeeded. Use it in the flush hook, where a failed export must never fail the
    /// invocation.
    ///
    /// **Back-off.** After a failure the collector is given time: the flushes asked for in the
    /// next second are skipped (not attempted, not counted as failures, returning `false` at
    /// once), then 2 s, 4 s, ... up to [`max_backoff`](Self::max_backoff) while it keeps failing;
    /// a success ends it. A collector that is down costs one attempt per period instead of one
    /// per invocation (with `opentelemetry-otlp`, an attempt is its own retries within its
    /// timeout).
    ///
    /// **What is kept.** With delta temporality ([`Delta`]) a skipped flush collects nothing: what
    /// was recorded stays aggregated in the provider (one sum or histogram per series, whatever
    /// the number of invocations, so memory does not grow with the outage) and leaves with the
    /// next flush that works, as deltas covering the whole time since the last collection.
    ///
    /// **What is lost.** The SDK drops a batch whose export failed (the `ResourceMetrics` it hands
    /// to the exporter is borrowed and cannot be copied or rebuilt outside the SDK), so every
    /// attempt that collects and then fails loses what the provider held: everything recorded
    /// since the previous collection.
    /// - With a [`probe`](Self::probe): the first failed flush of an outage loses its batch
    ///   (what was recorded since the flush before it: with a flush per invocation, that
    ///   invocation's metrics). Retries probe first and collect only when the probe succeeds, so
    ///   a failed retry loses nothing; only a flush that fails right after a successful probe
    ///   (the collector failing again in between, or rejecting the data but not an empty
    ///   request) loses its batch.
    /// - Without a probe, each retry collects: a retry that fails loses everything recorded
    ///   since the previous attempt. The retries of an outage come 1 s, 2 s, 4 s, 8 s, 16 s after
    ///   one another and then every `max_backoff` (30 s); what is delivered when the collector
    ///   answers again is only what was recorded after the last failed attempt.
    ///
    /// Readers flush on their own too (a `PeriodicReader`'s interval, 60 s by default, and at
    /// shutdown): such an export during an outage is not backed off here and loses its batch
    /// like any failed one. While backing off, every reader of the provider is skipped, not only
    /// the failing one.
    ///
    /// ```
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// assert!(coldstart::otel::OtelFlush::new(provider).flush_or_report());
    /// ```
    pub fn flush_or_report(&self) -> bool {
        self.flush_or_report_at(Instant::now)
    }

    /// [`flush_or_report`](Self::flush_or_report) on the clock `now`.
    fn flush_or_report_at(&self, now: impl Fn() -> Instant) -> bool {
        if self.backoff.check(now()).is_err() {
            return false;
        }
        if self.backoff.failing() {
            if let Some(probe) = &self.probe {
                if let Err(err) = probe() {
                    self.failed(now(), "probe", &err);
                    return false;
                }
            }
        }
        match self.flush() {
            Ok(()) => {
                self.backoff.succeeded();
                true
            }
            Err(err) => {
                self.failed(now(), "flush", &err);
                false
            }
        }
    }

    /// Counts and reports a failed attempt that ended at `now`, and backs off.
    fn failed(&self, now: Instant, what: &str, err: &OTelSdkError) {
        let period = self.backoff.failed(now);
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!(names::EXPORT_FAILURES, names::LABEL_EXPORTER => "otel").increment(1);
        let mut last = self
            .last_report
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            *last = Some(Instant::now());
            eprintln!(
                "coldstart: the OpenTelemetry {what} failed ({failures} failures so far; next \
                 attempt in {period:?} at the earliest): {err}"
            );
        }
    }

    /// How many attempts (flushes, and probes) have failed so far; skipped flushes are not
    /// counted.
    ///
    /// ```
    /// let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder().build();
    /// assert_eq!(coldstart::otel::OtelFlush::new(provider).failures(), 0);
    /// ```
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// Runs `future` to completion on this thread (the probe's export; the SDK's readers do the
/// same with `futures_executor`).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Environment::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn attributes(resource: &Resource) -> BTreeMap<String, String> {
        resource
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect()
    }

    fn configured(pairs: &[(&'static str, &'static str)]) -> Resource {
        Resource::builder_empty()
            .with_attributes(pairs.iter().map(|(k, v)| KeyValue::new(*k, *v)))
            .build()
    }

    const STREAM: &str = "2026/11/27/[$LATEST]0123456789abcdef0123456789abcdef";

    fn lambda() -> Environment {
        env(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "orders"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", STREAM),
            ("AWS_REGION", "eu-west-1"),
        ])
    }

    #[test]
    fn every_lambda_variable_becomes_its_semantic_convention_attribute() {
        let env = lambda();
        let sdk = configured(&[
            ("service.name", "unknown_service:bootstrap"),
            ("telemetry.sdk.language", "rust"),
        ]);
        let resource = lambda_resource(&env, &instance_id(&env), &sdk);
        let expected: BTreeMap<String, String> = [
            ("service.name", "orders"),
            ("service.instance.id", STREAM),
            ("faas.name", "orders"),
            ("faas.version", "$LATEST"),
            ("faas.instance", STREAM),
            ("faas.max_memory", "1854930944"), // 1,769 MB × 1,048,576
            ("cloud.provider", "aws"),
            ("cloud.platform", "aws_lambda"),
            ("cloud.region", "eu-west-1"),
            ("telemetry.sdk.language", "rust"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(attributes(&resource), expected);
        let memory = resource.get(&opentelemetry::Key::from_static_str("faas.max_memory"));
        assert_eq!(memory, Some(opentelemetry::Value::I64(1_854_930_944)));
    }

    #[test]
    fn missing_or_malformed_variables_are_left_out() {
        let env = env(&[
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
            ("AWS_LAMBDA_FUNCTION_VERSION", " "),
        ]);
        let sdk = configured(&[("service.name", "unknown_service:my-bin")]);
        let resource = lambda_resource(&env, "local-1-2", &sdk);
        let expected: BTreeMap<String, String> = [
            // No function name: the SDK's fallback stays, nothing claims to be on AWS.
            ("service.name", "unknown_service:my-bin"),
            ("service.instance.id", "local-1-2"),
            ("faas.instance", "local-1-2"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(attributes(&resource), expected);
    }

    #[test]
    fn otel_variables_win_except_for_the_environment_identity() {
        let env = lambda();
        // OTEL_SERVICE_NAME=checkout and OTEL_RESOURCE_ATTRIBUTES=cloud.region=...,
        // deployment.environment.name=prod,faas.instance=...,service.instance.id=... as the SDK
        // reads them: set for the whole function, so the identities are the same everywhere.
        let sdk = configured(&[
            ("service.name", "checkout"),
            ("cloud.region", "us-east-1"),
            ("deployment.environment.name", "prod"),
            ("faas.instance", "shared"),
            ("service.instance.id", "shared"),
        ]);
        let resource = attributes(&lambda_resource(&env, STREAM, &sdk));
        assert_eq!(resource["service.name"], "checkout");
        assert_eq!(resource["faas.name"], "orders");
        assert_eq!(resource["cloud.region"], "us-east-1");
        assert_eq!(resource["deployment.environment.name"], "prod");
        assert_eq!(resource["faas.instance"], STREAM);
        assert_eq!(resource["service.instance.id"], STREAM);
    }

    /// A collector that is up or down, shared by the reader's exporter and the probe: counts
    /// every attempt (probes are the empty ones) and keeps what it received while up.
    #[derive(Clone, Default)]
    struct Collector {
        up: Arc<std::sync::atomic::AtomicBool>,
        probes: Arc<AtomicU64>,
        exports: Arc<AtomicU64>,
        received: Arc<AtomicU64>,
    }

    impl Collector {
        fn set_up(&self, up: bool) {
            self.up.store(up, Ordering::SeqCst);
        }

        /// (probes, exports) attempted so far.
        fn attempts(&self) -> (u64, u64) {
            (
                self.probes.load(Ordering::SeqCst),
                self.exports.load(Ordering::SeqCst),
            )
        }
    }

    impl PushMetricExporter for Collector {
        async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
            let sum: u64 = metrics
                .scope_metrics()
                .flat_map(|scope| scope.metrics())
                .map(|metric| match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        sum.data_points().map(|point| point.value()).sum::<u64>()
                    }
                    other => panic!("{other:?}"),
                })
                .sum();
            let empty = metrics.scope_metrics().next().is_none();
            let attempts = if empty { &self.probes } else { &self.exports };
            attempts.fetch_add(1, Ordering::SeqCst);
            if !self.up.load(Ordering::SeqCst) {
                return Err(OTelSdkError::InternalFailure("connection refused".into()));
            }
            self.received.fetch_add(sum, Ordering::SeqCst);
            Ok(())
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
            Ok(())
        }

        fn temporality(&self) -> Temporality {
            Temporality::Delta
        }
    }

    /// A provider exporting to `collector`, and a counter of it.
    fn pipeline(collector: &Collector) -> (SdkMeterProvider, opentelemetry::metrics::Counter<u64>) {
        let provider = SdkMeterProvider::builder()
            .with_reader(
                opentelemetry_sdk::metrics::PeriodicReader::builder(collector.clone()).build(),
            )
            .build();
        let counter = provider.meter("test").u64_counter("orders").build();
        (provider, counter)
    }

    #[test]
    fn a_failed_flush_backs_off_and_with_a_probe_an_outage_loses_only_its_first_batch() {
        let collector = Collector::default();
        let (provider, orders) = pipeline(&collector);
        let flush = OtelFlush::new(provider)
            .max_backoff(Duration::from_secs(4))
            .probe(collector.clone());
        let t0 = Instant::now();
        let at = |ms: u64| move || t0 + Duration::from_millis(ms);

        collector.set_up(true);
        orders.add(1, &[]);
        assert!(flush.flush_or_report_at(at(0)));
        assert_eq!(
            collector.attempts(),
            (0, 1),
            "no probe while the collector works"
        );

        collector.set_up(false);
        orders.add(2, &[]); // this batch is lost with the first failed flush
        assert!(!flush.flush_or_report_at(at(0)));
        assert_eq!((flush.failures(), collector.attempts()), (1, (0, 2)));
        orders.add(4, &[]);
        assert!(
            !flush.flush_or_report_at(at(999)),
            "skipped during the first second"
        );
        assert_eq!((flush.failures(), collector.attempts()), (1, (0, 2)));
        // The period is over: the retry probes, fails, and collects nothing.
        assert!(!flush.flush_or_report_at(at(1000)));
        assert_eq!((flush.failures(), collector.attempts()), (2, (1, 2)));
        orders.add(8, &[]);
        assert!(!flush.flush_or_report_at(at(2999)), "then skipped for 2 s");
        assert!(!flush.flush_or_report_at(at(3000)));
        assert_eq!((flush.failures(), collector.attempts()), (3, (2, 2)));
        assert!(!flush.flush_or_report_at(at(6999)), "then 4 s, the maximum");

        collector.set_up(true);
        orders.add(16, &[]);
        assert!(flush.flush_or_report_at(at(7000)));
        assert_eq!((flush.failures(), collector.attempts()), (3, (3, 3)));
        assert_eq!(
            collector.received.load(Ordering::SeqCst),
            1 + 4 + 8 + 16,
            "everything but the first failed batch (2)"
        );
        // Back to normal: no probe, no back-off.
        orders.add(32, &[]);
        assert!(flush.flush_or_report_at(at(7000)));
        assert_eq!(collector.attempts(), (3, 4));
        assert_eq!(
            collector.received.load(Ordering::SeqCst),
            1 + 4 + 8 + 16 + 32
        );
    }

    #[test]
    fn without_a_probe_each_failed_retry_loses_what_was_recorded_before_it() {
        let collector = Collector::default();
        let (provider, orders) = pipeline(&collector);
        let flush = OtelFlush::new(provider);
        let t0 = Instant::now();
        let at = |ms: u64| move || t0 + Duration::from_millis(ms);

        orders.add(1, &[]);
        assert!(!flush.flush_or_report_at(at(0)));
        orders.add(2, &[]);
        assert!(!flush.flush_or_report_at(at(500)), "skipped");
        assert_eq!(collector.attempts(), (0, 1));
        orders.add(4, &[]);
        assert!(
            !flush.flush_or_report_at(at(1000)),
            "the retry collects 2 + 4 and fails"
        );
        assert_eq!((flush.failures(), collector.attempts()), (2, (0, 2)));

        collector.set_up(true);
        orders.add(8, &[]);
        assert!(!flush.flush_or_report_at(at(2999)), "skipped");
        assert!(flush.flush_or_report_at(at(3000)));
        assert_eq!(collector.received.load(Ordering::SeqCst), 8);
    }

    #[test]
    fn without_a_log_stream_the_identity_is_one_per_process() {
        let local = env(&[("AWS_LAMBDA_FUNCTION_NAME", "orders")]);
        let first = instance_id(&local);
        assert!(
            first.starts_with(&format!("local-{}-", std::process::id())),
            "{first}"
        );
        assert_eq!(instance_id(&local), first, "stable within the process");
        assert_eq!(instance_id(&lambda()), STREAM);
    }
}
