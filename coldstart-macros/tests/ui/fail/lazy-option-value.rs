use coldstart::lazy;

#[lazy(prewarm = "yes", name)]
static RULES: Vec<u32> = Vec::new();

fn main() {
    let _ = RULES.len();
}
