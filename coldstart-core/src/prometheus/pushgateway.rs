//! The per-environment Pushgateway: one group per execution environment, replaced by each push.

use std::fmt;
use std::time::{Duration, Instant};

use super::http::{base64url, Endpoint, PushError};
use super::{render, Failures, Handle, DEFAULT_PUSH_TIMEOUT};
use crate::backoff::Backoff;
use crate::environment::Environment;

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
    endpoint: Endpoint,
    job: String,
    instance: String,
    path: String,
    timeout: Duration,
    failures: Failures,
    backoff: Backoff,
}

impl fmt::Debug for Pushgateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Pushgateway");
        self.endpoint.debug_fields(&mut d);
        d.field("path", &self.path)
            .field("timeout", &self.timeout)
            .field("failures", &self.failures())
            .finish()
    }
}

impl Pushgateway {
    /// A gateway at `url` (`http://host:port`, or `https://` with feature `tls`; optionally with
    /// a path prefix), for `job`.
    ///
    /// The host name is resolved here, once, so that a push never waits for DNS.
    ///
    /// ```
    /// use coldstart::prometheus::Pushgateway;
    /// assert!(Pushgateway::new("ftp://127.0.0.1:9091", "job").is_err()); // http(s) only
    /// assert!(Pushgateway::new("http://127.0.0.1:9091", "").is_err()); // empty job
    /// ```
    pub fn new(url: &str, job: &str) -> Result<Pushgateway, PushError> {
        let endpoint = Endpoint::parse(url)?;
        if job.is_empty() {
            return Err(PushError::Url("the job name must not be empty".to_owned()));
        }
        let instance = default_instance();
        let mut gateway = Pushgateway {
            endpoint,
            job: job.to_owned(),
            instance,
            path: String::new(),
            timeout: DEFAULT_PUSH_TIMEOUT,
            failures: Failures::new("pushgateway"),
            backoff: Backoff::new(Backoff::DEFAULT_MAX),
        };
        gateway.path = gateway.build_path();
        Ok(gateway)
    }

