//! OpenTelemetry: the crate's metrics through an OpenTelemetry `MeterProvider` to a collector
//! over OTLP/HTTP (protobuf) on `localhost:4318`, the ADOT collector extension's default, in delta
//! temporality, flushed from the flush hook after every response.
//!
//! ```text
//! cargo run --features otel --example otel
//! ```
//!
//! On Lambda (`AWS_LAMBDA_RUNTIME_API` set) it serves the real Runtime API; elsewhere it starts a
//! local one and sends three events. With no collector listening, every invocation still
//! succeeds: the failed exports are counted (`coldstart.export_failures{exporter="otel"}`) and
//! logged once a minute. The `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` variable points it elsewhere.

use coldstart::cold_start_handler;
use coldstart::lambda::Coldstart;
use coldstart::local::LocalRuntimeApi;
use coldstart::otel::{self, Delta};
use lambda_runtime::{service_fn, Error, LambdaEvent};
use opentelemetry_otlp::{MetricExporter, Protocol, WithExportConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

#[cold_start_handler(name = "greeter")]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let name = event.payload["name"].as_str().unwrap_or("world");
    Ok(json!({ "greeting": format!("hello, {name}") }))
}

fn main() -> Result<(), Error> {
    let local = match std::env::var_os("AWS_LAMBDA_RUNTIME_API") {
        Some(_) => None,
        None => {
            let api = LocalRuntimeApi::builder()
                .function_name("greeter")
                .start()?;
            // SAFETY: no other thread exists yet; the emulator's own thread never reads the environment.
            unsafe { api.set_env() };
            Some(api)
        }
    };

    // OTLP/HTTP protobuf to http://localhost:4318/v1/metrics (or OTEL_EXPORTER_OTLP_*), each
    // export bounded well below the flush hook's 300 ms.
    let exporter = MetricExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(Duration::from_millis(200))
        .build()?;
    let provider = SdkMeterProvider::builder()
        // The function (`faas.name`, ...) and this environment (`faas.instance`: the log stream
        // name, which the local Runtime API sets too): one writer per stream. Read after
        // `set_env` above, like everything coldstart reads from the environment.
        .with_resource(otel::resource())
        // Delta: each environment sends what changed since its last export. The periodic export
        // is a fallback; the flush hook exports after every invocation, before the freeze.
        .with_reader(PeriodicReader::builder(Delta(exporter)).build())
        .build();
    let flush = Arc::new(otel::install(&provider)?);
    let hook = flush.clone();
    let coldstart = Coldstart::new().on_flush(move |_| {
        hook.flush_or_report();
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let Some(api) = local else {
        return runtime.block_on(coldstart.run(service_fn(handler)));
    };
    let results = runtime.block_on(async {
        tokio::spawn(coldstart.run(service_fn(handler)));
        for name in ["Ada", "Grace", "Linus"] {
            api.push_json(&json!({ "name": name }));
        }
        api.wait_for_all(Duration::from_secs(30)).await
    })?;
    // A last export before exiting (on Lambda, `Coldstart::on_shutdown` is the place for one).
    flush.flush_or_report();
    let failed = results.iter().filter(|r| r.is_error()).count();
    println!(
        "{} invocations answered, {failed} failed; {} OpenTelemetry flushes failed",
        results.len(),
        flush.failures()
    );
    Ok(())
}
