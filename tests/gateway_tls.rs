//! Pushes over TLS with basic auth to a REAL gravel-gateway (`--tls-cert/--tls-key`,
//! `--basic-auth-file`): the right credentials get through and the values read back are the
//! pushed ones; wrong ones are refused, counted in `coldstart.export_failures` and the
//! increments kept for a later push; a certificate for another name or from an untrusted CA is
//! refused before anything is sent; later pushes resume the first push's TLS session; the
//! password shows nowhere.
//!
//! The CA, the server certificate and the bcrypt hash are made here. `.ci/run` installs
//! gravel-gateway and exports `COLDSTART_GRAVEL` (its path); otherwise it is looked up on `PATH`.
//! A plain `cargo test` skips these (`#[ignore]`); run them with `--ignored`, where a missing
//! gravel-gateway fails them rather than skipping anything.

use coldstart::names;
use coldstart::prometheus::{self, AggregatingGateway, Handle, PushError, Pushgateway};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RIGHT: &str = "r1ght-pa55word";
const WRONG: &str = "wr0ng-pa55word";
/// Generous: a loaded CI machine, bcrypt on the gateway; how long a push takes is measured in
/// coldstart-bench (`gateway-tls`), not asserted here.
const BOUND: Duration = Duration::from_secs(10);

fn gravel_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("COLDSTART_GRAVEL").filter(|path| !path.is_empty()) {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join("gravel-gateway"))
        .find(|path| path.is_file())
        .expect(
            "gravel-gateway not found: set COLDSTART_GRAVEL to its path or put it on PATH \
             (`cargo install gravel-gateway --version 1.7.1 --locked`; .ci/run installs it)",
        )
}

/// A CA, and a server certificate it signed for `localhost` only, in a directory of their own.
struct Pki {
    dir: PathBuf,
    ca_pem: String,
}

impl Pki {
    fn new(name: &str) -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let dir = std::env::temp_dir().join(format!(
            "coldstart-gateway-tls-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "coldstart test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let ca = Issuer::new(ca_params, ca_key);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        std::fs::write(dir.join("cert.pem"), server_cert.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), server_key.serialize_pem()).unwrap();
        Pki {
            dir,
            ca_pem: ca_cert.pem(),
        }
    }

    /// Writes the gateway's basic-auth file: one bcrypt hash per line (gravel-gateway 1.7.1
    /// checks the password against the first line only).
    fn accept_passwords(&self, passwords: &[&str]) -> PathBuf {
        let hashes: Vec<String> = passwords
            .iter()
            .map(|password| bcrypt::hash(password, 4).unwrap())
            .collect();
        let path = self.dir.join("hashes");
        std::fs::write(&path, hashes.join("\n") + "\n").unwrap();
        path
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A gravel-gateway serving TLS with `pki`'s certificate and checking basic auth, on loopback;
/// killed when dropped.
struct Gravel {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Gravel {
    fn start(pki: &Pki, hashes: &Path, port: Option<u16>) -> Gravel {
        let port = port.unwrap_or_else(|| {
            TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        });
        let log = pki.dir.join(format!("gravel-{port}.log"));
        let child = Command::new(gravel_binary())
            .args(["-l", &format!("127.0.0.1:{port}")])
            .arg("--tls-cert")
            .arg(pki.dir.join("cert.pem"))
            .arg("--tls-key")
            .arg(pki.dir.join("key.pem"))
            .arg("--basic-auth-file")
            .arg(hashes)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(pki.dir.join(format!("gravel-{port}.err"))).unwrap())
            .spawn()
            .expect("gravel-gateway starts");
        let mut gravel = Gravel { child, port, log };
        gravel.wait_until_listening();
        gravel
    }

    fn wait_until_listening(&mut self) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "gravel-gateway exited ({status}): {}",
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "gravel-gateway did not listen on {} within 30 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}", self.port)
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }

