use coldstart::cold_start_handler;

#[cold_start_handler]
struct Handler {
    calls: u32,
}

fn main() {
    // The item is still emitted: no "cannot find struct" cascade.
    let _ = Handler { calls: 0 };
}
