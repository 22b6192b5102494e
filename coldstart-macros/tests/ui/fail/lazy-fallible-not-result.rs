use coldstart::lazy;

#[lazy(fallible)]
static PORT: Option<u16> = Some(8080);

#[lazy(fallible)]
static CONFIG: std::io::Result<String> = std::fs::read_to_string("config.toml");

fn main() {
    let _ = (&PORT, &CONFIG);
}