    /// The gateway's exposition, read over TLS (trusting `pki`'s CA) with a client of the test's
    /// own.
    fn metrics(&self, pki: &Pki) -> String {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
            .unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let tcp = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        tcp.set_read_timeout(Some(BOUND)).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut response = Vec::new();
        match tls.read_to_end(&mut response) {
            Ok(_) => {}
            // Closed without close_notify after the response.
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => {}
            Err(err) => panic!("reading /metrics: {err}"),
        }
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        body.to_owned()
    }
}

impl Drop for Gravel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the sample of `name` whose labels include every one of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .find(|(series, _)| {
            let (series_name, rest) = series.split_once('{').unwrap_or((series, ""));
            series_name == name
                && labels
                    .iter()
                    .all(|(label, value)| rest.contains(&format!("{label}=\"{value}\"")))
        })
        .map(|(_, value)| value.parse().unwrap())
}

/// Every text a failure or a gateway can show: what must not hold the password.
fn assert_no_password(texts: &[String]) {
    for text in texts {
        for secret in [RIGHT, WRONG] {
            assert!(!text.contains(secret), "the password shows in {text:?}");
        }
    }
}

/// gravel-gateway 1.7.1 refuses a whole push (400) with a counter not named `..._total`.
fn record(rec: &impl metrics::Recorder, coldstarts: u64, orders: u64) {
    metrics::with_local_recorder(rec, || {
        metrics::counter!(names::COLDSTARTS, names::LABEL_HANDLER => "tls").increment(coldstarts);
        metrics::counter!("orders_handled_total").increment(orders);
    });
}

fn export_failures(handle: &Handle) -> Option<f64> {
    value(
        &handle.render(),
        "coldstart_export_failures_total",
        &[("exporter", "aggregating-gateway")],
    )
}

/// Sets the credentials one test reads with `basic_auth_from_env`, once per binary. Every test
/// of this binary calls it first, so no test thread is doing anything else while it runs.
fn credentials_in_the_environment() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: every other test thread of this binary is blocked on `ONCE` or not started
        // (each calls this first), and none has started a thread of its own yet.
        unsafe {
            std::env::set_var("COLDSTART_TEST_GATEWAY_USER", "lambda");
            std::env::set_var("COLDSTART_TEST_GATEWAY_PASSWORD", RIGHT);
        }
    });
}

#[test]
#[ignore = "needs gravel-gateway (.ci/run installs it)"]
fn right_credentials_get_through_wrong_ones_are_refused_counted_and_their_increments_kept() {
    credentials_in_the_environment();
    let pki = Pki::new("auth");
    let gravel = Gravel::start(&pki, &pki.accept_passwords(&[RIGHT]), None);
    let url = gravel.url("localhost");
    let (rec, handle) = prometheus::recorder(prometheus::builder());
    record(&rec, 1, 3);

    // The wrong password: refused with a message that says so; counted; nothing applied.
    let wrong = AggregatingGateway::new(&url, "tls-auth")
        .unwrap()
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap()
        .basic_auth("lambda", WRONG)
        .unwrap()
        .timeout(BOUND)
        .max_backoff(Duration::from_millis(1));
    let refused = metrics::with_local_recorder(&rec, || wrong.push_or_report(&handle));
    assert!(!refused);
    assert_eq!(wrong.failures(), 1);
    assert_eq!(export_failures(&handle), Some(1.0));
    std::thread::sleep(Duration::from_millis(5));
    let err = wrong.push(&handle).unwrap_err();
    assert!(matches!(err, PushError::Status(403)), "{err:?}");
    assert!(
        err.to_string().contains("refused the push's credentials"),
        "{err}"
    );
    let after_refusals = gravel.metrics(&pki);
    assert_eq!(
        value(&after_refusals, "orders_handled_total", &[]),
        None,
        "{after_refusals}"
    );

    // The right password, from the environment: pushed, and the gateway holds the values.
    credentials_in_the_environment();
    let right = AggregatingGateway::new(&url, "tls-auth")
        .unwrap()
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap()
        .basic_auth_from_env(
            "COLDSTART_TEST_GATEWAY_USER",
            "COLDSTART_TEST_GATEWAY_PASSWORD",
        )
        .unwrap()
        .timeout(BOUND);
    right.push(&handle).unwrap();
    let text = gravel.metrics(&pki);
    assert_eq!(
        value(&text, "faas_coldstarts_total", &[("handler", "tls")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "orders_handled_total", &[]),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "coldstart_export_failures_total",
            &[("exporter", "aggregating-gateway")]
        ),
        Some(1.0),
        "{text}"
    );

    // The operator gives the gateway the password the first gateway holds (gravel-gateway 1.7.1
    // checks the first hash of its file only) and restarts it, empty: that gateway's next push
    // carries everything it could not deliver, counted once.
    let port = gravel.stop();
    let gravel = Gravel::start(&pki, &pki.accept_passwords(&[WRONG]), Some(port));
    record(&rec, 0, 2);
    wrong.push(&handle).unwrap();
    let text = gravel.metrics(&pki);
    assert_eq!(
        value(&text, "faas_coldstarts_total", &[("handler", "tls")]),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "orders_handled_total", &[]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "coldstart_export_failures_total",
            &[("exporter", "aggregating-gateway")]
        ),
        Some(1.0),
        "{text}"
    );

    assert_no_password(&[
        format!("{err}"),
        format!("{err:?}"),
        format!("{wrong:?}"),
        format!("{right:?}"),
        handle.render(),
    ]);
    assert!(format!("{wrong:?}").contains("lambda"), "{wrong:?}");
}

