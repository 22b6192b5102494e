//! `run_concurrent` with the recommended Prometheus setup pushing to a gateway that is down: a
//! burst of overlapping invocations while the exporter is built after the first response (the
//! deferred bind) and every push fails. No invocation fails, the failures are counted, and the
//! exposition holds every invocation exactly once.
#![cfg(feature = "concurrent")]

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::prometheus::{self, AggregatingGateway};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

const EVENTS: u64 = 40;

#[cold_start_handler(name = "down")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    Ok(event.payload)
}

/// The value of the sample `name{labels}` in a Prometheus rendering, 0 when absent.
fn sample(rendered: &str, series: &str) -> f64 {
    rendered
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn a_burst_against_a_gateway_that_is_down_loses_no_invocation() {
    let handle = prometheus::install().expect("the first recorder");
    let api = support::local_api("gateway-down");
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_MAX_CONCURRENCY", "4") };
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gateway = AggregatingGateway::new(&format!("http://127.0.0.1:{closed}"), "orders-api")
        .expect("a gateway URL")
        .timeout(Duration::from_millis(100));
    let runtime = support::runtime(2);
    let hook_handle = handle.clone();
    let results = support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .on_flush(move |_| {
                gateway.push_or_report(&hook_handle);
            })
            .run_concurrent(service_fn(handler)),
        (0..EVENTS).map(|n| json!({ "n": n })),
    );
    assert_eq!(results.len() as u64, EVENTS);
    assert!(results.iter().all(|r| !r.is_error()), "{results:?}");

    let rendered = handle.render();
    let cold = sample(
        &rendered,
        r#"faas_invocations_total{handler="down",start="cold"}"#,
    );
    let warm = sample(
        &rendered,
        r#"faas_invocations_total{handler="down",start="warm"}"#,
    );
    assert_eq!((cold, warm), (1.0, (EVENTS - 1) as f64), "{rendered}");
    assert_eq!(
        sample(&rendered, r#"faas_coldstarts_total{handler="down"}"#),
        1.0
    );
    let durations: f64 = rendered
        .lines()
        .filter(|line| line.starts_with("faas_invoke_duration_seconds_count{handler=\"down\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(durations, EVENTS as f64, "{rendered}");
    let failures = sample(
        &rendered,
        r#"coldstart_export_failures_total{exporter="aggregating-gateway"}"#,
    );
    assert!(failures >= 1.0, "no failed push counted:\n{rendered}");
}
