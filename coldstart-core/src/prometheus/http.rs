//! One bounded HTTP/1.1 request on a fresh connection: what both gateways' pushes send, over
//! plain TCP or (feature `tls`) TLS, with an optional basic-auth header.
//!
//! Nothing here spawns a thread or needs an async runtime: a push runs on the flush thread,
//! within its bound, from connecting (and the TLS handshake) to reading the response's status
//! line.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

#[cfg(feature = "tls")]
use super::tls::{Tls, TlsStream};

/// Where a gateway listens: resolved once, when the gateway is configured, so that a push never
/// waits for DNS.
pub(crate) struct Endpoint {
    /// `host:port` as given (the `Host` header and messages).
    pub(crate) host: String,
    addrs: Vec<SocketAddr>,
    /// The URL's path prefix, without a trailing `/` (`""` for none).
    pub(crate) base_path: String,
    /// `Some` for an `https://` URL.
    #[cfg(feature = "tls")]
    tls: Option<Tls>,
    auth: Option<BasicAuth>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Endpoint");
        self.debug_fields(&mut d);
        d.field("base_path", &self.base_path).finish()
    }
}

/// HTTP basic-auth credentials, kept as the header they make. The password is never shown:
/// `Debug` prints the user only.
struct BasicAuth {
    user: String,
    /// `Basic <base64(user:password)>`.
    header: String,
}

impl fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// How a request failed, and whether the gateway may still act on it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: PushError,
    /// `Some` when the whole request was written and no status came back in time: the gateway
    /// may still apply it (a stalled or slow one does), and its connection is kept open for it
    /// (a gateway drops a request whose client closed the connection before it was read).
    /// `None` when the request cannot have been acted on: no connection, a failed TLS handshake,
    /// a write that did not complete, the connection closed without an answer.
    pub(crate) unanswered: Option<Unanswered>,
}

impl Failure {
    fn before_sending(error: PushError) -> Failure {
        Failure {
            error,
            unanswered: None,
        }
    }
}

/// A request sent whole and not answered within its bound, its connection kept open.
pub(crate) struct Unanswered {
    conn: Conn,
    response: Vec<u8>,
    sent_at: Instant,
}

impl fmt::Debug for Unanswered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unanswered")
            .field("sent_at", &self.sent_at)
            .finish_non_exhaustive()
    }
}

/// What became of an [`Unanswered`] request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settled {
    /// Still no answer, the connection still open.
    Pending,
    /// The gateway answered with this status.
    Answered(u16),
    /// The connection ended without an answer: the gateway did not apply it.
    Closed,
}

impl Unanswered {
    /// How long ago the request was sent.
    pub(crate) fn age(&self) -> Duration {
        self.sent_at.elapsed()
    }

    /// Looks, without waiting, whether the gateway has answered by now.
    pub(crate) fn poll(&mut self) -> Settled {
        if self.conn.tcp().set_nonblocking(true).is_err() {
            return Settled::Closed;
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut buf = [0u8; 256];
        loop {
            match self.conn.read(&mut buf, deadline, Duration::from_secs(1)) {
                Ok(0) => return Settled::Closed,
                Ok(n) => {
                    self.response.extend_from_slice(&buf[..n]);
                    match status_line(&self.response) {
                        Some(Ok(code)) => return Settled::Answered(code),
                        Some(Err(_)) => return Settled::Closed,
                        None if self.response.len() > 8 * 1024 => return Settled::Closed,
                        None => {}
                    }
                }
                Err(PushError::Timeout(_)) => return Settled::Pending,
                Err(_) => return Settled::Closed,
            }
        }
    }
}

impl Endpoint {
    /// Parses `http://host[:port][/prefix]` (or `https://` with feature `tls`) and resolves the
    /// host.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, PushError> {
        let (rest, tls, default_port) = if let Some(rest) = url.strip_prefix("http://") {
            (rest, false, 80)
        } else if let Some(rest) = url.strip_prefix("https://") {
            (rest, true, 443)
        } else {
            return Err(PushError::Url(format!(
                "{url:?}: only http:// and https:// URLs are supported"
            )));
        };
        let (authority, base_path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], rest[slash..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.contains('@') {
            // Not echoed: the part before `@` may be a password.
            return Err(PushError::Url(
                "credentials in the gateway URL are not accepted (they would show in messages); \
                 pass them to the gateway's `basic_auth`"
                    .to_owned(),
            ));
        }
        if tls && !cfg!(feature = "tls") {
            return Err(PushError::Url(format!(
                "{url:?}: https:// needs coldstart's `tls` feature (without it only http:// URLs \
                 are supported)"
            )));
        }
        if authority.is_empty() {
            return Err(PushError::Url(format!("{url:?}: no host")));
        }
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
            && !authority.ends_with(']');
        let with_port = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:{default_port}")
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
        let host_name = host_name(authority, has_port);
        #[cfg(feature = "tls")]
        let tls = if tls {
            Some(Tls::new(host_name)?)
        } else {
            None
        };
        #[cfg(not(feature = "tls"))]
        let _ = (tls, host_name);
        Ok(Endpoint {
            host: authority.to_owned(),
            addrs,
            base_path: base_path.to_owned(),
            #[cfg(feature = "tls")]
            tls,
            auth: None,
        })
    }

