//! Client-visible latency with a Pushgateway push per invocation, flushed before vs after the
//! response (issue 12): one process per mode, since a process ends INIT once.
//!
//! ```text
//! flush-latency MODE EVENTS PUSHGATEWAY_URL [GAP_MS]   # MODE: none | before | after | after-noop
//! ```
//!
//! Serves EVENTS warm invocations of an echo handler through the local Runtime API in this
//! process (after one cold one, not counted), with `coldstart::lambda::run` and a flush hook that
//! pushes the Prometheus exposition to the gateway (`none`: no hook; `after-noop`: a hook that
//! does nothing, after the response, to tell the mechanism's cost from the push's). Prints one line:
//! `MODE median p25 p75` of the time from the event's delivery to the response's arrival at the
//! Runtime API, in microseconds, read off the API's own timestamps — what a client waits for,
//! minus the network. Each event is delivered GAP_MS (default 5) after the function asks for it,
//! so that every mode has the environment idle before each event, as on Lambda: a push after the
//! response is a pause before the next `/next`, and an invocation that follows any pause runs
//! slower on this machine than one that follows the previous at once (measured: a 1.4 ms sleep in
//! the hook slowed the next invocation as much as the push did). `scripts/flush_latency.sh`
//! alternates the modes and tabulates them.

use coldstart::lambda::{Coldstart, FlushAt};
use coldstart::prometheus::{self, Pushgateway};
use coldstart_local::{LocalEvent, LocalRuntimeApi};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[coldstart::cold_start_handler(name = "echo")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (mode, events, url, gap) =
        match args.as_slice() {
            [_, mode, events, url] => (mode, events, url, "5"),
            [_, mode, events, url, gap] => (mode, events, url, gap.as_str()),
            _ => return Err(
                "usage: flush-latency none|before|after|after-noop EVENTS PUSHGATEWAY_URL [GAP_MS]"
                    .into(),
            ),
        };
    let events: usize = events.parse()?;
    let gap = Duration::from_millis(gap.parse()?);
    let api = LocalRuntimeApi::builder()
        .function_name(format!("flush-latency-{mode}"))
        .start()?;
    // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let handle = prometheus::install()?;
    let gateway = Pushgateway::new(url, "coldstart-flush-latency")?
        .instance(format!("{mode}-{}", std::process::id()))
        .timeout(Duration::from_secs(1));
    let mut coldstart = Coldstart::new().print_report(false);
    match mode.as_str() {
        "none" => {}
        "after-noop" => coldstart = coldstart.on_flush(|_| {}),
        "before" | "after" => {
            coldstart = coldstart
                .flush_at(if mode == "before" {
                    FlushAt::BeforeResponse
                } else {
                    FlushAt::AfterResponse
                })
                .on_flush(move |_| {
                    gateway.push_or_report(&handle);
                });
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let results = runtime.block_on(async {
        tokio::spawn(coldstart.run(service_fn(handler)));
        for n in 0..=events {
            api.push(LocalEvent::json(&json!({ "n": n })).delay(gap));
        }
        api.wait_for_all(Duration::from_secs(600)).await
    })?;
    let mut micros: Vec<u128> = results[1..]
        .iter()
        .map(|r| (r.completed_at - r.delivered_at).as_micros())
        .collect();
    micros.sort_unstable();
    let at = |q: f64| micros[((micros.len() - 1) as f64 * q).round() as usize];
    println!("{mode} {} {} {}", at(0.5), at(0.25), at(0.75));
    Ok(())
}
