use coldstart::lazy;

#[lazy(prewarm, name = "a", prewarm, name = "b")]
static RULES: Vec<u32> = Vec::new();

fn main() {
    let _ = RULES.len();
}