    /// Adds the fields a gateway's `Debug` shows about where it pushes: never a secret.
    pub(crate) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        d.field("host", &self.host);
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let (handshakes, resumed) = tls.handshakes();
            d.field("tls_handshakes", &handshakes)
                .field("tls_resumed", &resumed);
        }
        if let Some(auth) = &self.auth {
            d.field("basic_auth", auth);
        }
    }

    /// Sends `Authorization: Basic …` with every request from now on.
    pub(crate) fn set_basic_auth(&mut self, user: &str, password: &str) -> Result<(), PushError> {
        if user.contains(':') {
            // Not echoed: a user with `:` may be `user:password` given whole.
            return Err(PushError::Config(
                "the basic-auth user contains ':', which cannot be sent (RFC 7617)".to_owned(),
            ));
        }
        let mut credentials = String::with_capacity(user.len() + 1 + password.len());
        credentials.push_str(user);
        credentials.push(':');
        credentials.push_str(password);
        self.auth = Some(BasicAuth {
            user: user.to_owned(),
            header: format!("Basic {}", base64(credentials.as_bytes(), STANDARD, true)),
        });
        Ok(())
    }

    /// [`set_basic_auth`](Self::set_basic_auth) with the user and password read from the
    /// environment variables named `user_var` and `password_var`.
    pub(crate) fn set_basic_auth_from_env(
        &mut self,
        user_var: &str,
        password_var: &str,
    ) -> Result<(), PushError> {
        self.set_basic_auth_from(user_var, password_var, |var| std::env::var(var))
    }

    /// [`set_basic_auth_from_env`](Self::set_basic_auth_from_env) with the variables read by
    /// `lookup` (the environment, or a map in the tests: setting variables is unsafe).
    fn set_basic_auth_from(
        &mut self,
        user_var: &str,
        password_var: &str,
        lookup: impl Fn(&str) -> Result<String, std::env::VarError>,
    ) -> Result<(), PushError> {
        let read = |var: &str| -> Result<String, PushError> {
            match lookup(var) {
                Ok(value) => Ok(value),
                Err(std::env::VarError::NotPresent) => Err(PushError::Config(format!(
                    "the environment variable {var} (basic-auth credentials) is not set"
                ))),
                Err(std::env::VarError::NotUnicode(_)) => Err(PushError::Config(format!(
                    "the environment variable {var} (basic-auth credentials) is not valid UTF-8"
                ))),
            }
        };
        let user = read(user_var)?;
        let password = read(password_var)?;
        if password.is_empty() {
            return Err(PushError::Config(format!(
                "the environment variable {password_var} (basic-auth password) is empty"
            )));
        }
        self.set_basic_auth(&user, &password)
    }

    /// Trusts the CA certificates in `pem` (besides Mozilla's roots) for an `https://` URL;
    /// checked and ignored for `http://`.
    #[cfg(feature = "tls")]
    pub(crate) fn add_ca_pem(&mut self, pem: &[u8]) -> Result<(), PushError> {
        match &mut self.tls {
            Some(tls) => tls.add_ca_pem(pem),
            // Checked all the same, so that a bad PEM is found before the URL turns https.
            None => Tls::new("localhost")?.add_ca_pem(pem),
        }
    }

    /// Sends one request with `body` as the text exposition (none for `None`), bounded by
    /// `timeout` from connecting to reading the status line, and returns the status code.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        timeout: Duration,
    ) -> Result<u16, Failure> {
        let deadline = Instant::now() + timeout;
        let tcp = self.connect(deadline, timeout)?;
        #[cfg(feature = "tls")]
        let mut conn = match &self.tls {
            Some(tls) => Conn::Tls(Box::new(
                tls.connect(tcp, deadline, timeout)
                    .map_err(Failure::before_sending)?,
            )),
            None => Conn::Plain(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let mut conn = Conn::Plain(tcp);
        let content_type = if body.is_some() {
            "Content-Type: text/plain; version=0.0.4\r\n"
        } else {
            ""
        };
        let (auth_name, auth_value) = match &self.auth {
            Some(auth) => ("Authorization: ", auth.header.as_str()),
            None => ("", ""),
        };
        let auth_end = if self.auth.is_some() { "\r\n" } else { "" };
        let body = body.unwrap_or("");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth_name}{auth_value}{auth_end}{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            body.len()
        );
        conn.write_request(head.as_bytes(), body.as_bytes(), deadline, timeout)
            .map_err(Failure::before_sending)?;
        let mut response = Vec::with_capacity(128);
        match read_status(&mut conn, &mut response, deadline, timeout) {
            Ok(code) => Ok(code),
            Err(error @ PushError::Timeout(_)) => Err(Failure {
                error,
                unanswered: Some(Unanswered {
                    conn,
                    response,
                    sent_at: Instant::now(),
                }),
            }),
            Err(error) => Err(Failure::before_sending(error)),
        }
    }

    fn connect(&self, deadline: Instant, bound: Duration) -> Result<TcpStream, Failure> {
        let mut last_error = None;
        for addr in &self.addrs {
            let left = remaining(deadline, bound).map_err(Failure::before_sending)?;
            match TcpStream::connect_timeout(addr, left) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(err) => last_error = Some(timeout_or_io(err, bound)),
            }
        }
        Err(Failure::before_sending(
            last_error.unwrap_or(PushError::Timeout(bound)),
        ))
    }
}

