//! The push to an aggregating gateway: what changed since the last push, which the gateway adds
//! to one series per label set for the whole fleet.

use std::fmt::{self, Write as _};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::exposition::{self, Family, Increments, Kind, Sent};
use super::http::{Endpoint, PushError, Settled, Unanswered};
use super::{render, Failures, Handle, DEFAULT_PUSH_TIMEOUT};
use crate::backoff::Backoff;
use crate::environment::InitType;
use crate::invocation::{Outcome, StartKind};
use crate::names::{self, MetricDef, MetricKind};
use crate::reinit::ReinitCause;

/// The `exporter` label of this push's failures in `coldstart.export_failures`.
const EXPORTER: &str = "aggregating-gateway";

/// An aggregating push gateway (such as [gravel-gateway] or prom-aggregation-gateway) that adds
/// up what every environment of a function pushes: the recommended way to get a Lambda fleet's
/// metrics into Prometheus.
///
/// Each push sends what changed since this environment's last push: the increase of every
/// counter and histogram series (buckets, `_sum`, `_count`) since then. The gateway adds it to
/// one series per label set for the whole fleet, under `job` and without an `instance`, so
/// that Prometheus holds a handful of long-lived series per function, whatever the number of
/// environments and however short they live, and plain `increase()`, `rate()` and
/// `histogram_quantile()` over them mean what they say, through failed scrapes and gateway
/// restarts.
///
/// What is pushed:
/// - counters and histograms: the increase since the last push (zero included, so that every
///   series exists in the gateway from this environment's first push on);
/// - zero-valued series for the events coldstart may record later (every start kind, failure
///   outcome, timeout, budget overrun, init type, re-init cause, this push's export failures):
///   an alert on the first timeout of a function then sees its series go from 0 to 1, where
///   `increase()` would not count the 1 that creates a series;
/// - your gauges as they are (the gateway keeps the last one pushed); coldstart's own gauges
///   (`coldstart_idle_duration_seconds`, `coldstart_environment_age_seconds`) are about one
///   environment and are left out, as are summaries (quantiles cannot be added up).
///
/// What a failed push does (see [`push`](Self::push)):
/// - when the gateway cannot have applied it (no connection, a failed TLS handshake, an
///   incomplete request, the connection closed without an answer, an error status other than
///   400, such as 401 or 403 for refused credentials), its increments stay for the next push:
///   nothing lost, nothing counted twice;
/// - when the request was sent whole and no answer came within the timeout, the gateway may
///   still apply it (a slow or stalled gateway does, if the connection is still open): its
///   connection is kept open and its increments count as delivered. The next push first looks
///   whether it was answered since: an error answer or a closed connection gives its increments
///   back to the next push; no answer yet means the gateway is still stalled, and nothing more is
///   sent to it until it answers (the increments wait in the recorder). After
///   [`UNANSWERED_FOR`] without an answer the push is taken as delivered and its connection
///   closed: only then can its increments be lost, if the gateway never applies it;
/// - HTTP 400: the gateway refused the body (gravel-gateway after adding the families it read
///   before the one it refused): its increments are dropped, since the same body would be
///   refused again.
///
/// ```no_run
/// use coldstart::prometheus::{self, AggregatingGateway};
///
/// let handle = prometheus::install().expect("no other recorder installed");
/// let gateway = AggregatingGateway::new("http://10.0.0.12:4278", "orders-api")?;
/// // From the flush hook, after each response (coldstart::lambda::Coldstart::on_flush):
/// gateway.push_or_report(&handle);
/// # Ok::<(), coldstart::prometheus::PushError>(())
/// ```
///
/// [gravel-gateway]: https://crates.io/crates/gravel-gateway
pub struct AggregatingGateway {
    endpoint: Endpoint,
    path: String,
    timeout: Duration,
    backoff: Backoff,
    failures: Failures,
    state: Mutex<State>,
}

/// What has been sent, and the push that was sent and not answered yet, if any.
#[derive(Debug, Default)]
struct State {
    sent: Sent,
    unanswered: Option<(Unanswered, Increments)>,
}

/// How long a push that was sent and not answered is given to be answered (its connection kept
/// open, nothing more sent meanwhile) before it counts as delivered for good.
pub const UNANSWERED_FOR: Duration = Duration::from_secs(60);

