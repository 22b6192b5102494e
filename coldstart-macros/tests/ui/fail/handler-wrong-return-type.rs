use coldstart::cold_start_handler;

// Type errors in the body point at the user's code, not at the macro.
#[cold_start_handler]
async fn handler(event: u32) -> Result<u32, String> {
    Ok("not a number")
}

fn main() {
    let _ = handler(1);
}
