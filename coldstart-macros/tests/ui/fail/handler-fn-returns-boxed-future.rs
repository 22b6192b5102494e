use coldstart::cold_start_handler;
use std::future::Future;
use std::pin::Pin;

// A boxed future is a future too.
#[cold_start_handler]
fn handler(event: u32) -> Pin<Box<dyn Future<Output = Result<u32, String>> + Send>> {
    Box::pin(async move { Ok(event) })
}

fn main() {
    let _ = handler(1);
}
