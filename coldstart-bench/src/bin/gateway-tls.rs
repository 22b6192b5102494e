//! What TLS (feature `tls`) adds to a push to an aggregating gateway (issue 21 §5): the same
//! `AggregatingGateway::push` to a local gravel-gateway over plain HTTP and over TLS, on the cold
//! path (the first push of a fresh process: nothing to resume, nothing warm) and on later pushes
//! (the TLS session resumed from the first push's ticket), and what basic auth costs on top when
//! the gateway checks a bcrypt hash of cost 10.
//!
//! ```text
//! gateway-tls [SAMPLES]      # default 200; gravel-gateway from COLDSTART_GRAVEL or PATH
//! ```
//!
//! Starts three gravel-gateways on loopback (plain; TLS; TLS with `--basic-auth-file`, cost 10)
//! with a CA and certificate made here, then:
//! - SAMPLES fresh processes per protocol (this binary again, alternating), each timing its
//!   gateway's construction (`new` + `ca_certificate_pem`: in INIT on Lambda), its first push
//!   and its second push, and saying whether the second resumed the first one's session;
//! - in this process, SAMPLES rounds of: a later push on each of three long-lived gateways
//!   (plain, TLS, TLS + basic auth), and the first push of a new TLS gateway (a full handshake in
//!   a warm process).
//!
//! Prints median, p99 and max of each, in microseconds. Every push carries the same metrics
//! (a cold start, an invocation, a duration histogram) in coldstart's seeded delta, where every
//! start kind, failure outcome and init type is present (at zero until recorded).

use coldstart::names;
use coldstart::prometheus::{self, AggregatingGateway};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_URL: &str = "GATEWAY_TLS_CHILD_URL";
const CHILD_CA: &str = "GATEWAY_TLS_CHILD_CA";
const PASSWORD: &str = "bench-password";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(url) = std::env::var(CHILD_URL) {
        return child(&url);
    }
    let samples: usize = std::env::args()
        .nth(1)
        .map(|n| n.parse())
        .transpose()?
        .unwrap_or(200);
    let dir = std::env::temp_dir().join(format!("coldstart-gateway-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let ca = make_pki(&dir)?;
    std::fs::write(dir.join("hashes"), bcrypt::hash(PASSWORD, 10)? + "\n")?;
    let plain = Gravel::start(&dir, &[])?;
    let tls = Gravel::start(&dir, &["--tls-cert", "cert.pem", "--tls-key", "key.pem"])?;
    let auth = Gravel::start(
        &dir,
        &[
            "--tls-cert",
            "cert.pem",
            "--tls-key",
            "key.pem",
            "--basic-auth-file",
            "hashes",
        ],
    )?;
    let plain_url = format!("http://127.0.0.1:{}", plain.port);
    let tls_url = format!("https://127.0.0.1:{}", tls.port);
    let auth_url = format!("https://127.0.0.1:{}", auth.port);

    // Fresh processes: the cold path.
    let exe = std::env::current_exe()?;
    let mut cold_plain = Cold::default();
    let mut cold_tls = Cold::default();
    for _ in 0..samples {
        for (url, into) in [(&plain_url, &mut cold_plain), (&tls_url, &mut cold_tls)] {
            let out = Command::new(&exe)
                .env(CHILD_URL, url)
                .env(CHILD_CA, &ca)
                .stderr(Stdio::inherit())
                .output()?;
            if !out.status.success() {
                return Err(format!("child for {url} failed: {}", out.status).into());
            }
            into.add(std::str::from_utf8(&out.stdout)?)?;
        }
    }

    // This process: long-lived gateways, and new TLS gateways' first pushes.
    let (recorder, handle) = prometheus::recorder(prometheus::builder());
    let record = || {
        metrics::with_local_recorder(&recorder, || {
            record_invocation();
        })
    };
    record();
    let ca_pem = std::fs::read(&ca)?;
    let warm_plain = AggregatingGateway::new(&plain_url, "bench")?.timeout(Duration::from_secs(5));
    let warm_tls = AggregatingGateway::new(&tls_url, "bench")?
        .ca_certificate_pem(&ca_pem)?
        .timeout(Duration::from_secs(5));
    let warm_auth = AggregatingGateway::new(&auth_url, "bench")?
        .ca_certificate_pem(&ca_pem)?
        .basic_auth("lambda", PASSWORD)?
        .timeout(Duration::from_secs(5));
    for gateway in [&warm_plain, &warm_tls, &warm_auth] {
        gateway.push(&handle)?;
    }
    let (mut later_plain, mut later_tls, mut later_auth, mut first_new_tls, mut new_tls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples {
        record();
        later_plain.push(timed(|| warm_plain.push(&handle))?);
        record();
        later_tls.push(timed(|| warm_tls.push(&handle))?);
        record();
        later_auth.push(timed(|| warm_auth.push(&handle))?);
        record();
        let started = Instant::now();
        let gateway = AggregatingGateway::new(&tls_url, "bench")?
            .ca_certificate_pem(&ca_pem)?
            .timeout(Duration::from_secs(5));
        new_tls.push(started.elapsed());
        first_new_tls.push(timed(|| gateway.push(&handle))?);
    }

    println!(
        "gateway-tls: {samples} samples each; {}; {}",
        machine(),
        command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"])
    );
    println!("{:<58} {:>9} {:>9} {:>9}", "µs", "median", "p99", "max");
    let row = |name: &str, times: &mut Vec<Duration>| {
        let (median, p99, max) = stats(times);
        println!("{name:<58} {median:>9.0} {p99:>9.0} {max:>9.0}");
    };
    row("fresh process: gateway new, http", &mut cold_plain.new);
    row(
        "fresh process: gateway new + ca_certificate_pem, https",
        &mut cold_tls.new,
    );
    row("fresh process: first push, http", &mut cold_plain.first);
    row(
        "fresh process: first push, https (full handshake)",
        &mut cold_tls.first,
    );
    row("fresh process: second push, http", &mut cold_plain.second);
    row(
        "fresh process: second push, https (resumed)",
        &mut cold_tls.second,
    );
    row(
        "warm process: new https gateway, first push",
        &mut first_new_tls,
    );
    row(
        "warm process: new https gateway + CA (construction)",
        &mut new_tls,
    );
    row("warm process: later push, http", &mut later_plain);
    row("warm process: later push, https", &mut later_tls);
    row(
        "warm process: later push, https + basic auth (bcrypt 10)",
        &mut later_auth,
    );
    println!(
        "fresh processes whose second https push resumed the first one's session: {} of {}",
        cold_tls.resumed, samples
    );
    println!("long-lived https gateway: {warm_tls:?}");
    println!("long-lived https + auth gateway: {warm_auth:?}");
    drop((plain, tls, auth));
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One fresh process: times the gateway's construction, its first and its second push, and
/// prints them with whether the second push resumed the session.
fn child(url: &str) -> Result<(), Box<dyn std::error::Error>> {
    let (recorder, handle) = prometheus::recorder(prometheus::builder());
    metrics::with_local_recorder(&recorder, record_invocation);
    let started = Instant::now();
    let mut gateway = AggregatingGateway::new(url, "bench")?.timeout(Duration::from_secs(5));
    if url.starts_with("https://") {
        gateway = gateway.ca_certificate_pem(std::fs::read(std::env::var(CHILD_CA)?)?)?;
    }
    let new = started.elapsed();
    let first = timed(|| gateway.push(&handle))?;
    metrics::with_local_recorder(&recorder, record_invocation);
    let second = timed(|| gateway.push(&handle))?;
    let resumed = format!("{gateway:?}").contains("tls_resumed: 1");
    println!(
        "{} {} {} {resumed}",
        new.as_nanos(),
        first.as_nanos(),
        second.as_nanos()
    );
    Ok(())
}

fn record_invocation() {
    metrics::counter!(names::COLDSTARTS, names::LABEL_HANDLER => "bench").increment(1);
    metrics::counter!(names::INVOCATIONS, names::LABEL_HANDLER => "bench", names::LABEL_START => "cold")
        .increment(1);
    metrics::histogram!(names::INVOKE_DURATION, names::LABEL_HANDLER => "bench", names::LABEL_START => "cold")
        .record(0.012);
}

fn timed<E>(f: impl FnOnce() -> Result<(), E>) -> Result<Duration, E> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed())
}

#[derive(Default)]
struct Cold {
    new: Vec<Duration>,
    first: Vec<Duration>,
    second: Vec<Duration>,
    resumed: usize,
}

impl Cold {
    fn add(&mut self, line: &str) -> Result<(), Box<dyn std::error::Error>> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [new, first, second, resumed] = fields.as_slice() else {
            return Err(format!("child printed {line:?}").into());
        };
        self.new.push(Duration::from_nanos(new.parse()?));
        self.first.push(Duration::from_nanos(first.parse()?));
        self.second.push(Duration::from_nanos(second.parse()?));
        self.resumed += usize::from(*resumed == "true");
        Ok(())
    }
}

