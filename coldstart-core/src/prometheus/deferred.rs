//! A Prometheus recorder whose exporter is built after the cold start, not during INIT.
//!
//! metrics-exporter-prometheus 0.18's `PrometheusBuilder::build_recorder()` creates a
//! `quanta::Clock`, and quanta 0.12 calibrates the CPU's counter against the OS clock the first
//! time a clock is created in a process: it spins until its error is small or 200 ms have passed
//! (x86 with an invariant TSC; always on aarch64). In fresh processes that took 0.6 ms at the
//! median and up to 200 ms at the tail (p99 182 ms), all of it in INIT when the recorder is
//! built there. The clock only serves the exporter's idle timeout.
//!
//! So [`recorder`](super::recorder) returns a [`Deferred`] recorder: it hands out *buffered*
//! handles until the exporter is built ("bound"), then registers every buffered series with the
//! exporter, replays what was recorded into it exactly once, and from then on hands out the
//! exporter's own handles (no overhead). It is bound by whichever comes first:
//! - the first render ([`Handle::render`], a gateway push): the render needs the exporter;
//! - after the first real invocation's response under `coldstart::lambda`, on a thread of its
//!   own ([`bind_after_first_response`]): off the cold path, and no waiting event is held back
//!   by it (the runtime asks for the next event at once; a flush hook that renders waits for it).
//!
//! Buffered operations keep the exporter's semantics: a counter is an `AtomicU64` (`increment`
//! adds, `absolute` keeps the maximum, as the exporter's counter does), a gauge an `f64` with the
//! same `set`/`increment`/`decrement` arithmetic, a histogram the samples in order. A buffered
//! handle's operation takes the shared side of a lock and binding the exclusive side, so an
//! operation racing the bind is either replayed or forwarded, never both, never neither. A handle
//! registered before the bind forwards to the exporter's handle after it (one atomic load more).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, RwLock, Weak};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Level, Metadata,
    Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// The metadata series are registered with when replayed (the exporter ignores metadata).
static REPLAY_METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// What a render, a push or your own code uses to read a recorder made by
/// [`install`](super::install), [`install_with`](super::install_with) or
/// [`recorder`](super::recorder).
///
/// The exporter behind it is built when the first render needs it or, under
/// `coldstart::lambda`, on a thread of its own after the first response, whichever comes first:
/// building it calibrates a clock for up to 200 ms, which must not happen during INIT (see the
/// [module docs](super)). Everything recorded before is in the first render.
///
/// ```
/// let handle = coldstart::prometheus::install().unwrap();
/// metrics::counter!("orders_handled").increment(2);
/// assert!(handle.render().contains("\norders_handled 2\n"));
/// ```
#[derive(Clone, Debug)]
pub struct Handle(HandleKind);

#[derive(Clone, Debug)]
enum HandleKind {
    Deferred(Arc<Deferred>),
    Built(PrometheusHandle),
}

impl Handle {
    pub(super) fn deferred(deferred: Arc<Deferred>) -> Handle {
        Handle(HandleKind::Deferred(deferred))
    }

    /// The text exposition of everything recorded so far, rendered so that coldstart's own
    /// histogram samples recorded meanwhile are not lost (see [`render`](super::render)); builds
    /// the exporter first if it is not built yet.
    ///
    /// ```
    /// let (recorder, handle) = coldstart::prometheus::recorder(coldstart::prometheus::builder());
    /// metrics::with_local_recorder(&recorder, || metrics::gauge!("queue_depth").set(3.0));
    /// assert!(handle.render().contains("\nqueue_depth 3\n"));
    /// ```
    pub fn render(&self) -> String {
        let handle = self.prometheus_handle();
        crate::render_gate::rendering(|| handle.render())
    }

    /// The exporter's own handle (for `render_to_write`, `run_upkeep`), built first if it is not
    /// yet. Its `render` does not wait for coldstart's histogram records in progress; prefer
    /// [`Handle::render`].
    ///
    /// ```
    /// let handle = coldstart::prometheus::install_with(coldstart::prometheus::builder()).unwrap();
    /// handle.prometheus_handle().run_upkeep();
    /// ```
    pub fn prometheus_handle(&self) -> &PrometheusHandle {
        match &self.0 {
            HandleKind::Deferred(deferred) => deferred.bind(),
            HandleKind::Built(handle) => handle,
        }
    }
}