impl fmt::Debug for AggregatingGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("AggregatingGateway");
        self.endpoint.debug_fields(&mut d);
        d.field("path", &self.path)
            .field("timeout", &self.timeout)
            .field("failures", &self.failures())
            .finish()
    }
}

impl AggregatingGateway {
    /// A gateway at `url` (`http://host:port`, or `https://` with feature `tls`; optionally with
    /// a path prefix), adding up the pushes of every environment of `job` (the function's name,
    /// usually).
    ///
    /// The host name is resolved here, once, so that a push never waits for DNS.
    ///
    /// ```
    /// use coldstart::prometheus::AggregatingGateway;
    /// let gateway = AggregatingGateway::new("http://127.0.0.1:4278", "orders api")?;
    /// assert_eq!(gateway.path(), "/metrics/job/orders%20api");
    /// assert!(AggregatingGateway::new("http://127.0.0.1:4278", "").is_err());
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn new(url: &str, job: &str) -> Result<AggregatingGateway, PushError> {
        let endpoint = Endpoint::parse(url)?;
        if job.is_empty() {
            return Err(PushError::Url("the job name must not be empty".to_owned()));
        }
        let path = format!("{}/metrics/job/{}", endpoint.base_path, percent_encode(job));
        Ok(AggregatingGateway {
            endpoint,
            path,
            timeout: DEFAULT_PUSH_TIMEOUT,
            backoff: Backoff::new(Backoff::DEFAULT_MAX),
            failures: Failures::new(EXPORTER),
            state: Mutex::new(State::default()),
        })
    }

