//! `fn-coldstart` with a Prometheus recorder installed before INIT ends: the cold-path row, as a
//! user would deploy it (the recorder is rendered nowhere; a real function would push or log it).

use coldstart::cold_start_handler;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder)?;
    coldstart::lambda::run(service_fn(handler)).await
}
