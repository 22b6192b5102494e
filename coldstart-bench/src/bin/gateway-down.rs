//! What a gateway that is down costs each invocation (BENCHMARKS.md, "A gateway that is down"):
//! `AggregatingGateway::push_or_report` (with its back-off) against a push on every invocation.
//!
//! ```text
//! gateway-down [--calls 2000] [--every-ms 5]
//! ```
//!
//! One push per simulated invocation, `--every-ms` apart, for two kinds of outage: a port where
//! nothing listens (connection refused), and a gateway that accepts connections and never answers
//! (a stalled or overloaded one: each attempt waits for the 250 ms timeout). Prints, per case, the
//! cost of each call (p50, p99, max, mean) and how many calls attempted a push.

use coldstart::prometheus::{self, AggregatingGateway};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn run(label: &str, url: &str, calls: usize, every: Duration, back_off: bool) {
    let (recorder, handle) = prometheus::recorder(prometheus::builder());
    let gateway = AggregatingGateway::new(url, "down").expect("url");
    let mut costs = Vec::with_capacity(calls);
    let started = Instant::now();
    metrics::with_local_recorder(&recorder, || {
        for call in 0..calls {
            metrics::counter!("invocations").increment(1);
            let at = Instant::now();
            if back_off {
                gateway.push_or_report(&handle);
            } else {
                let _ = gateway.push(&handle);
            }
            costs.push(at.elapsed().as_secs_f64() * 1000.0);
            let next = every * (call as u32 + 1);
            std::thread::sleep(next.saturating_sub(started.elapsed()));
        }
    });
    let mean = costs.iter().sum::<f64>() / costs.len() as f64;
    costs.sort_by(f64::total_cmp);
    let attempts = if back_off {
        gateway.failures().to_string()
    } else {
        calls.to_string()
    };
    println!(
        "  {label:<44} p50 {:>9.4} ms  p99 {:>9.3} ms  max {:>8.3} ms  mean {:>8.4} ms  attempts {attempts}",
        quantile(&costs, 0.5),
        quantile(&costs, 0.99),
        costs[costs.len() - 1],
        mean,
    );
}

fn main() {
    let mut calls = 2000usize;
    let mut every_ms = 5u64;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--calls" => calls = value().parse().expect("--calls N"),
            "--every-ms" => every_ms = value().parse().expect("--every-ms N"),
            other => panic!("unknown argument {other:?}"),
        }
    }
    let every = Duration::from_millis(every_ms);
    let refused = {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        format!("http://127.0.0.1:{port}")
    };
    // Accepts (the kernel's backlog does) and never answers.
    let stalled_listener = TcpListener::bind("127.0.0.1:0").expect("a listener");
    let stalled = format!("http://{}", stalled_listener.local_addr().expect("addr"));
    println!(
        "{calls} calls, one every {every_ms} ms ({:.0} s per case)",
        (calls as u64 * every_ms) as f64 / 1000.0
    );
    run(
        "refused, push_or_report (back-off)",
        &refused,
        calls,
        every,
        true,
    );
    run("refused, push on every call", &refused, calls, every, false);
    // A stalled gateway costs the timeout per attempt: fewer calls without the back-off.
    run(
        "stalled, push_or_report (back-off)",
        &stalled,
        calls,
        every,
        true,
    );
    run(
        "stalled, push on every call",
        &stalled,
        calls / 20,
        every,
        false,
    );
    drop(stalled_listener);
}
