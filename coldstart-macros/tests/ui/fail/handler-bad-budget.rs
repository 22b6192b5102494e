use coldstart::cold_start_handler;

#[cold_start_handler(budget = "fast")]
async fn handler(event: u32) -> u32 {
    event
}

#[cold_start_handler(budget = "0ms")]
async fn other(event: u32) -> u32 {
    event
}

fn main() {
    let _ = handler(1);
    let _ = other(1);
}
