//! Helpers shared by the behaviour tests: a function served by the local Runtime API and driven
//! with events, a gate a test opens, a global debugging recorder and lookups in its snapshot.
#![allow(dead_code)] // each test binary uses a different subset

pub mod dashboard;
pub mod otel;
pub mod servers;
pub mod spans;

use coldstart::local::{InvocationResult, LocalEvent, LocalRuntimeApi};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use std::future::Future;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a test waits for something that must happen. Far beyond what any run takes, on any
/// machine: only a hang reaches it. Tests assert what happened and in which order, never how
/// fast (that is for the benchmarks).
pub const PATIENCE: Duration = Duration::from_secs(120);

/// A local Runtime API for a function called `function_name`, with the process environment set
/// for `lambda_runtime` (call it before starting any other thread: the environment is
/// process-wide).
pub fn local_api(function_name: &str) -> LocalRuntimeApi {
    let api = LocalRuntimeApi::builder()
        .function_name(function_name)
        .start()
        .expect("local Runtime API");
    // SAFETY: callers run before starting any thread of their own (see above), and the
    // emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    api
}

/// A multi-threaded tokio runtime with `workers` worker threads, I/O and timers.
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One event for [`serve`] and [`drive`]: a JSON payload, or a [`LocalEvent`] with its options
/// (a raw body, a deadline, a delay, a client context).
pub trait Event {
    fn into_event(self) -> LocalEvent;
}

impl Event for LocalEvent {
    fn into_event(self) -> LocalEvent {
        self
    }
}

impl Event for serde_json::Value {
    fn into_event(self) -> LocalEvent {
        LocalEvent::json(&self)
    }
}

/// Queues `events` on `api`, in order, then spawns `function` (the runtime loop: `Coldstart::run`,
/// `coldstart::lambda::run`, `lambda_runtime::run`, …) on `runtime`, and returns at once. The
/// events wait for the function's first `/next`, as an invocation waits for INIT.
pub fn start<F>(
    runtime: &tokio::runtime::Runtime,
    api: &LocalRuntimeApi,
    function: F,
    events: impl IntoIterator<Item = impl Event>,
) where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    push(api, events);
    runtime.spawn(function);
}

/// [`start`], then waits (within [`PATIENCE`]) until every event is answered and the function is
/// back at `/next` (so what it does after a response is done too), and returns every result the
/// Runtime API received, in completion order.
pub fn serve<F>(
    runtime: &tokio::runtime::Runtime,
    api: &LocalRuntimeApi,
    function: F,
    events: impl IntoIterator<Item = impl Event>,
) -> Vec<InvocationResult>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    start(runtime, api, function, events);
    answered(runtime, api)
}

/// [`serve`] for a runtime loop whose future is not `Send` (`lambda_http::run` for some
/// handlers): polled on this thread, as `main` would, beside the wait, instead of spawned. The
/// loop is dropped once every event is answered.
pub fn serve_here<F>(
    runtime: &tokio::runtime::Runtime,
    api: &LocalRuntimeApi,
    function: F,
    events: impl IntoIterator<Item = impl Event>,
) -> Vec<InvocationResult>
where
    F: Future,
    F::Output: std::fmt::Debug,
{
    push(api, events);
    runtime.block_on(async {
        tokio::select! {
            ended = function => panic!("the runtime loop ended: {ended:?}"),
            results = api.wait_for_all(PATIENCE) => results.expect("every event answered"),
        }
    })
}

/// More events for a function [`start`]ed or [`serve`]d already: queues them and waits as
/// [`serve`] does; returns every result so far (the earlier ones too).
pub fn drive(
    runtime: &tokio::runtime::Runtime,
    api: &LocalRuntimeApi,
    events: impl IntoIterator<Item = impl Event>,
) -> Vec<InvocationResult> {
    push(api, events);
    answered(runtime, api)
}

fn push(api: &LocalRuntimeApi, events: impl IntoIterator<Item = impl Event>) {
    for event in events {
        api.push(event.into_event());
    }
}

fn answered(runtime: &tokio::runtime::Runtime, api: &LocalRuntimeApi) -> Vec<InvocationResult> {
    runtime
        .block_on(api.wait_for_all(PATIENCE))
        .expect("every event answered")
}

/// Polls `done` every millisecond until it holds; panics with `what` after [`PATIENCE`] (a hang,
/// not a slow run).
pub fn wait_until(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < give_up, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Closed until the test opens it: an initializer or a hook that waits on it runs exactly as long
/// as the test decides, so an assertion about "while it runs" needs no timing.
pub struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    pub const fn new() -> Gate {
        Gate {
            open: Mutex::new(false),
            opened: Condvar::new(),
        }
    }

    /// Blocks this thread until the gate is open.
    pub fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }

    /// Opens the gate for good, waking every waiter.
    pub fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }

    pub fn is_open(&self) -> bool {
        *self.open.lock().unwrap()
    }
}

