//! Push latency and series count as a fleet grows (BENCHMARKS.md, "A fleet of environments
//! pushing to Prometheus"): an aggregating gateway (gravel-gateway) against a Pushgateway.
//!
//! ```text
//! gateway-fleet [--envs 2000] [--gravel PATH] [--pushgateway PATH]
//! ```
//!
//! Starts both gateways on loopback (fresh, empty), then simulates `--envs` execution
//! environments one after the other. Each has its own recorder holding what coldstart records
//! for a cold invocation and a warm one (the cold start, both durations, INIT and its cost,
//! INIT's phases, a lazy static, memory, the two per-environment gauges), and pushes twice: the
//! first push after the cold invocation, the second after the warm one, the way the flush hook
//! does. To the aggregating gateway with an `AggregatingGateway` (increments, job only), to the
//! Pushgateway with a `Pushgateway` (the whole exposition, one group per environment).
//!
//! Prints, per gateway, the latency of each push (connect to status) for the first 100
//! environments and the last 100 (p50, p99, max), and the number of series the gateway exposes
//! after 100, 1,000 and all environments (sample lines of its `/metrics`).

use coldstart::names;
use coldstart::prometheus::{self, AggregatingGateway, Handle, Pushgateway};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn wait_until_listening(port: u16) {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `GET /metrics` on a gateway, as text.
fn metrics_text(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default()
}

/// Sample lines a gateway exposes (its own `go_`/`process_`/`push_` series left out).
fn series(port: u16) -> usize {
    metrics_text(port)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter(|l| l.starts_with("faas_") || l.starts_with("coldstart_"))
        .count()
}

/// What coldstart records for one environment's cold invocation (`warm == false`) or a warm one.
fn record(warm: bool, env: usize) {
    let h = names::LABEL_HANDLER;
    let start = if warm { "warm" } else { "cold" };
    let ms = |n: usize| (n % 97) as f64 / 1000.0;
    metrics::counter!(names::INVOCATIONS, h => "orders", names::LABEL_START => start).increment(1);
    metrics::histogram!(names::INVOKE_DURATION, h => "orders", names::LABEL_START => start)
        .record(0.004 + ms(env));
    metrics::histogram!(names::MEM_USAGE).record(48.0 * 1024.0 * 1024.0);
    metrics::gauge!(names::ENVIRONMENT_AGE, h => "orders").set(env as f64);
    if warm {
        metrics::gauge!(names::IDLE_DURATION, h => "orders").set(1.5);
        return;
    }
    metrics::counter!(names::COLDSTARTS, h => "orders").increment(1);
    metrics::histogram!(names::INIT_DURATION, names::LABEL_INIT_TYPE => "on-demand")
        .record(0.12 + ms(env));
    metrics::histogram!(names::INIT_GIGABYTE_SECONDS, names::LABEL_INIT_TYPE => "on-demand")
        .record(0.0625);
    for phase in ["init", "wait_for_first_event", "to_first_invocation"] {
        metrics::histogram!(names::PHASE_DURATION, names::LABEL_PHASE => phase,
            names::LABEL_DURING => "init", names::LABEL_OUTCOME => "ok")
        .record(0.03);
    }
    metrics::histogram!(names::LAZY_INIT_DURATION, names::LABEL_LAZY => "orders-db",
        names::LABEL_DURING => "cold", names::LABEL_OUTCOME => "ok")
    .record(0.02);
}

struct Gateways {
    children: Vec<Child>,
}

impl Drop for Gateways {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn summary(name: &str, latencies: &mut [f64]) {
    latencies.sort_by(f64::total_cmp);
    println!(
        "  {name:<28} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} pushes)",
        quantile(latencies, 0.5),
        quantile(latencies, 0.99),
        latencies[latencies.len() - 1],
        latencies.len()
    );
}

fn main() {
    let mut envs = 2000usize;
    let mut gravel = "gravel-gateway".to_owned();
    let mut pushgateway = "prometheus-pushgateway".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--envs" => envs = value().parse().expect("--envs N"),
            "--gravel" => gravel = value(),
            "--pushgateway" => pushgateway = value(),
            other => panic!("unknown argument {other:?}"),
        }
    }
    assert!(
        envs >= 200,
        "--envs must be at least 200 (first and last 100)"
    );
    let (gravel_port, pushgateway_port) = (free_port(), free_port());
    let _gateways = Gateways {
        children: vec![
            Command::new(&gravel)
                .args(["-l", &format!("127.0.0.1:{gravel_port}")])
                .stdout(Stdio::null())
                .spawn()
                .expect("gravel-gateway on PATH (cargo install gravel-gateway --locked)"),
            Command::new(&pushgateway)
                .arg(format!("--web.listen-address=127.0.0.1:{pushgateway_port}"))
                // Debian's default keeps (and reloads) every group ever pushed.
                .arg("--persistence.file=")
                .stderr(Stdio::null())
                .spawn()
                .expect("prometheus-pushgateway on PATH (Debian package)"),
        ],
    };
    wait_until_listening(gravel_port);
    wait_until_listening(pushgateway_port);

    let timeout = Duration::from_secs(10);
    let mut aggregated = (Vec::new(), Vec::new());
    let mut per_environment = (Vec::new(), Vec::new());
    let mut counts = Vec::new();
    let bench_started = Instant::now();
    for env in 0..envs {
        let (recorder, handle) = prometheus::recorder(prometheus::builder());
        let to_gravel =
            AggregatingGateway::new(&format!("http://127.0.0.1:{gravel_port}"), "orders")
                .expect("url")
                .timeout(timeout);
        let to_pushgateway =
            Pushgateway::new(&format!("http://127.0.0.1:{pushgateway_port}"), "orders")
                .expect("url")
                .instance(format!("env-{env}"))
                .timeout(timeout);
        for warm in [false, true] {
            metrics::with_local_recorder(&recorder, || record(warm, env));
            let timed = |push: &dyn Fn(&Handle)| {
                let started = Instant::now();
                push(&handle);
                started.elapsed().as_secs_f64() * 1000.0
            };
            let a = timed(&|h| to_gravel.push(h).expect("push to gravel-gateway"));
            let p = timed(&|h| to_pushgateway.push(h).expect("push to the Pushgateway"));
            if env < 100 {
                aggregated.0.push(a);
                per_environment.0.push(p);
            } else if env >= envs - 100 {
                aggregated.1.push(a);
                per_environment.1.push(p);
            }
        }
        if [100, 1000, envs].contains(&(env + 1)) {
            counts.push((env + 1, series(gravel_port), series(pushgateway_port)));
        }
    }
    println!(
        "{envs} environments, 2 pushes each, in {:.0} s",
        bench_started.elapsed().as_secs_f64()
    );
    println!("push latency (render + connect to status), aggregating gateway (gravel-gateway):");
    summary("environments 1-100", &mut aggregated.0);
    summary(
        &format!("environments {}-{envs}", envs - 99),
        &mut aggregated.1,
    );
    println!("push latency, Pushgateway (one group per environment):");
    summary("environments 1-100", &mut per_environment.0);
    summary(
        &format!("environments {}-{envs}", envs - 99),
        &mut per_environment.1,
    );
    println!("series exposed (faas_*/coldstart_* sample lines):");
    for (n, gravel, pushgateway) in counts {
        println!(
            "  after {n:>5} environments: aggregating {gravel:>6}   Pushgateway {pushgateway:>8}"
        );
    }
}