    /// Sets the bound on one push, from connecting to reading the response status
    /// (default [`DEFAULT_PUSH_TIMEOUT`]).
    ///
    /// ```
    /// # use coldstart::prometheus::AggregatingGateway;
    /// # use std::time::Duration;
    /// let g = AggregatingGateway::new("http://127.0.0.1:4278", "j")?.timeout(Duration::from_millis(100));
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> AggregatingGateway {
        self.timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Sends HTTP basic auth (`Authorization: Basic …`) with every request to the gateway, for
    /// a gateway that checks it (gravel-gateway's `--basic-auth-file`, a proxy in front of a
    /// Pushgateway). The password is kept only as the header it makes and never shown: not in
    /// `Debug`, errors or what is printed to stderr. Over `http://` it travels in the clear: use
    /// `https://` (feature `tls`) for a gateway outside a trusted network.
    ///
    /// A gateway that refuses the credentials answers 401 or 403: [`PushError::Status`], whose
    /// message says so. The increments of a refused push are kept for the next one (the gateway
    /// cannot have applied them). Fails if `user` contains `:` (it cannot be sent).
    ///
    /// gravel-gateway 1.7.1 checks only the password, up to its first `:`, against the first
    /// bcrypt hash of its file: use a password without `:`, and a low bcrypt cost (it verifies
    /// the hash on every push: ~60 ms per push at cost 10 on a 2-core machine, see
    /// coldstart-bench's `gateway-tls`).
    ///
    /// ```
    /// use coldstart::prometheus::AggregatingGateway;
    /// let gateway = AggregatingGateway::new("http://127.0.0.1:4278", "orders")?
    ///     .basic_auth("fn", "s3cret")?;
    /// assert!(!format!("{gateway:?}").contains("s3cret"));
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn basic_auth(
        mut self,
        user: &str,
        password: &str,
    ) -> Result<AggregatingGateway, PushError> {
        self.endpoint.set_basic_auth(user, password)?;
        Ok(self)
    }

    /// [`basic_auth`](Self::basic_auth) with the user and password read from the environment
    /// variables named `user_var` and `password_var` (set from a secret in the function's
    /// configuration). Fails with [`PushError::Config`], naming the variable, when one is not
    /// set or the password is empty; an empty user is sent as it is (gravel-gateway checks only
    /// the password).
    ///
    /// ```
    /// use coldstart::prometheus::{PushError, AggregatingGateway};
    /// let gateway = AggregatingGateway::new("http://127.0.0.1:4278", "orders")?;
    /// let err = gateway.basic_auth_from_env("UNSET_GW_USER", "UNSET_GW_PASSWORD").unwrap_err();
    /// assert!(matches!(err, PushError::Config(_)));
    /// assert!(err.to_string().contains("UNSET_GW_USER"), "{err}");
    /// # Ok::<(), PushError>(())
    /// ```
    pub fn basic_auth_from_env(
        mut self,
        user_var: &str,
        password_var: &str,
    ) -> Result<AggregatingGateway, PushError> {
        self.endpoint
            .set_basic_auth_from_env(user_var, password_var)?;
        Ok(self)
    }

    /// Trusts the CA certificate(s) in `pem` (PEM `CERTIFICATE` blocks), besides the Mozilla
    /// roots compiled in, for an `https://` gateway whose certificate a private CA signed. The
    /// certificate must still be valid for the URL's host. The PEM is checked for any URL and
    /// used for `https://` only. Fails with [`PushError::Config`] when it holds no certificate
    /// that can be read.
    ///
    /// A gateway builds its TLS configuration once, so its later pushes resume the first one's
    /// session when the server allows (TLS 1.3 tickets; gravel-gateway does); its `Debug`
    /// counts `tls_handshakes` and `tls_resumed`.
    ///
    /// ```no_run
    /// use coldstart::prometheus::AggregatingGateway;
    /// let gateway = AggregatingGateway::new("https://gateway.internal:4278", "orders")?
    ///     .ca_certificate_pem(std::fs::read("ca.pem").expect("the CA certificate"))?
    ///     .basic_auth_from_env("GATEWAY_USER", "GATEWAY_PASSWORD")?;
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    /// ```
    /// # use coldstart::prometheus::AggregatingGateway;
    /// let gateway = AggregatingGateway::new("https://127.0.0.1:4278", "orders")?;
    /// assert!(gateway.ca_certificate_pem("no certificate here").is_err());
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn ca_certificate_pem(
        mut self,
        pem: impl AsRef<[u8]>,
    ) -> Result<AggregatingGateway, PushError> {
        self.endpoint.add_ca_pem(pem.as_ref())?;
        Ok(self)
    }

    /// Sets the longest period [`push_or_report`](Self::push_or_report) waits after failed
    /// pushes before it tries again (default 30 s; the first period is 1 s, doubling).
    ///
    /// ```
    /// # use coldstart::prometheus::AggregatingGateway;
    /// # use std::time::Duration;
    /// let g = AggregatingGateway::new("http://127.0.0.1:4278", "j")?.max_backoff(Duration::from_secs(5));
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn max_backoff(mut self, max: Duration) -> AggregatingGateway {
        self.backoff.set_max(max);
        self
    }

    /// The request path pushes are sent to (`<prefix>/metrics/job/<job>`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// How many pushes have failed so far (attempts only: pushes skipped while backing off are
    /// not counted).
    ///
    /// ```
    /// # use coldstart::prometheus::AggregatingGateway;
    /// assert_eq!(AggregatingGateway::new("http://127.0.0.1:4278", "j")?.failures(), 0);
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn failures(&self) -> u64 {
        self.failures.count()
    }

    /// Sends what changed in `handle`'s exposition since the last push (HTTP `POST`). Returns
    /// within the configured timeout (plus the time to render), whatever the gateway does.
    ///
    /// What happens to the increments of a push that fails is in the type's docs. While the
    /// previous push is unanswered (sent, no answer yet, its connection open), nothing is sent:
    /// this returns [`PushError::Unanswered`] at once, and what was recorded waits for the next
    /// push.
    ///
    /// Pushes are serialized: a push that starts while another one runs waits for it.
    pub fn push(&self, handle: &Handle) -> Result<(), PushError> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { sent, unanswered } = &mut *state;
        if let Some((request, _)) = unanswered {
            match request.poll() {
                Settled::Pending if request.age() < UNANSWERED_FOR => {
                    return Err(PushError::Unanswered(request.age()));
                }
                // Answered 2xx or 400, or given up on: delivered for good.
                Settled::Pending | Settled::Answered(200..=299 | 400) => *unanswered = None,
                Settled::Answered(_) | Settled::Closed => {
                    if let Some((_, increments)) = unanswered.take() {
                        sent.not_applied(increments);
                    }
                }
            }
        }
        let text = render(handle);
        let families = exposition::parse(&text);
        let seeds_text = seeds(&families);
        let seeds = exposition::parse(&seeds_text);
        let delta = sent.delta(&families, &seeds);
        match self
            .endpoint
            .send("POST", &self.path, Some(&delta.body), self.timeout)
        {
            Ok(status) if (200..300).contains(&status) => {
                sent.applied(delta);
                Ok(())
            }
            Ok(status) => {
                if status == 400 {
                    sent.applied(delta);
                }
                Err(PushError::Status(status))
            }
            Err(failure) => {
                if let Some(request) = failure.unanswered {
                    *unanswered = Some((request, sent.applied(delta)));
                }
                Err(failure.error)
            }
        }
    }

