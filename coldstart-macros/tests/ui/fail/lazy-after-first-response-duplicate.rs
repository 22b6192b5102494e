use coldstart::lazy;

#[lazy(after_first_response, prewarm, after_first_response)]
static ROUTES: Vec<u32> = Vec::new();

fn main() {
    let _ = ROUTES.len();
}
