//! The cold-path baseline: the handler of `fn-coldstart*` on plain `lambda_runtime`, no coldstart,
//! no recorder. Started by `cold-driver` with the environment of a local Runtime API.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "echo": event.payload }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handler)).await
}
