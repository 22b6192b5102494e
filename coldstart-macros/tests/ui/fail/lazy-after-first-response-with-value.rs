use coldstart::lazy;

#[lazy(after_first_response = "true")]
static ROUTES: Vec<u32> = Vec::new();

fn main() {
    let _ = ROUTES.len();
}
