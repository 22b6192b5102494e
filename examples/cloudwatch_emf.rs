//! CloudWatch EMF: the crate's metrics as Embedded Metric Format lines on stdout, flushed by the
//! flush hook after every invocation, through the real runtime loop and a local Runtime API.
//!
//! ```text
//! cargo run --example cloudwatch_emf
//! ```
//!
//! On Lambda, CloudWatch turns each printed `{"_aws":{...}}` line into metrics; here they are
//! printed as they would be logged.

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use std::time::Duration;

#[cold_start_handler(name = "greeter")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let name = event.payload["name"].as_str().unwrap_or("world");
    Ok(json!({ "greeting": format!("hello, {name}") }))
}

fn main() -> Result<(), Error> {
    let api = LocalRuntimeApi::builder()
        .function_name("greeter")
        .start()?;
    // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
    unsafe { api.set_env() };
    // The function's name on every metric: functions sharing a namespace never mix.
    let function = coldstart::environment::Environment::current()
        .function_name()
        .unwrap_or("local")
        .to_owned();
    let emf = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace("coldstart-example")
        .with_dimension("FunctionName", function)
        .init()?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let results = runtime.block_on(async {
        tokio::spawn(
            Coldstart::new()
                .print_report(false) // this example shows the EMF lines only
                .on_flush(move |_| {
                    // Counters as per-invocation deltas, histograms as value arrays.
                    if let Err(err) = emf.flush(std::io::stdout()) {
                        eprintln!("EMF flush failed: {err}");
                    }
                })
                .run(service_fn(handler)),
        );
        for name in ["Ada", "Grace", "Linus"] {
            api.push_json(&json!({ "name": name }));
        }
        api.wait_for_all(Duration::from_secs(30)).await
    })?;
    eprintln!("{} invocations answered", results.len());
    Ok(())
}
