//! Prometheus: a one-call recorder setup, and a push to a Pushgateway that a frozen Lambda
//! environment cannot defeat.
//!
//! A Prometheus server cannot scrape a Lambda environment (it is frozen between invocations and
//! has no stable address), so functions push. [`Pushgateway::push`] sends the current exposition
//! synchronously, within a bounded time, to `…/metrics/job/<job>/instance/<instance>` (one group
//! per execution environment); call it from the flush hook (`Coldstart::on_flush`), which runs
//! after every response and before the environment may be frozen, so no client waits for it.
//!
//! Only plain `http://` gateways are supported (no TLS stack is compiled in); put the gateway in
//! the function's VPC. Nothing here pulls in hyper or a second async runtime:
//! metrics-exporter-prometheus is used with `default-features = false`.
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
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, SharedString, Unit};

use crate::environment::Environment;
use crate::names;

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
pub fn install() -> Result<PrometheusHandle, metrics::SetRecorderError<impl metrics::Recorder>> {
    install_with(builder())
}

/// Renders `handle`'s text exposition without losing a histogram sample coldstart records at the
/// same time.
///
/// metrics-util 0.20 can drop a histogram sample recorded while a render drains the histogram.
/// Under `coldstart::lambda::run_concurrent` (invocations recording while another one's flush
/// hook renders) this render waits for coldstart's own histogram records in progress and holds
/// new ones back while it runs (a few hundred microseconds); elsewhere it is `handle.render()`.
/// [`Pushgateway::push`] renders with it. Histograms you record yourself from other threads are
/// not covered (see the README's "Known limit").
///
/// ```
/// let handle = coldstart::prometheus::install().unwrap();
/// metrics::histogram!("demo_seconds").record(0.5);
/// assert!(coldstart::prometheus::render(&handle).contains("demo_seconds_count 1"));
/// ```
pub fn render(handle: &PrometheusHandle) -> String {
    crate::render_gate::rendering(|| handle.render())
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
) -> Result<PrometheusHandle, metrics::SetRecorderError<impl metrics::Recorder>> {
    let (recorder, handle) = recorder(builder);
    metrics::set_global_recorder(recorder)?;
    names::describe_metrics();
    Ok(handle)
}

/// The recorder [`install_with`] installs, and its handle, without installing it: for
/// `metrics::with_local_recorder` in a test, or to combine it with other recorders. It hands
/// coldstart's metrics to the exporter under their Prometheus names; a recorder built with
/// `builder.build_recorder()` would export them as `faas_coldstarts`, `faas_invoke_duration`, ...
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
pub fn recorder(builder: PrometheusBuilder) -> (impl metrics::Recorder, PrometheusHandle) {
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    (CrateNames(recorder), handle)
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

/// A Pushgateway to push this environment's metrics to.
///
/// The grouping key is `job` and `instance`; the default instance is the environment's log
/// stream name (`AWS_LAMBDA_LOG_STREAM_NAME`, unique per execution environment), or
/// `pid-<pid>` outside Lambda. Groups stay in the gateway until deleted: delete the group when
/// the environment shuts down ([`Pushgateway::delete`] from `Coldstart::on_shutdown`, feature
/// `shutdown`), and clean up the groups of environments that were killed without a Shutdown
/// phase, as with any Pushgateway use.
///
/// ```
/// use coldstart::prometheus::Pushgateway;
/// let gateway = Pushgateway::new("http://127.0.0.1:9091", "orders").unwrap().instance("env/1");
/// assert_eq!(gateway.path(), "/metrics/job/orders/instance@base64/ZW52LzE");
/// ```
pub struct Pushgateway {
    host: String,
    addrs: Vec<SocketAddr>,
    base_path: String,
    job: String,
    instance: String,
    path: String,
    timeout: Duration,
    failures: AtomicU64,
    last_report: Mutex<Option<Instant>>,
}

impl fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pushgateway")
            .field("host", &self.host)
            .field("path", &self.path)
            .field("timeout", &self.timeout)
            .field("failures", &self.failures())
            .finish()
    }
}

/// The default bound on one push, connect to response.
pub const DEFAULT_PUSH_TIMEOUT: Duration = Duration::from_millis(250);

/// How often [`Pushgateway::push_or_report`] prints a failure (the metric counts all of them).
const REPORT_EVERY: Duration = Duration::from_secs(60);

