//! Every handler shape `#[cold_start_handler]` accepts, compiled and run.
use coldstart::cold_start_handler;
use lambda_runtime::{Context, Error, LambdaEvent};
use serde_json::{json, Value};
use std::fmt::Display;

fn event(payload: Value) -> LambdaEvent<Value> {
    LambdaEvent::new(payload, Context::default())
}

/// The main case: the shape `lambda_runtime::run(service_fn(handler))` takes.
#[cold_start_handler]
async fn plain(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let n = event.payload["n"].as_u64().ok_or("missing n")?;
    Ok(json!({ "n": n + 1 }))
}

/// A reference and an extra argument: `service_fn(|e| with_client(&client, 3, e))`.
#[cold_start_handler(name = "with-client")]
async fn with_client(client: &Client, retries: u8, event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({ "client": client.0, "retries": retries, "payload": event.payload }))
}

struct Client(&'static str);

/// Generics and a where clause.
#[cold_start_handler]
async fn generic<T, E>(value: T) -> Result<T, E>
where
    T: Clone + Send,
    E: Display,
{
    Ok(value.clone())
}

/// A plain, synchronous fn: early `return` and `?` still work.
#[cold_start_handler]
fn sync_handler(input: &str) -> Result<u32, std::num::ParseIntError> {
    if input.is_empty() {
        return Ok(0);
    }
    let n: u32 = input.parse()?;
    Ok(n * 2)
}

/// A generic return type is not taken for a future (only a type known to be one is refused).
#[cold_start_handler]
fn sync_generic<T: Clone>(value: &T) -> T {
    value.clone()
}

/// A non-`Result` return counts as success.
#[cold_start_handler]
fn returns_unit() {}

/// `impl Trait` in return position, sync and async.
#[cold_start_handler]
fn impl_trait(n: u32) -> impl Display {
    n
}

#[cold_start_handler]
async fn async_impl_trait(n: u32) -> Result<impl Display, Error> {
    Ok(n)
}

/// A type alias of `Result` is still classified by `is_ok()`.
type HandlerResult = Result<Value, Error>;

#[cold_start_handler]
async fn aliased(fail: bool) -> HandlerResult {
    if fail {
        Err("failed on purpose".into())
    } else {
        Ok(Value::Null)
    }
}

/// A pattern argument and a `mut` binding.
#[cold_start_handler]
async fn patterns((a, b): (u32, u32), mut acc: Vec<u32>) -> Vec<u32> {
    acc.push(a + b);
    acc
}

struct Service {
    prefix: String,
    calls: u32,
}

impl Service {
    /// `&self` with a borrowed return type.
    #[cold_start_handler]
    fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `&mut self`, async.
    #[cold_start_handler]
    async fn call(&mut self, event: LambdaEvent<Value>) -> Result<Value, Error> {
        self.calls += 1;
        Ok(json!({ "prefix": self.prefix, "calls": self.calls, "payload": event.payload }))
    }

    /// `self` by value, with outer attributes forwarded.
    #[cold_start_handler]
    #[must_use]
    #[allow(clippy::needless_return)]
    fn into_calls(self) -> u32 {
        return self.calls;
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        // The futures stay `Send` (lambda_http requires it).
        let out = assert_send(plain(event(json!({ "n": 41 })))).await.unwrap();
        assert_eq!(out, json!({ "n": 42 }));
        assert!(plain(event(json!({}))).await.is_err());

        let client = Client("db");
        let out = assert_send(with_client(&client, 3, event(json!(1)))).await.unwrap();
        assert_eq!(out, json!({ "client": "db", "retries": 3, "payload": 1 }));

        assert_eq!(generic::<_, String>(5u8).await, Ok(5));
        assert_eq!(async_impl_trait(7).await.unwrap().to_string(), "7");
        assert!(aliased(true).await.is_err());
        assert!(aliased(false).await.is_ok());
        assert_eq!(patterns((1, 2), vec![0]).await, vec![0, 3]);

        let mut service = Service { prefix: "p".into(), calls: 0 };
        let out = assert_send(service.call(event(json!(null)))).await.unwrap();
        assert_eq!(out["calls"], 1);
        assert_eq!(service.prefix(), "p");
        assert_eq!(service.into_calls(), 1);
    });

    assert_eq!(sync_handler(""), Ok(0));
    assert_eq!(sync_handler("21"), Ok(42));
    assert!(sync_handler("x").is_err());
    returns_unit();
    assert_eq!(impl_trait(3).to_string(), "3");
    assert_eq!(sync_generic(&"x"), "x");

    // Every call above was tracked, in this process, by the same counter.
    assert_eq!(coldstart::invocation::invocation_count(), 17);
}