/// A handle of a recorder you built yourself (`PrometheusBuilder::build_recorder`), for the
/// gateways' `push`.
///
/// ```
/// use coldstart::prometheus::{Handle, PrometheusBuilder};
///
/// let recorder = PrometheusBuilder::new().build_recorder();
/// let handle = Handle::from(recorder.handle());
/// metrics::with_local_recorder(&recorder, || metrics::counter!("jobs").increment(1));
/// assert!(handle.render().contains("\njobs 1\n"));
/// ```
impl From<PrometheusHandle> for Handle {
    fn from(handle: PrometheusHandle) -> Handle {
        Handle(HandleKind::Built(handle))
    }
}

/// The exporter, once built.
struct Bound {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

/// Which `describe_*` call a buffered description came from.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The series registered and the descriptions given before the bind, in order.
#[derive(Default)]
struct Buffers {
    descriptions: Vec<(Kind, KeyName, Option<Unit>, SharedString)>,
    counters: HashMap<Key, Arc<PendingCounter>>,
    gauges: HashMap<Key, Arc<PendingGauge>>,
    histograms: HashMap<Key, Arc<PendingHistogram>>,
}

/// A recorder that buffers until its Prometheus exporter is built (see the module docs).
pub(super) struct Deferred {
    /// The builder until the exporter is built; held while building, so that a second binder
    /// waits for the first instead of building again.
    builder: Mutex<Option<PrometheusBuilder>>,
    bound: OnceLock<Bound>,
    buffers: Mutex<Buffers>,
    /// Shared by every operation on a buffered handle; exclusive while binding.
    gate: Arc<RwLock<()>>,
}

impl std::fmt::Debug for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deferred")
            .field("bound", &self.bound.get().is_some())
            .finish_non_exhaustive()
    }
}

