//! One bounded HTTP/1.1 request on a fresh connection: what both gateways' pushes send.
//!
//! Nothing here spawns a thread or needs an async runtime: a push runs on the flush thread,
//! within its bound, from connecting to reading the response's status line.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Where a gateway listens: resolved once, when the gateway is configured, so that a push never
/// waits for DNS.
pub(crate) struct Endpoint {
    /// `host:port` as given (the `Host` header and messages).
    pub(crate) host: String,
    addrs: Vec<SocketAddr>,
    /// The URL's path prefix, without a trailing `/` (`""` for none).
    pub(crate) base_path: String,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("host", &self.host)
            .field("base_path", &self.base_path)
            .finish()
    }
}

/// How a request failed, and whether the gateway may have acted on it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: PushError,
    /// The whole request was written and no status came back in time: the gateway may apply it
    /// later (a stalled or slow gateway does). `false` when the request cannot have been acted
    /// on: no connection, a write that did not complete, or a status that says so.
    pub(crate) maybe_applied: bool,
}

impl Failure {
    fn before_sending(error: PushError) -> Failure {
        Failure {
            error,
            maybe_applied: false,
        }
    }
}

impl Endpoint {
    /// Parses `http://host[:port][/prefix]` and resolves the host.
    pub(crate) fn parse(url: &str) -> Result<Endpoint, PushError> {
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
        Ok(Endpoint {
            host: authority.to_owned(),
            addrs,
            base_path: base_path.to_owned(),
        })
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
        let mut stream = self.connect(deadline, timeout)?;
        let content_type = if body.is_some() {
            "Content-Type: text/plain; version=0.0.4\r\n"
        } else {
            ""
        };
        let body = body.unwrap_or("");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{content_type}Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.host,
            body.len()
        );
        remaining(deadline)
            .and_then(|left| stream.set_write_timeout(Some(left)).map_err(PushError::Io))
            .map_err(Failure::before_sending)?;
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()))
            .map_err(|err| Failure::before_sending(timeout_or_io(err, timeout)))?;
        read_status(&mut stream, deadline, timeout).map_err(|error| Failure {
            error,
            maybe_applied: true,
        })
    }

    fn connect(&self, deadline: Instant, bound: Duration) -> Result<TcpStream, Failure> {
        let mut last_error = None;
        for addr in &self.addrs {
            let left = remaining(deadline).map_err(Failure::before_sending)?;
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
    /// The gateway answered with a non-2xx status.
    Status(u16),
    /// The push was not attempted: an earlier one failed, and the gateway is given this long
    /// before the next attempt (see [`AggregatingGateway`](super::AggregatingGateway)'s back-off).
    BackingOff(Duration),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Url(why) => write!(f, "bad gateway URL: {why}"),
            PushError::Timeout(bound) => write!(f, "no answer within {bound:?}"),
            PushError::Io(err) => write!(f, "{err}"),
            PushError::Status(code) => write!(f, "the gateway answered HTTP {code}"),
            PushError::BackingOff(left) => write!(
                f,
                "not attempted: backing off after a failed push, next attempt in {left:?}"
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

/// Unpadded URL-safe base64 (RFC 4648 §5), which the Pushgateway accepts in grouping keys.
pub(crate) fn base64url(bytes: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