#[test]
#[ignore = "needs gravel-gateway (.ci/run installs it)"]
fn a_certificate_for_another_name_or_from_an_untrusted_ca_is_refused_before_sending() {
    credentials_in_the_environment();
    let pki = Pki::new("names");
    let gravel = Gravel::start(&pki, &pki.accept_passwords(&[RIGHT]), None);
    let (rec, handle) = prometheus::recorder(prometheus::builder());
    record(&rec, 1, 1);

    // The certificate holds `localhost` only; the URL names 127.0.0.1.
    let other_name = AggregatingGateway::new(&gravel.url("127.0.0.1"), "tls-names")
        .unwrap()
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap()
        .basic_auth("lambda", RIGHT)
        .unwrap()
        .timeout(BOUND);
    let err = other_name.push(&handle).unwrap_err();
    assert!(matches!(err, PushError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("not valid for name"), "{err}");
    assert!(metrics::with_local_recorder(&rec, || !other_name.push_or_report(&handle)));
    assert_eq!(other_name.failures(), 1);
    assert_eq!(export_failures(&handle), Some(1.0));

    // The right name, but the CA is not trusted (Mozilla's roots only).
    let untrusted = AggregatingGateway::new(&gravel.url("localhost"), "tls-names")
        .unwrap()
        .basic_auth("lambda", RIGHT)
        .unwrap()
        .timeout(BOUND);
    let untrusted_err = untrusted.push(&handle).unwrap_err();
    assert!(
        matches!(untrusted_err, PushError::Tls(_)),
        "{untrusted_err:?}"
    );
    let message = untrusted_err.to_string();
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(message.contains("ca_certificate_pem"), "{message}");

    // Another CA trusted instead: refused all the same.
    let other_ca = Pki::new("other-ca");
    let wrong_ca = AggregatingGateway::new(&gravel.url("localhost"), "tls-names")
        .unwrap()
        .ca_certificate_pem(&other_ca.ca_pem)
        .unwrap()
        .timeout(BOUND);
    assert!(matches!(wrong_ca.push(&handle), Err(PushError::Tls(_))));

    // Nothing reached the gateway, and nothing was lost: the first push that is trusted and
    // authorized carries it all.
    let text = gravel.metrics(&pki);
    assert_eq!(value(&text, "orders_handled_total", &[]), None, "{text}");
    let good = AggregatingGateway::new(&gravel.url("localhost"), "tls-names")
        .unwrap()
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap()
        .basic_auth("lambda", RIGHT)
        .unwrap()
        .timeout(BOUND);
    good.push(&handle).unwrap();
    let text = gravel.metrics(&pki);
    assert_eq!(
        value(&text, "orders_handled_total", &[]),
        Some(1.0),
        "{text}"
    );

    assert_no_password(&[
        format!("{err}"),
        format!("{err:?}"),
        message,
        format!("{untrusted_err:?}"),
        format!("{other_name:?}"),
        format!("{untrusted:?}"),
    ]);
}

#[test]
#[ignore = "needs gravel-gateway (.ci/run installs it)"]
fn later_pushes_resume_the_first_pushs_tls_session() {
    credentials_in_the_environment();
    let pki = Pki::new("resume");
    let gravel = Gravel::start(&pki, &pki.accept_passwords(&[RIGHT]), None);
    let (rec, handle) = prometheus::recorder(prometheus::builder());
    let gateway = AggregatingGateway::new(&gravel.url("localhost"), "tls-resume")
        .unwrap()
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap()
        .basic_auth("lambda", RIGHT)
        .unwrap()
        .timeout(BOUND);
    for _ in 0..3 {
        record(&rec, 0, 1);
        gateway.push(&handle).unwrap();
    }
    // The gateway's Debug counts its handshakes: the first is full, the next two resumed the
    // session the first one's ticket gave (one ClientConfig per gateway).
    let debug = format!("{gateway:?}");
    assert!(debug.contains("tls_handshakes: 3"), "{debug}");
    assert!(debug.contains("tls_resumed: 2"), "{debug}");
    let text = gravel.metrics(&pki);
    assert_eq!(
        value(&text, "orders_handled_total", &[]),
        Some(3.0),
        "{text}"
    );
}

#[test]
#[ignore = "needs gravel-gateway (.ci/run installs it)"]
fn the_per_environment_pushgateway_speaks_tls_and_basic_auth_too() {
    credentials_in_the_environment();
    let pki = Pki::new("pushgateway");
    let gravel = Gravel::start(&pki, &pki.accept_passwords(&[RIGHT]), None);
    let (rec, handle) = prometheus::recorder(prometheus::builder());
    record(&rec, 1, 4);
    let gateway = |password: &str| {
        Pushgateway::new(&gravel.url("localhost"), "tls-pushgateway")
            .unwrap()
            .instance("env-1")
            .ca_certificate_pem(&pki.ca_pem)
            .unwrap()
            .basic_auth("lambda", password)
            .unwrap()
            .timeout(BOUND)
    };
    let wrong = gateway(WRONG);
    assert!(!metrics::with_local_recorder(&rec, || wrong.push_or_report(&handle)));
    assert_eq!(wrong.failures(), 1);
    assert_eq!(
        value(
            &handle.render(),
            "coldstart_export_failures_total",
            &[("exporter", "pushgateway")]
        ),
        Some(1.0)
    );
    gateway(RIGHT).push(&handle).unwrap();
    let text = gravel.metrics(&pki);
    assert_eq!(
        value(&text, "orders_handled_total", &[("instance", "env-1")]),
        Some(4.0),
        "{text}"
    );
    assert_no_password(&[format!("{wrong:?}")]);
}

/// More than rustls buffers at a time (64 KiB): the push is sent whole.
#[test]
#[ignore = "needs gravel-gateway (.ci/run installs it)"]
fn a_large_exposition_is_sent_whole() {
    credentials_in_the_environment();
    let pki = Pki::new("large");
    let gravel = Gravel::start(&pki, &pki.accept_passwords(&[RIGHT]), None);
    let (rec, handle) = prometheus::recorder(prometheus::builder());
    metrics::with_local_recorder(&rec, || {
        for n in 0..3000 {
            metrics::counter!("items_total", "item" => format!("item-{n}")).increment(n);
        }
    });
    let body = prometheus::render(&handle);
    assert!(body.len() > 64 * 1024, "{} bytes", body.len());
    let gateway = AggregatingGateway::new(&gravel.url("localhost"), "tls-large")
        .unwrap()
        .ca_certificate_pem(&pki.ca_pem)
        .unwrap()
        .basic_auth("lambda", RIGHT)
        .unwrap()
        .timeout(BOUND);
    gateway.push(&handle).unwrap();
    let text = gravel.metrics(&pki);
    assert_eq!(
        value(&text, "items_total", &[("item", "item-2999")]),
        Some(2999.0),
        "{}",
        &text[..text.len().min(2000)]
    );
}
