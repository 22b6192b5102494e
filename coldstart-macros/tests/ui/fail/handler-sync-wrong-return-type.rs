use coldstart::cold_start_handler;

// In a plain fn too, type errors point at the user's code.
#[cold_start_handler]
fn handler(event: u32) -> Result<u32, String> {
    if event == 0 {
        return Err(0);
    }
    Ok(event)
}

fn main() {
    let _ = handler(1);
}
