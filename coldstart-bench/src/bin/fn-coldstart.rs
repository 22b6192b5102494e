//! `fn-plain` with coldstart as the README shows it: `#[cold_start_handler]` and
//! `coldstart::lambda::run` (init end, start kinds, warm-up pings, the cold-start report after the
//! first response), no exporter (the size row: what coldstart itself adds to a stripped binary).

use coldstart::cold_start_handler;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    coldstart::lambda::run(service_fn(handler)).await
}
