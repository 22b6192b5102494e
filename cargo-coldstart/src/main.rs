//! `cargo coldstart`; see `cargo coldstart --help`.

fn main() {
    std::process::exit(cargo_coldstart::cli::main_with(
        std::env::args_os().collect(),
    ));
}
