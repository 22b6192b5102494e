use coldstart::cold_start_handler;

#[cold_start_handler]
fn handler(event: u32) -> u32 {
    #[lazy(unknown)]
    static mut BASE: u32 = 1;
    event + *BASE
}

fn main() {
    let _ = handler(1);
}
