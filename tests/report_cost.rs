//! The cold-start report's cost, through the real runtime loop: a 1,536 MB on-demand
//! environment whose INIT sleeps a known 120 ms and whose first invocation sleeps 30 ms, with a
//! price per GB-second. Billed durations are the measured ones rounded up to the next millisecond;
//! GB-seconds are MB / 1024 × billed seconds; the amount is price × GB-seconds; the JSON line, the
//! table and `coldstart.init_gigabyte_seconds` say the same.

mod support;

use coldstart::report::InitBilling;
use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

const MEMORY_MB: u32 = 1536;
const PRICE: f64 = 0.0000166667;

#[cold_start_handler(name = "priced")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    std::thread::sleep(Duration::from_millis(30));
    Ok(event.payload)
}

/// MB × billed ms / 1,024,000: GB (MB / 1024) × seconds, rounded once.
fn gb_seconds(billed: Duration) -> f64 {
    (u64::from(MEMORY_MB) * billed.as_millis() as u64) as f64 / 1_024_000.0
}

/// `measured` rounded up to the next whole millisecond.
fn rounded_up(measured: Duration) -> Duration {
    let ms = measured.as_nanos().div_ceil(1_000_000) as u64;
    Duration::from_millis(ms)
}

#[test]
fn init_and_first_invocation_cost_in_gb_seconds_and_money() {
    support::recorder();
    let api = coldstart::local::LocalRuntimeApi::builder()
        .function_name("priced")
        .memory_mb(MEMORY_MB)
        .start()
        .expect("local Runtime API");
    // SAFETY: the only test of this binary that runs the loop, before any thread of its own;
    // the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    let runtime = support::runtime(1);

    std::thread::sleep(Duration::from_millis(120)); // INIT's own work
    support::serve(
        &runtime,
        &api,
        coldstart::lambda::Coldstart::new()
            .price_per_gb_second(PRICE)
            .print_report(false)
            .run(service_fn(handler)),
        // The first one's deferred work is done before the second is handed out.
        [json!(1), json!(2)],
    );

    let report = coldstart::cold_start_report().expect("the report");
    let cost = report.cost.clone().expect("a cost: the memory size is set");
    assert_eq!(cost.memory_mb, MEMORY_MB);
    assert_eq!(cost.price_per_gb_second, Some(PRICE));

    let InitBilling::Duration(init) = cost.init else {
        panic!("on-demand INIT is billed as duration: {:?}", cost.init)
    };
    assert_eq!(
        Some(init.measured),
        report.init,
        "INIT as the report measured it"
    );
    assert!(init.measured >= Duration::from_millis(120), "{init:?}");
    assert_eq!(init.billed, rounded_up(init.measured));
    assert!(init.billed >= init.measured && init.billed - init.measured < Duration::from_millis(1));
    assert_eq!(
        init.billed.subsec_nanos() % 1_000_000,
        0,
        "whole milliseconds"
    );
    assert_eq!(init.gb_seconds, gb_seconds(init.billed));

    let first = cost.first_invocation;
    let arrival_to_return =
        report.event_to_handler.expect("arrival noted") + report.first_invocation;
    assert_eq!(first.measured, arrival_to_return);
    assert!(first.measured >= Duration::from_millis(30), "{first:?}");
    assert_eq!(first.billed, rounded_up(first.measured));
    assert_eq!(first.gb_seconds, gb_seconds(first.billed));

    assert_eq!(cost.gb_seconds(), init.gb_seconds + first.gb_seconds);
    assert_eq!(cost.amount(), Some(PRICE * cost.gb_seconds()));
    // 1.5 GB × at least 0.150 s.
    assert!(cost.gb_seconds() >= 1.5 * 0.150, "{}", cost.gb_seconds());

    // The JSON line says the same.
    let line: Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    let json_cost = &line["cost"];
    assert_eq!(json_cost["memory_mb"], json!(MEMORY_MB));
    assert_eq!(json_cost["price_per_gb_second"], json!(PRICE));
    assert_eq!(json_cost["init"]["billed"], json!(true));
    assert_eq!(
        json_cost["init"]["billed_ms"],
        json!(init.billed.as_millis() as u64)
    );
    // Floats are compared in the line's text: serde_json's default parser may be 1 ulp off.
    let text = report.to_json();
    assert!(
        text.contains(&format!(
            r#""billed_ms":{},"gb_seconds":{},"amount":{}}},"first_invocation""#,
            init.billed.as_millis(),
            init.gb_seconds,
            PRICE * init.gb_seconds
        )),
        "{text}"
    );
    assert_eq!(
        json_cost["first_invocation"]["billed_ms"],
        json!(first.billed.as_millis() as u64)
    );
    assert!(
        text.contains(&format!(
            r#""billed_ms":{},"gb_seconds":{},"amount":{}}},"gb_seconds":{},"amount":{}}}}}"#,
            first.billed.as_millis(),
            first.gb_seconds,
            PRICE * first.gb_seconds,
            cost.gb_seconds(),
            cost.amount().unwrap()
        )),
        "{text}"
    );
    let billed_ms = json_cost["init"]["billed_ms"].as_f64().unwrap();
    let ms = json_cost["init"]["ms"].as_f64().unwrap();
    assert!(
        billed_ms >= ms && billed_ms == billed_ms.trunc(),
        "{billed_ms} {ms}"
    );

    // And the table.
    let table = report.to_string();
    assert!(
        table.contains(&format!(
            "cost at {MEMORY_MB} MB (1.5 GB), {PRICE} per GB-s:"
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "    INIT              {:>6} ms billed = {:>10.6} GB-s = {:.10}",
            init.billed.as_millis(),
            init.gb_seconds,
            PRICE * init.gb_seconds
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "    first invocation  {:>6} ms billed",
            first.billed.as_millis()
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!(
            "    together                             {:>10.6} GB-s = {:.10}",
            cost.gb_seconds(),
            cost.amount().unwrap()
        )),
        "{table}"
    );

    // The metric a team sums per function: the same GB-seconds, once, labelled by init type.
    let recorded = support::Recorded::take();
    assert_eq!(
        recorded.histogram(names::INIT_GIGABYTE_SECONDS, &[("init_type", "on-demand")]),
        vec![init.gb_seconds]
    );
}
