use coldstart::cold_start_handler;

#[cold_start_handler(name = "orders", name = "payments")]
async fn handler(event: u32) -> Result<u32, String> {
    Ok(event)
}

fn main() {
    let _ = handler(1);
}
