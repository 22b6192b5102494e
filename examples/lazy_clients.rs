//! Lazy clients: which expensive static cost what, and whether a request waited for it.
//!
//! ```text
//! cargo run --example lazy_clients
//! ```
//!
//! Three `#[lazy]` statics: a rule table marked `prewarm` (built during INIT by
//! `coldstart::prewarm()`), a connection pool built by an async initializer on the first request
//! that needs it, and a geo database only some requests need (none do here). The real
//! `lambda_runtime` loop serves three invocations from a local Runtime API (no AWS needed); then
//! the report shows each static's cost and where it ran. The prewarm runs inside a named phase
//! (`coldstart::phase_async`), whose own time excludes the static it builds.
//!
//! Started with `AWS_LAMBDA_RUNTIME_API` already set (on Lambda, or by `cargo coldstart`), it
//! is just the function; `LAZY_CLIENTS_PREWARM=off` skips the prewarm, so the two can be
//! compared: `cargo coldstart compare --example lazy_clients --b-env LAZY_CLIENTS_PREWARM=off`.

use coldstart::local::LocalRuntimeApi;
use coldstart::{cold_start_handler, lazy, phases};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// A compiled rule table (think: a `RegexSet`). Pure CPU work, so it is worth building during
/// INIT, where no request waits: `prewarm`.
struct Rules {
    by_prefix: HashMap<String, &'static str>,
}

impl Rules {
    fn compile() -> Rules {
        let verdicts = ["allow", "deny", "review"];
        let by_prefix = (0..300_000u32)
            .map(|i| {
                (
                    format!("/api/v{}/{:05x}", i % 3, i),
                    verdicts[i as usize % 3],
                )
            })
            .collect();
        Rules { by_prefix }
    }

    fn verdict(&self, path: &str) -> &'static str {
        self.by_prefix.get(path).copied().unwrap_or("allow")
    }
}

#[lazy(prewarm, name = "rules")]
static RULES: Rules = Rules::compile();

/// A connection pool: opening it awaits the network (simulated with a 40 ms sleep).
struct Pool {
    connections: usize,
}

impl Pool {
    async fn open(connections: usize) -> Pool {
        tokio::time::sleep(Duration::from_millis(40)).await;
        Pool { connections }
    }
}

#[lazy(async, name = "orders-db")]
static POOL: Pool = async { Pool::open(4).await };

/// Only needed for requests that carry an IP address: never touched in this run.
#[lazy(name = "geo-db")]
static GEO: HashMap<u32, &'static str> = (0..1_000).map(|i| (i, "somewhere")).collect();

#[cold_start_handler(name = "orders")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let path = event.payload["path"].as_str().unwrap_or("/");
    let verdict = RULES.verdict(path);
    let pool = POOL.get().await;
    let region = match event.payload["ip"].as_u64() {
        Some(ip) => GEO.get(&(ip as u32)).copied().unwrap_or("unknown"),
        None => "-",
    };
    Ok(
        json!({ "path": path, "verdict": verdict, "connections": pool.connections, "region": region }),
    )
}

/// INIT: build the `prewarm` statics inside a named phase (the phase's own time excludes the
/// statics it builds), unless `LAZY_CLIENTS_PREWARM=off` (then the first request builds them).
async fn init() {
    if std::env::var("LAZY_CLIENTS_PREWARM").as_deref() == Ok("off") {
        return;
    }
    let prewarmed = coldstart::phase_async("prewarm clients", coldstart::prewarm()).await;
    // The report line is JSON on stdout; this human line goes to stderr.
    eprintln!(
        "== prewarm: {:?} in {:.3} ms (failed: {:?})",
        prewarmed.initialized,
        prewarmed.elapsed.as_secs_f64() * 1e3,
        prewarmed.failed
    );
}

fn main() -> Result<(), Error> {
    // Started with a Runtime API already given (on Lambda, or by `cargo coldstart profile
    // --example lazy_clients`): be just the function.
    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        return runtime.block_on(async {
            init().await;
            phases::mark_init_end();
            lambda_runtime::run(service_fn(handler)).await
        });
    }
    let api = LocalRuntimeApi::builder()
        .function_name("lazy-clients")
        .start()?;
    // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;

    let results = runtime.block_on(async {
        init().await;
        phases::mark_init_end();
        tokio::spawn(lambda_runtime::run(service_fn(handler)));
        for path in ["/api/v0/00000", "/api/v1/00001", "/api/v2/00002"] {
            api.push_json(&json!({ "path": path }));
        }
        api.wait_for_all(Duration::from_secs(30)).await
    })?;

    println!("\n== invocations");
    for (n, result) in results.iter().enumerate() {
        println!("  #{} {}", n + 1, String::from_utf8_lossy(&result.body));
        if result.is_error() {
            return Err(format!("invocation {} failed", n + 1).into());
        }
    }

    println!("\n== named phases (start since process start, own time, inclusive time, where)");
    for run in coldstart::named_phases::runs() {
        println!(
            "  {:<16} {:>8.3} ms {:>8.3} ms {:>8.3} ms  {}",
            run.name,
            run.started.as_secs_f64() * 1e3,
            run.duration.unwrap_or_default().as_secs_f64() * 1e3,
            run.inclusive.unwrap_or_default().as_secs_f64() * 1e3,
            run.during
        );
    }

    let report = coldstart::lazy::statics();
    println!("\n== lazy statics, most expensive first (self time, where it ran, state)");
    print!("{report}");
    println!("\n== a request waited for");
    for lazy in report.on_request_path() {
        println!(
            "  {:<10} {:>8.3} ms during {}",
            lazy.name,
            lazy.duration.unwrap_or_default().as_secs_f64() * 1e3,
            lazy.during.map(|d| d.to_string()).unwrap_or_default()
        );
    }
    Ok(())
}
