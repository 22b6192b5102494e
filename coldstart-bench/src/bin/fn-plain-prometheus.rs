//! `fn-plain` with the Prometheus recorder of `fn-coldstart-prometheus` installed: the baseline
//! that isolates what coldstart adds when a recorder is there (the exporter's own start-up cost,
//! e.g. calibrating its clock, is in both).

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    metrics::set_global_recorder(recorder)?;
    lambda_runtime::run(service_fn(handler)).await
}
