use coldstart::lazy;

#[lazy]
fn build() -> Vec<u32> {
    Vec::new()
}

#[lazy]
struct Table {
    rows: Vec<u32>,
}

fn main() {
    let _ = build();
    let _ = Table { rows: Vec::new() }.rows;
}
