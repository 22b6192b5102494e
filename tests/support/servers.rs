//! Real servers a test starts and owns: gravel-gateway nodes, a Prometheus, and a TCP proxy the
//! test can turn off (refused connections) or make withhold the answer. Every process is started
//! under `setpriv --pdeathsig KILL`, so it dies with the test process, and is killed on drop.

use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long any server is given to come up.
const STARTUP: Duration = Duration::from_secs(60);

/// A port on loopback nobody listens on (yet).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The binary `var` names, or `name` on `PATH` (with `~/.cargo/bin`, where `cargo install` puts it).
pub fn binary(var: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return PathBuf::from(path);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let path = std::env::var("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from(home).join(".cargo/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("no {name}: set {var} or put it on PATH (.ci/run does)"))
}

/// A server process, killed when dropped.
pub struct Server {
    child: Child,
    pub name: String,
}

impl Server {
    /// Starts `program args` so that it dies with this process; its output goes to `log`.
    pub fn start(name: &str, program: &PathBuf, args: &[String], log: &PathBuf) -> Server {
        let log = std::fs::File::create(log).expect("a log file");
        let child = Command::new("setpriv")
            .args(["--pdeathsig", "KILL", "--"])
            .arg(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| panic!("{name} starts: {err}"));
        Server {
            child,
            name: name.to_owned(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`STOP`, `CONT`, `KILL`, `TERM`) to the server.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `kill -<signal> <pid>`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + STARTUP;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A directory of its own under the system's temp dir.
pub fn temp_dir(what: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "coldstart-{what}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    TempDir(dir)
}

/// A directory of the test's own (servers' data, configs), removed when dropped: declare it
/// before the servers that use it, so that they stop first.
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A gravel-gateway node on `127.0.0.1:port`; clustered with `peers` (their ports) when there
/// are any. A node's own ring entry is `http://<-l value>/metrics` and a peer's is
/// `http://<--peer value>`, so both are spelled `127.0.0.1:<port>/metrics`.
pub fn gravel(port: u16, peers: &[u16], dir: &std::path::Path) -> Server {
    let mut args = vec!["-l".to_owned(), format!("127.0.0.1:{port}")];
    if !peers.is_empty() {
        args.push("--cluster-enabled".to_owned());
        for peer in peers {
            args.push("--peer".to_owned());
            args.push(format!("127.0.0.1:{peer}/metrics"));
        }
    }
    let server = Server::start(
        &format!("gravel:{port}"),
        &binary("COLDSTART_GRAVEL", "gravel-gateway"),
        &args,
        &dir.join(format!("gravel-{port}.log")),
    );
    wait_for_port(port, "gravel-gateway");
    server
}

/// A Prometheus on loopback scraping `targets` (`(scrape job, host:port)`) every second with
/// `honor_labels: true` and a 500 ms scrape timeout; its URL.
pub fn prometheus(targets: &[(&str, String)], dir: &std::path::Path) -> (Server, String) {
    let mut config = String::from(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n  evaluation_interval: 1s\nscrape_configs:\n",
    );
    for (job, target) in targets {
        config.push_str(&format!(
            "  - job_name: {job}\n    honor_labels: true\n    static_configs:\n      - targets: [\"{target}\"]\n"
        ));
    }
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let port = free_port();
    let server = Server::start(
        "prometheus",
        &binary("COLDSTART_PROMETHEUS_BIN", "prometheus"),
        &[
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ],
        &dir.join("prometheus.log"),
    );
    wait_for_port(port, "prometheus");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + STARTUP;
    while !http_get(&url, "/-/ready").contains("Ready") {
        assert!(Instant::now() < deadline, "Prometheus never got ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, url)
}

/// What a [`Proxy`] does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Both ways, as they come.
    Forward = 0,
    /// Closed at once, unanswered (and open connections are cut).
    Refuse = 1,
    /// The request is forwarded and the upstream's whole answer read, then held back while the
    /// mode stays `Withhold`: a gateway that applies a push, then stalls. When the mode turns
    /// `Forward` the answer is passed on (the stall ends); `Refuse` closes the connection
    /// unanswered (the gateway dies).
    Withhold = 2,
}

/// A TCP proxy on loopback in front of `upstream`, whose [`Mode`] the test sets.
pub struct Proxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
}

impl Proxy {
    pub fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a proxy port");
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Forward as u8));
        let shared = Arc::clone(&mode);
        std::thread::spawn(move || {
            for client in listener.incoming().map_while(Result::ok) {
                let mode = Arc::clone(&shared);
                std::thread::spawn(move || serve(client, upstream, &mode));
            }
        });
        Proxy { port, mode }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn mode_of(mode: &AtomicU8) -> Mode {
    match mode.load(Ordering::SeqCst) {
        0 => Mode::Forward,
        1 => Mode::Refuse,
        _ => Mode::Withhold,
    }
}

fn serve(mut client: TcpStream, upstream: u16, mode: &Arc<AtomicU8>) {
    let current = mode_of(mode);
    if current == Mode::Refuse {
        return;
    }
    let Ok(mut server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return;
    };
    if current == Mode::Withhold {
        // The client sends `Connection: close`: the upstream answers and closes.
        let request = read_request(&mut client);
        let _ = server.write_all(&request);
        let mut answer = Vec::new();
        let _ = server.read_to_end(&mut answer);
        while mode_of(mode) == Mode::Withhold {
            std::thread::sleep(Duration::from_millis(10));
        }
        if mode_of(mode) == Mode::Forward {
            let _ = client.write_all(&answer);
        }
        return;
    }
    // Forward, both ways, until either side closes or the mode changes (a kept-alive scrape
    // connection is cut as soon as the test refuses).
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    let back = Arc::clone(mode);
    let reverse = std::thread::spawn(move || pump(server2, client2, &back));
    pump(client, server, mode);
    let _ = reverse.join();
}

fn pump(mut from: TcpStream, mut to: TcpStream, mode: &AtomicU8) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16 * 1024];
    loop {
        if mode_of(mode) != Mode::Forward {
            break;
        }
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(err)
                if matches!(
                    err.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// One HTTP request with a `Content-Length` body (or none), as bytes.
fn read_request(stream: &mut TcpStream) -> Vec<u8> {
    let mut request = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map_or(0, |n| n.trim().parse().unwrap_or(0));
            if request.len() >= end + 4 + length {
                return request;
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return request,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the servers.

pub type Labels = BTreeMap<String, String>;

/// `GET path` over HTTP/1.0 (no chunked body), the body.
pub fn http_get(base: &str, path: &str) -> String {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("the server is reachable");
    stream.set_read_timeout(Some(STARTUP)).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    match response.split_once("\r\n\r\n") {
        Some((_, body)) => body.to_owned(),
        None => panic!("no HTTP response from {base}{path}: {response:?}"),
    }
}

/// `promql` evaluated by Prometheus at `at` (Unix seconds): the result's series and values
/// (an instant vector's value, or a range vector's samples as `(ms, value)`).
pub fn promql(prometheus: &str, promql: &str, at: f64) -> Vec<(Labels, Value)> {
    let encoded: String = promql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let body = http_get(
        prometheus,
        &format!("/api/v1/query?query={encoded}&time={at:.3}"),
    );
    let answer: Value = serde_json::from_str(&body).expect("JSON from Prometheus");
    assert_eq!(answer["status"], "success", "{promql}: {answer}");
    answer["data"]["result"]
        .as_array()
        .expect("a vector")
        .iter()
        .map(|series| {
            let labels = series["metric"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect();
            let value = if series["values"].is_array() {
                series["values"].clone()
            } else {
                series["value"][1].clone()
            };
            (labels, value)
        })
        .collect()
}

/// An instant query's values, by the values of `by` (`""` for a label the series lacks).
pub fn instant(prometheus: &str, query: &str, at: f64, by: &str) -> BTreeMap<String, f64> {
    promql(prometheus, query, at)
        .into_iter()
        .map(|(labels, value)| {
            let value: f64 = value.as_str().expect("a sample").parse().unwrap();
            (labels.get(by).cloned().unwrap_or_default(), value)
        })
        .collect()
}

/// The timestamp (Unix seconds) of the first successful scrape of `scrape_job` that started
/// after `after` (Unix seconds): the first sample Prometheus holds of everything the target
/// held at `after`. Waits for one as long as it takes.
pub fn first_scrape_after(prometheus: &str, scrape_job: &str, after: f64) -> f64 {
    wait_for_up(prometheus, scrape_job, after, "1")
}

/// Waits until Prometheus holds a scrape of `scrape_job` after `after` with `up` = `value`.
pub fn wait_for_up(prometheus: &str, scrape_job: &str, after: f64, value: &str) -> f64 {
    let deadline = Instant::now() + STARTUP;
    loop {
        let now = unix_now();
        for (_, samples) in promql(prometheus, &format!("up{{job=\"{scrape_job}\"}}[60s]"), now) {
            for sample in samples.as_array().unwrap() {
                let at = sample[0].as_f64().unwrap();
                if at > after && sample[1] == value {
                    return at;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no scrape of {scrape_job} with up={value} after {after}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A gateway's exposition (`GET /metrics`): `(name, labels, value)` per sample line.
pub fn exposition(url: &str) -> Vec<(String, Labels, f64)> {
    http_get(url, "/metrics")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (name, block) = series.split_once('{').unwrap_or((series, "}"));
            let mut labels = Labels::new();
            for pair in block.trim_end_matches('}').split("\",") {
                if let Some((k, v)) = pair.split_once("=\"") {
                    labels.insert(
                        k.trim_start_matches(',').to_owned(),
                        v.trim_end_matches('"').to_owned(),
                    );
                }
            }
            Some((name.to_owned(), labels, value.parse().ok()?))
        })
        .collect()
}

/// The sum of `metric`'s samples in a gateway's exposition whose labels include `with`.
pub fn total(series: &[(String, Labels, f64)], metric: &str, with: &[(&str, &str)]) -> f64 {
    series
        .iter()
        .filter(|(name, labels, _)| {
            name == metric
                && with
                    .iter()
                    .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, value)| value)
        .sum()
}

/// `POST path` with `body` (HTTP/1.0), the whole response.
pub fn http_post(base: &str, path: &str, body: &str) -> String {
    let authority = base.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("the server is reachable");
    stream.set_read_timeout(Some(STARTUP)).unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
