//! A garbled `AWS_LAMBDA_FUNCTION_MEMORY_SIZE` (`-128`: `lambda_runtime` itself refuses to start
//! on a value that is not an `i32`, and on a missing one) and a price that is not a number: the report
//! says why it has no cost, keeps everything else, and the INIT cost metric is not recorded
//! (rather than recorded wrong); the invocations are served as ever.

mod support;

use coldstart::report::CostError;
use coldstart::{cold_start_handler, names};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler(name = "garbled")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(event.payload)
}

#[test]
fn a_garbled_memory_size_gives_a_clear_reason_and_loses_nothing_else() {
    support::recorder();
    let api = support::local_api("garbled");
    // After the emulator's variables, before anything reads the environment.
    // SAFETY: the only test of this binary, before it starts a thread of its own; the emulator's
    // own thread never reads the environment.
    unsafe { std::env::set_var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "-128") };
    let runtime = support::runtime(1);

    let results = support::serve(
        &runtime,
        &api,
        coldstart::lambda::Coldstart::new()
            .price_per_gb_second(f64::NAN) // refused at INIT end, said on stderr
            .print_report(false)
            .run(service_fn(handler)),
        [json!(1), json!(2)],
    );
    assert_eq!(results[0].json().unwrap(), json!(1));
    assert_eq!(results[1].json().unwrap(), json!(2));

    let report = coldstart::cold_start_report().expect("the report");
    assert_eq!(
        report.cost,
        Err(CostError::MemorySizeInvalid("-128".to_owned()))
    );
    let reason = report.cost.clone().unwrap_err().to_string();
    assert!(
        reason.contains("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") && reason.contains("\"-128\""),
        "{reason}"
    );
    // Nothing else lost.
    assert!(report.init.is_some());
    assert_eq!(report.handler, "garbled");
    assert_eq!(report.start_kind.as_str(), "cold");

    let line: Value = serde_json::from_str(&report.to_json()).expect("valid JSON");
    assert_eq!(line["cost"], json!({ "error": reason }));
    assert_eq!(line["memory_mb"], Value::Null);
    assert!(line["phases_ms"]["init"].is_number());
    let table = report.to_string();
    assert!(table.contains(&format!("  cost: {reason}\n")), "{table}");

    let recorded = support::Recorded::take();
    assert_eq!(
        recorded
            .histogram(names::INIT_DURATION, &[("init_type", "on-demand")])
            .len(),
        1,
        "INIT is still measured"
    );
    assert!(
        recorded.series(names::INIT_GIGABYTE_SECONDS).is_empty(),
        "no cost without a memory size"
    );
}