/// The recorders not bound yet, bound after the first response.
static UNBOUND: Mutex<Vec<Weak<Deferred>>> = Mutex::new(Vec::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Deferred {
    /// A recorder that will build `builder`'s exporter when bound, bound after the first
    /// response at the latest (under `coldstart::lambda`).
    pub(super) fn new(builder: PrometheusBuilder) -> Arc<Deferred> {
        let deferred = Deferred::unregistered(builder);
        crate::after_response::after_first_response(bind_after_first_response);
        let mut unbound = lock(&UNBOUND);
        unbound.retain(|weak| weak.strong_count() > 0);
        unbound.push(Arc::downgrade(&deferred));
        deferred
    }

    /// A recorder that only a render or an explicit [`Deferred::bind`] binds.
    fn unregistered(builder: PrometheusBuilder) -> Arc<Deferred> {
        Arc::new(Deferred {
            builder: Mutex::new(Some(builder)),
            bound: OnceLock::new(),
            buffers: Mutex::new(Buffers::default()),
            gate: Arc::new(RwLock::new(())),
        })
    }

    /// Whether the exporter is built and everything buffered replayed into it.
    #[cfg(test)]
    pub(super) fn is_bound(&self) -> bool {
        self.bound.get().is_some()
    }

    /// Builds the exporter (the clock calibration: up to 200 ms), replays what was buffered into
    /// it and switches every handle over; waits for a bind already under way. Idempotent.
    pub(super) fn bind(&self) -> &PrometheusHandle {
        if let Some(bound) = self.bound.get() {
            return &bound.handle;
        }
        let mut builder = lock(&self.builder);
        if let Some(bound) = self.bound.get() {
            return &bound.handle;
        }
        // Built with no lock taken that a recording needs: they keep buffering meanwhile.
        let recorder = builder
            .take()
            .expect("the builder is there until bound")
            .build_recorder();
        let handle = recorder.handle();
        let mut buffers = lock(&self.buffers);
        // No buffered operation runs from here until every handle forwards.
        let _exclusive = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let buffers = std::mem::take(&mut *buffers);
        for (kind, name, unit, description) in buffers.descriptions {
            match kind {
                Kind::Counter => recorder.describe_counter(name, unit, description),
                Kind::Gauge => recorder.describe_gauge(name, unit, description),
                Kind::Histogram => recorder.describe_histogram(name, unit, description),
            }
        }
        for (key, pending) in buffers.counters {
            let counter = recorder.register_counter(&key, &REPLAY_METADATA);
            counter.increment(pending.value.load(Ordering::Relaxed));
            let _ = pending.target.set(counter);
        }
        for (key, pending) in buffers.gauges {
            let gauge = recorder.register_gauge(&key, &REPLAY_METADATA);
            gauge.set(f64::from_bits(pending.bits.load(Ordering::Relaxed)));
            let _ = pending.target.set(gauge);
        }
        for (key, pending) in buffers.histograms {
            let histogram = recorder.register_histogram(&key, &REPLAY_METADATA);
            for (value, count) in std::mem::take(&mut *lock(&pending.samples)) {
                histogram.record_many(value, count);
            }
            let _ = pending.target.set(histogram);
        }
        let _ = self.bound.set(Bound { recorder, handle });
        &self.bound.get().expect("set above").handle
    }

    /// The exporter if it is built, else the buffers (held: `bind` cannot start replaying them).
    fn target(&self) -> Result<&PrometheusRecorder, MutexGuard<'_, Buffers>> {
        if let Some(bound) = self.bound.get() {
            return Ok(&bound.recorder);
        }
        let buffers = lock(&self.buffers);
        // `bind` sets `bound` while it holds the buffers.
        match self.bound.get() {
            Some(bound) => Ok(&bound.recorder),
            None => Err(buffers),
        }
    }

    fn describe(&self, kind: Kind, name: KeyName, unit: Option<Unit>, description: SharedString) {
        match self.target() {
            Ok(recorder) => match kind {
                Kind::Counter => recorder.describe_counter(name, unit, description),
                Kind::Gauge => recorder.describe_gauge(name, unit, description),
                Kind::Histogram => recorder.describe_histogram(name, unit, description),
            },
            Err(mut buffers) => buffers.descriptions.push((kind, name, unit, description)),
        }
    }
}

/// Starts a thread that binds every recorder not bound yet (after the first real invocation's
/// response, under `coldstart::lambda`). Nothing if there is none.
pub(super) fn bind_after_first_response() {
    let unbound: Vec<Arc<Deferred>> = std::mem::take(&mut *lock(&UNBOUND))
        .iter()
        .filter_map(Weak::upgrade)
        .filter(|deferred| deferred.bound.get().is_none())
        .collect();
    bind_on_a_thread(unbound);
}

/// Binds `unbound` on a thread of its own; without a thread, the first render binds.
fn bind_on_a_thread(unbound: Vec<Arc<Deferred>>) {
    if unbound.is_empty() {
        return;
    }
    let _started = crate::spawn_detached(
        "coldstart-prometheus",
        Box::new(move || {
            for deferred in unbound {
                deferred.bind();
            }
        }),
    );
}

/// The recorder the crate installs: [`Deferred`] behind an `Arc` its [`Handle`] shares.
pub(super) struct DeferredRecorder(pub(super) Arc<Deferred>);