/// The host of `authority` (`host[:port]`, `[v6][:port]`): the TLS server name.
fn host_name(authority: &str, has_port: bool) -> &str {
    let host = if has_port {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    } else {
        authority
    };
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// One request's connection.
enum Conn {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(stream) => stream,
            #[cfg(feature = "tls")]
            Conn::Tls(stream) => stream.tcp(),
        }
    }

    fn write_request(
        &mut self,
        head: &[u8],
        body: &[u8],
        deadline: Instant,
        bound: Duration,
    ) -> Result<(), PushError> {
        match self {
            Conn::Plain(stream) => {
                stream
                    .set_write_timeout(Some(remaining(deadline, bound)?))
                    .map_err(PushError::Io)?;
                stream
                    .write_all(head)
                    .and_then(|()| stream.write_all(body))
                    .map_err(|err| timeout_or_io(err, bound))
            }
            #[cfg(feature = "tls")]
            Conn::Tls(stream) => stream.write_all(&[head, body].concat(), deadline, bound),
        }
    }

    fn read(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        bound: Duration,
    ) -> Result<usize, PushError> {
        match self {
            Conn::Plain(stream) => {
                stream
                    .set_read_timeout(Some(remaining(deadline, bound)?))
                    .map_err(PushError::Io)?;
                stream.read(buf).map_err(|err| timeout_or_io(err, bound))
            }
            #[cfg(feature = "tls")]
            Conn::Tls(stream) => stream.read(buf, deadline, bound),
        }
    }
}

