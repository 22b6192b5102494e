//! The functions `cargo coldstart`'s tests profile, one per behaviour, chosen by the first
//! argument (`cargo coldstart profile target/release/examples/fixture -- MODE`) or, without
//! one, by the environment variable `FIXTURE_MODE` (so `compare --a-env/--b-env` can pick two):
//!
//! - `plain`: an echo function on `lambda_runtime` alone (no coldstart, no report);
//! - `coldstart`: the same with `#[cold_start_handler]`, a named INIT phase (`load table`) and
//!   two `#[lazy]` statics: `lookup-table`, built by the first request, and `rare-route`, built
//!   only for an event `{"route":"rare"}` (so a `{}` event never builds it): it prints the report
//!   line;
//! - `crash-in-init`: panics during INIT;
//! - `never-next`: INIT never ends (never asks for an event);
//! - `hang`: asks for an event and never answers it;
//! - `init-error`: posts an error to `/runtime/init/error`, then exits;
//! - `error`: answers every event with an error;
//! - `spin-init`: spends 50 ms of CPU time in INIT (measured by its own `schedstat`), then echoes:
//!   a CPU-bound INIT of known cost, for checking `--memory` limits.

use coldstart::{cold_start_handler, lazy};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

#[lazy(name = "lookup-table")]
static LOOKUP: Vec<u64> = (0..200_000u64)
    .map(|i| i.wrapping_mul(2_654_435_761) % 1_000)
    .collect();

#[lazy(name = "rare-route")]
static RARE: Vec<u64> = (0..50_000u64).map(|i| i % 7).collect();

#[cold_start_handler(name = "fixture")]
async fn with_coldstart(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let rare = (event.payload["route"] == "rare").then(|| RARE[3]);
    Ok(json!({ "echo": event.payload, "lookup": LOOKUP[7], "rare": rare }))
}

async fn echo(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

async fn hang(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    eprintln!("fixture: got the event, never answering it");
    std::future::pending::<()>().await;
    unreachable!()
}

async fn fail(_event: LambdaEvent<Value>) -> Result<Value, Error> {
    Err("fixture: this event fails on purpose".into())
}

/// Posts `{"errorType", "errorMessage"}` to `/runtime/init/error` as a runtime would.
fn post_init_error() -> std::io::Result<()> {
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(std::io::Error::other)?;
    let body = r#"{"errorType":"Fixture.ConfigMissing","errorMessage":"TABLE_NAME is not set"}"#;
    let mut stream = std::net::TcpStream::connect(&api)?;
    write!(
        stream,
        "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/json\r\nLambda-Runtime-Function-Error-Type: Fixture.ConfigMissing\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut stream, &mut answer)?;
    Ok(())
}

/// Busy work until this thread has used `cpu` of CPU time.
fn spin(cpu: Duration) {
    let used = || {
        std::fs::read_to_string("/proc/thread-self/schedstat")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .map(Duration::from_nanos)
    };
    let Some(start) = used() else {
        panic!("fixture: no /proc/thread-self/schedstat to measure CPU time with");
    };
    let mut x = 1u64;
    while used().is_some_and(|now| now - start < cpu) {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
}

fn main() -> Result<(), Error> {
    let mode = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("FIXTURE_MODE").ok())
        .unwrap_or_else(|| "plain".into());
    match mode.as_str() {
        "crash-in-init" => {
            eprintln!("fixture: loading the configuration");
            panic!("fixture: crashing during INIT on purpose");
        }
        "never-next" => {
            eprintln!("fixture: INIT that never ends");
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        "spin-init" => spin(Duration::from_millis(50)),
        "init-error" => {
            eprintln!("fixture: TABLE_NAME is not set, reporting an init error");
            post_init_error()?;
            std::process::exit(1);
        }
        _ => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match mode.as_str() {
            "plain" | "spin-init" => lambda_runtime::run(service_fn(echo)).await,
            "coldstart" => {
                coldstart::phase("load table", || {
                    std::hint::black_box((0..100_000u64).sum::<u64>())
                });
                coldstart::lambda::run(service_fn(with_coldstart)).await
            }
            "hang" => lambda_runtime::run(service_fn(hang)).await,
            "error" => lambda_runtime::run(service_fn(fail)).await,
            other => Err(format!("fixture: unknown mode `{other}`").into()),
        }
    })
}
