use coldstart::cold_start_handler;

#[cold_start_handler(name = "")]
async fn handler(event: u32) -> u32 {
    event
}

fn main() {
    let _ = handler(1);
}