/// Reads the response into `response` until its status line is complete and returns the
/// status code.
fn read_status(
    conn: &mut Conn,
    response: &mut Vec<u8>,
    deadline: Instant,
    bound: Duration,
) -> Result<u16, PushError> {
    let mut buf = [0u8; 256];
    loop {
        let n = conn.read(&mut buf, deadline, bound)?;
        if n == 0 {
            return Err(PushError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the gateway closed the connection without a response",
            )));
        }
        response.extend_from_slice(&buf[..n]);
        if let Some(status) = status_line(response) {
            return status;
        }
        if response.len() > 8 * 1024 {
            return Err(PushError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                "no status line in the first 8 KiB",
            )));
        }
    }
}

/// The status code of `response`'s status line, `None` while the line is incomplete.
fn status_line(response: &[u8]) -> Option<Result<u16, PushError>> {
    let end = response.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&response[..end]);
    let mut parts = line.split_whitespace();
    Some(
        match (parts.next(), parts.next().and_then(|c| c.parse().ok())) {
            (Some(version), Some(code)) if version.starts_with("HTTP/") => Ok(code),
            _ => Err(PushError::Io(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("not an HTTP response: {line:?}"),
            ))),
        },
    )
}

/// What is left of the bound before `deadline`; [`PushError::Timeout`] when nothing is.
pub(crate) fn remaining(deadline: Instant, bound: Duration) -> Result<Duration, PushError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(PushError::Timeout(bound))
    } else {
        Ok(left)
    }
}

pub(crate) fn timeout_or_io(err: io::Error, bound: Duration) -> PushError {
    match err.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => PushError::Timeout(bound),
        _ => PushError::Io(err),
    }
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
    /// The URL or job given to a gateway's `new` cannot be used.
    Url(String),
    /// The gateway did not answer within the bound.
    Timeout(Duration),
    /// Connecting, writing or reading failed.
    Io(io::Error),
    /// The gateway answered with a non-2xx status. 401 and 403 mean it refused the push's
    /// credentials (wrong, or none sent): see the gateways' `basic_auth`.
    Status(u16),
    /// A gateway setting cannot be used: basic-auth credentials missing from the environment,
    /// a CA certificate PEM that cannot be read.
    Config(String),
    /// The TLS handshake failed (feature `tls`): a certificate that is not valid for the URL's
    /// host, signed by a CA that is not trusted, or expired; no protocol version or cipher suite
    /// in common.
    Tls(String),
    /// The push was not sent: the gateway has not answered the previous one, sent this long ago
    /// (see [`AggregatingGateway`](super::AggregatingGateway)).
    Unanswered(Duration),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Url(why) => write!(f, "bad gateway URL: {why}"),
            PushError::Timeout(bound) => write!(f, "no answer within {bound:?}"),
            PushError::Io(err) => write!(f, "{err}"),
            PushError::Status(code @ (401 | 403)) => write!(
                f,
                "the gateway answered HTTP {code}: it refused the push's credentials (wrong or \
                 missing basic-auth password)"
            ),
            PushError::Status(code) => write!(f, "the gateway answered HTTP {code}"),
            PushError::Config(why) => write!(f, "gateway configuration: {why}"),
            PushError::Tls(why) => write!(f, "TLS with the gateway failed: {why}"),
            PushError::Unanswered(age) => write!(
                f,
                "not sent: the gateway has not answered the previous push, sent {age:?} ago"
            ),
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

const STANDARD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded URL-safe base64 (RFC 4648 §5), which the Pushgateway accepts in grouping keys.
pub(crate) fn base64url(bytes: &[u8]) -> String {
    base64(bytes, URL_SAFE, false)
}