impl Pushgateway {
    /// A gateway at `url` (`http://host:port`, optionally with a path prefix), for `job`.
    ///
    /// The host name is resolved here, once, so that a push never waits for DNS.
    ///
    /// ```
    /// use coldstart::prometheus::Pushgateway;
    /// assert!(Pushgateway::new("https://gateway:9091", "job").is_err()); // no TLS
    /// assert!(Pushgateway::new("http://127.0.0.1:9091", "").is_err()); // empty job
    /// ```
    pub fn new(url: &str, job: &str) -> Result<Pushgateway, PushError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| PushError::Url(format!("{url:?}: only http:// URLs are supported")))?;
        let (authority, base_path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(PushError::Url(format!("{url:?}: no host")));
        }
        if job.is_empty() {
            return Err(PushError::Url("the job name must not be empty".to_owned()));
        }
        let with_port = if authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        let addrs: Vec<SocketAddr> = with_port
            .to_socket_addrs()
            .map_err(|err| PushError::Url(format!("{url:?}: cannot resolve {with_port}: {err}")))?
            .collect();
        if addrs.is_empty() {
            return Err(PushError::Url(format!(
                "{url:?}: {with_port} resolves to nothing"
            )));
        }
        let instance = default_instance();
        let mut gateway = Pushgateway {
            host: authority.to_owned(),
            addrs,
            base_path: base_path.to_owned(),
            job: job.to_owned(),
            instance,
            path: String::new(),
            timeout: DEFAULT_PUSH_TIMEOUT,
            failures: AtomicU64::new(0),
            last_report: Mutex::new(None),
        };
        gateway.path = gateway.build_path();
        Ok(gateway)
    }

    /// Sets the `instance` grouping label (default: the log stream name, see the type docs).
    ///
    /// **It must be unique to this execution environment.** A push replaces the whole group, so
    /// two live environments given the same instance overwrite each other: the gateway holds
    /// whichever pushed last, and the other's cold start and counts are lost (the PromQL recipes
    /// in the README also assume one group per environment). A constant such as the function name
    /// is shared by every concurrent environment of the function. On Lambda, an instance that
    /// does not contain this environment's log stream id (the part of
    /// `AWS_LAMBDA_LOG_STREAM_NAME` after `]`) is reported on stderr here, once per process;
    /// derive it from the default, e.g. `format!("{prefix}-{log_stream_name}")`.
    ///
    /// ```
    /// # use coldstart::prometheus::Pushgateway;
    /// let g = Pushgateway::new("http://127.0.0.1:9091/gw", "j").unwrap().instance("i-1");
    /// assert_eq!(g.path(), "/gw/metrics/job/j/instance/i-1");
    /// ```
    pub fn instance(mut self, instance: impl Into<String>) -> Pushgateway {
        self.instance = instance.into();
        self.path = self.build_path();
        if let Some(warning) = shared_instance_warning(&self.instance, Environment::current()) {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| eprintln!("{warning}"));
        }
        self
    }

    /// Sets the bound on one push, from connecting to reading the response status
    /// (default [`DEFAULT_PUSH_TIMEOUT`]).
    ///
    /// ```
    /// # use coldstart::prometheus::Pushgateway;
    /// # use std::time::Duration;
    /// let g = Pushgateway::new("http://127.0.0.1:9091", "j").unwrap().timeout(Duration::from_millis(50));
    /// # let _ = g;
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Pushgateway {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// The request path of this gateway's group.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How many pushes have failed so far.
    ///
    /// ```
    /// # use coldstart::prometheus::Pushgateway;
    /// assert_eq!(Pushgateway::new("http://127.0.0.1:9091", "j").unwrap().failures(), 0);
    /// ```
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    fn build_path(&self) -> String {
        format!(
            "{}/metrics/job{}/instance{}",
            self.base_path,
            path_segment(&self.job),
            path_segment(&self.instance)
        )
    }

    /// Replaces this environment's group in the gateway with `handle`'s current exposition
    /// (HTTP `PUT`). Returns within the configured timeout (plus the time to render), whatever
    /// the gateway does.
    pub fn push(&self, handle: &PrometheusHandle) -> Result<(), PushError> {
        self.push_text(&render(handle))
    }

    /// [`push`](Self::push), but a failure is only reported: counted in
    /// `coldstart.export_failures{exporter="pushgateway"}` and printed to stderr at most once a
    /// minute. Returns whether the push succeeded. Use it where a failed export must never fail
    /// the invocation.
    pub fn push_or_report(&self, handle: &PrometheusHandle) -> bool {
        match self.push(handle) {
            Ok(()) => true,
            Err(err) => {
                self.report(&err);
                false
            }
        }
    }

    fn report(&self, err: &PushError) {
        let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
        metrics::counter!(names::EXPORT_FAILURES, names::LABEL_EXPORTER => "pushgateway")
            .increment(1);
        let mut last = self
            .last_report
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none_or(|at| at.elapsed() >= REPORT_EVERY) {
            *last = Some(Instant::now());
            eprintln!(
                "coldstart: push to the Pushgateway at {}{} failed ({failures} failures so far): {err}",
                self.host, self.path
            );
        }
    }

    /// Deletes this environment's group from the gateway (HTTP `DELETE` on [`path`](Self::path)),
    /// so that a gateway shared by a fleet holds live environments only. Same bound and errors
    /// as [`push`](Self::push); the gateway answers `202` whether or not the group existed.
    ///
    /// Call it last, when the environment shuts down: with feature `shutdown`, from
    /// `Coldstart::on_shutdown`, after a final `push` (the README's "Shutdown" recipe).
    ///
    /// ```no_run
    /// use coldstart::prometheus::Pushgateway;
    /// let gateway = Pushgateway::new("http://10.0.0.12:9091", "orders-api")?;
    /// // when the environment shuts down:
    /// gateway.delete()?;
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn delete(&self) -> Result<(), PushError> {
        self.send("DELETE", None)
    }

    /// Pushes an already rendered exposition.
    fn push_text(&self, body: &str) -> Result<(), PushError> {
        self.send("PUT", Some(body))
    }

    /// One request on this gateway's group, bounded by the timeout from connecting to reading
    /// the status line; `body` is sent as the text exposition.
    fn send(&self, method: &str, body: Option<&str>) -> Result<(), PushError> {
        let deadline = Instant::now() + self.timeout;
        let mut stream = self.connect(deadline)?;
        let content_type = if body.is_some() {
            "Content-Type: text/plain; version=0.0.4\r\n"
        } else {
            ""
        };
        let body = body.unwrap_or("");
        let head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        stream
            .set_write_timeout(Some(remaining(deadline)?))
            .map_err(PushError::Io)?;
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|err| timeout_or_io(err, self.timeout))?;
        let status = read_status(&mut stream, deadline, self.timeout)?;
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(PushError::Status(status))
        }
    }

    fn connect(&self, deadline: Instant) -> Result<TcpStream, PushError> {
        let mut last_error = None;
        for addr in &self.addrs {
            match TcpStream::connect_timeout(addr, remaining(deadline)?) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(err) => last_error = Some(timeout_or_io(err, self.timeout)),
            }
        }
        Err(last_error.unwrap_or(PushError::Timeout(self.timeout)))
    }
}

