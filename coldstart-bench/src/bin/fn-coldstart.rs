//! `fn-plain` with coldstart: `#[cold_start_handler]` and `mark_init_end()`, no exporter (the size
//! row: what coldstart itself adds to a stripped binary).

use coldstart::cold_start_handler;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[cold_start_handler]
async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    coldstart::phases::mark_init_end();
    lambda_runtime::run(service_fn(handler)).await
}
