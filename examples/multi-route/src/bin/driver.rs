//! Measures the multi-route function the way a user meets it: starts it cold (under Lambda's CPU
//! share and memory limit for each `--memory` size, with `cargo coldstart`'s cgroup sandbox), sends
//! request 1 to `orders`, waits until the function asks for the next event, sends request 2 to
//! `match` (the first request to another route), then request 3 to `match` again (warm), and
//! prints, per size and mode, exec → first response and the second route's first request against
//! the warm one (p50 and p99 over `--runs` starts; the modes alternate run by run).
//!
//! ```text
//! cargo build --release -p multi-route
//! target/release/driver --runs 10 --memory 128,512,1769 [--modes eager,lazy,warm] [--gap-ms 100] [--init-cpu full|proportional]
//! ```
//!
//! `--init-cpu` is INIT's CPU model, as in `cargo coldstart`: `full` (the default, the on-demand
//! boost) runs INIT with at least one vCPU and switches to the size's share when the function
//! first asks for an event; `proportional` keeps the size's share (memory / 1,769 of a vCPU)
//! throughout. The requests after INIT always run at the size's share.
//!
//! Requests 2 and 3 are each sent `--gap-ms` (default 100, one CFS period) after the function
//! asks for its next event. Under a CPU quota a request sent the instant a warm-up ends may find
//! the period's quota spent and wait for the next period (up to 93 ms at 128 MB), which says
//! when the request came, not what it cost; `--gap-ms 0` measures that case.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cargo_coldstart::limits::{LambdaSize, Sandbox};
use coldstart_local::{LocalEvent, LocalRuntimeApi};
use serde_json::json;

/// One cold start's numbers, in milliseconds.
struct Run {
    to_first_response: f64,
    /// From the first response to the function's next `/next` (the warm-up's hold).
    hold: f64,
    second_route_first: f64,
    second_route_warm: f64,
}

fn main() {
    let mut runs = 10usize;
    let mut sizes = vec![128u32, 512, 1769];
    let mut modes: Vec<String> = ["eager", "lazy", "warm"].map(str::to_owned).to_vec();
    let mut gap = Duration::from_millis(100);
    let mut init_full = true;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--runs" => runs = value.parse().expect("--runs N"),
            "--memory" => sizes = value.split(',').map(|s| s.parse().expect("MB")).collect(),
            "--modes" => modes = value.split(',').map(str::to_owned).collect(),
            "--gap-ms" => gap = Duration::from_millis(value.parse().expect("--gap-ms MS")),
            "--init-cpu" => {
                init_full = match value.as_str() {
                    "full" => true,
                    "proportional" => false,
                    other => panic!("--init-cpu full|proportional, not {other}"),
                }
            }
            other => {
                panic!("unknown argument {other}; expected --runs, --memory, --modes, --gap-ms, --init-cpu")
            }
        }
    }
    let function = std::env::current_exe()
        .expect("own path")
        .with_file_name("multi-route");
    println!(
        "{runs} cold starts per mode and size, INIT CPU {}, requests 2 and 3 sent {} ms after /next; ms, p50 / p99",
        if init_full { "full (at least one vCPU)" } else { "proportional (memory / 1769)" },
        gap.as_millis()
    );
    println!(
        "| memory | mode | exec → first response | hold after it | 2nd route, first request | 2nd route, warm | ratio (per run) |"
    );
    println!("|---|---|---|---|---|---|---|");
    for memory_mb in sizes {
        let sandbox = match Sandbox::create(LambdaSize { memory_mb }) {
            Ok(sandbox) => Some(sandbox),
            Err(reason) => {
                eprintln!("driver: {memory_mb} MB without limits: {reason}");
                None
            }
        };
        let mut results: Vec<Vec<Run>> = modes.iter().map(|_| Vec::new()).collect();
        for i in 0..runs {
            for k in 0..modes.len() {
                // The order rotates, so that no mode always runs first.
                let m = (i + k) % modes.len();
                results[m].push(cold_start(
                    &function,
                    &modes[m],
                    memory_mb,
                    sandbox.as_ref(),
                    gap,
                    init_full,
                ));
            }
        }
        for (mode, runs) in modes.iter().zip(&results) {
            let column = |f: fn(&Run) -> f64| {
                let mut values: Vec<f64> = runs.iter().map(f).collect();
                format!(
                    "{:.1} / {:.1}",
                    percentile(&mut values, 50.0),
                    percentile(&mut values, 99.0)
                )
            };
            let mut ratios: Vec<f64> = runs
                .iter()
                .map(|r| r.second_route_first / r.second_route_warm)
                .collect();
            println!(
                "| {memory_mb} MB | {mode} | {} | {} | {} | {} | {:.2}× / {:.2}× |",
                column(|r| r.to_first_response),
                column(|r| r.hold),
                column(|r| r.second_route_first),
                column(|r| r.second_route_warm),
                percentile(&mut ratios, 50.0),
                percentile(&mut ratios, 99.0),
            );
        }
    }
}

