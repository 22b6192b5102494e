use coldstart::lazy;

#[lazy(prewram, nmae = "rules")]
static RULES: Vec<u32> = Vec::new();

fn main() {
    let _ = RULES.len();
}
