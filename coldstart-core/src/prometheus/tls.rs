//! TLS for the gateway pushes (feature `tls`): rustls with ring, Mozilla's roots compiled in, a
//! private CA from a PEM, and a blocking client connection driven by hand so that every read and
//! write of the handshake and the request is bounded by the push's deadline.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, HandshakeKind, RootCertStore};

use super::http::{remaining, timeout_or_io, PushError};

/// One gateway's TLS settings: the config is built once (when the gateway is configured), so
/// that every push shares its session cache and a later push resumes the first one's session.
pub(crate) struct Tls {
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    /// The CA certificates added with `ca_certificate_pem`, trusted besides Mozilla's roots.
    extra_roots: Vec<CertificateDer<'static>>,
    handshakes: AtomicU64,
    resumed: AtomicU64,
}

impl Tls {
    /// TLS to `host` (the URL's host, without port or brackets: the SNI and the name the
    /// certificate must hold), trusting Mozilla's roots.
    pub(crate) fn new(host: &str) -> Result<Tls, PushError> {
        let server_name = ServerName::try_from(host.to_owned())
            .map_err(|_| PushError::Url(format!("{host:?} is not a valid TLS server name")))?;
        Ok(Tls {
            config: client_config(&[])?,
            server_name,
            extra_roots: Vec::new(),
            handshakes: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
        })
    }

    /// Trusts the CA certificates in `pem` as well.
    pub(crate) fn add_ca_pem(&mut self, pem: &[u8]) -> Result<(), PushError> {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|err| {
                PushError::Config(format!("the CA certificate PEM cannot be read: {err}"))
            })?;
            self.extra_roots.push(cert);
            added += 1;
        }
        if added == 0 {
            return Err(PushError::Config(
                "the CA certificate PEM holds no CERTIFICATE block".to_owned(),
            ));
        }
        self.config = client_config(&self.extra_roots)?;
        Ok(())
    }

    /// (handshakes, of which resumed a previous session).
    pub(crate) fn handshakes(&self) -> (u64, u64) {
        (
            self.handshakes.load(Ordering::Relaxed),
            self.resumed.load(Ordering::Relaxed),
        )
    }

    /// Runs the handshake on `tcp` within `deadline`.
    pub(crate) fn connect(
        &self,
        tcp: TcpStream,
        deadline: Instant,
        bound: Duration,
    ) -> Result<TlsStream, PushError> {
        let conn = ClientConnection::new(Arc::clone(&self.config), self.server_name.clone())
            .map_err(|err| tls_error(&err))?;
        let mut stream = TlsStream { conn, tcp };
        stream.handshake(deadline, bound)?;
        self.handshakes.fetch_add(1, Ordering::Relaxed);
        if stream.conn.handshake_kind() == Some(HandshakeKind::Resumed) {
            self.resumed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(stream)
    }
}

fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<Arc<ClientConfig>, PushError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra_roots {
        roots.add(cert.clone()).map_err(|err| {
            PushError::Config(format!("the CA certificate cannot be used: {err}"))
        })?;
    }
    // The provider is named here rather than taken from the process default, which another
    // crate in the function may have set to a different one (or left ambiguous).
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|err| tls_error(&err))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

fn tls_error(err: &rustls::Error) -> PushError {
    let hint = match err {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            " (signed by a CA that is not trusted: pass a private CA's PEM to the gateway's \
             `ca_certificate_pem`)"
        }
        _ => "",
    };
    PushError::Tls(format!("{err}{hint}"))
}

/// A client connection over a blocking `TcpStream`, each socket read and write given what is
/// left of the push's bound.
pub(crate) struct TlsStream {
    conn: ClientConnection,
    tcp: TcpStream,
}

impl TlsStream {
    /// The TCP connection under the TLS one.
    pub(crate) fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    fn handshake(&mut self, deadline: Instant, bound: Duration) -> Result<(), PushError> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush_tls(deadline, bound)?;
            } else {
                self.read_tls(deadline, bound, "during the TLS handshake")?;
            }
        }
        Ok(())
    }

    /// Writes what rustls has queued (handshake messages, alerts, encrypted data).
    fn flush_tls(&mut self, deadline: Instant, bound: Duration) -> Result<(), PushError> {
        while self.conn.wants_write() {
            self.tcp
                .set_write_timeout(Some(remaining(deadline, bound)?))
                .map_err(PushError::Io)?;
            self.conn
                .write_tls(&mut self.tcp)
                .map_err(|err| timeout_or_io(err, bound))?;
        }
        Ok(())
    }

    /// Reads one batch of TLS records and processes them; the peer closing the connection is an
    /// error `while` doing what is said.
    fn read_tls(
        &mut self,
        deadline: Instant,
        bound: Duration,
        while_: &str,
    ) -> Result<usize, PushError> {
        self.tcp
            .set_read_timeout(Some(remaining(deadline, bound)?))
            .map_err(PushError::Io)?;
        let n = self
            .conn
            .read_tls(&mut self.tcp)
            .map_err(|err| timeout_or_io(err, bound))?;
        if let Err(err) = self.conn.process_new_packets() {
            // Tell the gateway why (the alert rustls queued), as far as the bound allows.
            let _ = self.flush_tls(deadline, bound);
            return Err(tls_error(&err));
        }
        if n == 0 && self.conn.is_handshaking() {
            return Err(PushError::Io(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("the gateway closed the connection {while_}"),
            )));
        }
        Ok(n)
    }

    /// Encrypts and sends `data`.
    pub(crate) fn write_all(
        &mut self,
        data: &[u8],
        deadline: Instant,
        bound: Duration,
    ) -> Result<(), PushError> {
        // rustls takes at most its buffer limit (64 KiB) at a time: a large exposition is sent
        // in turns.
        let mut rest = data;
        while !rest.is_empty() {
            let taken = self.conn.writer().write(rest).map_err(PushError::Io)?;
            rest = &rest[taken..];
            self.flush_tls(deadline, bound)?;
        }
        Ok(())
    }

    /// Reads decrypted bytes into `buf`: `Ok(0)` when the gateway closed the connection.
    pub(crate) fn read(
        &mut self,
        buf: &mut [u8],
        deadline: Instant,
        bound: Duration,
    ) -> Result<usize, PushError> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                // Closed without close_notify: after a complete response many servers do that;
                // the caller sees an end of stream and decides whether it had what it needed.
                Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(PushError::Io(err)),
            }
            // Post-handshake messages (session tickets, key updates) may want an answer.
            self.flush_tls(deadline, bound)?;
            if self.read_tls(deadline, bound, "")? == 0 {
                // rustls now knows the stream ended: the next `reader().read` says so.
                match self.conn.reader().read(buf) {
                    Ok(n) => return Ok(n),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(0),
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                    Err(err) => return Err(PushError::Io(err)),
                }
            }
        }
    }
}
