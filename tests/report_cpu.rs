//! The cold-start report's CPU times: what INIT and the first invocation used against their wall
//! time, through the real runtime loop and `coldstart::lambda::run`.

mod support;

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Keeps one thread busy for `how_long` of wall time.
fn burn(how_long: Duration) {
    let start = Instant::now();
    let mut x = 1u64;
    while start.elapsed() < how_long {
        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    }
}

#[cold_start_handler(name = "burner")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    burn(Duration::from_millis(40));
    Ok(event.payload)
}

#[test]
fn the_report_carries_plausible_cpu_times_for_init_and_the_first_invocation() {
    support::recorder();
    let api = support::local_api("cpu-fn");
    // INIT work that keeps a CPU busy (a sleep would use none).
    burn(Duration::from_millis(60));
    let runtime = support::runtime(1);
    support::serve(
        &runtime,
        &api,
        Coldstart::new()
            .print_report(false)
            .run(service_fn(handler)),
        [json!({ "n": 1 })],
    );

    let report = coldstart::cold_start_report().expect("the first invocation finished");
    let cpu = report.cpu.expect("getrusage works on Linux");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let init = report.init.expect("the wrapper marked init end");
    assert_eq!(cpu.init_wall, init);
    // At least part of the 60 ms burnt went to this process (the machine may be shared), and no
    // process uses more CPU than its cores could give it in that wall time.
    assert!(cpu.init >= Duration::from_millis(5), "{cpu:?}");
    assert!(cpu.init <= cpu.init_wall * cores, "{cpu:?}");
    let first = cpu
        .first_invocation
        .expect("the first event was the real invocation");
    let first_wall = cpu.first_invocation_wall.expect("with its wall time");
    assert!(
        first_wall >= report.first_invocation,
        "{cpu:?} vs {report:?}"
    );
    assert!(first >= Duration::from_millis(2), "{cpu:?}");
    assert!(first <= first_wall * cores, "{cpu:?}");
    let init_share = cpu.init_share().unwrap();
    assert!(
        init_share > 0.0 && init_share <= f64::from(cores),
        "{init_share}"
    );

    // The JSON line carries the same numbers.
    let line: Value = serde_json::from_str(&report.to_json()).expect("one JSON object");
    let json_cpu = &line["cpu"];
    let ms = |key: &str| {
        json_cpu[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} in {json_cpu}"))
    };
    assert!(
        (ms("init_ms") - cpu.init.as_secs_f64() * 1e3).abs() < 0.01,
        "{json_cpu}"
    );
    assert!((ms("init_wall_ms") - line["phases_ms"]["init"].as_f64().unwrap()).abs() < 1e-9);
    assert!(
        (ms("init_share") - ms("init_ms") / ms("init_wall_ms")).abs() < 1e-3,
        "{json_cpu}"
    );
    assert!(
        (ms("first_invocation_share") - ms("first_invocation_ms") / ms("first_invocation_wall_ms"))
            .abs()
            < 1e-3,
        "{json_cpu}"
    );
    let table = report.to_string();
    assert!(table.contains("cpu: INIT"), "{table}");
    assert!(table.contains("vCPU"), "{table}");
}