/// Reads the response until its status line is complete and returns the status code.
fn read_status(
    stream: &mut TcpStream,
    deadline: Instant,
    bound: Duration,
) -> Result<u16, PushError> {
    let mut response = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(PushError::Io)?;
        let n = stream
            .read(&mut buf)
            .map_err(|err| timeout_or_io(err, bound))?;
        if n == 0 {
            return Err(PushError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the gateway closed the connection without a response",
            )));
        }
        response.extend_from_slice(&buf[..n]);
        if let Some(end) = response.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&response[..end]);
            let mut parts = line.split_whitespace();
            return match (parts.next(), parts.next().and_then(|c| c.parse().ok())) {
                (Some(version), Some(code)) if version.starts_with("HTTP/") => Ok(code),
                _ => Err(PushError::Io(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("not an HTTP response: {line:?}"),
                ))),
            };
        }
        if response.len() > 8 * 1024 {
            return Err(PushError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "no status line in the first 8 KiB",
            )));
        }
    }
}

fn remaining(deadline: Instant) -> Result<Duration, PushError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(PushError::Timeout(Duration::ZERO))
    } else {
        Ok(left)
    }
}

fn timeout_or_io(err: io::Error, bound: Duration) -> PushError {
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => PushError::Timeout(bound),
        _ => PushError::Io(err),
    }
}

fn default_instance() -> String {
    Environment::current()
        .log_stream_name()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("pid-{}", std::process::id()))
}