/// Installs a `DebuggingRecorder` as the global recorder (once per test binary).
pub fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("no other global recorder");
        snapshotter
    })
}

/// One recorded series: kind, name, labels, value.
type Series = (MetricKind, String, Vec<(String, String)>, DebugValue);

/// What the global recorder holds: counters and gauges as they are now, and every histogram
/// value recorded in this test binary so far.
pub struct Recorded(Vec<Series>);

/// Histogram values drained by earlier snapshots, by name and labels. A snapshot drains every
/// histogram, and the tests of a binary run in parallel: without this, one test's snapshot took
/// the samples another test was about to look for (a flaky "counts as a failure" in CI).
static HISTOGRAMS: std::sync::Mutex<Vec<Kept>> = std::sync::Mutex::new(Vec::new());

/// A histogram's name, labels and every value drained from it so far.
type Kept = (String, Vec<(String, String)>, Vec<f64>);

impl Recorded {
    pub fn take() -> Recorded {
        let mut histograms = HISTOGRAMS.lock().unwrap_or_else(|e| e.into_inner());
        let mut series = Vec::new();
        for (key, _, _, value) in recorder().snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let name = key.name().to_owned();
            let labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            match value {
                DebugValue::Histogram(values) => {
                    let values = values.iter().map(|v| v.into_inner());
                    match histograms
                        .iter_mut()
                        .find(|(n, l, _)| *n == name && *l == labels)
                    {
                        Some((_, _, kept)) => kept.extend(values),
                        None => histograms.push((name, labels, values.collect())),
                    }
                }
                value => series.push((kind, name, labels, value)),
            }
        }
        series.extend(histograms.iter().map(|(name, labels, values)| {
            (
                MetricKind::Histogram,
                name.clone(),
                labels.clone(),
                DebugValue::Histogram(values.iter().copied().map(Into::into).collect()),
            )
        }));
        Recorded(series)
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a DebugValue> + 'a {
        self.0
            .iter()
            .filter(move |(_, n, series, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| series.iter().any(|(sk, sv)| sk == k && sv == v))
            })
            .map(|(_, _, _, value)| value)
    }

    /// The sum of every counter series of `name` whose labels include `labels`.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .map(|value| match value {
                DebugValue::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// Every value recorded in histogram series of `name` whose labels include `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.matching(name, labels)
            .flat_map(|value| match value {
                DebugValue::Histogram(values) => values.iter().map(|v| v.into_inner()),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
            .collect()
    }

    /// The value of the gauge series of `name` whose labels include `labels` (the first one).
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).find_map(|value| match value {
            DebugValue::Gauge(v) => Some(v.into_inner()),
            _ => None,
        })
    }

    /// The label sets of every series of `name`, for error messages.
    pub fn series(&self, name: &str) -> Vec<Vec<(String, String)>> {
        self.0
            .iter()
            .filter(|(_, n, _, _)| n == name)
            .map(|(_, _, labels, _)| labels.clone())
            .collect()
    }
}

/// `GET /metrics` from a Pushgateway at `url`, as text. HTTP/1.0, so that the body is not chunked:
/// with HTTP/1.1 the gateway sends `Transfer-Encoding: chunked`, and a chunk-size line landing
/// inside a series line made that line unfindable (a flaky "missing from the gateway").
pub fn scrape(url: &str) -> String {
    use std::io::{Read, Write};
    let authority = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(authority).expect("the Pushgateway is reachable");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// A chapter of the guide, `docs/{chapter}.md` (the `coldstart::guide` rustdoc pages).
pub fn guide(chapter: &str) -> String {
    let path = format!("{}/docs/{chapter}.md", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The Prometheus chapter's PromQL blocks marked `<!-- {marker}: name -->` (a `promql` block
/// follows), by name: the queries a user copies, run by the tests as written.
pub fn readme_promql(marker: &str) -> std::collections::BTreeMap<String, String> {
    let readme = guide("prometheus");
    let open = format!("<!-- {marker}: ");
    let mut blocks = std::collections::BTreeMap::new();
    for (at, _) in readme.match_indices(&open) {
        let rest = &readme[at + open.len()..];
        let name = &rest[..rest.find(" -->").expect("a closed marker")];
        let block = &rest[rest.find("```promql\n").expect("a promql block") + 10..];
        let promql = &block[..block.find("\n```").expect("a closed block")];
        blocks.insert(name.to_owned(), promql.to_owned());
    }
    blocks
}