    /// [`push`](Self::push), but a failure is only reported: counted in
    /// `coldstart.export_failures{exporter="aggregating-gateway"}` (pushed with the next push
    /// that gets through) and printed to stderr at most once a minute. Returns whether the push
    /// succeeded. Use it where a failed export must never fail the invocation.
    ///
    /// After a failure the gateway is given time before the next attempt: the pushes asked for
    /// in the next second are skipped (not attempted, not counted as failures), then 2 s, 4 s, ...
    /// up to [`max_backoff`](Self::max_backoff) while it keeps failing. A gateway that is down
    /// then costs one bounded attempt per period instead of one per invocation, and a skipped
    /// push loses nothing: its increments go with the next push that gets through.
    pub fn push_or_report(&self, handle: &Handle) -> bool {
        if self.backoff.check(Instant::now()).is_err() {
            return false;
        }
        match self.push(handle) {
            Ok(()) => {
                self.backoff.succeeded();
                true
            }
            Err(err) => {
                self.backoff.failed(Instant::now());
                self.failures.report(
                    format_args!(
                        "the aggregating gateway at {}{}",
                        self.endpoint.host, self.path
                    ),
                    &err,
                );
                false
            }
        }
    }
}

/// `value` as one path segment: unreserved characters as they are, anything else
/// percent-encoded (gravel-gateway decodes each segment).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// The labels of `series` but its `le`.
fn labels_but_le(series: &str) -> Vec<(&str, &str)> {
    let mut labels = exposition::labels(series);
    labels.retain(|(label, _)| *label != "le");
    labels
}

/// The values each label of coldstart's seeded metrics can take, `None` for the handler (the
/// handlers found in the exposition).
fn domain(label: &str) -> Option<Vec<&'static str>> {
    Some(match label {
        names::LABEL_START => StartKind::ALL.iter().map(|kind| kind.as_str()).collect(),
        // `faas.errors` counts a timed-out invocation too.
        names::LABEL_OUTCOME => Outcome::FAILED
            .iter()
            .chain([&Outcome::Timeout])
            .map(|o| o.as_str())
            .collect(),
        // `PingSource::as_str` of every ping source (a test checks they agree).
        names::LABEL_SOURCE => PING_SOURCES.to_vec(),
        names::LABEL_INIT_TYPE => [
            InitType::OnDemand,
            InitType::ProvisionedConcurrency,
            InitType::SnapStart,
            InitType::LambdaManagedInstances,
        ]
        .iter()
        .map(InitType::label)
        .collect(),
        names::LABEL_AFTER => [ReinitCause::Timeout, ReinitCause::Unknown]
            .iter()
            .map(|cause| cause.as_str())
            .collect(),
        names::LABEL_EXPORTER => vec![EXPORTER],
        _ => return None,
    })
}

/// The `source` label values of warm-up pings (`coldstart::lambda::ping::PingSource`).
const PING_SOURCES: [&str; 4] = [
    "serverless-plugin-warmup",
    "lambda-warmer",
    "warmup",
    "custom",
];

/// The metrics whose every series is pushed from the first push on, at zero until recorded.
const SEEDED: &[&str] = &[
    names::COLDSTARTS,
    names::INVOCATIONS,
    names::ERRORS,
    names::TIMEOUTS,
    names::INVOKE_DURATION,
    names::BUDGET_EXCEEDED,
    names::INIT_DURATION,
    names::INIT_GIGABYTE_SECONDS,
    names::REINITS,
    names::EXPORT_FAILURES,
    names::WARMUPS,
];

