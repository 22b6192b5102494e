use coldstart::cold_start_handler;
use std::future::Future;

// A plain `fn` that returns a future would be timed only while it builds the future.
#[cold_start_handler]
fn handler(event: u32) -> impl Future<Output = Result<u32, String>> {
    async move { Err(format!("no order {event}")) }
}

fn main() {
    let _ = handler(1);
}