/// The warning for an explicit `instance` that other live environments may share: on Lambda (a
/// log stream name is known), one that does not contain this environment's log stream id.
/// Outside Lambda nothing identifies an environment, so nothing is said.
fn shared_instance_warning(instance: &str, env: &Environment) -> Option<String> {
    let stream = env.log_stream_name().filter(|s| !s.is_empty())?;
    // `2026/11/27/[$LATEST]0123…`: the id after `]` is unique per environment.
    let id = stream
        .rsplit(']')
        .next()
        .filter(|id| !id.is_empty())
        .unwrap_or(stream);
    if instance.contains(id) {
        return None;
    }
    Some(format!(
        "coldstart: WARNING: Pushgateway instance {instance:?} is not unique to this execution \
         environment (it does not contain its log stream id {id:?}). Every live environment \
         given the same instance overwrites the others' group in the gateway: their cold \
         starts and counts are lost. Keep the default instance (the log stream name) or include \
         it in yours."
    ))
}

/// `/<value>`, or `@base64/<base64url>` when the value cannot stand in a path segment as is
/// (the Pushgateway's rule for grouping-key values with `/` or nothing in them).
fn path_segment(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'));
    if plain {
        format!("/{value}")
    } else if value.is_empty() {
        "@base64/=".to_owned()
    } else {
        format!("@base64/{}", base64url(value.as_bytes()))
    }
}

/// Unpadded URL-safe base64 (RFC 4648 §5), which the Pushgateway accepts.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
        }
    }
    out
}

/// Why a push failed.
///
/// ```
/// use coldstart::prometheus::PushError;
/// let err = PushError::Status(500);
/// assert_eq!(err.to_string(), "the gateway answered HTTP 500");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PushError {
    /// The URL or job given to [`Pushgateway::new`] cannot be used.
    Url(String),
    /// The gateway did not answer within the bound.
    Timeout(Duration),
    /// Connecting, writing or reading failed.
    Io(io::Error),
    /// The gateway answered with a non-2xx status.
    Status(u16),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Url(why) => write!(f, "bad Pushgateway URL: {why}"),
            PushError::Timeout(bound) => write!(f, "no answer within {bound:?}"),
            PushError::Io(err) => write!(f, "{err}"),
            PushError::Status(code) => write!(f, "the gateway answered HTTP {code}"),
        }
    }
}

