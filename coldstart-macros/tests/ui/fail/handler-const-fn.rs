use coldstart::cold_start_handler;

#[cold_start_handler]
const fn handler(event: u32) -> u32 {
    event
}

fn main() {
    // The item is still emitted: no "cannot find function" cascade.
    let _ = handler(1);
}
