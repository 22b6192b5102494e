use coldstart::lazy;

#[lazy]
const TABLE: Vec<u32> = (0..10).collect();

fn main() {
    let _ = TABLE.len();
}