impl std::error::Error for PushError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PushError::Io(err) => Some(err),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::MIB;
    use std::net::TcpListener;

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

    #[test]
    fn base64url_matches_rfc4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg"),
            ("fo", "Zm8"),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg"),
            ("fooba", "Zm9vYmE"),
            ("foobar", "Zm9vYmFy"),
            ("\u{ff}\u{fe}", "w7_Dvg"),
        ] {
            assert_eq!(base64url(input.as_bytes()), expected, "{input:?}");
        }
    }

    #[test]
    fn grouping_values_are_escaped_only_when_needed() {
        assert_eq!(path_segment("orders-api_2"), "/orders-api_2");
        assert_eq!(
            path_segment("2026/11/27/[$LATEST]abc"),
            format!("@base64/{}", base64url(b"2026/11/27/[$LATEST]abc"))
        );
        assert_eq!(path_segment(""), "@base64/=");
    }

    #[test]
    fn an_instance_shared_by_environments_is_warned_about_on_lambda() {
        let stream = "2026/11/27/[$LATEST]0123456789abcdef0123456789abcdef";
        let lambda = Environment::from_lookup(|name| {
            (name == "AWS_LAMBDA_LOG_STREAM_NAME").then(|| stream.to_owned())
        });
        // A constant: every concurrent environment of the function pushes to the same group.
        let warning = shared_instance_warning("orders-api", &lambda).expect("a warning");
        assert!(
            warning.contains("\"orders-api\" is not unique"),
            "{warning}"
        );
        assert!(
            warning.contains("0123456789abcdef0123456789abcdef"),
            "{warning}"
        );
        // Derived from the environment's log stream: unique, nothing to say.
        assert_eq!(shared_instance_warning(stream, &lambda), None);
        assert_eq!(
            shared_instance_warning("orders-0123456789abcdef0123456789abcdef", &lambda),
            None
        );
        // Outside Lambda nothing identifies an environment.
        let local = Environment::from_lookup(|_| None);
        assert_eq!(shared_instance_warning("orders-api", &local), None);
    }

    #[test]
    fn the_default_instance_is_the_log_stream_name_and_never_warned_about() {
        let gateway = Pushgateway::new("http://127.0.0.1:9091", "j").unwrap();
        let env = Environment::current();
        assert_eq!(
            gateway.instance,
            env.log_stream_name()
                .map_or_else(|| format!("pid-{}", std::process::id()), str::to_owned)
        );
        assert_eq!(shared_instance_warning(&gateway.instance, env), None);
    }

    #[test]
    fn urls_are_checked() {
        assert!(Pushgateway::new("http://127.0.0.1:9091", "j").is_ok());
        assert!(Pushgateway::new("http://127.0.0.1", "j").is_ok()); // port 80
        assert!(Pushgateway::new("127.0.0.1:9091", "j").is_err());
        assert!(Pushgateway::new("http://", "j").is_err());
    }

    /// A gateway that accepts the connection and never answers.
    #[test]
    fn a_hung_gateway_costs_at_most_the_bound() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gateway = Pushgateway::new(&url, "hung")
            .unwrap()
            .timeout(Duration::from_millis(150));
        let started = Instant::now();
        let err = gateway.push_text("x 1\n").unwrap_err();
        let took = started.elapsed();
        assert!(matches!(err, PushError::Timeout(_)), "{err:?}");
        // The bound is 150 ms; allow a wide margin for a loaded machine, far below "stalled".
        assert!(took < Duration::from_secs(2), "took {took:?}");
        drop(listener);
    }

    #[test]
    fn a_gateway_that_is_down_fails_fast_and_is_counted() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let gateway = Pushgateway::new(&format!("http://127.0.0.1:{port}"), "down").unwrap();
        let handle = PrometheusBuilder::new().build_recorder().handle();
        assert!(!gateway.push_or_report(&handle));
        assert!(!gateway.push_or_report(&handle));
        assert_eq!(gateway.failures(), 2);
    }

    /// Accepts one connection, reads a request up to the bytes it ends with (`x 1\n`, the body a
    /// push sends here; `\r\n\r\n` for a delete, which has none), answers `response`, and
    /// returns the request text.
    fn one_shot_gateway_until(
        end: &'static [u8],
        response: &'static [u8],
    ) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.ends_with(end) {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            conn.write_all(response).unwrap();
            String::from_utf8(request).unwrap()
        });
        (url, server)
    }

    #[test]
    fn a_tiny_gateway_receives_the_put() {
        let (url, server) =
            one_shot_gateway_until(b"x 1\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let gateway = Pushgateway::new(&format!("{url}/prefix/"), "tiny")
            .unwrap()
            .instance("i");
        gateway.push_text("x 1\n").unwrap();
        let request = server.join().unwrap();
        assert!(
            request.starts_with("PUT /prefix/metrics/job/tiny/instance/i HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("Content-Length: 4\r\n"), "{request}");
    }

    #[test]
    fn delete_sends_a_delete_on_the_group_path() {
        let (url, server) = one_shot_gateway_until(
            b"\r\n\r\n",
            b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n",
        );
        let url = format!("{url}/prefix");
        let gateway = Pushgateway::new(&url, "gone").unwrap().instance("env/1");
        gateway.delete().unwrap();
        let request = server.join().unwrap();
        assert!(
            request.starts_with(
                "DELETE /prefix/metrics/job/gone/instance@base64/ZW52LzE HTTP/1.1\r\n"
            ),
            "{request}"
        );
        assert!(request.contains("Content-Length: 0\r\n"), "{request}");
        assert!(!request.contains("Content-Type"), "{request}");
    }

    #[test]
    fn a_delete_on_a_hung_or_refusing_gateway_is_bounded_and_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gateway = Pushgateway::new(&url, "hung")
            .unwrap()
            .timeout(Duration::from_millis(150));
        let err = gateway.delete().unwrap_err();
        assert!(matches!(err, PushError::Timeout(_)), "{err:?}");
        drop(listener);

        let (url, server) =
            one_shot_gateway_until(b"\r\n\r\n", b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        let err = Pushgateway::new(&url, "refused")
            .unwrap()
            .delete()
            .unwrap_err();
        server.join().unwrap();
        assert!(matches!(err, PushError::Status(405)), "{err:?}");
    }

    #[test]
    fn a_non_2xx_answer_is_an_error() {
        let (url, server) = one_shot_gateway_until(b"x 1\n", b"HTTP/1.1 400 Bad Request\r\n\r\n");
        let err = Pushgateway::new(&url, "bad")
            .unwrap()
            .push_text("x 1\n")
            .unwrap_err();
        server.join().unwrap();
        assert!(matches!(err, PushError::Status(400)), "{err:?}");
    }
}