    /// Sets the `instance` grouping label (default: the log stream name, see the type docs).
    ///
    /// **It must be unique to this execution environment.** A push replaces the whole group, so
    /// two live environments given the same instance overwrite each other: the gateway holds
    /// whichever pushed last, and the other's cold start and counts are lost (the PromQL recipes
    /// in the guide's Prometheus chapter also assume one group per environment). A constant such as the function name
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
        self.failures.count()
    }

    fn build_path(&self) -> String {
        format!(
            "{}/metrics/job{}/instance{}",
            self.endpoint.base_path,
            path_segment(&self.job),
            path_segment(&self.instance)
        )
    }

    /// Replaces this environment's group in the gateway with `handle`'s current exposition
    /// (HTTP `PUT`). Returns within the configured timeout (plus the time to render), whatever
    /// the gateway does.
    pub fn push(&self, handle: &Handle) -> Result<(), PushError> {
        self.push_text(&render(handle))
    }

    /// [`push`](Self::push), but a failure is only reported: counted in
    /// `coldstart.export_failures{exporter="pushgateway"}` and printed to stderr at most once a
    /// minute. Returns whether the push succeeded. Use it where a failed export must never fail
    /// the invocation.
    ///
    /// After a failure the gateway is given time before the next attempt: the pushes asked for
    /// in the next second are skipped (not attempted, not counted as failures), then 2 s, 4 s, ...
    /// up to [`max_backoff`](Self::max_backoff) while it keeps failing. A gateway that is down
    /// then costs one bounded attempt per period instead of one per invocation, and nothing is
    /// lost: each push replaces the group with everything recorded so far.
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
                    format_args!("the Pushgateway at {}{}", self.endpoint.host, self.path),
                    &err,
                );
                false
            }
        }
    }

    /// Sends HTTP basic auth (`Authorization: Basic …`) with every request to the gateway, for
    /// a gateway that checks it (gravel-gateway's `--basic-auth-file`, a proxy in front of a
    /// Pushgateway). The password is kept only as the header it makes and never shown: not in
    /// `Debug`, errors or what is printed to stderr. Over `http://` it travels in the clear: use
    /// `https://` (feature `tls`) for a gateway outside a trusted network.
    ///
    /// A gateway that refuses the credentials answers 401 or 403: [`PushError::Status`], whose
    /// message says so. Fails if `user` contains `:` (it cannot be sent).
    ///
    /// gravel-gateway 1.7.1 checks only the password, up to its first `:`, against the first
    /// bcrypt hash of its file: use a password without `:`, and a low bcrypt cost (it verifies
    /// the hash on every push: ~60 ms per push at cost 10 on a 2-core machine, see
    /// coldstart-bench's `gateway-tls`).
    ///
    /// ```
    /// use coldstart::prometheus::Pushgateway;
    /// let gateway = Pushgateway::new("http://127.0.0.1:9091", "orders")?
    ///     .basic_auth("fn", "s3cret")?;
    /// assert!(!format!("{gateway:?}").contains("s3cret"));
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    pub fn basic_auth(mut self, user: &str, password: &str) -> Result<Pushgateway, PushError> {
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
    /// use coldstart::prometheus::{PushError, Pushgateway};
    /// let gateway = Pushgateway::new("http://127.0.0.1:9091", "orders")?;
    /// let err = gateway.basic_auth_from_env("UNSET_GW_USER", "UNSET_GW_PASSWORD").unwrap_err();
    /// assert!(matches!(err, PushError::Config(_)));
    /// assert!(err.to_string().contains("UNSET_GW_USER"), "{err}");
    /// # Ok::<(), PushError>(())
    /// ```
    pub fn basic_auth_from_env(
        mut self,
        user_var: &str,
        password_var: &str,
    ) -> Result<Pushgateway, PushError> {
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
    /// use coldstart::prometheus::Pushgateway;
    /// let gateway = Pushgateway::new("https://gateway.internal:9091", "orders")?
    ///     .ca_certificate_pem(std::fs::read("ca.pem").expect("the CA certificate"))?
    ///     .basic_auth_from_env("GATEWAY_USER", "GATEWAY_PASSWORD")?;
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    /// ```
    /// # use coldstart::prometheus::Pushgateway;
    /// let gateway = Pushgateway::new("https://127.0.0.1:9091", "orders")?;
    /// assert!(gateway.ca_certificate_pem("no certificate here").is_err());
    /// # Ok::<(), coldstart::prometheus::PushError>(())
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn ca_certificate_pem(mut self, pem: impl AsRef<[u8]>) -> Result<Pushgateway, PushError> {
        self.endpoint.add_ca_pem(pem.as_ref())?;
        Ok(self)
    }

    /// Sets the longest period [`push_or_report`](Self::push_or_report) waits after failed
    /// pushes before it tries again (default 30 s; the first period is 1 s, doubling).
    ///
    /// ```
    /// # use coldstart::prometheus::Pushgateway;
    /// # use std::time::Duration;
    /// let g = Pushgateway::new("http://127.0.0.1:9091", "j").unwrap().max_backoff(Duration::from_secs(5));
    /// # let _ = g;
    /// ```
    pub fn max_backoff(mut self, max: Duration) -> Pushgateway {
        self.backoff.set_max(max);
        self
    }

    /// Deletes this environment's group from the gateway (HTTP `DELETE` on [`path`](Self::path)),
    /// so that a gateway shared by a fleet holds live environments only. Same bound and errors
    /// as [`push`](Self::push); the gateway answers `202` whether or not the group existed.
    ///
    /// Call it last, when the environment shuts down: with feature `shutdown`, from
    /// `Coldstart::on_shutdown`, after a final `push` (the "Shutdown" recipe in
    /// `coldstart::guide::lifecycle`).
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
        match self.endpoint.send(method, &self.path, body, self.timeout) {
            Ok(status) if (200..300).contains(&status) => Ok(()),
            Ok(status) => Err(PushError::Status(status)),
            Err(failure) => Err(failure.error),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;
    use std::io::{Read, Write};
    use std::net::TcpListener;

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
        let gateway = Pushgateway::new(&format!("http://127.0.0.1:{port}"), "down")
            .unwrap()
            .max_backoff(Duration::from_millis(300));
        let handle = Handle::from(PrometheusBuilder::new().build_recorder().handle());
        assert!(!gateway.push_or_report(&handle));
        // The period starts when the failure is counted, before this.
        let failed_by = Instant::now();
        assert_eq!(gateway.failures(), 1);
        // Backing off: not attempted, not counted.
        assert!(!gateway.push_or_report(&handle));
        assert_eq!(gateway.failures(), 1);
        assert!(matches!(gateway.push(&handle), Err(PushError::Io(_))));
        // After the period (300 ms), the next one is attempted again.
        std::thread::sleep(Duration::from_millis(300).saturating_sub(failed_by.elapsed()));
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