/// Zero-valued series, as exposition text, for every label set of the [`SEEDED`] metrics: with
/// the global labels and the handlers found on coldstart's series in `families`, and the bucket
/// bounds its histograms are rendered with.
fn seeds(families: &[Family<'_>]) -> String {
    let ours = |family: &&Family<'_>| names::ALL.iter().find(|def| def.prometheus == family.name);
    let mut handlers: Vec<&str> = Vec::new();
    let mut global: Option<Vec<(&str, &str)>> = None;
    for family in families {
        let Some(def) = ours(&family) else {
            continue;
        };
        for sample in &family.samples {
            let labels = exposition::labels(sample.series);
            for &(name, value) in &labels {
                if name == names::LABEL_HANDLER && !handlers.contains(&value) {
                    handlers.push(value);
                }
            }
            if global.is_none() {
                global = Some(
                    labels
                        .into_iter()
                        .filter(|(name, _)| *name != "le" && !def.labels.contains(name))
                        .collect(),
                );
            }
        }
    }
    let global = global.unwrap_or_default();
    let buckets_of = |name: &str| -> Option<Vec<String>> {
        let family = families
            .iter()
            .find(|f| f.name == name && f.kind == Kind::Histogram)?;
        let first = family.samples.first()?;
        let of_first = labels_but_le(first.series);
        Some(
            family
                .samples
                .iter()
                .filter(|s| labels_but_le(s.series) == of_first)
                .filter_map(|s| {
                    exposition::labels(s.series)
                        .into_iter()
                        .find(|(label, _)| *label == "le")
                        .map(|(_, le)| le.to_owned())
                })
                .collect(),
        )
    };
    let default_buckets =
        buckets_of(super::prometheus_name(names::INVOKE_DURATION).unwrap_or_default())
            .unwrap_or_else(|| {
                names::DURATION_BUCKETS
                    .iter()
                    .map(|b| b.to_string())
                    .chain(std::iter::once("+Inf".to_owned()))
                    .collect()
            });
    let mut text = String::new();
    for def in names::ALL.iter().filter(|def| SEEDED.contains(&def.name)) {
        let mut label_sets: Vec<String> = vec![global
            .iter()
            .map(|(name, value)| format!("{name}=\"{value}\""))
            .collect::<Vec<_>>()
            .join(",")];
        for &label in def.labels {
            let values: Vec<&str> = match domain(label) {
                Some(values) => values,
                None if label == names::LABEL_HANDLER => handlers.clone(),
                None => Vec::new(),
            };
            label_sets = label_sets
                .iter()
                .flat_map(|set| {
                    values.iter().map(move |value| {
                        let sep = if set.is_empty() { "" } else { "," };
                        format!("{set}{sep}{label}=\"{value}\"")
                    })
                })
                .collect();
        }
        if label_sets.is_empty() {
            continue;
        }
        let _ = writeln!(text, "# TYPE {} {}", def.prometheus, def.kind.as_str());
        for set in &label_sets {
            seed_series(&mut text, def, set, &buckets_of, &default_buckets);
        }
    }
    text
}

fn seed_series(
    text: &mut String,
    def: &MetricDef,
    labels: &str,
    buckets_of: &dyn Fn(&str) -> Option<Vec<String>>,
    default_buckets: &[String],
) {
    let braces = |extra: &str| -> String {
        match (labels.is_empty(), extra.is_empty()) {
            (true, true) => String::new(),
            (true, false) => format!("{{{extra}}}"),
            (false, true) => format!("{{{labels}}}"),
            (false, false) => format!("{{{labels},{extra}}}"),
        }
    };
    match def.kind {
        MetricKind::Histogram => {
            let buckets = buckets_of(def.prometheus).unwrap_or_else(|| default_buckets.to_vec());
            for le in &buckets {
                let _ = writeln!(
                    text,
                    "{}_bucket{} 0",
                    def.prometheus,
                    braces(&format!("le=\"{le}\""))
                );
            }
            let _ = writeln!(text, "{}_sum{} 0", def.prometheus, braces(""));
            let _ = writeln!(text, "{}_count{} 0", def.prometheus, braces(""));
        }
        _ => {
            let _ = writeln!(text, "{}{} 0", def.prometheus, braces(""));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::{builder, recorder};
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;

    /// What the fake gateway does with one request.
    #[derive(Clone, Copy)]
    enum Answer {
        Status(u16),
        /// Reads the request and answers only when the test releases it (`Some(status)`), or
        /// closes the connection then (`None`): a stalled gateway that resumes, or dies.
        Late(Option<u16>),
    }

    /// A gateway that answers the requests it accepts with `answers`, in order, and hands each
    /// request's body to the returned receiver. A [`Answer::Late`] answer is given when the test
    /// sends on the returned `release` sender; `answered` then receives `()`.
    struct Fake {
        url: String,
        bodies: mpsc::Receiver<String>,
        release: mpsc::Sender<()>,
        answered: mpsc::Receiver<()>,
    }

    fn fake_gateway(answers: Vec<Answer>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (bodies, received) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let (answered_tx, answered) = mpsc::channel();
        let released = std::sync::Arc::new(Mutex::new(released));
        std::thread::spawn(move || {
            for answer in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                let body = loop {
                    let n = conn.read(&mut buf).unwrap();
                    assert!(n > 0, "request ended early");
                    request.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&request).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let length: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("Content-Length: "))
                            .unwrap()
                            .parse()
                            .unwrap();
                        if body.len() >= length {
                            assert!(
                                head.starts_with("POST /metrics/job/fleet HTTP/1.1"),
                                "{head}"
                            );
                            break body.to_owned();
                        }
                    }
                };
                bodies.send(body).unwrap();
                match answer {
                    Answer::Status(code) => {
                        let _ = write!(conn, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                    }
                    Answer::Late(status) => {
                        let released = std::sync::Arc::clone(&released);
                        let answered = answered_tx.clone();
                        std::thread::spawn(move || {
                            released.lock().unwrap().recv().unwrap();
                            if let Some(code) = status {
                                let _ =
                                    write!(conn, "HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                            }
                            drop(conn);
                            answered.send(()).unwrap();
                        });
                    }
                }
            }
        });
        Fake {
            url,
            bodies: received,
            release,
            answered,
        }
    }

    fn line<'a>(body: &'a str, series: &str) -> Option<&'a str> {
        body.lines()
            .find(|l| l.rsplit_once(' ').is_some_and(|(s, _)| s == series))
            .and_then(|l| l.rsplit_once(' '))
            .map(|(_, value)| value)
    }

    #[test]
    fn the_first_push_holds_the_cold_start_and_zero_series_for_what_may_come() {
        let (rec, handle) = recorder(builder().add_global_label("service", "orders"));
        metrics::with_local_recorder(&rec, || {
            metrics::counter!(names::COLDSTARTS, names::LABEL_HANDLER => "h").increment(1);
            metrics::counter!(names::INVOCATIONS, names::LABEL_HANDLER => "h", names::LABEL_START => "cold").increment(1);
            metrics::histogram!(names::INVOKE_DURATION, names::LABEL_HANDLER => "h", names::LABEL_START => "cold").record(0.3);
            metrics::gauge!(names::IDLE_DURATION, names::LABEL_HANDLER => "h").set(3.0);
            metrics::gauge!("queue_depth").set(7.0);
        });
        let fake = fake_gateway(vec![Answer::Status(200)]);
        let gateway = AggregatingGateway::new(&fake.url, "fleet").unwrap();
        gateway.push(&handle).unwrap();
        let body = fake.bodies.recv().unwrap();
        let s = r#"service="orders",handler="h""#;
        assert_eq!(
            line(&body, &format!("faas_coldstarts_total{{{s}}}")),
            Some("1")
        );
        assert_eq!(
            line(
                &body,
                &format!(r#"faas_invocations_total{{{s},start="cold"}}"#)
            ),
            Some("1")
        );
        assert_eq!(
            line(
                &body,
                &format!(r#"faas_invoke_duration_seconds_bucket{{{s},start="cold",le="0.5"}}"#)
            ),
            Some("1")
        );
        assert_eq!(line(&body, "queue_depth{service=\"orders\"}"), Some("7"));
        assert!(!body.contains("coldstart_idle_duration_seconds"), "{body}");
        // What has not happened yet, at zero: every start kind, failure, timeout, init type.
        for start in ["warm", "proactive", "provisioned", "snapstart"] {
            assert_eq!(
                line(
                    &body,
                    &format!(r#"faas_invocations_total{{{s},start="{start}"}}"#)
                ),
                Some("0"),
                "{start}"
            );
            assert_eq!(
                line(
                    &body,
                    &format!(r#"faas_timeouts_total{{{s},start="{start}"}}"#)
                ),
                Some("0"),
                "{start}"
            );
            assert_eq!(
                line(
                    &body,
                    &format!(r#"faas_invoke_duration_seconds_count{{{s},start="{start}"}}"#)
                ),
                Some("0"),
                "{start}"
            );
        }
        assert_eq!(
            line(
                &body,
                &format!(r#"faas_errors_total{{{s},start="cold",outcome="panic"}}"#)
            ),
            Some("0")
        );
        assert_eq!(
            line(&body, &format!("coldstart_budget_exceeded_total{{{s}}}")),
            Some("0")
        );
        assert_eq!(
            line(
                &body,
                r#"faas_init_duration_seconds_bucket{service="orders",init_type="provisioned-concurrency",le="+Inf"}"#
            ),
            Some("0")
        );
        assert_eq!(
            line(
                &body,
                r#"coldstart_reinits_total{service="orders",after="timeout"}"#
            ),
            Some("0")
        );
        assert_eq!(
            line(
                &body,
                r#"coldstart_export_failures_total{service="orders",exporter="aggregating-gateway"}"#
            ),
            Some("0")
        );
        // The seeded histograms have the rendered one's buckets.
        let buckets = |start: &str| {
            body.lines()
                .filter(|l| {
                    l.starts_with("faas_invoke_duration_seconds_bucket")
                        && l.contains(&format!("start=\"{start}\""))
                })
                .count()
        };
        assert_eq!(buckets("warm"), buckets("cold"));
        assert!(buckets("cold") > 10);
        // One line per series: no seed repeats a rendered series.
        let mut series: Vec<_> = body
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| exposition::key(l.rsplit_once(' ').unwrap().0))
            .collect();
        let all = series.len();
        series.sort();
        series.dedup();
        assert_eq!(series.len(), all);
    }

    #[test]
    fn increments_are_kept_when_the_gateway_cannot_have_applied_them_and_never_sent_twice() {
        let (rec, handle) = recorder(builder());
        let record = |n: u64| {
            metrics::with_local_recorder(&rec, || {
                metrics::counter!(names::INVOCATIONS, names::LABEL_HANDLER => "h", names::LABEL_START => "warm").increment(n);
            });
        };
        let series = r#"faas_invocations_total{handler="h",start="warm"}"#;
        let fake = fake_gateway(vec![
            Answer::Status(503),
            Answer::Status(200),
            Answer::Late(Some(200)),
            Answer::Late(Some(503)),
            Answer::Status(200),
            Answer::Late(None),
            Answer::Status(200),
            Answer::Status(400),
            Answer::Status(200),
        ]);
        let gateway = AggregatingGateway::new(&fake.url, "fleet")
            .unwrap()
            .timeout(Duration::from_millis(200));
        let sent = || line(&fake.bodies.recv().unwrap(), series).map(str::to_owned);
        record(2);
        assert!(matches!(gateway.push(&handle), Err(PushError::Status(503))));
        assert_eq!(sent().as_deref(), Some("2"));
        record(1);
        // 503: not applied, so the next push carries both.
        gateway.push(&handle).unwrap();
        assert_eq!(sent().as_deref(), Some("3"));

        // Sent, and no answer within the bound: counts as delivered, its connection kept open.
        record(4);
        assert!(matches!(gateway.push(&handle), Err(PushError::Timeout(_))));
        assert_eq!(sent().as_deref(), Some("4"));
        // The gateway has still not answered: nothing more is sent to it.
        record(5);
        assert!(matches!(
            gateway.push(&handle),
            Err(PushError::Unanswered(_))
        ));
        // It resumes and applies it (200): the next push sends only what came since.
        fake.release.send(()).unwrap();
        fake.answered.recv().unwrap();
        assert!(matches!(gateway.push(&handle), Err(PushError::Timeout(_))));
        assert_eq!(sent().as_deref(), Some("5"));
        // That one is answered 503 later: not applied, so it goes again with the next.
        fake.release.send(()).unwrap();
        fake.answered.recv().unwrap();
        record(6);
        gateway.push(&handle).unwrap();
        assert_eq!(sent().as_deref(), Some("11"));

        // Sent, unanswered, then the connection closes without an answer: not applied.
        record(7);
        assert!(matches!(gateway.push(&handle), Err(PushError::Timeout(_))));
        assert_eq!(sent().as_deref(), Some("7"));
        fake.release.send(()).unwrap();
        fake.answered.recv().unwrap();
        record(1);
        gateway.push(&handle).unwrap();
        assert_eq!(sent().as_deref(), Some("8"));

        // 400: the gateway refused the body (possibly after adding part of it): not sent again.
        record(5);
        assert!(matches!(gateway.push(&handle), Err(PushError::Status(400))));
        assert_eq!(sent().as_deref(), Some("5"));
        record(6);
        gateway.push(&handle).unwrap();
        assert_eq!(sent().as_deref(), Some("6"));
        assert!(fake.bodies.try_recv().is_err(), "one body per push sent");
    }

    #[test]
    fn a_refused_push_is_kept_and_backed_off() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let (rec, handle) = recorder(builder());
        metrics::with_local_recorder(&rec, || {
            metrics::counter!(names::COLDSTARTS, names::LABEL_HANDLER => "h").increment(1)
        });
        let gateway = AggregatingGateway::new(&format!("http://127.0.0.1:{port}"), "fleet")
            .unwrap()
            .max_backoff(Duration::from_millis(200));
        // Where coldstart records (the global recorder in a function), the failure is counted.
        metrics::with_local_recorder(&rec, || {
            assert!(!gateway.push_or_report(&handle));
            assert!(!gateway.push_or_report(&handle)); // skipped
        });
        assert_eq!(gateway.failures(), 1);
        // The gateway comes up on that port: after the back-off, the cold start is delivered.
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let (bodies_tx, bodies) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 65536];
            while !String::from_utf8_lossy(&request)
                .contains("faas_coldstarts_total{handler=\"h\"}")
            {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0);
                request.extend_from_slice(&buf[..n]);
            }
            // The rest of the body, then the answer.
            std::thread::sleep(Duration::from_millis(50));
            let _ = conn.set_nonblocking(true);
            while let Ok(n) = conn.read(&mut buf) {
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buf[..n]);
            }
            let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            bodies_tx.send(String::from_utf8(request).unwrap()).unwrap();
        });
        std::thread::sleep(Duration::from_millis(250));
        assert!(gateway.push_or_report(&handle));
        let body = bodies.recv().unwrap();
        assert_eq!(
            line(&body, r#"faas_coldstarts_total{handler="h"}"#),
            Some("1")
        );
        // Its own failure, counted while the gateway was down, goes with it.
        assert_eq!(
            line(
                &body,
                r#"coldstart_export_failures_total{exporter="aggregating-gateway"}"#
            ),
            Some("1")
        );
    }

    /// gravel-gateway refuses a push that gives a metric other label names than its first push
    /// did (from any environment): every series of coldstart's metrics carries all its labels.
    #[test]
    fn coldstart_s_series_carry_all_their_metric_s_labels_from_every_environment() {
        let (rec, handle) = recorder(builder());
        metrics::with_local_recorder(&rec, || {
            // A built-in phase (no `during`, no `outcome`) and a rejected payload's cold start
            // (no `handler`).
            metrics::histogram!(names::PHASE_DURATION, names::LABEL_PHASE => "init").record(0.1);
            metrics::counter!(names::COLDSTARTS).increment(1);
        });
        let fake = fake_gateway(vec![Answer::Status(200)]);
        AggregatingGateway::new(&fake.url, "fleet")
            .unwrap()
            .push(&handle)
            .unwrap();
        let body = fake.bodies.recv().unwrap();
        assert_eq!(
            line(
                &body,
                r#"coldstart_phase_duration_seconds_count{phase="init",during="",outcome=""}"#
            ),
            Some("1"),
            "{body}"
        );
        assert_eq!(
            line(&body, r#"faas_coldstarts_total{handler=""}"#),
            Some("1"),
            "{body}"
        );
    }

    #[cfg(feature = "lambda")]
    #[test]
    fn the_seeded_ping_sources_are_the_crate_s() {
        use crate::lambda::PingSource;
        let sources = [
            PingSource::ServerlessPluginWarmup,
            PingSource::LambdaWarmer,
            PingSource::Warmup,
            PingSource::Custom,
        ];
        assert_eq!(sources.map(PingSource::as_str), PING_SOURCES);
    }

    #[test]
    fn job_names_are_percent_encoded_in_the_path() {
        assert_eq!(percent_encode("a/b c-d_e.f~"), "a%2Fb%20c-d_e.f~");
        let g = AggregatingGateway::new("http://127.0.0.1:4278/gw/", "j").unwrap();
        assert_eq!(g.path(), "/gw/metrics/job/j");
    }
}