/// Base64 (RFC 4648) with `alphabet`, padded with `=` if `pad`.
fn base64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let symbols = chunk.len() + 1;
        for i in 0..symbols {
            out.push(char::from(alphabet[(n >> (18 - 6 * i)) as usize & 63]));
        }
        if pad {
            out.extend(std::iter::repeat_n('=', 4 - symbols));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

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
    fn standard_base64_is_padded() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("\u{ff}\u{fe}", "w7/Dvg=="),
            ("Aladdin:open sesame", "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
        ] {
            assert_eq!(
                base64(input.as_bytes(), STANDARD, true),
                expected,
                "{input:?}"
            );
        }
    }

    /// Accepts one connection, reads the request head, answers `response`, returns the head.
    fn one_request(response: &'static str) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).unwrap();
                assert!(n > 0, "request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            conn.write_all(response.as_bytes()).unwrap();
            String::from_utf8(request).unwrap()
        });
        (url, server)
    }

    const PASSWORD: &str = "pa55-w0rd:with colon";

    #[test]
    fn basic_auth_is_sent_and_a_refusal_says_so_without_the_password() {
        let (url, server) = one_request("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let mut endpoint = Endpoint::parse(&url).unwrap();
        endpoint.set_basic_auth("lambda", PASSWORD).unwrap();
        let status = endpoint
            .send("DELETE", "/x", None, Duration::from_secs(5))
            .unwrap();
        let request = server.join().unwrap();
        let expected = base64(format!("lambda:{PASSWORD}").as_bytes(), STANDARD, true);
        assert!(
            request.contains(&format!("\r\nAuthorization: Basic {expected}\r\n")),
            "{request}"
        );
        assert_eq!(status, 403);
        let message = PushError::Status(status).to_string();
        assert!(
            message.contains("refused the push's credentials"),
            "{message}"
        );
        let debug = format!("{endpoint:?}");
        assert!(debug.contains("lambda"), "{debug}");
        assert!(!debug.contains(PASSWORD), "{debug}");
        assert!(!debug.contains(&expected), "{debug}");
    }

    #[test]
    fn without_credentials_no_authorization_header_is_sent() {
        let (url, server) = one_request("HTTP/1.1 202 Accepted\r\n\r\n");
        let endpoint = Endpoint::parse(&url).unwrap();
        assert_eq!(
            endpoint
                .send("DELETE", "/x", None, Duration::from_secs(5))
                .unwrap(),
            202
        );
        let request = server.join().unwrap();
        assert!(!request.contains("Authorization"), "{request}");
    }

    #[test]
    fn credentials_from_the_environment_are_checked_and_never_echoed() {
        let mut endpoint = Endpoint::parse("http://127.0.0.1:9").unwrap();
        let user = "COLDSTART_TEST_HTTP_USER_7f3a";
        let password = "COLDSTART_TEST_HTTP_PASSWORD_7f3a";
        let err = endpoint
            .set_basic_auth_from_env(user, password)
            .unwrap_err();
        assert!(matches!(err, PushError::Config(_)), "{err:?}");
        assert!(err.to_string().contains(user), "{err}");
        // The rest through a map: setting environment variables is unsafe in a threaded test.
        let mut env = std::collections::HashMap::new();
        let from = |env: &std::collections::HashMap<&str, &str>, endpoint: &mut Endpoint| {
            endpoint.set_basic_auth_from(user, password, |var| {
                env.get(var)
                    .map(|v| v.to_string())
                    .ok_or(std::env::VarError::NotPresent)
            })
        };
        env.insert(user, "lambda");
        let err = from(&env, &mut endpoint).unwrap_err();
        assert!(err.to_string().contains(password), "{err}");
        env.insert(password, "");
        let err = from(&env, &mut endpoint).unwrap_err();
        assert!(err.to_string().contains("is empty"), "{err}");
        env.insert(password, PASSWORD);
        from(&env, &mut endpoint).unwrap();
        let header = &endpoint.auth.as_ref().unwrap().header;
        assert_eq!(
            header,
            &format!(
                "Basic {}",
                base64(format!("lambda:{PASSWORD}").as_bytes(), STANDARD, true)
            )
        );
        assert!(!format!("{endpoint:?}").contains(PASSWORD));
        // A user with `:` cannot be sent; the error shows neither (the user may be
        // `user:password` given whole).
        let err = endpoint
            .set_basic_auth(&format!("a:{PASSWORD}"), "")
            .unwrap_err();
        assert!(!err.to_string().contains(PASSWORD), "{err}");
        assert!(!format!("{err:?}").contains(PASSWORD), "{err:?}");
    }

    #[test]
    fn credentials_in_the_url_are_refused_without_echoing_them() {
        for url in [
            "http://user:hunter2@127.0.0.1:9091",
            "https://user:hunter2@127.0.0.1:9091/prefix",
        ] {
            let err = Endpoint::parse(url).unwrap_err();
            assert!(matches!(err, PushError::Url(_)), "{err:?}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
            assert!(err.to_string().contains("basic_auth"), "{err}");
        }
    }

    #[test]
    fn host_names_lose_port_and_brackets() {
        assert_eq!(host_name("gw.example:443", true), "gw.example");
        assert_eq!(host_name("gw.example", false), "gw.example");
        assert_eq!(host_name("[::1]:9091", true), "::1");
        assert_eq!(host_name("[::1]", false), "::1");
        assert!(Endpoint::parse("http://[::1]").is_ok());
    }

    #[cfg(not(feature = "tls"))]
    #[test]
    fn https_without_the_feature_names_the_feature() {
        let err = Endpoint::parse("https://127.0.0.1:9091").unwrap_err();
        assert!(matches!(err, PushError::Url(_)), "{err:?}");
        assert!(err.to_string().contains("`tls` feature"), "{err}");
    }

    #[cfg(feature = "tls")]
    mod tls {
        use super::*;

        /// A server that accepts the connection and never answers the ClientHello: the
        /// handshake is bounded by the push's timeout, and the request was never sent.
        #[test]
        fn a_hung_handshake_costs_at_most_the_bound_and_was_not_applied() {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("https://{}", listener.local_addr().unwrap());
            let endpoint = Endpoint::parse(&url).unwrap();
            let started = Instant::now();
            let failure = endpoint
                .send("PUT", "/x", Some("x 1\n"), Duration::from_millis(150))
                .unwrap_err();
            let took = started.elapsed();
            assert!(
                matches!(failure.error, PushError::Timeout(_)),
                "{failure:?}"
            );
            assert!(failure.unanswered.is_none());
            // Bound 150 ms; a wide margin for a loaded machine, far below "stalled".
            assert!(took < Duration::from_secs(2), "took {took:?}");
            drop(listener);
        }

        /// A plain-HTTP server on an https:// URL: a TLS error, not a status or a hang.
        #[test]
        fn a_plain_http_server_on_an_https_url_is_a_tls_error() {
            let (url, server) = one_request_raw("HTTP/1.1 400 Bad Request\r\n\r\n");
            let endpoint = Endpoint::parse(&url.replace("http://", "https://")).unwrap();
            let failure = endpoint
                .send("PUT", "/x", Some("x 1\n"), Duration::from_secs(5))
                .unwrap_err();
            server.join().unwrap();
            assert!(matches!(failure.error, PushError::Tls(_)), "{failure:?}");
            assert!(failure.unanswered.is_none());
            let message = failure.error.to_string();
            assert!(
                message.starts_with("TLS with the gateway failed: "),
                "{message}"
            );
        }

        /// Accepts one connection, reads whatever comes first (a ClientHello), answers
        /// `response`.
        fn one_request_raw(response: &'static str) -> (String, std::thread::JoinHandle<()>) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            let server = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).unwrap();
                conn.write_all(response.as_bytes()).unwrap();
            });
            (url, server)
        }

        #[test]
        fn ca_pems_are_checked() {
            let mut endpoint = Endpoint::parse("https://127.0.0.1:9091").unwrap();
            let err = endpoint.add_ca_pem(b"not a pem").unwrap_err();
            assert!(matches!(err, PushError::Config(_)), "{err:?}");
            let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
            let err = endpoint.add_ca_pem(garbage).unwrap_err();
            assert!(matches!(err, PushError::Config(_)), "{err:?}");
            // Checked for an http:// URL too.
            let mut plain = Endpoint::parse("http://127.0.0.1:9091").unwrap();
            assert!(plain.add_ca_pem(b"not a pem").is_err());
        }
    }
}
