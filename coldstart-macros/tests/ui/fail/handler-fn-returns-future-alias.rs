use coldstart::cold_start_handler;
use std::future::{ready, Ready};

// The project's own alias of a named future type: refused too.
type HandlerFuture = Ready<Result<u32, String>>;

#[cold_start_handler]
fn handler(event: u32) -> HandlerFuture {
    ready(Ok(event))
}

fn main() {
    let _ = handler(1);
}
