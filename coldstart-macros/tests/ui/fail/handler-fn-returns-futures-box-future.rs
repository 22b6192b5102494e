use coldstart::cold_start_handler;
use futures::future::BoxFuture;

// `futures::future::BoxFuture`, an alias the macro cannot see through, is refused as well.
#[cold_start_handler]
fn handler(event: u32) -> BoxFuture<'static, Result<u32, String>> {
    Box::pin(async move { Ok(event) })
}

fn main() {
    let _ = handler(1);
}
