use coldstart::lazy;

#[lazy(after_first_reponse)]
static ROUTES: Vec<u32> = Vec::new();

fn main() {
    let _ = ROUTES.len();
}
