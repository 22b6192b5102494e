//! Warm-up pings against a typed handler, through a local Runtime API.
//!
//! ```text
//! cargo run --example warmup_pings
//! ```
//!
//! The handler takes `LambdaEvent<Order>`, whose `id` is required: with plain
//! `lambda_runtime::run`, each of the three ping shapes below would fail deserialization and be
//! posted as an error. `coldstart::lambda` recognizes them on the raw payload first, answers them
//! with a small acknowledgement, builds the `prewarm` statics, and counts them in
//! `coldstart.warmups` — not as invocations. The first ping takes the cold start, so the real
//! order after the pings is served warm.

use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use coldstart::Outcome;
use coldstart::{cold_start_handler, invocation, lazy};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use metrics_exporter_prometheus::PrometheusBuilder;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Deserialize)]
struct Order {
    id: u64,
}

/// A price table worth building before a user needs it.
#[lazy(prewarm, name = "price-table")]
static PRICES: Vec<u32> = (0..100_000).map(|i| 100 + i % 997).collect();

#[cold_start_handler(name = "checkout")]
async fn checkout(event: LambdaEvent<Order>) -> Result<Value, Error> {
    let id = event.payload.id;
    Ok(json!({ "order": id, "price_cents": PRICES[id as usize % PRICES.len()] }))
}

static FLUSHES: AtomicUsize = AtomicUsize::new(0);

fn main() -> Result<(), Error> {
    let api = LocalRuntimeApi::builder()
        .function_name("warmup-pings")
        .start()?;
    // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let recorder = PrometheusBuilder::new().build_recorder();
    let prometheus = recorder.handle();
    metrics::set_global_recorder(recorder)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let results = runtime.block_on(async {
        tokio::spawn(
            Coldstart::new()
                .on_flush(|_: Outcome| {
                    FLUSHES.fetch_add(1, Ordering::Relaxed);
                })
                .run(service_fn(checkout)),
        );
        // serverless-plugin-warmup (it waits 25 ms: the plugin fans out and never says how wide)
        api.push_json(&json!({ "source": "serverless-plugin-warmup" }));
        // lambda-warmer, one of three concurrent pings (waits too)
        api.push_json(&json!({
            "warmer": true,
            "__WARMER_INVOCATION__": 2,
            "__WARMER_CONCURRENCY__": 3
        }));
        // the generic shape
        api.push_json(&json!({ "warmup": true }));
        // a real order
        api.push_json(&json!({ "id": 42 }));
        api.wait_for_all(Duration::from_secs(30)).await
    })?;

    println!("== what the Runtime API received");
    for result in &results {
        let took = result.completed_at - result.delivered_at;
        println!(
            "  {} {:>7.2} ms  {}",
            if result.is_error() { "error" } else { "ok   " },
            took.as_secs_f64() * 1e3,
            String::from_utf8_lossy(&result.body)
        );
    }
    let first = invocation::first_invocation().ok_or("no first event")?;
    println!("\n== what was counted");
    println!(
        "  first event          {} (a warm-up ping: {})",
        first.start_kind, first.warmup
    );
    let prices = lazy::statics();
    let prices = prices.get("price-table").ok_or("no price table")?;
    println!(
        "  price-table built    during {}",
        prices.during.map_or("-".to_owned(), |d| d.to_string())
    );
    println!("  flush hook calls     {}", FLUSHES.load(Ordering::Relaxed));
    for line in prometheus.render().lines() {
        if line.starts_with("coldstart_warmups")
            || line.starts_with("faas_invocations")
            || line.starts_with("faas_coldstarts")
        {
            println!("  {line}");
        }
    }
    if results.iter().any(|r| r.is_error()) {
        return Err("a ping was posted as an error".into());
    }
    Ok(())
}