fn cold_start(
    function: &PathBuf,
    mode: &str,
    memory_mb: u32,
    sandbox: Option<&Sandbox>,
    gap: Duration,
    init_full: bool,
) -> Run {
    let share = f64::from(memory_mb) / 1769.0;
    if let Some(sandbox) = sandbox {
        let init_share = if init_full { share.max(1.0) } else { share };
        sandbox
            .set_cpu_share(init_share)
            .expect("set INIT's CPU share");
    }
    let api = LocalRuntimeApi::builder()
        .function_name("multi-route")
        .memory_mb(memory_mb)
        .default_deadline(Duration::from_secs(60))
        .start()
        .expect("local Runtime API");
    let mut command = Command::new(function);
    command
        .envs(api.env())
        .env("MULTI_ROUTE_MODE", mode)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(sandbox) = sandbox {
        // SAFETY: the hook only calls pwrite(2) on descriptors opened before the fork.
        #[allow(unsafe_code)]
        unsafe {
            command.pre_exec(sandbox.pre_exec_hook());
        }
    }
    let exec = Instant::now();
    let mut child = command.spawn().expect("start the function");
    if let Some(sandbox) = sandbox.filter(|_| init_full) {
        // INIT ends when the function first asks for an event: from there, the size's share.
        while api.pending_next_requests() == 0 {
            std::thread::sleep(Duration::from_micros(100));
        }
        sandbox
            .set_cpu_share(share)
            .expect("set the size's CPU share");
    }
    api.push(LocalEvent::json(&json!({ "route": "orders" })));
    let first = wait_for(&api, 1);
    // The function asks for the next event when its after-response work (and warm-up) is done.
    while api.pending_next_requests() == 0 {
        std::thread::sleep(Duration::from_micros(200));
    }
    let asked = Instant::now();
    let path = "/v1/items-54/1234/view";
    std::thread::sleep(gap);
    api.push(LocalEvent::json(&json!({ "route": "match", "path": path })));
    let second = wait_for(&api, 2);
    while api.pending_next_requests() == 0 {
        std::thread::sleep(Duration::from_micros(200));
    }
    std::thread::sleep(gap);
    api.push(LocalEvent::json(&json!({ "route": "match", "path": path })));
    let third = wait_for(&api, 3);
    let _ = child.kill();
    let _ = child.wait();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let results = [&first, &second, &third];
    assert!(
        results
            .iter()
            .all(|r| r.json().is_ok_and(|v| v.get("errorType").is_none())),
        "{mode}: an invocation failed"
    );
    Run {
        to_first_response: ms(first.completed_at - exec),
        hold: ms(asked.saturating_duration_since(first.completed_at)),
        second_route_first: ms(second.completed_at - second.delivered_at),
        second_route_warm: ms(third.completed_at - third.delivered_at),
    }
}

fn wait_for(api: &LocalRuntimeApi, n: usize) -> coldstart_local::InvocationResult {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let results = api.results();
        if results.len() >= n {
            return results[n - 1].clone();
        }
        assert!(Instant::now() < deadline, "no result {n} in 120 s");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The nearest-rank percentile.
fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}