/// (median, p99, max) in microseconds.
fn stats(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 - 1.0) * q).round() as usize;
        times[i].as_secs_f64() * 1e6
    };
    (at(0.5), at(0.99), at(1.0))
}

fn machine() -> String {
    format!(
        "nproc {}, load {}",
        command_output("nproc", &[]),
        command_output("uptime", &[])
            .rsplit("load average:")
            .next()
            .unwrap_or("?")
            .trim()
    )
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A CA and a certificate it signed for `localhost` and 127.0.0.1, in `dir`; returns the CA's
/// PEM path.
fn make_pki(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "coldstart bench CA");
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let ca = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])?
        .signed_by(&key, &ca)?;
    std::fs::write(dir.join("cert.pem"), cert.pem())?;
    std::fs::write(dir.join("key.pem"), key.serialize_pem())?;
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem())?;
    Ok(ca_path)
}

fn gravel_binary() -> PathBuf {
    std::env::var_os("COLDSTART_GRAVEL")
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH")
                .iter()
                .flat_map(std::env::split_paths)
                .map(|dir| dir.join("gravel-gateway"))
                .find(|path| path.is_file())
        })
        .expect("gravel-gateway: set COLDSTART_GRAVEL or put it on PATH")
}

/// A gravel-gateway on loopback, run in `dir` with `args`; killed when dropped.
struct Gravel {
    child: Child,
    port: u16,
}

impl Gravel {
    fn start(dir: &Path, args: &[&str]) -> Result<Gravel, Box<dyn std::error::Error>> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(gravel_binary())
            .current_dir(dir)
            .args(["-l", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut gravel = Gravel { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = gravel.child.try_wait()? {
                return Err(format!("gravel-gateway {args:?} exited: {status}").into());
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err("gravel-gateway did not listen within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(gravel)
    }
}

impl Drop for Gravel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
