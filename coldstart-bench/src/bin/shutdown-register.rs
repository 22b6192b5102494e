//! What `Coldstart::on_shutdown` adds to INIT: `Coldstart::end_init` with a hook (which registers
//! `lambda_runtime`'s no-op graceful-shutdown extension, one round trip to the Extensions API)
//! against `end_init` without one, each call the first and only one of a fresh process, against
//! the local Runtime API on loopback.
//!
//! ```text
//! shutdown-register [--runs N]      (default 200 runs of each)
//! ```
//!
//! Each run spawns this binary twice (the order alternates run by run), once with the hook and
//! once without; the child times its `end_init` call with `Instant` and prints the nanoseconds.
//! One unrecorded warm-up pair comes first. Prints a Markdown table (median, quartiles, p90,
//! minimum) and the median of the per-run differences (each run pairs the two back to back).

use coldstart::lambda::Coldstart;
use coldstart_local::LocalRuntimeApi;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "SHUTDOWN_REGISTER_CHILD";
const MODES: [&str; 2] = ["without", "with"];

fn main() {
    if let Ok(mode) = std::env::var(CHILD) {
        child(&mode);
    }
    let mut args = std::env::args().skip(1);
    let mut runs = 200usize;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            other => panic!("unknown argument {other:?}; usage: shutdown-register [--runs N]"),
        }
    }
    let api = LocalRuntimeApi::start().expect("local Runtime API");
    let exe = std::env::current_exe().expect("this binary");
    let measure = |mode: &str| -> Duration {
        let out = Command::new(&exe)
            .env_clear()
            .envs(api.env())
            .env(CHILD, mode)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .expect("the child runs");
        assert!(out.status.success(), "child {mode}: {:?}", out.status);
        let nanos: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("the child prints nanoseconds");
        Duration::from_nanos(nanos)
    };
    for mode in MODES {
        measure(mode);
    }
    let mut samples = [Vec::with_capacity(runs), Vec::with_capacity(runs)];
    let mut differences = Vec::with_capacity(runs);
    for run in 0..runs {
        let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
        let mut pair = [Duration::ZERO; 2];
        for i in order {
            pair[i] = measure(MODES[i]);
            samples[i].push(pair[i]);
        }
        differences.push(pair[1].as_secs_f64() - pair[0].as_secs_f64());
    }
    let registered = api.extensions().len();
    assert_eq!(
        registered,
        runs + 1,
        "one registration per run with the hook"
    );

    println!("| `end_init` | runs | median | p25 | p75 | p90 | min |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (mode, samples) in MODES.iter().zip(samples.iter_mut()) {
        samples.sort();
        let at = |q: f64| micros(samples[((samples.len() - 1) as f64 * q).round() as usize]);
        println!(
            "| {mode} `on_shutdown` | {runs} | {} | {} | {} | {} | {} |",
            at(0.5),
            at(0.25),
            at(0.75),
            at(0.9),
            micros(samples[0])
        );
    }
    differences.sort_by(f64::total_cmp);
    let median = differences[differences.len() / 2];
    println!(
        "\nmedian of the paired differences (with - without): {:.1} µs",
        median * 1e6
    );
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// One `end_init`, timed, in a process of its own; prints the nanoseconds and exits.
fn child(mode: &str) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let took = runtime.block_on(async {
        let coldstart = Coldstart::new().print_report(false);
        let coldstart = if mode == "with" {
            coldstart.on_shutdown(|| {})
        } else {
            coldstart
        };
        let started = Instant::now();
        coldstart.end_init().await;
        started.elapsed()
    });
    println!("{}", took.as_nanos());
    std::process::exit(0);
}