impl Recorder for DeferredRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe(Kind::Counter, key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe(Kind::Gauge, key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe(Kind::Histogram, key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        match self.0.target() {
            Ok(recorder) => recorder.register_counter(key, metadata),
            Err(mut buffers) => {
                let pending = buffers.counters.entry(key.clone()).or_insert_with(|| {
                    Arc::new(PendingCounter {
                        gate: self.0.gate.clone(),
                        value: AtomicU64::new(0),
                        target: OnceLock::new(),
                    })
                });
                Counter::from_arc(pending.clone())
            }
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        match self.0.target() {
            Ok(recorder) => recorder.register_gauge(key, metadata),
            Err(mut buffers) => {
                let pending = buffers.gauges.entry(key.clone()).or_insert_with(|| {
                    Arc::new(PendingGauge {
                        gate: self.0.gate.clone(),
                        bits: AtomicU64::new(0.0f64.to_bits()),
                        target: OnceLock::new(),
                    })
                });
                Gauge::from_arc(pending.clone())
            }
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        match self.0.target() {
            Ok(recorder) => recorder.register_histogram(key, metadata),
            Err(mut buffers) => {
                let pending = buffers.histograms.entry(key.clone()).or_insert_with(|| {
                    Arc::new(PendingHistogram {
                        gate: self.0.gate.clone(),
                        samples: Mutex::new(Vec::new()),
                        target: OnceLock::new(),
                    })
                });
                Histogram::from_arc(pending.clone())
            }
        }
    }
}

/// Runs `forward` on `target` once it is set, else `buffer` (under the shared side of `gate`,
/// so that a bind does not run in between).
#[inline(always)]
fn apply<H>(
    gate: &RwLock<()>,
    target: &OnceLock<H>,
    forward: impl FnOnce(&H),
    buffer: impl FnOnce(),
) {
    if let Some(target) = target.get() {
        return forward(target);
    }
    let _shared = gate.read().unwrap_or_else(PoisonError::into_inner);
    match target.get() {
        Some(target) => forward(target),
        None => buffer(),
    }
}

/// A counter registered before the bind.
struct PendingCounter {
    gate: Arc<RwLock<()>>,
    value: AtomicU64,
    target: OnceLock<Counter>,
}

impl CounterFn for PendingCounter {
    fn increment(&self, value: u64) {
        apply(
            &self.gate,
            &self.target,
            |counter| counter.increment(value),
            || {
                self.value.fetch_add(value, Ordering::Relaxed);
            },
        );
    }

    fn absolute(&self, value: u64) {
        apply(
            &self.gate,
            &self.target,
            |counter| counter.absolute(value),
            || {
                self.value.fetch_max(value, Ordering::Relaxed);
            },
        );
    }
}

/// A gauge registered before the bind: its value as `f64` bits.
struct PendingGauge {
    gate: Arc<RwLock<()>>,
    bits: AtomicU64,
    target: OnceLock<Gauge>,
}

impl PendingGauge {
    fn update(&self, op: impl Fn(f64) -> f64) {
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some(op(f64::from_bits(bits)).to_bits())
            });
    }
}

impl GaugeFn for PendingGauge {
    fn increment(&self, value: f64) {
        apply(
            &self.gate,
            &self.target,
            |gauge| gauge.increment(value),
            || self.update(|current| current + value),
        );
    }

    fn decrement(&self, value: f64) {
        apply(
            &self.gate,
            &self.target,
            |gauge| gauge.decrement(value),
            || self.update(|current| current - value),
        );
    }

    fn set(&self, value: f64) {
        apply(
            &self.gate,
            &self.target,
            |gauge| gauge.set(value),
            || self.bits.store(value.to_bits(), Ordering::Relaxed),
        );
    }
}

/// A histogram registered before the bind: its samples, in order, as (value, count).
struct PendingHistogram {
    gate: Arc<RwLock<()>>,
    samples: Mutex<Vec<(f64, usize)>>,
    target: OnceLock<Histogram>,
}

impl PendingHistogram {
    fn push(&self, value: f64, count: usize) {
        let mut samples = lock(&self.samples);
        match samples.last_mut() {
            Some((last, n)) if last.to_bits() == value.to_bits() => *n += count,
            _ => samples.push((value, count)),
        }
    }
}

impl HistogramFn for PendingHistogram {
    fn record(&self, value: f64) {
        apply(
            &self.gate,
            &self.target,
            |histogram| histogram.record(value),
            || self.push(value, 1),
        );
    }

    fn record_many(&self, value: f64, count: usize) {
        apply(
            &self.gate,
            &self.target,
            |histogram| histogram.record_many(value, count),
            || self.push(value, count),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{builder, CrateNames};
    use super::*;
    use crate::names;

    /// The exposition in a form two renders of the same metrics agree on: the exporter writes
    /// families and series in hash-map order, so each family's lines are sorted, then the families.
    fn canonical(text: &str) -> Vec<Vec<String>> {
        let mut families: Vec<Vec<String>> = text
            .split("\n\n")
            .filter(|family| !family.trim().is_empty())
            .map(|family| {
                let mut lines: Vec<String> = family.lines().map(str::to_owned).collect();
                lines.sort();
                lines
            })
            .collect();
        families.sort();
        families
    }

    /// A known set of records: described metrics (coldstart's and the user's), counters with
    /// `increment` and `absolute`, gauges with `set`, `increment` and `decrement`, histograms
    /// with repeated and distinct samples and `record_many`, labels, a series registered and
    /// never touched, and the same series registered twice.
    fn record_everything() {
        names::describe_metrics();
        metrics::describe_counter!("orders_handled", Unit::Count, "Orders handled.");
        metrics::describe_gauge!("queue_depth", "Items waiting.");
        metrics::describe_histogram!("checkout_latency", Unit::Seconds, "Checkout latency.");
        metrics::counter!(names::COLDSTARTS).increment(1);
        metrics::counter!("orders_handled", "route" => "a").increment(2);
        let twice = metrics::counter!("orders_handled", "route" => "a");
        twice.increment(5);
        metrics::counter!("orders_handled", "route" => "b").absolute(7);
        metrics::counter!("orders_handled", "route" => "b").increment(1);
        metrics::counter!("orders_handled", "route" => "b").absolute(3);
        let _untouched = metrics::counter!("orders_untouched");
        metrics::gauge!("queue_depth", "queue" => "x").set(10.0);
        metrics::gauge!("queue_depth", "queue" => "x").increment(2.5);
        metrics::gauge!("queue_depth", "queue" => "x").decrement(0.25);
        metrics::gauge!("queue_depth", "queue" => "y").decrement(1.0);
        let _untouched_gauge = metrics::gauge!("queue_untouched");
        for value in [0.001, 0.001, 0.02, 0.3, 4.0, 0.001] {
            metrics::histogram!("checkout_latency", "route" => "a").record(value);
        }
        metrics::histogram!("checkout_latency", "route" => "b").record_many(0.05, 3);
        metrics::histogram!(names::INVOKE_DURATION, names::LABEL_START => "cold").record(0.002);
        metrics::gauge!(names::ENVIRONMENT_AGE).set(12.0);
    }

    /// What a recorder that was never deferred renders for [`record_everything`].
    fn never_deferred(builder: PrometheusBuilder) -> String {
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&CrateNames(recorder), record_everything);
        handle.render()
    }

    /// A recorder no other test binds by running `coldstart::lambda`'s after-response work.
    fn deferred_recorder(builder: PrometheusBuilder) -> (impl Recorder, Handle, Arc<Deferred>) {
        let deferred = Deferred::unregistered(builder);
        let handle = Handle::deferred(deferred.clone());
        (
            CrateNames(DeferredRecorder(deferred.clone())),
            handle,
            deferred,
        )
    }

    #[test]
    fn what_is_recorded_before_the_bind_is_rendered_exactly_once() {
        for builder in [
            builder,
            || builder().add_global_label("service", "orders"),
            || builder().with_recommended_naming(true),
            // Summaries (no buckets): quantiles over the replayed samples.
            PrometheusBuilder::new,
        ] {
            let expected = never_deferred(builder());
            assert!(expected.contains("checkout_latency"), "{expected}");
            let (recorder, handle, deferred) = deferred_recorder(builder());
            metrics::with_local_recorder(&recorder, record_everything);
            assert!(!deferred.is_bound());
            handle.prometheus_handle();
            assert!(deferred.is_bound());
            assert_eq!(canonical(&handle.render()), canonical(&expected));
            // A second bind replays nothing again, and a second render sees the same counters.
            deferred.bind();
            let again = handle.render();
            assert_eq!(canonical(&again), canonical(&expected));
        }
    }

    #[test]
    fn the_first_render_binds() {
        let (recorder, handle, deferred) = deferred_recorder(builder());
        metrics::with_local_recorder(&recorder, record_everything);
        let rendered = crate::prometheus::render(&handle);
        assert!(deferred.is_bound());
        assert_eq!(canonical(&rendered), canonical(&never_deferred(builder())));
    }

    #[test]
    fn handles_from_before_the_bind_forward_after_it_and_new_ones_are_the_exporters() {
        let (recorder, handle, deferred) = deferred_recorder(builder());
        let (early_counter, early_gauge, early_histogram) =
            metrics::with_local_recorder(&recorder, || {
                (
                    metrics::counter!("early_total"),
                    metrics::gauge!("early_gauge"),
                    metrics::histogram!("early_seconds"),
                )
            });
        early_counter.increment(1);
        early_gauge.set(5.0);
        early_histogram.record(0.5);
        deferred.bind();
        early_counter.increment(2);
        early_gauge.increment(1.0);
        early_histogram.record(0.5);
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("early_total").increment(4);
            metrics::counter!("late_total").increment(1);
            metrics::describe_counter!("late_total", "Described after the bind.");
        });
        let text = handle.render();
        assert!(text.lines().any(|l| l == "early_total 7"), "{text}");
        assert!(text.lines().any(|l| l == "early_gauge 6"), "{text}");
        assert!(text.lines().any(|l| l == "early_seconds_count 2"), "{text}");
        assert!(text.lines().any(|l| l == "early_seconds_sum 1"), "{text}");
        assert!(text.lines().any(|l| l == "late_total 1"), "{text}");
        assert!(
            text.contains("# HELP late_total Described after the bind."),
            "{text}"
        );
        // Registered after the bind: the exporter's own handle, not a buffered one.
        let late = metrics::with_local_recorder(&recorder, || metrics::counter!("late_total"));
        let exporters = deferred
            .bound
            .get()
            .unwrap()
            .recorder
            .register_counter(&Key::from_static_name("late_total"), &REPLAY_METADATA);
        late.increment(1);
        exporters.increment(1);
        assert!(handle.render().lines().any(|l| l == "late_total 3"));
    }

    #[test]
    fn records_racing_the_bind_are_neither_lost_nor_doubled() {
        for _ in 0..20 {
            let (recorder, handle, deferred) = deferred_recorder(builder());
            let (counter, gauge, histogram) = metrics::with_local_recorder(&recorder, || {
                (
                    metrics::counter!("raced_total"),
                    metrics::gauge!("raced_gauge"),
                    metrics::histogram!("raced_seconds"),
                )
            });
            const THREADS: usize = 4;
            const EACH: usize = 2_000;
            std::thread::scope(|scope| {
                for _ in 0..THREADS {
                    scope.spawn(|| {
                        for _ in 0..EACH {
                            counter.increment(1);
                            gauge.increment(1.0);
                            histogram.record(1.0);
                        }
                    });
                }
                scope.spawn(|| {
                    std::thread::yield_now();
                    deferred.bind();
                });
            });
            let text = handle.render();
            let total = THREADS * EACH;
            assert!(
                text.lines().any(|l| l == format!("raced_total {total}")),
                "{text}"
            );
            assert!(
                text.lines().any(|l| l == format!("raced_gauge {total}")),
                "{text}"
            );
            assert!(
                text.lines()
                    .any(|l| l == format!("raced_seconds_count {total}")),
                "{text}"
            );
        }
    }

    #[test]
    fn a_handle_of_a_built_recorder_renders_it() {
        let recorder = builder().build_recorder();
        let handle = Handle::from(recorder.handle());
        metrics::with_local_recorder(&recorder, || metrics::counter!("built").increment(3));
        assert!(handle.render().lines().any(|l| l == "built 3"));
    }

    #[test]
    fn recorders_are_bound_after_the_first_response_on_a_thread() {
        let (_recorder, handle) = crate::prometheus::recorder(builder());
        let HandleKind::Deferred(registered) = &handle.0 else {
            panic!("a recorder's handle is deferred");
        };
        // `recorder` registers it for the after-response work, and that work is set.
        assert!(lock(&UNBOUND)
            .iter()
            .any(|weak| weak.as_ptr() == Arc::as_ptr(registered)));
        assert!(crate::after_response::has_after_first_response());

        let (_recorder, _handle, deferred) = deferred_recorder(builder());
        bind_on_a_thread(vec![deferred.clone()]);
        let started = std::time::Instant::now();
        while !deferred.is_bound() && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(deferred.is_bound());
    }
}
