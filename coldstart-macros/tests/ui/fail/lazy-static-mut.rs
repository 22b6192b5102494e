use coldstart::lazy;

#[lazy]
static mut COUNTER: Vec<u32> = Vec::new();

fn main() {
    let _ = COUNTER.len();
}
